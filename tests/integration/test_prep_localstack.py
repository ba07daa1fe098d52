"""podpipe prep on LocalStack: the team's config in the bucket, the recorded feeds over local
HTTP, the extractive writer — the brief lands in prep/<date>/, "Brief Prepared" reaches the
notify queue, `podpipe prep choose` writes the running order, and the llm worker's show notes
for the sample episode carry exactly the URLs of the items the transcript discusses."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from podpipe.events import BriefPrepared, PromptRequested, S3Location
from podpipe.layout import EpisodeKeys
from podpipe.runtime.publisher import EventPublisher
from podpipe.runtime.service import MessageContext
from podpipe.stages import S3StageLedger
from podpipe_cli.main import app
from podpipe_llm.prep.links import ShowNotesLinks
from podpipe_llm.prep.service import run_prep
from podpipe_llm.prep.settings import PrepSettings
from podpipe_llm.prep.store import S3PrepStore
from podpipe_llm.prep.writer import RunnerBriefWriter
from podpipe_llm.service import build_providers, build_runner
from podpipe_llm.store import S3CatalogSource, S3EpisodeStore
from podpipe_llm.worker import PromptWorker
from tests.support.localstack import Stack
from tests.support.prep_site import AUDIENCE, FEEDS, prep_site

pytestmark = pytest.mark.integration

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
EPISODE = "cloud-weekly-42"
WHATS_NEW = "https://aws.amazon.com/about-aws/whats-new/2026/11"
BLOG = "https://aws.amazon.com/blogs/aws"
DISCUSSED = {
    f"{WHATS_NEW}/amazon-aurora-dsql-generally-available/",
    f"{WHATS_NEW}/aws-lambda-graviton-duration-price-reduction/",
    f"{WHATS_NEW}/amazon-s3-tables-apache-iceberg/",
    f"{BLOG}/new-amazon-dynamodb-lowers-pricing-for-on-demand-throughput-and-global-tables/",
    f"{BLOG}/reduce-costs-and-latency-with-amazon-bedrock-intelligent-prompt-routing-and-"
    "prompt-caching-preview/",
    f"{BLOG}/amazon-eventbridge-improves-latency-for-event-delivery/",
}
NOT_DISCUSSED = f"{WHATS_NEW}/amazon-sqs-fifo-high-throughput-quota/"
_LINK = re.compile(r"\]\((https?://[^)\s]+)\)")


def extractive_writer() -> RunnerBriefWriter:
    settings = PrepSettings(llm_provider="extractive")
    return RunnerBriefWriter(
        build_runner(settings, build_providers(settings, bedrock_client=object()))
    )


def put_config(stack: Stack, **overrides: Any) -> None:
    config = {
        "show": "Cloud Weekly",
        "audience": AUDIENCE,
        "max_items": 8,
        "lookback_days": 10,
        "feeds": [f.model_dump(mode="json") for f in FEEDS],
    }
    config.update(overrides)
    stack.s3.put_object(
        Bucket=stack.bucket, Key="prep/config.yaml", Body=yaml.safe_dump(config).encode()
    )


def test_prep_briefs_the_week_reports_the_broken_and_the_show_notes_link_what_was_said(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    put_config(stack)
    store = S3PrepStore(stack.s3, stack.bucket)
    writer = extractive_writer()
    events = EventPublisher(stack.events, stack.settings.event_bus)

    with prep_site() as site:
        run = run_prep(
            store=store, fetcher=site.fetcher(), writer=writer, model=writer.model,
            events=events, now=NOW,
        )  # fmt: skip

    # The brief in the bucket: every readable item with its real link and its summary.
    brief = store.read_brief("2026-11-28")
    assert brief == run.brief
    assert {i.url for i in brief.items} == DISCUSSED | {NOT_DISCUSSED}
    assert all(len(i.questions) == 2 for i in brief.items)
    aurora = next(i for i in brief.items if "aurora-dsql" in i.url)
    assert "serverless, distributed SQL database" in aurora.summary
    assert aurora.also_in == ["AWS News Blog"]
    reported = {(p.kind, p.source) for p in brief.problems}
    assert reported == {
        ("feed", "Cloud Trade Weekly"),
        ("feed", "Community Roundup"),
        ("article", "Amazon Q Developer adds transformation of .NET applications"),
        ("article", "AWS Step Functions adds JSONata and variables"),
        ("paywall", "Inside the keynote: what analysts expect from AWS"),
    }
    markdown = stack.s3.get_object(Bucket=stack.bucket, Key="prep/2026-11-28/brief.md")
    text = markdown["Body"].read().decode()
    assert all(f"<{url}>" in text for url in DISCUSSED)
    assert "## Could not be read" in text

    # The team hears about it: "Brief Prepared" reaches notify's queue through the rule.
    arrived = stack.drain_events("notify", expect=1, timeout=30)
    assert [e.detail for e in arrived] == [run.event]
    assert isinstance(arrived[0].detail, BriefPrepared)

    # The host marks the running order: every item of the brief, SQS FIFO included.
    monkeypatch.setenv("PODPIPE_BUCKET", stack.bucket)
    monkeypatch.setenv("PODPIPE_NAME_PREFIX", stack.settings.name_prefix)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    ranks = [str(i.rank) for i in brief.items]
    result = CliRunner().invoke(app, ["prep", "choose", EPISODE, *ranks])
    assert result.exit_code == 0, result.output
    order = store.read_running_order(EPISODE)
    assert order is not None
    assert [i.url for i in order.items] == [i.url for i in brief.items]
    refused = CliRunner().invoke(app, ["prep", "choose", EPISODE, "99"])
    assert refused.exit_code == 2
    assert "not [99]" in refused.output

    # Recorded: the sample episode (its transcript), then the llm worker writes show-notes.
    keys = EpisodeKeys(EPISODE)
    transcript = json.loads((SAMPLES / "aws-news.transcript.json").read_text())
    transcript["episode_id"] = EPISODE
    stack.s3.put_object(
        Bucket=stack.bucket, Key=keys.transcript_json, Body=json.dumps(transcript).encode()
    )
    settings = PrepSettings(llm_provider="extractive")
    worker = PromptWorker(
        S3EpisodeStore(stack.s3, stack.bucket),
        S3CatalogSource(stack.s3, stack.bucket),
        build_runner(settings, build_providers(settings, bedrock_client=object())),
        ShowNotesLinks.from_s3(stack.s3, stack.bucket),
        ledger=S3StageLedger(stack.s3, stack.bucket),
    )
    request = PromptRequested(
        episode_id=EPISODE,
        prompt_id="show-notes",
        model="extractive",
        transcript_json=S3Location(bucket=stack.bucket, key=keys.transcript_json),
    )
    worker.handle(request, MessageContext("m-1", "llm", 1, 4))

    notes = stack.s3.get_object(Bucket=stack.bucket, Key=keys.prompt_output("show-notes", "md"))
    urls = set(_LINK.findall(notes["Body"].read().decode()))
    assert urls == DISCUSSED  # the prepared-but-not-discussed SQS item is left out


def test_the_next_prep_starts_after_the_last_one(stack: Stack) -> None:
    put_config(stack)
    store = S3PrepStore(stack.s3, stack.bucket)
    writer = extractive_writer()
    events = EventPublisher(stack.events, stack.settings.event_bus)
    with prep_site() as site:
        run_prep(store=store, fetcher=site.fetcher(), writer=writer, model=writer.model,
                 events=events, now=NOW)  # fmt: skip
        later = run_prep(
            store=store, fetcher=site.fetcher(), writer=writer, model=writer.model,
            events=events, now=datetime(2026, 12, 5, 9, tzinfo=UTC),
        )  # fmt: skip

    assert later.brief.since == NOW  # the previous brief's time, not a fixed lookback
    assert later.brief.items == []
    assert store.brief_dates() == ["2026-11-28", "2026-12-05"]
    assert (
        "No item could be briefed this week"
        in stack.s3.get_object(Bucket=stack.bucket, Key="prep/2026-12-05/brief.md")["Body"]
        .read()
        .decode()
    )


def test_a_missing_or_invalid_config_is_named(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PODPIPE_BUCKET", stack.bucket)
    monkeypatch.setenv("PODPIPE_NAME_PREFIX", stack.settings.name_prefix)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    missing = CliRunner().invoke(app, ["prep", "run"])
    assert missing.exit_code == 2
    assert "put prep/config.yaml" in missing.output
    stack.s3.put_object(Bucket=stack.bucket, Key="prep/config.yaml", Body=b"feeds: []\n")
    invalid = CliRunner().invoke(app, ["prep", "run"])
    assert invalid.exit_code == 2
    assert "audience: Field required" in invalid.output
    put_config(stack)
    stack.s3.put_object(
        Bucket=stack.bucket, Key="prep/prompts/prep-item.md", Body=b"---\n---\n{{ guest }}\n"
    )
    bad_prompt = CliRunner().invoke(app, ["prep", "run"])
    assert bad_prompt.exit_code == 2
    assert "prep/prompts/prep-item.md: the template must place" in bad_prompt.output


def test_the_command_makes_the_brief_and_shows_it(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    put_config(stack, max_items=2)
    monkeypatch.setenv("PODPIPE_BUCKET", stack.bucket)
    monkeypatch.setenv("PODPIPE_NAME_PREFIX", stack.settings.name_prefix)
    monkeypatch.setenv("PODPIPE_LLM_PROVIDER", "extractive")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with prep_site() as site:
        # The one seam: the command's HTTP client reaches the recorded site, not the internet.
        monkeypatch.setattr(
            "podpipe_llm.prep.wiring.HttpFetcher.create", lambda _timeout: site.fetcher()
        )
        result = CliRunner().invoke(
            app, ["prep", "run", "--date", "2026-11-28", "--since", "2026-11-20T00:00:00+00:00"]
        )
    assert result.exit_code == 0, result.output
    assert f"s3://{stack.bucket}/prep/2026-11-28/brief.md" in result.output
    assert "  1. " in result.output
    assert "  2. " in result.output
    assert "! paywall: Inside the keynote" in result.output

    shown = CliRunner().invoke(app, ["prep", "show"])
    assert shown.exit_code == 0, shown.output
    assert shown.output.startswith("# Cloud Weekly: the brief for 2026-11-28")
    assert "## Also this week (not briefed)" in shown.output
    assert [e.detail.DETAIL_TYPE for e in stack.drain_events("notify", expect=1)] == [
        "Brief Prepared"
    ]


def test_the_brief_reaches_each_guest_once_and_the_team_once(stack: Stack) -> None:
    """Guests in the team's config → "Brief Prepared" → notify: each guest's subscription to
    the guests topic (SQS queues standing in for confirmed e-mail subscriptions, with the
    filter policy notify gives a guest) receives their brief once, the team's topic once,
    though the message is handled twice (a redelivery) and replayed."""
    import uuid

    from podpipe_local.bootstrap import queue_arn
    from podpipe_notify.service import build_channels, build_handlers, guest_channels
    from podpipe_notify.settings import NotifySettings

    maya, tom = "maya@example.com", "tom@example.org"
    put_config(stack, guests=[{"name": "Maya", "email": maya}, {"name": "Tom", "email": tom}])
    with prep_site() as site:
        run = run_prep(
            store=S3PrepStore(stack.s3, stack.bucket), fetcher=site.fetcher(),
            writer=extractive_writer(), model="extractive",
            events=EventPublisher(stack.events, stack.settings.event_bus), now=NOW,
        )  # fmt: skip
    assert [g.email for g in run.event.guests] == [maya, tom]
    [arrived] = stack.drain_events("notify", expect=1, timeout=30)

    prefix = stack.settings.name_prefix
    inboxes: dict[str, str] = {}
    for name, topic, policy in (
        ("team", "notifications", None),
        ("maya", "guests", {"guest": [maya]}),
        ("tom", "guests", {"guest": [tom]}),
    ):
        url = stack.sqs.create_queue(QueueName=f"{prefix}-inbox-{name}")["QueueUrl"]
        stack.sns.subscribe(
            TopicArn=stack.topic_arn(topic),
            Protocol="sqs",
            Endpoint=queue_arn(stack.sqs, url),
            Attributes={"FilterPolicy": json.dumps(policy)} if policy else {},
        )
        inboxes[name] = url

    settings = NotifySettings(
        name_prefix=prefix,
        bucket=stack.bucket,
        notify_topic_arn=stack.topic_arn("notifications"),
        notify_guests_topic_arn=stack.topic_arn("guests"),
        notify_send_attempts=2,
        notify_retry_max_seconds=0.05,
    )
    handlers = build_handlers(
        settings,
        s3=stack.s3,
        channels=build_channels(settings, sns=stack.sns, http=None, webhook_url=None),
        guest_channel=guest_channels(settings, stack.sns),
    )
    route = next(r for r in handlers.routes() if r.event_type is BriefPrepared)
    for _ in range(2):  # a redelivery, then a replay (another message id)
        ctx = MessageContext(str(uuid.uuid4()), "notify", 1, 5)
        assert route.handle(arrived.detail, ctx) == []

    bodies = {
        name: [json.loads(m["Body"]) for m in stack.drain(url, expect=2, timeout=8)]
        for name, url in inboxes.items()
    }
    assert {name: len(got) for name, got in bodies.items()} == {"team": 1, "maya": 1, "tom": 1}
    [team], [to_maya], [to_tom] = bodies["team"], bodies["maya"], bodies["tom"]
    assert "Sent to the guest(s) too: Maya, Tom." in team["Message"]
    assert "Hello Maya," in to_maya["Message"]
    assert "Hello Tom," in to_tom["Message"]
    assert to_maya["MessageAttributes"]["guest"]["Value"] == maya
    assert "Could not be read" not in to_maya["Message"]
    assert any(f"<{url}>" in to_maya["Message"] for url in DISCUSSED)
    markers = stack.s3.list_objects_v2(Bucket=stack.bucket, Prefix="prep/2026-11-28/notifications/")
    assert len(markers.get("Contents", [])) == 3  # the team's e-mail, one per guest
