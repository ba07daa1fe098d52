"""The transcode service under the real runtime on LocalStack: uploads in, events out.

Proves the wiring the handler tests cannot: the route, the failure events the runtime
publishes for a PermanentError, the DLQ after exactly one attempt, and that the sidecar
arriving on the same queue is skipped without any failure.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from podpipe.events import (
    AudioTranscoded,
    Envelope,
    TranscodeFailed,
    UploadRejected,
    parse_envelope,
)
from podpipe.ffmpeg import run_ffmpeg
from podpipe.layout import EpisodeKeys, rejected_record_key
from podpipe.runtime import RuntimeOptions
from podpipe_transcode.service import build_service
from podpipe_transcode.settings import TranscodeSettings
from tests.support.localstack import Stack
from tests.support.services import running_service

pytestmark = pytest.mark.integration


@pytest.fixture
def running(stack: Stack) -> Iterator[Stack]:
    settings = TranscodeSettings(
        name_prefix=stack.settings.name_prefix,
        bucket=stack.bucket,
        wait_time_seconds=1,
        shutdown_grace_seconds=5.0,
    )
    service = build_service(settings, s3=stack.s3)
    with running_service(service, settings, options=RuntimeOptions(retry_base_seconds=0.5)):
        yield stack


def wait_for(
    stack: Stack, match: Callable[[Envelope], bool], seen: list[Envelope], timeout: float
) -> Envelope:
    """podpipe's rules route every podpipe event to the notify queue: watch it. Events seen by
    an earlier call count too (one receive can bring several)."""
    for envelope in seen:
        if match(envelope):
            return envelope
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for message in stack.drain(stack.queue_url("notify"), expect=1, timeout=2):
            envelope = parse_envelope(message["Body"])
            seen.append(envelope)
            if match(envelope):
                return envelope
    raise AssertionError(f"no matching event within {timeout} s; saw {seen}")


def wait_until(condition: Callable[[], bool], guard_seconds: float = 60.0) -> None:
    deadline = time.monotonic() + guard_seconds
    while not condition():
        assert time.monotonic() < deadline, "condition never met"
        time.sleep(0.2)


def queue_depth(stack: Stack, queue: str, *, dlq: bool = False) -> int:
    url = stack.dlq_url(queue) if dlq else stack.queue_url(queue)
    attributes = stack.sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


def test_uploads_become_events_and_bad_ones_fail_once(running: Stack, tmp_path: Path) -> None:
    stack = running
    clip = tmp_path / "clip.m4a"
    run_ffmpeg(
        ["-f", "lavfi", "-i", "anoisesrc=c=pink:a=0.1:d=4:r=44100", "-c:a", "aac", str(clip)]
    )
    stack.put_sidecar("rt-good", {"title": "Runtime episode", "show": "Small Steps"})
    stack.put_upload("rt-good", clip.read_bytes())
    stack.put_upload("rt-notes", b"Show notes for episode 42\nIntro, guest, outro.\n")

    seen: list[Envelope] = []
    done = wait_for(
        stack, lambda e: isinstance(e.detail, AudioTranscoded), seen, timeout=120
    ).detail
    assert isinstance(done, AudioTranscoded)
    assert done.episode_id == "rt-good"
    assert done.audio.key == EpisodeKeys("rt-good").audio
    assert -17.0 <= done.integrated_lufs <= -15.0
    assert done.true_peak_dbtp <= -1.0

    failed = wait_for(
        stack, lambda e: isinstance(e.detail, TranscodeFailed), seen, timeout=120
    ).detail
    assert isinstance(failed, TranscodeFailed)
    assert failed.episode_id == "rt-notes"
    assert "rt-notes.m4a is a text file, not audio" in failed.failure.reason
    assert failed.failure.attempts == 1

    # Bad input is the host's problem: told ("Transcode Failed"), kept (the upload and the
    # stage record), and never a DLQ entry that pages an operator. Once the queue is empty the
    # runtime has acted on every message (a dead-letter copy is sent before the delete).
    wait_until(lambda: queue_depth(stack, "transcode") == 0)
    assert queue_depth(stack, "transcode", dlq=True) == 0
    record = stack.s3.get_object(
        Bucket=stack.bucket, Key=EpisodeKeys("rt-notes").stage_record("transcode")
    )
    assert "is a text file, not audio" in json.loads(record["Body"].read())["reason"]
    assert stack.s3.head_object(Bucket=stack.bucket, Key="uploads/rt-notes.m4a")
    assert not any(
        isinstance(e.detail, TranscodeFailed) and e.detail.episode_id == "rt-good" for e in seen
    )


def test_a_malformed_sidecar_never_blocks_the_audio(running: Stack, tmp_path: Path) -> None:
    """Issue #16: ``{"title": "oops", `` next to a good m4a used to fail transcode three
    times (JSONDecodeError) and dead-letter it. Now the audio goes on and the host is told."""
    stack = running
    clip = tmp_path / "clip.m4a"
    run_ffmpeg(
        ["-f", "lavfi", "-i", "anoisesrc=c=pink:a=0.1:d=3:r=44100", "-c:a", "aac", str(clip)]
    )
    stack.s3.put_object(Bucket=stack.bucket, Key="uploads/rt-oops.json", Body=b'{"title": "oops", ')
    stack.s3.put_object(
        Bucket=stack.bucket,
        Key="uploads/rt-oops.m4a",
        Body=clip.read_bytes(),
        Metadata={"podpipe-show": '"Small Steps"'},
    )

    seen: list[Envelope] = []
    # This episode's outcome (an earlier test's late events may still be on the queue).
    done = wait_for(
        stack,
        lambda e: (
            isinstance(e.detail, (AudioTranscoded, TranscodeFailed))
            and e.detail.episode_key() == "rt-oops"
        ),
        seen,
        180,
    ).detail
    assert isinstance(done, AudioTranscoded), done
    [problem] = done.metadata_problems
    assert problem.startswith("uploads/rt-oops.json ignored: not valid JSON")
    record = stack.s3.get_object(
        Bucket=stack.bucket, Key=EpisodeKeys("rt-oops").stage_record("transcode")
    )
    assert b'"status": "done"' in record["Body"].read()


def test_a_rejected_key_tells_the_host_and_shows_the_key_as_uploaded(running: Stack) -> None:
    """Issue #16: a path-traversal key was dead-lettered with no notification, and a key with
    a literal %2F was shown double-encoded (S3 → EventBridge percent-encodes keys)."""
    stack = running
    key = "uploads/..%2Fescape.m4a"
    stack.s3.put_object(Bucket=stack.bucket, Key=key, Body=b"not looked at")
    seen: list[Envelope] = []
    rejected = wait_for(stack, lambda e: isinstance(e.detail, UploadRejected), seen, 60).detail
    assert isinstance(rejected, UploadRejected)
    assert rejected.source.key == key
    assert "'uploads/..%2Fescape.m4a'" in rejected.reason
    assert "%252F" not in rejected.reason
    kept = stack.s3.get_object(Bucket=stack.bucket, Key=rejected_record_key(key))
    assert json.loads(kept["Body"].read())["source"]["key"] == key
    wait_until(lambda: queue_depth(stack, "transcode") == 0)
    assert queue_depth(stack, "transcode", dlq=True) == 0
