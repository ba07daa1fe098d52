"""The LLM service on LocalStack with the real runtime: a poison prompt lands alone in the llm
DLQ, `podpipe dlq list` shows it decoded, and `podpipe dlq replay --prompt` completes the
episode after the fix, without any transcode or transcribe work.

No timed assertions: durations below are hang guards, never speed checks.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from tenacity import wait_none
from typer.testing import CliRunner

from podpipe.events import (
    PromptCompleted,
    PromptRequested,
    S3Location,
    put_events_entry,
    to_envelope,
)
from podpipe.layout import EpisodeKeys, sidecar_key
from podpipe.runtime import RuntimeOptions
from podpipe.runtime.publisher import PublishRetryPolicy
from podpipe.s3io import head_or_none
from podpipe_cli.main import app
from podpipe_llm.providers.extractive import ExtractiveProvider
from podpipe_llm.providers.registry import Providers
from podpipe_llm.ratelimit import RateLimiters
from podpipe_llm.runner import PromptRunner
from podpipe_llm.service import build_service
from podpipe_llm.settings import LlmSettings, RateLimit
from tests.support.localstack import Stack
from tests.support.scripted_llm import ScriptedProvider, synthetic_transcript, transcript_ready
from tests.support.services import running_service

pytestmark = pytest.mark.integration

EPISODE = "ep-replay"
PROMPTS = {
    "titles", "show-notes", "chapters", "blog-post", "social-posts", "clip-picks",
    "newsletter", "pull-quotes",
}  # fmt: skip
FAST = RuntimeOptions(
    retry_base_seconds=1, retry_max_seconds=2, publish_policy=PublishRetryPolicy(wait=wait_none())
)


def llm_settings(stack: Stack) -> LlmSettings:
    core = stack.settings
    return LlmSettings(
        name_prefix=core.name_prefix,
        bucket=core.bucket,
        bus_name=core.event_bus,
        wait_time_seconds=core.wait_time_seconds,
        shutdown_grace_seconds=core.shutdown_grace_seconds,
        log_json=True,
    )


def wait_for(condition: Any, guard_seconds: float = 300.0) -> None:
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


def put_episode(stack: Stack) -> None:
    transcript = synthetic_transcript(EPISODE, 900)
    keys = EpisodeKeys(EPISODE)
    stack.s3.put_object(
        Bucket=stack.bucket, Key=keys.transcript_json, Body=transcript.model_dump_json()
    )
    stack.s3.put_object(
        Bucket=stack.bucket,
        Key=sidecar_key(EPISODE),
        Body=json.dumps({"title": "Replays", "show": "Pod Talk", "hosts": ["Alice"]}),
    )
    # The sidecar is an upload too: its "Object Created" reaches both media queues (where the
    # services skip it); take it off so later checks see only what the replay causes.
    for queue in ("transcode", "transcribe"):
        assert len(stack.drain(stack.queue_url(queue), expect=1, timeout=30)) == 1


def outputs_done(stack: Stack) -> set[str]:
    keys = EpisodeKeys(EPISODE)
    return {p for p in PROMPTS if head_or_none(stack.s3, stack.bucket, keys.prompt_metadata(p))}


def cli(stack: Stack, *args: str) -> Any:
    return CliRunner().invoke(app, list(args), env=stack.env())


def test_a_poison_prompt_is_dead_lettered_alone_and_replayed_without_transcription(
    stack: Stack,
) -> None:
    settings = llm_settings(stack)
    provider = ScriptedProvider(
        poison={"pull-quotes": "ValidationException: The provided model identifier is invalid."}
    )
    providers = Providers(
        {"bedrock": provider, "extractive": ExtractiveProvider()},
        default_provider="bedrock",
        default_model="amazon.nova-lite-v1:0",
    )
    runner = PromptRunner(providers=providers, limiters=RateLimiters(lambda _m: RateLimit()))
    service = build_service(settings, s3=stack.s3, providers=providers, runner=runner)
    put_episode(stack)
    transcript_etag = stack.s3.head_object(
        Bucket=stack.bucket, Key=EpisodeKeys(EPISODE).transcript_json
    )["ETag"]

    with running_service(service, settings, options=FAST):
        stack.events.put_events(
            Entries=[
                put_events_entry(transcript_ready(EPISODE, 900, stack.bucket), settings.event_bus)
            ]
        )
        wait_for(lambda: outputs_done(stack) == PROMPTS - {"pull-quotes"})
        wait_for(lambda: queue_depth(stack, stack.dlq_url("llm")) == 1)

        listed = cli(stack, "dlq", "list", "--queue", "llm", "--json")
        assert listed.exit_code == 0, listed.output
        rows = json.loads(listed.stdout)  # one JSON document
        assert [(r["episode_id"], r["prompt_id"]) for r in rows] == [(EPISODE, "pull-quotes")]
        assert "model identifier is invalid" in rows[0]["reason"]

        # What reached the media queues so far: of the prompts, only clip-picks' completion
        # (on the clips queue, for the clip renderer); Transcript Ready reaches transcode (the
        # subtitled-video step). Drain them so anything new after the replay would show.
        routed = stack.drain_events("clips", expect=1, timeout=120)
        prompts = [e.detail.prompt_id for e in routed if isinstance(e.detail, PromptCompleted)]
        assert prompts == ["clip-picks"]
        to_transcode = stack.drain_events("transcode", expect=1, timeout=60)
        assert not any(isinstance(e.detail, PromptCompleted) for e in to_transcode)
        assert queue_depth(stack, stack.queue_url("transcribe")) == 0

        provider.poison.clear()  # the team fixed the prompt / model access
        replayed = cli(
            stack,
            "dlq",
            "replay",
            "--queue",
            "llm",
            "--episode",
            EPISODE,
            "--prompt",
            "pull-quotes",
        )
        assert replayed.exit_code == 0, replayed.output
        assert "1 message(s) sent back to llm" in replayed.output
        wait_for(lambda: outputs_done(stack) == PROMPTS)

    assert queue_depth(stack, stack.dlq_url("llm")) == 0
    assert len(provider.calls_for("pull-quotes")) == 2  # the refused call and the replay
    assert all(len(provider.calls_for(p)) == 1 for p in PROMPTS - {"pull-quotes"})
    # No transcode or transcribe work: nothing new on their queues, no stage records, the
    # transcript untouched.
    assert stack.drain(stack.queue_url("transcode"), expect=1, timeout=3) == []
    assert stack.drain(stack.queue_url("clips"), expect=1, timeout=1) == []
    assert stack.drain(stack.queue_url("transcribe"), expect=1, timeout=1) == []
    keys = EpisodeKeys(EPISODE)
    for stage in ("transcode", "transcribe"):
        assert head_or_none(stack.s3, stack.bucket, keys.stage_record(stage)) is None
    assert head_or_none(stack.s3, stack.bucket, keys.audio) is None
    assert (
        stack.s3.head_object(Bucket=stack.bucket, Key=keys.transcript_json)["ETag"]
        == transcript_etag
    )
    manifest = json.loads(
        stack.s3.get_object(Bucket=stack.bucket, Key=keys.manifest)["Body"].read()
    )
    assert {p["id"] for p in manifest["prompts"]} == PROMPTS


def test_replay_all_moves_the_whole_dlq_back_and_filters_leave_others_visible(
    stack: Stack,
) -> None:
    def dead(prompt_id: str) -> None:
        event = PromptRequested(
            episode_id="ep-a",
            prompt_id=prompt_id,
            model="extractive",
            transcript_json=S3Location(bucket=stack.bucket, key="episodes/ep-a/transcript.json"),
        )
        stack.sqs.send_message(
            QueueUrl=stack.dlq_url("llm"), MessageBody=json.dumps(to_envelope(event))
        )

    for prompt_id in ("titles", "chapters", "newsletter"):
        dead(prompt_id)

    nothing = cli(stack, "dlq", "replay", "--queue", "llm", "--prompt", "faq")
    assert nothing.exit_code == 1
    assert "no dead-lettered message matched (3 left untouched" in nothing.output
    assert queue_depth(stack, stack.dlq_url("llm")) == 3

    one = cli(
        stack, "dlq", "replay", "--queue", "llm", "--prompt", "titles", "--model", "bedrock:x"
    )
    assert one.exit_code == 0, one.output
    [sent] = stack.drain_events("llm", expect=1, timeout=20)
    assert (sent.detail.prompt_id, sent.detail.model, sent.detail.replay) == (
        "titles",
        "bedrock:x",
        True,
    )  # type: ignore[attr-defined]
    # The two others were released at once, not after a visibility timeout.
    listed = cli(stack, "dlq", "list", "--queue", "llm", "--json")
    assert sorted(row["prompt_id"] for row in json.loads(listed.stdout)) == [
        "chapters",
        "newsletter",
    ]

    moved = cli(stack, "dlq", "replay", "--queue", "llm", "--all")
    assert moved.exit_code == 0, moved.output
    back = stack.drain_events("llm", expect=2, timeout=30)
    assert sorted(e.of(PromptRequested).detail.prompt_id for e in back) == [
        "chapters",
        "newsletter",
    ]


def test_dlq_commands_fail_with_a_clear_message(stack: Stack) -> None:
    unknown = cli(stack, "dlq", "list", "--queue", "nope")
    assert unknown.exit_code == 2
    assert "unknown queue 'nope'" in unknown.output
    assert "Traceback" not in unknown.output
    mixed = cli(stack, "dlq", "replay", "--queue", "llm", "--all", "--prompt", "titles")
    assert mixed.exit_code == 2
    assert "cannot be combined" in mixed.output


def test_prompts_test_runs_one_prompt_on_a_stored_transcript(stack: Stack) -> None:
    put_episode(stack)

    result = cli(stack, "prompts", "test", "titles", "--episode", EPISODE)

    assert result.exit_code == 0, result.output
    assert "# Title ideas" in result.output
    assert "without an LLM" in result.output
    assert outputs_done(stack) == set()  # testing a prompt writes nothing


def test_a_prompt_whose_dependency_is_held_by_a_crashed_worker_waits_for_it(
    stack: Stack,
) -> None:
    """Issue #16: blog-post's retries (~35 s) ended before chapters, held invisible for the
    llm queue's 120 s visibility timeout by a crashed worker, came back; the blog post was
    written without chapters and reported plain "done". Now it parks until chapters ends."""
    settings = llm_settings(stack)
    provider = ScriptedProvider()
    providers = Providers(
        {"bedrock": provider, "extractive": ExtractiveProvider()},
        default_provider="bedrock",
        default_model="amazon.nova-lite-v1:0",
    )
    runner = PromptRunner(providers=providers, limiters=RateLimiters(lambda _m: RateLimit()))
    service = build_service(settings, s3=stack.s3, providers=providers, runner=runner)
    put_episode(stack)
    keys = EpisodeKeys(EPISODE)

    def request(prompt_id: str) -> None:
        event = PromptRequested(
            episode_id=EPISODE,
            prompt_id=prompt_id,
            model="bedrock:amazon.nova-lite-v1:0",
            transcript_json=S3Location(bucket=stack.bucket, key=keys.transcript_json),
        )
        stack.sqs.send_message(
            QueueUrl=stack.queue_url("llm"), MessageBody=json.dumps(to_envelope(event))
        )

    def blog_record() -> dict[str, Any]:
        found = head_or_none(stack.s3, stack.bucket, keys.stage_record("prompt-blog-post"))
        if found is None:
            return {}
        body = stack.s3.get_object(Bucket=stack.bucket, Key=keys.stage_record("prompt-blog-post"))
        return dict(json.loads(body["Body"].read()))

    with running_service(service, settings, options=FAST):
        request("blog-post")  # chapters' message is elsewhere (a crashed worker holds it)
        wait_for(lambda: blog_record().get("details", {}).get("waiting_for") == ["chapters"])
        assert queue_depth(stack, stack.queue_url("llm")) == 0  # parked, not burning receives
        request("chapters")  # its visibility timeout ended: it comes back and completes
        wait_for(lambda: blog_record().get("status") == "done")

    meta = json.loads(
        stack.s3.get_object(Bucket=stack.bucket, Key=keys.prompt_metadata("blog-post"))[
            "Body"
        ].read()
    )
    assert meta["missing_dependencies"] == []
    chapters = stack.s3.get_object(Bucket=stack.bucket, Key=keys.prompt_output("chapters", "json"))[
        "Body"
    ].read()
    assert chapters  # and the blog post was written from it
    assert len(provider.calls_for("blog-post")) == 1
    assert queue_depth(stack, stack.dlq_url("llm")) == 0
