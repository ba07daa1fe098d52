"""Notify on LocalStack: e-mail text through a real SNS topic (captured by a subscribed SQS
queue), Block Kit through a local HTTP server standing in for Slack's webhook, the one
"Episode Completed" under concurrency, and an unsendable notification ending in the notify DLQ.
"""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from podpipe.dlq import decode
from podpipe.episodes_s3 import read_episode
from podpipe.events import (
    AudioTranscoded,
    EpisodeCompleted,
    Event,
    Failure,
    PromptCompleted,
    PromptFailed,
    S3Location,
    to_envelope,
)
from podpipe.layout import EpisodeKeys, sidecar_key
from podpipe.runtime import RuntimeOptions
from podpipe.runtime.service import MessageContext, Service
from podpipe.s3io import put_json, put_text, record_stage
from podpipe_local.bootstrap import subscribe_queue
from podpipe_notify.handlers import NotifyHandlers
from podpipe_notify.service import build_channels, build_handlers, build_service
from podpipe_notify.settings import NotifySettings
from tests.support.localstack import Stack
from tests.support.services import running_service
from tests.support.slack import SlackStandIn

pytestmark = pytest.mark.integration

EP = "2026-11-27-ep42"
KEYS = EpisodeKeys(EP)
PROMPTS = ["titles", "show-notes", "chapters"]


# --------------------------------------------------------------------------- Slack stand-in


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    with SlackStandIn() as stand_in:
        yield stand_in


# --------------------------------------------------------------------------- SNS capture


class SnsCapture:
    """An SQS queue subscribed to the notifications topic: what e-mail subscribers receive."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.topic_arn = stack.topic_arn("notifications")
        self.queue_url = subscribe_queue(
            stack.sqs, stack.sns, self.topic_arn, f"{stack.settings.name_prefix}-sns-capture"
        )

    def messages(self, expect: int, timeout: float = 30.0) -> list[dict[str, Any]]:
        raw = self.stack.drain(self.queue_url, expect=expect, timeout=timeout)
        return [json.loads(m["Body"]) for m in raw]

    def close(self) -> None:
        self.stack.sqs.delete_queue(QueueUrl=self.queue_url)


@pytest.fixture
def sns_capture(stack: Stack) -> Iterator[SnsCapture]:
    capture = SnsCapture(stack)
    try:
        yield capture
    finally:
        capture.close()


# --------------------------------------------------------------------------- helpers


def notify_settings(stack: Stack, **overrides: Any) -> NotifySettings:
    base = stack.settings
    values: dict[str, Any] = {
        "name_prefix": base.name_prefix,
        "bucket": base.bucket,
        "wait_time_seconds": 1,
        "shutdown_grace_seconds": 5.0,
        "notify_send_attempts": 2,
        "notify_retry_max_seconds": 0.05,
    }
    values.update(overrides)
    return NotifySettings(**values)


def handlers_for(
    stack: Stack, settings: NotifySettings, *, sns: bool = True, http: httpx.Client | None = None
) -> NotifyHandlers:
    channels = build_channels(
        settings,
        sns=stack.sns if sns else None,
        http=http or httpx.Client(timeout=5),
        webhook_url=settings.notify_slack_webhook_url,
    )
    return build_handlers(settings, s3=stack.s3, channels=channels)


def ctx(message_id: str | None = None, receive_count: int = 1) -> MessageContext:
    return MessageContext(
        message_id=message_id or str(uuid.uuid4()),
        queue="notify",
        receive_count=receive_count,
        max_receive_count=5,
    )


def loc(stack: Stack, key: str) -> S3Location:
    return S3Location(bucket=stack.bucket, key=key)


def prepare_episode(
    stack: Stack, *, done_prompts: Sequence[str], failed_prompts: Sequence[str] = ()
) -> None:
    """An episode as the other services leave it: audio, transcript, manifest, outputs, records."""
    s3, bucket = stack.s3, stack.bucket
    now = time.time()
    put_json(
        s3, bucket, sidecar_key(EP), {"title": "Pilot", "show": "The Show", "episode_number": 42}
    )
    put_text(s3, bucket, KEYS.audio, "mp3 bytes")
    record_stage(s3, bucket, EP, "transcode", "done", started_at=now - 60)
    put_json(
        s3,
        bucket,
        KEYS.transcript_json,
        {
            "episode_id": EP,
            "language": "en",
            "duration_seconds": 1800.0,
            "backend": "aws",
            "segments": [],
        },
    )
    put_text(s3, bucket, KEYS.transcript_text, "hello world")
    record_stage(
        s3,
        bucket,
        EP,
        "transcribe",
        "done",
        started_at=now - 50,
        details={"backend": "aws", "duration_seconds": 1800.0},
    )
    put_json(
        s3,
        bucket,
        KEYS.manifest,
        {"prompts": [{"id": p, "model": "amazon.nova-lite-v1:0"} for p in PROMPTS]},
    )
    record_stage(s3, bucket, EP, "dispatch", "done", started_at=now - 40)
    for prompt in done_prompts:
        complete_prompt(stack, prompt)
    for prompt in failed_prompts:
        record_stage(
            s3, bucket, EP, f"prompt-{prompt}", "failed", started_at=now - 20, reason="refused"
        )


def complete_prompt(stack: Stack, prompt: str) -> PromptCompleted:
    s3, bucket = stack.s3, stack.bucket
    put_text(s3, bucket, KEYS.prompt_output(prompt, "md"), f"# {prompt}\n\nThe {prompt} & <more>.")
    put_json(
        s3,
        bucket,
        KEYS.prompt_metadata(prompt),
        {"model": "amazon.nova-lite-v1:0", "input_tokens": 10_000, "output_tokens": 1_000},
    )
    record_stage(s3, bucket, EP, f"prompt-{prompt}", "done", started_at=time.time() - 10)
    return prompt_completed_event(stack, prompt)


def prompt_completed_event(stack: Stack, prompt: str) -> PromptCompleted:
    return PromptCompleted(
        episode_id=EP,
        prompt_id=prompt,
        model="amazon.nova-lite-v1:0",
        output=loc(stack, KEYS.prompt_output(prompt, "md")),
        metadata=loc(stack, KEYS.prompt_metadata(prompt)),
        output_format="markdown",
        preview=f"The {prompt} & <more>.",
        input_tokens=10_000,
        output_tokens=1_000,
        latency_seconds=2.0,
        attempts=1,
        estimated_cost_usd=0.00084,
    )


def completed_events(events: list[Event]) -> list[EpisodeCompleted]:
    return [e for e in events if isinstance(e, EpisodeCompleted)]


# --------------------------------------------------------------------------- tests


def test_audio_ready_and_prompt_failed_reach_email_and_slack(
    stack: Stack, sns_capture: SnsCapture, slack: SlackStandIn
) -> None:
    settings = notify_settings(
        stack,
        notify_topic_arn=sns_capture.topic_arn,
        notify_slack_webhook_url=SecretStr(slack.url),
    )
    handlers = handlers_for(stack, settings)
    audio = AudioTranscoded(
        episode_id=EP,
        source=loc(stack, f"uploads/{EP}.m4a"),
        audio=loc(stack, KEYS.audio),
        duration_seconds=1800,
        integrated_lufs=-16.0,
        true_peak_dbtp=-1.5,
        size_bytes=28_000_000,
        bitrate_kbps=128,
        channels=2,
        presigned_url="https://example.test/audio.mp3?X-Amz-Signature=abc&X-Amz-Expires=7200",
        presigned_url_expires_at=datetime(2026, 11, 27, 9, 0, tzinfo=UTC),
    )
    replay = f"podpipe dlq replay --queue llm --episode {EP} --prompt show-notes"
    failed = PromptFailed(
        episode_id=EP,
        prompt_id="show-notes",
        model="amazon.nova-lite-v1:0",
        failure=Failure(
            reason="ValidationException: too long", error_type="ValidationError", attempts=1
        ),
        replay_command=replay,
    )
    assert handlers.audio_transcoded(audio, ctx()) == []
    assert handlers.prompt_failed(failed, ctx()) == []

    mails = sns_capture.messages(expect=2)
    assert [m["Subject"] for m in mails] == [
        f"[podpipe] Audio ready: {EP}",
        f"[podpipe] Prompt failed: show-notes for {EP}",
    ]
    assert (
        "Download the MP3: https://example.test/audio.mp3?X-Amz-Signature=abc&X-Amz-Expires=7200"
        in mails[0]["Message"]
    )
    assert "expires 2026-11-27 09:00 UTC" in mails[0]["Message"]
    assert replay in mails[1]["Message"]
    assert "ValidationException: too long" in mails[1]["Message"]

    assert len(slack.bodies) == 2
    audio_blocks, failed_blocks = slack.bodies
    assert audio_blocks["blocks"][0]["text"]["text"] == f"Audio ready: {EP}"
    assert "X-Amz-Signature=abc&amp;X-Amz-Expires=7200|Download the MP3>" in json.dumps(
        audio_blocks
    )
    assert f"```{replay}```" in json.dumps(failed_blocks)


def test_last_prompt_emits_one_episode_completed_and_the_digest_goes_out(
    stack: Stack, sns_capture: SnsCapture, slack: SlackStandIn
) -> None:
    settings = notify_settings(
        stack,
        notify_topic_arn=sns_capture.topic_arn,
        notify_slack_webhook_url=SecretStr(slack.url),
        notify_prompt_messages="none",
    )
    handlers = handlers_for(stack, settings)
    prepare_episode(stack, done_prompts=["titles"], failed_prompts=["chapters"])

    # Not complete yet: show-notes has not ended.
    assert handlers.prompt_completed(prompt_completed_event(stack, "titles"), ctx()) == []
    last = complete_prompt(stack, "show-notes")
    events = list(handlers.prompt_completed(last, ctx()))
    (completed,) = completed_events(events)
    assert completed.failed_prompts == ["chapters"]
    names = {o.name for o in completed.outputs}
    assert {"audio.mp3", "transcript.txt", "outputs/titles.md", "outputs/show-notes.md"} <= names
    assert not any(n.startswith("stages/") or n.endswith(".meta.json") for n in names)
    assert all(o.url and o.url.startswith("http") for o in completed.outputs)
    assert completed.cost_breakdown["transcription"] == pytest.approx(1800 / 60 * 0.024)
    assert completed.cost_breakdown["llm"] == pytest.approx(2 * (10 * 0.00006 + 1 * 0.00024))
    assert completed.estimated_cost_usd > completed.cost_breakdown["transcription"]
    assert {t.stage for t in completed.timings} >= {"transcode", "transcribe", "prompt-titles"}

    # The same final event again (a duplicate delivery) emits nothing.
    assert completed_events(list(handlers.prompt_completed(last, ctx()))) == []

    # The event comes back on the notify queue: that is when the digest is sent, once.
    assert handlers.episode_completed(completed, ctx()) == []
    assert handlers.episode_completed(completed, ctx()) == []
    mails = sns_capture.messages(expect=2, timeout=5)
    assert len(mails) == 1
    digest = mails[0]
    assert digest["Subject"] == f"[podpipe] Episode completed with 1 failed prompt(s): {EP}"
    assert "The Show #42 Pilot" in digest["Message"]
    assert "outputs/show-notes.md: http" in digest["Message"]
    assert "chapters" in digest["Message"]
    assert len(slack.bodies) == 1
    assert "outputs/titles.md" in json.dumps(slack.bodies[0])

    # The failed prompt is replayed and completes: no second Episode Completed, but one
    # follow-up saying every output is now there.
    replayed = complete_prompt(stack, "chapters")
    assert completed_events(list(handlers.prompt_completed(replayed, ctx()))) == []
    assert completed_events(list(handlers.prompt_completed(replayed, ctx()))) == []
    follow_up = sns_capture.messages(expect=2, timeout=5)
    assert [m["Subject"] for m in follow_up] == [
        f"[podpipe] All outputs ready after replaying chapters: {EP}"
    ]
    assert "outputs/chapters.md: http" in follow_up[0]["Message"]


def test_exactly_one_episode_completed_under_concurrency(stack: Stack) -> None:
    settings = notify_settings(stack)
    prepare_episode(stack, done_prompts=PROMPTS[:-1])
    final = complete_prompt(stack, PROMPTS[-1])
    # 8 workers (each its own handlers, as separate processes would have) handle duplicates
    # of the final event at the same moment.
    workers = [handlers_for(stack, settings, sns=False) for _ in range(8)]
    barrier = threading.Barrier(len(workers))

    def handle(worker: NotifyHandlers) -> list[Event]:
        barrier.wait()
        return list(worker.prompt_completed(final, ctx()))

    with ThreadPoolExecutor(max_workers=len(workers)) as pool:
        results = list(pool.map(handle, workers))
    emitted = [e for events in results for e in completed_events(events)]
    assert len(emitted) == 1
    marker = json.loads(
        stack.s3.get_object(Bucket=stack.bucket, Key=KEYS.completed_marker)["Body"].read()
    )
    assert marker["state"] == "claimed"


def test_redelivery_of_the_claiming_message_re_emits_until_the_digest_is_sent(stack: Stack) -> None:
    settings = notify_settings(stack)
    handlers = handlers_for(stack, settings, sns=False)
    prepare_episode(stack, done_prompts=PROMPTS[:-1])
    final = complete_prompt(stack, PROMPTS[-1])
    (first,) = completed_events(list(handlers.prompt_completed(final, ctx("m-1"))))
    # The worker died before publishing: SQS redelivers the same message.
    (again,) = completed_events(list(handlers.prompt_completed(final, ctx("m-1", receive_count=2))))
    assert again.episode_id == first.episode_id
    # Another message never re-emits.
    assert (
        completed_events(list(handlers.prompt_completed(final, ctx("m-2", receive_count=2)))) == []
    )
    handlers.episode_completed(first, ctx())
    assert (
        completed_events(list(handlers.prompt_completed(final, ctx("m-1", receive_count=3)))) == []
    )


def test_slack_500_is_retried_then_raises(stack: Stack, slack: SlackStandIn) -> None:
    settings = notify_settings(
        stack, notify_slack_webhook_url=SecretStr(slack.url), notify_send_attempts=3
    )
    handlers = handlers_for(stack, settings, sns=False)
    slack.statuses = [500, 500, 500]
    with pytest.raises(Exception, match="HTTP 500") as info:
        handlers.prompt_failed(
            PromptFailed(
                episode_id=EP,
                prompt_id="titles",
                model="m",
                failure=Failure(reason="x", error_type="E"),
                replay_command="podpipe dlq replay --queue llm",
            ),
            ctx(),
        )
    assert len(slack.bodies) == 3
    assert "s3cr3t" not in str(info.value)
    slack.statuses = [500, 200]
    handlers.audio_transcoded(
        AudioTranscoded(
            episode_id=EP,
            source=loc(stack, "uploads/x.m4a"),
            audio=loc(stack, KEYS.audio),
            duration_seconds=1,
            integrated_lufs=-16,
            true_peak_dbtp=-1,
            size_bytes=1,
            bitrate_kbps=128,
            channels=1,
            presigned_url="https://x",
            presigned_url_expires_at=datetime.now(UTC) + timedelta(hours=2),
        ),
        ctx(),
    )
    assert len(slack.bodies) == 5


def test_unsendable_notification_lands_in_the_notify_dlq(
    stack: Stack, slack: SlackStandIn, sns_capture: SnsCapture
) -> None:
    settings = notify_settings(
        stack,
        notify_slack_webhook_url=SecretStr(slack.url),
        notify_topic_arn=sns_capture.topic_arn,
    )
    slack.statuses = [500] * 100
    service: Service = build_service(
        settings, s3=stack.s3, sns=stack.sns, http=httpx.Client(timeout=5)
    )
    event = PromptFailed(
        episode_id=EP,
        prompt_id="titles",
        model="m",
        failure=Failure(reason="x", error_type="E"),
        replay_command="podpipe dlq replay --queue llm",
    )
    with running_service(
        service, settings, options=RuntimeOptions(retry_base_seconds=0.2, retry_max_seconds=1)
    ):
        stack.sqs.send_message(
            QueueUrl=stack.queue_url("notify"), MessageBody=json.dumps(to_envelope(event))
        )
        dead = stack.drain(stack.dlq_url("notify"), expect=1, timeout=90)
    assert len(dead) == 1
    assert json.loads(dead[0]["Body"])["detail"]["prompt_id"] == "titles"
    reason = dead[0]["MessageAttributes"]["podpipe-reason"]["StringValue"]
    assert "slack: webhook answered HTTP 500" in reason  # the real cause, not "moved by SQS"
    # notify's queue allows 5 receives, each tried twice against the webhook.
    assert len(slack.bodies) == 5 * settings.notify_send_attempts
    # The e-mail went out once: retries caused by Slack do not repeat it.
    assert len(sns_capture.messages(expect=2, timeout=3)) == 1


def test_final_event_through_the_bus_comes_back_as_one_digest(
    stack: Stack, sns_capture: SnsCapture, slack: SlackStandIn
) -> None:
    """The real loop: notify handles the last Prompt Completed, the runtime publishes Episode
    Completed on the bus, the rule routes it back to the notify queue, the digest goes out."""
    settings = notify_settings(
        stack,
        notify_topic_arn=sns_capture.topic_arn,
        notify_slack_webhook_url=SecretStr(slack.url),
        notify_prompt_messages="none",
    )
    prepare_episode(stack, done_prompts=PROMPTS[:-1])
    final = complete_prompt(stack, PROMPTS[-1])
    service = build_service(settings, s3=stack.s3, sns=stack.sns, http=httpx.Client(timeout=5))
    with running_service(service, settings):
        body = json.dumps(to_envelope(final))
        for _ in range(3):  # duplicate deliveries of the final event
            stack.sqs.send_message(QueueUrl=stack.queue_url("notify"), MessageBody=body)
        mails = sns_capture.messages(expect=1, timeout=60)
        # Give stray duplicates time to surface: there must be none.
        mails += sns_capture.messages(expect=1, timeout=5)
    assert [m["Subject"] for m in mails] == [f"[podpipe] Episode completed: {EP}"]
    assert len(slack.bodies) == 1
    marker = json.loads(
        stack.s3.get_object(Bucket=stack.bucket, Key=KEYS.completed_marker)["Body"].read()
    )
    assert marker["state"] == "notified"


def unreachable_url() -> str:
    """A webhook URL nothing listens on: every request fails with httpx.ConnectError."""
    with socket.socket() as probe_socket:
        probe_socket.bind(("127.0.0.1", 0))
        port = probe_socket.getsockname()[1]
    return f"http://127.0.0.1:{port}/services/T000/B000/s3cr3t"


def test_slack_unreachable_holds_back_neither_the_email_nor_the_completion(
    stack: Stack, sns_capture: SnsCapture
) -> None:
    """Issue #16: with the webhook unreachable every handler used to fail before recording
    progress, so no "Episode Completed", no completed.json, while status said completed."""
    settings = notify_settings(
        stack,
        notify_topic_arn=sns_capture.topic_arn,
        notify_slack_webhook_url=SecretStr(unreachable_url()),
        notify_prompt_messages="line",
    )
    prepare_episode(stack, done_prompts=PROMPTS[:-1])
    final = complete_prompt(stack, PROMPTS[-1])
    service = build_service(settings, s3=stack.s3, sns=stack.sns, http=httpx.Client(timeout=2))
    options = RuntimeOptions(retry_base_seconds=0.2, retry_max_seconds=1)
    with running_service(service, settings, options=options):
        stack.sqs.send_message(
            QueueUrl=stack.queue_url("notify"), MessageBody=json.dumps(to_envelope(final))
        )
        # Both dead-letter once Slack's retries are spent: the prompt line and the digest.
        dead = stack.drain(stack.dlq_url("notify"), expect=2, timeout=120)
    mails = sns_capture.messages(expect=2, timeout=10)
    subjects = sorted(m["Subject"] for m in mails)
    assert subjects == [
        f"[podpipe] Episode completed: {EP}",
        f"[podpipe] Prompt done: {PROMPTS[-1]} for {EP}",
    ]  # each exactly once, however often Slack's failure retried the message
    marker = json.loads(
        stack.s3.get_object(Bucket=stack.bucket, Key=KEYS.completed_marker)["Body"].read()
    )
    assert marker["state"] == "received"  # announced, the digest not delivered everywhere

    assert sorted(json.loads(m["Body"])["detail-type"] for m in dead) == [
        "Episode Completed",
        "Prompt Completed",
    ]
    for message in dead:
        attributes = {k: v["StringValue"] for k, v in message["MessageAttributes"].items()}
        assert "slack: webhook request failed: ConnectError" in attributes["podpipe-reason"]
        assert "s3cr3t" not in attributes["podpipe-reason"]

    listed = [decode("notify", m) for m in dead]
    assert {m.prompt_id for m in listed} == {PROMPTS[-1], None}

    snapshot = read_episode(stack.s3, stack.bucket, EP, with_notifications=True)
    assert snapshot.status.state == "completed"
    undelivered = [n for n in snapshot.status.notes if "not delivered to slack" in n]
    assert len(undelivered) == 2
    assert all("ConnectError" in n for n in undelivered)


def test_an_identical_re_upload_does_not_announce_the_audio_again(
    stack: Stack, sns_capture: SnsCapture
) -> None:
    """Issue #16: re-uploading the same file re-emits "Audio Transcoded" (the MP3 is reused)
    and used to send "Audio ready" twice. The announcement is keyed on the recording."""
    settings = notify_settings(stack, notify_topic_arn=sns_capture.topic_arn)
    handlers = handlers_for(stack, settings)

    def transcoded(etag: str) -> AudioTranscoded:
        return AudioTranscoded(
            episode_id=EP,
            source=loc(stack, f"uploads/{EP}.m4a"),
            audio=loc(stack, KEYS.audio),
            duration_seconds=60,
            integrated_lufs=-16.0,
            true_peak_dbtp=-1.5,
            size_bytes=1_000_000,
            bitrate_kbps=128,
            channels=2,
            presigned_url="https://example.test/audio.mp3",
            presigned_url_expires_at=datetime.now(UTC) + timedelta(hours=2),
            source_etag=etag,
        )

    handlers.audio_transcoded(transcoded("etag-1"), ctx())
    handlers.audio_transcoded(transcoded("etag-1"), ctx())  # identical re-upload
    handlers.audio_transcoded(transcoded("etag-2"), ctx())  # a new recording
    mails = sns_capture.messages(expect=3, timeout=10)
    assert [m["Subject"] for m in mails] == [f"[podpipe] Audio ready: {EP}"] * 2


def test_chaos_two_notify_tasks_duplicates_and_a_flaky_webhook_still_deliver_once(
    stack: Stack, sns_capture: SnsCapture, slack: SlackStandIn
) -> None:
    """Two notify tasks on one queue, every event delivered more than once, Slack failing
    the first requests: each message reaches each channel exactly once, and there is one
    "Episode Completed" with one digest."""
    settings = notify_settings(
        stack,
        notify_topic_arn=sns_capture.topic_arn,
        notify_slack_webhook_url=SecretStr(slack.url),
        notify_prompt_messages="line",
    )
    slack.statuses = [500] * 7
    prepare_episode(stack, done_prompts=PROMPTS[:-1])
    final = complete_prompt(stack, PROMPTS[-1])
    audio = AudioTranscoded(
        episode_id=EP,
        source=loc(stack, f"uploads/{EP}.m4a"),
        audio=loc(stack, KEYS.audio),
        duration_seconds=1800,
        integrated_lufs=-16.0,
        true_peak_dbtp=-1.5,
        size_bytes=28_000_000,
        bitrate_kbps=128,
        channels=2,
        presigned_url="https://example.test/audio.mp3",
        presigned_url_expires_at=datetime.now(UTC) + timedelta(hours=2),
        source_etag="take-1",
    )
    options = RuntimeOptions(retry_base_seconds=0.2, retry_max_seconds=1)

    def task() -> Service:
        return build_service(settings, s3=stack.s3, sns=stack.sns, http=httpx.Client(timeout=5))

    with (
        running_service(task(), settings, options=options),
        running_service(task(), settings, options=options),
    ):
        for event, copies in ((audio, 2), (final, 3)):
            body = json.dumps(to_envelope(event))
            for _ in range(copies):
                stack.sqs.send_message(QueueUrl=stack.queue_url("notify"), MessageBody=body)
        mails = sns_capture.messages(expect=3, timeout=90)
        deadline = time.monotonic() + 90
        while len(slack.delivered) < 3 and time.monotonic() < deadline:
            time.sleep(0.2)
        # Every message is handled (Episode Completed included) once the queue is empty.
        while time.monotonic() < deadline and any(
            int(v)
            for v in stack.sqs.get_queue_attributes(
                QueueUrl=stack.queue_url("notify"),
                AttributeNames=[
                    "ApproximateNumberOfMessages",
                    "ApproximateNumberOfMessagesNotVisible",
                ],
            )["Attributes"].values()
        ):
            time.sleep(0.2)
    subjects = sorted(m["Subject"] for m in mails)
    assert subjects == [
        f"[podpipe] Audio ready: {EP}",
        f"[podpipe] Episode completed: {EP}",
        f"[podpipe] Prompt done: {PROMPTS[-1]} for {EP}",
    ]
    headers = sorted(b["blocks"][0]["text"]["text"] for b in slack.delivered)
    assert headers == sorted(
        [f"Audio ready: {EP}", f"Episode completed: {EP}", f"Prompt done: {PROMPTS[-1]} for {EP}"]
    )
    assert len(slack.bodies) > len(slack.delivered)  # the webhook really did fail
    assert stack.drain(stack.dlq_url("notify"), expect=1, timeout=1) == []
    marker = json.loads(
        stack.s3.get_object(Bucket=stack.bucket, Key=KEYS.completed_marker)["Body"].read()
    )
    assert marker["state"] == "notified"


def test_an_upload_failed_marker_is_kept_in_s3_beside_the_rejected_upload(stack: Stack) -> None:
    """ "Upload failed" has no episode folder: its delivery marker lives under rejected/, and
    the S3 ledger's claim rule holds there as everywhere (a retry never sends it twice)."""
    from podpipe.layout import rejected_record_key
    from podpipe_notify.delivery import DeliveryRef, S3DeliveryLedger, marker_key

    ledger = S3DeliveryLedger(stack.s3, stack.bucket)
    ref = DeliveryRef("", "upload-rejected-abc", "sns", rejected_upload="uploads/a b/../x.m4a")
    assert ledger.claim(ref, "m-1") == "send"
    ledger.mark_sent(ref, "m-1")

    assert marker_key(ref).startswith(rejected_record_key(ref.rejected_upload)[: -len(".json")])
    stored = json.loads(
        stack.s3.get_object(Bucket=stack.bucket, Key=marker_key(ref))["Body"].read()
    )
    assert (stored["state"], stored["rejected_upload"]) == ("sent", "uploads/a b/../x.m4a")
    assert ledger.claim(ref, "m-2") == "already-sent"
