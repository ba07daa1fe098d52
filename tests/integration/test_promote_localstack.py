"""Promotion on LocalStack with the real runtime: publishing an episode makes its plan
(through the bus and the promote queue), the local scheduler fires each item once, a network
without an adapter gets its "ready to post" message on Slack and e-mail, and a refused post is
retried with the runtime's backoff, then lands alone in the promote DLQ, from where
`podpipe dlq replay` posts it once; unpublishing cancels what is left of the plan at once.
A fake Poster stands in for Bluesky. No timed assertions: durations are hang guards.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from tenacity import wait_none
from typer.testing import CliRunner

from podpipe.events import to_envelope
from podpipe.release.scheduling import LocalScheduleIndex
from podpipe.release.store import S3BlobStore
from podpipe.release.wiring import ReleaseSettings
from podpipe.release.wiring import build_desk as build_release_desk
from podpipe.runtime import RuntimeOptions
from podpipe.runtime.publisher import EventPublisher, PublishRetryPolicy
from podpipe_cli.main import app
from podpipe_local.bootstrap import subscribe_queue
from podpipe_notify.service import build_service as build_notify_service
from podpipe_notify.settings import NotifySettings
from podpipe_promote.desk import PROMOTE_SCHEDULE_PREFIX
from podpipe_promote.handlers import PromoteHandlers
from podpipe_promote.plan import PromotionPlan
from podpipe_promote.settings import PromoteSettings
from podpipe_promote.wiring import build_desk, item_due, run_due
from tests.support.localstack import Stack
from tests.support.promote import CLIP_VIDEO, FakePoster, promotion_artifacts
from tests.support.release import (
    ARTWORK,
    ARTWORK_KEY,
    SHOW_ID,
    episode_artifacts,
    show_config,
    sidecar,
)
from tests.support.services import running_service
from tests.support.slack import SlackStandIn

pytestmark = pytest.mark.integration

EP = "2026-12-01-ep7"
FAST = RuntimeOptions(
    retry_base_seconds=0.2, retry_max_seconds=1, publish_policy=PublishRetryPolicy(wait=wait_none())
)


def wait_for(condition: Any, guard_seconds: float = 120.0) -> None:
    deadline = time.monotonic() + guard_seconds
    while not condition():
        assert time.monotonic() < deadline, "condition never met"
        time.sleep(0.2)


def queue_depth(stack: Stack, url: str) -> int:
    attributes = stack.sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    with SlackStandIn() as stand_in:
        yield stand_in


def test_publish_plan_fire_once_remind_and_replay_a_refused_post(
    stack: Stack, slack: SlackStandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in stack.env().items():
        if key.startswith(("PODPIPE_", "AWS_")):
            monkeypatch.setenv(key, value)
    base_url = "https://cdn.example.org"
    s3 = stack.s3
    s3.put_object(
        Bucket=stack.bucket,
        Key=f"shows/{SHOW_ID}.json",
        Body=json.dumps(show_config(base_url)).encode(),
    )
    s3.put_object(
        Bucket=stack.bucket,
        Key=f"promotion/shows/{SHOW_ID}.json",
        Body=json.dumps({"cadence_days": [0, 2], "networks": ["bluesky", "linkedin"]}).encode(),
    )
    s3.put_object(Bucket=stack.bucket, Key=ARTWORK_KEY, Body=ARTWORK)
    for key, (body, content_type) in {**episode_artifacts(EP), **promotion_artifacts(EP)}.items():
        s3.put_object(Bucket=stack.bucket, Key=key, Body=body, ContentType=content_type)
    stack.put_sidecar(EP, sidecar(7))

    mail_queue = subscribe_queue(
        stack.sqs, stack.sns, stack.topic_arn("notifications"), f"{stack.settings.name_prefix}-mail"
    )
    settings = PromoteSettings(promote_retry_max_seconds=0.05)
    # Bluesky refuses the post on every receive the queue allows (say, the text is too long).
    poster = FakePoster(refuse=4)
    desk = build_desk(settings, s3=s3, posters={"bluesky": poster})
    notify_settings = NotifySettings(
        notify_topic_arn=stack.topic_arn("notifications"),
        notify_slack_webhook_url=SecretStr(slack.url),
        notify_send_attempts=2,
        notify_retry_max_seconds=0.05,
    )
    notify = build_notify_service(
        notify_settings, s3=s3, sns=stack.sns, http=httpx.Client(timeout=5)
    )
    index = LocalScheduleIndex(S3BlobStore(s3, stack.bucket), prefix=PROMOTE_SCHEDULE_PREFIX)
    bus = EventPublisher(stack.events, settings.event_bus)

    def plan() -> PromotionPlan | None:
        return desk.plan(EP)

    with (
        running_service(PromoteHandlers(desk).service(), settings, options=FAST),
        running_service(notify, notify_settings, options=FAST),
    ):
        release = build_release_desk(ReleaseSettings(), s3=s3, events=stack.events)
        release.approve(EP, title_number=1)
        release.publish(EP)  # "Episode Published" → the bus → the promote queue → the plan
        wait_for(lambda: plan() is not None)
        made = plan()
        assert made is not None
        assert [(i.item_id, i.state) for i in made.items] == [
            ("1-bluesky", "scheduled"),
            ("2-linkedin", "scheduled"),
            ("3-bluesky", "scheduled"),
            ("4-linkedin", "scheduled"),
        ]
        jobs = {f"{EP}.{i.item_id}" for i in made.items}
        wait_for(lambda: {e.episode_id for e in index.entries()} == jobs)  # scheduled after

        # The host's view and moves: `podpipe promote EP`, then skip the last item.
        shown = CliRunner().invoke(app, ["promote", EP])
        assert shown.exit_code == 0, shown.output
        assert "cadence days 0,2" in shown.output
        assert "linkedin" in shown.output
        skipped = CliRunner().invoke(app, ["promote", EP, "--skip", "4"])
        assert skipped.exit_code == 0, skipped.output
        wait_for(lambda: len(index.entries()) == 3)

        # The local scheduler's round at publication time: day 0's two items, once each.
        now = datetime.now(UTC) + timedelta(minutes=1)
        assert sorted(run_due(index, bus, now)) == [f"{EP}.1-bluesky", f"{EP}.2-linkedin"]
        assert run_due(index, bus, now) == []

        # linkedin has no adapter: its "ready to post" message reaches Slack and e-mail.
        wait_for(lambda: any("Ready to post on linkedin" in t for t in slack.texts()))
        mails = [json.loads(m["Body"]) for m in stack.drain(mail_queue, expect=10, timeout=10)]
        ready = [m for m in mails if "Ready to post on linkedin" in m["Subject"]]
        assert len(ready) == 1
        assert "LinkedIn post about event-driven pipelines" in ready[0]["Message"]
        assert "clip-01.mp4" in ready[0]["Message"]

        # bluesky refused: retried with backoff (max_receive_count 4), then the message is
        # alone in the promote DLQ, nothing was posted.
        wait_for(lambda: queue_depth(stack, stack.dlq_url("promote")) == 1)
        assert poster.attempts == 4
        assert poster.posts == []
        wait_for(lambda: any("Post on bluesky failed" in t for t in slack.texts()))

        listed = CliRunner().invoke(app, ["dlq", "list", "--queue", "promote", "--json"])
        assert listed.exit_code == 0, listed.output
        assert [r["episode_id"] for r in json.loads(listed.stdout)] == [EP]
        replayed = CliRunner().invoke(app, ["dlq", "replay", "--queue", "promote", "--episode", EP])
        assert replayed.exit_code == 0, replayed.output
        wait_for(lambda: len(poster.posts) == 1)
        assert poster.posts[0].video == CLIP_VIDEO + b"\x01"

        # The same item due again (a duplicate schedule, a second replay): nothing more.
        duplicate = json.dumps(to_envelope(item_due(f"{EP}.1-bluesky", now)))
        stack.sqs.send_message(QueueUrl=stack.queue_url("promote"), MessageBody=duplicate)
        wait_for(lambda: queue_depth(stack, stack.queue_url("promote")) == 0)
        wait_for(lambda: (p := plan()) is not None and p.item(1).state == "posted")

        # `--replan` mid-week keeps what went out and the skip, and fires nothing again.
        replanned = CliRunner().invoke(app, ["promote", EP, "--replan"])
        assert replanned.exit_code == 0, replanned.output
        again = plan()
        assert again is not None
        assert [i.state for i in again.items] == ["posted", "reminded", "scheduled", "skipped"]
        assert again.item(1).post_uri == "at://did:plc:fake/app.bsky.feed.post/1"
        assert [e.episode_id for e in index.entries()] == [f"{EP}.3-bluesky"]

        # Unpublished: "Episode Unpublished" → the bus → the promote queue cancels the rest of
        # the week at once (item 3's schedule goes), not when item 3 would have fired.
        assert len(index.entries()) == 1
        release.unpublish(EP)
        wait_for(lambda: (p := plan()) is not None and p.state == "cancelled")
        wait_for(lambda: index.entries() == [])  # cancelled right after the plan is saved

    assert len(poster.posts) == 1
    final = plan()
    assert final is not None
    assert final.item(1).post_uri == "at://did:plc:fake/app.bsky.feed.post/1"
    assert final.item(2).state == "reminded"
    assert [i.state for i in final.items[2:]] == ["cancelled", "skipped"]
    assert queue_depth(stack, stack.dlq_url("promote")) == 0
    stack.sqs.delete_queue(QueueUrl=mail_queue)
