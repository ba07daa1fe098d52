"""Promotion against a REAL atproto PDS (tests/support/pds: @atproto/pds + a local PLC on
loopback), with the real promote service on LocalStack (queue, DLQ, bucket, bus) and the real
BlueskyPoster: an episode's first item posts its text and clip video at its time, and the
record and the video blob read back byte for byte; a second delivery posts nothing, nor does
a delivery after a crash that lost the "posted" marker; a post the PDS refuses (text over the
300-grapheme limit it enforces) lands alone in the promote DLQ, the team is told, and
`podpipe dlq replay` posts it once after the cause is removed.

Opt-in (`make pds-test`): the first run installs the PDS (minutes; cached after). No timed
assertions: durations are hang guards.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
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
from podpipe_notify.service import build_service as build_notify_service
from podpipe_notify.settings import NotifySettings
from podpipe_promote.desk import PROMOTE_SCHEDULE_PREFIX, marker_key, plan_key
from podpipe_promote.handlers import PromoteHandlers
from podpipe_promote.plan import PromotionPlan
from podpipe_promote.posting import record_key_for, resolve_bluesky_credentials
from podpipe_promote.settings import PromoteSettings
from podpipe_promote.wiring import build_desk, build_posters, item_due, run_due
from tests.support.localstack import Stack
from tests.support.pds import LocalPds
from tests.support.promote import promotion_artifacts
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
from tests.support.studio import make_media

pytestmark = [pytest.mark.pds, pytest.mark.integration]

EP = "2026-12-01-ep9"
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


def cli_json(output: str) -> Any:
    """The JSON a command printed; the services running in this process log to the same
    stdout the runner captures, so a log line may come before it."""
    start = output.index("[") if output.startswith("[") else output.index("\n[") + 1
    return json.JSONDecoder().raw_decode(output[start:])[0]


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    with SlackStandIn() as stand_in:
        yield stand_in


def test_plan_posts_to_a_real_pds_once_and_a_refused_post_is_replayed_once(
    stack: Stack,
    pds: LocalPds,
    slack: SlackStandIn,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    account = pds.create_account(f"show-{uuid.uuid4().hex[:8]}.test", "account-password-1")
    for key, value in stack.env().items():
        if key.startswith(("PODPIPE_", "AWS_")):
            monkeypatch.setenv(key, value)
    _, clip_path = make_media(tmp_path)
    clip = clip_path.read_bytes()

    s3 = stack.s3
    s3.put_object(
        Bucket=stack.bucket,
        Key=f"shows/{SHOW_ID}.json",
        Body=json.dumps(show_config("https://cdn.example.org")).encode(),
    )
    s3.put_object(
        Bucket=stack.bucket,
        Key=f"promotion/shows/{SHOW_ID}.json",
        Body=json.dumps({"cadence_days": [0, 2], "networks": ["bluesky"]}).encode(),
    )
    s3.put_object(Bucket=stack.bucket, Key=ARTWORK_KEY, Body=ARTWORK)
    artifacts = {**episode_artifacts(EP), **promotion_artifacts(EP)}
    for index in (1, 2):  # the real clip video, not the fake bytes
        artifacts[f"episodes/{EP}/clips/clip-{index:02d}.mp4"] = (clip, "video/mp4")
    for key, (body, content_type) in artifacts.items():
        s3.put_object(Bucket=stack.bucket, Key=key, Body=body, ContentType=content_type)
    stack.put_sidecar(EP, sidecar(9))

    # The service's own wiring: credentials from the settings, the BlueskyPoster on the PDS.
    settings = PromoteSettings(
        promote_retry_max_seconds=0.05,
        bluesky_service_url=pds.url,
        bluesky_handle=account.handle,
        bluesky_app_password=SecretStr(account.app_password),
    )
    credentials = resolve_bluesky_credentials(
        handle=settings.bluesky_handle,
        app_password=settings.bluesky_app_password,
        secret_id="",
        ssm_parameter="",
        secretsmanager=lambda: None,
        ssm=lambda: None,
    )
    desk = build_desk(settings, s3=s3, posters=build_posters(credentials, settings))
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

    def plan() -> PromotionPlan:
        found = desk.plan(EP)
        assert found is not None
        return found

    def posts() -> list[dict[str, Any]]:
        return pds.records(account.did)

    def deliver_again(item_id: str) -> None:
        """The item due once more (a duplicate schedule, a redelivery), straight to the queue."""
        due = json.dumps(to_envelope(item_due(f"{EP}.{item_id}", datetime.now(UTC))))
        stack.sqs.send_message(QueueUrl=stack.queue_url("promote"), MessageBody=due)
        wait_for(lambda: queue_depth(stack, stack.queue_url("promote")) == 0)

    def rewrite_text(number: int, text: str) -> None:
        """A hand edit of plan.json (the plan is a file in the bucket a host may touch)."""
        current = plan()
        items = [
            i.model_copy(update={"text": text}) if i.number == number else i for i in current.items
        ]
        edited = current.model_copy(update={"items": items})
        s3.put_object(
            Bucket=stack.bucket,
            Key=plan_key(EP),
            Body=edited.model_dump_json(indent=2).encode(),
            ContentType="application/json",
        )

    with (
        running_service(PromoteHandlers(desk).service(), settings, options=FAST),
        running_service(notify, notify_settings, options=FAST),
    ):
        release = build_release_desk(ReleaseSettings(), s3=s3, events=stack.events)
        release.approve(EP, title_number=1)
        release.publish(EP)  # "Episode Published" → the bus → the promote queue → the plan
        wait_for(lambda: desk.plan(EP) is not None)
        assert [(i.item_id, i.state) for i in plan().items] == [
            ("1-bluesky", "scheduled"),
            ("2-bluesky", "scheduled"),
        ]
        wait_for(lambda: len(index.entries()) == 2)

        # Its time comes: the local scheduler fires item 1, which posts to the PDS.
        now = datetime.now(UTC) + timedelta(minutes=1)
        assert run_due(index, bus, now) == [f"{EP}.1-bluesky"]
        wait_for(lambda: plan().item(1).state == "posted")
        first = plan().item(1)
        (record,) = posts()
        assert record["uri"] == first.post_uri
        rkey = record_key_for(first.at, f"{EP}/1-bluesky")
        assert record["uri"] == f"at://{account.did}/app.bsky.feed.post/{rkey}"
        assert record["value"]["text"] == first.text
        # The episode link is clickable: a link facet over its UTF-8 bytes in the text.
        (facet,) = [
            f for f in record["value"]["facets"] if f["features"][0]["uri"] == first.episode_link
        ]
        linked = first.text.encode()[facet["index"]["byteStart"] : facet["index"]["byteEnd"]]
        assert linked.decode() == first.episode_link
        assert facet["features"][0]["$type"] == "app.bsky.richtext.facet#link"
        embed = record["value"]["embed"]
        assert embed["$type"] == "app.bsky.embed.video"
        assert embed["video"]["mimeType"] == "video/mp4"
        assert embed["video"]["size"] == len(clip)
        assert pds.blob(account.did, embed["video"]["ref"]["$link"]) == clip

        # A second delivery of the same item posts nothing.
        deliver_again("1-bluesky")
        assert [r["uri"] for r in posts()] == [first.post_uri]

        # A crash after the post and before its "posted" marker: the marker is gone, the
        # next delivery finds the record under the item's key and posts nothing.
        s3.delete_object(Bucket=stack.bucket, Key=marker_key(EP, "1-bluesky"))
        deliver_again("1-bluesky")
        wait_for(lambda: desk.marker(EP, "1-bluesky") is not None)
        marker = desk.marker(EP, "1-bluesky")
        assert marker is not None
        assert marker["state"] == "posted"
        assert marker["post_uri"] == first.post_uri
        assert [r["uri"] for r in posts()] == [first.post_uri]

        # The PDS refuses item 2 (its text was edited past the 300 graphemes it enforces):
        # nothing posts, the message is alone in the promote DLQ and the team is told.
        original = plan().item(2).text
        rewrite_text(2, original + " " + "And one more thing about queues. " * 10)
        desk.now(EP, 2)  # the host: post it now
        assert run_due(index, bus, datetime.now(UTC) + timedelta(minutes=1)) == [f"{EP}.2-bluesky"]
        wait_for(lambda: queue_depth(stack, stack.dlq_url("promote")) == 1)
        wait_for(lambda: any("Post on bluesky failed" in t for t in slack.texts()))
        assert plan().item(2).state == "failed"
        assert "InvalidRequest 400" in plan().item(2).note
        assert len(posts()) == 1

        # The cause removed, `podpipe dlq replay` posts it, once.
        rewrite_text(2, original)
        listed = CliRunner().invoke(app, ["dlq", "list", "--queue", "promote", "--json"])
        assert listed.exit_code == 0, listed.output
        assert [r["episode_id"] for r in cli_json(listed.stdout)] == [EP]
        replayed = CliRunner().invoke(app, ["dlq", "replay", "--queue", "promote", "--episode", EP])
        assert replayed.exit_code == 0, replayed.output
        wait_for(lambda: plan().item(2).state == "posted")
        deliver_again("2-bluesky")

    second = plan().item(2)
    records = {r["uri"]: r for r in posts()}
    assert sorted(records) == sorted([first.post_uri, second.post_uri])
    replayed_record = records[second.post_uri]
    assert replayed_record["value"]["text"] == original
    video = replayed_record["value"]["embed"]["video"]
    assert pds.blob(account.did, video["ref"]["$link"]) == clip
    assert queue_depth(stack, stack.dlq_url("promote")) == 0
