"""The transcribe service on LocalStack with real ffmpeg and real faster-whisper.

The sample episode (samples/) goes in through S3 → EventBridge → the transcribe queue → the
service running under the real runtime; what comes out is checked against the script it was
synthesized from (word error rate) and against the subtitle rules. Whisper runs ONCE per
module: the other checks read what that run wrote. Bad inputs call the handler directly on
LocalStack S3 (they fail before any transcription, except "no speech").
"""

from __future__ import annotations

import difflib
import json
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import jiwer
import pysubs2
import pytest

from podpipe.documents import Transcript
from podpipe.events import (
    Envelope,
    Failure,
    ObjectCreated,
    TranscriptionFailed,
    TranscriptReady,
    parse_envelope,
    to_envelope,
)
from podpipe.ffmpeg import find_ffmpeg
from podpipe.layout import EpisodeKeys, StageRecord
from podpipe.runtime import RuntimeOptions
from podpipe.runtime.errors import PermanentError
from podpipe.runtime.service import MessageContext
from podpipe_local.bootstrap import AwsClients, bootstrap, teardown
from podpipe_transcribe.backend import Finished, Started, TranscriptionRequest
from podpipe_transcribe.handler import TranscribeHandler
from podpipe_transcribe.model import LazyWhisperModel
from podpipe_transcribe.service import build_handler, build_service
from podpipe_transcribe.settings import TranscribeSettings
from podpipe_transcribe.whisper import WhisperBackend
from tests.support.localstack import Stack, make_settings
from tests.support.services import running_service

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "samples" / "episode.m4a"
SCRIPT = (REPO / "samples" / "episode.txt").read_text()
SIDECAR = json.loads((REPO / "samples" / "episode.json").read_text())
CTX = MessageContext(message_id="m1", queue="transcribe", receive_count=1, max_receive_count=3)


def normalise_words(text: str) -> str:
    text = text.lower().replace("-", " ")
    return " ".join(re.sub(r"[^a-z0-9' ]", " ", text).split())


@dataclass
class CountingBackend:
    """The real Whisper backend, counting transcriptions (the idempotency witness)."""

    inner: WhisperBackend
    name: str = "whisper"
    asynchronous: bool = False
    calls: list[str] = field(default_factory=list)

    def submit(self, request: TranscriptionRequest, audio: Path | None) -> Finished | Started:
        self.calls.append(request.episode_id)
        return self.inner.submit(request, audio)

    def check(self, job_name: str) -> Finished | Started:
        return self.inner.check(job_name)


@pytest.fixture(scope="module")
def whisper_model() -> LazyWhisperModel:
    settings = TranscribeSettings()
    return LazyWhisperModel(settings.whisper_model, settings.whisper_cache_dir)


@pytest.fixture(scope="module")
def module_stack(localstack: str) -> Iterator[Stack]:
    settings = make_settings()
    clients = AwsClients.from_session(boto3.Session())
    created = bootstrap(settings, clients)
    try:
        yield Stack(settings=settings, created=created, clients=clients)
    finally:
        teardown(settings, clients)


def transcribe_settings(stack: Stack, **overrides: Any) -> TranscribeSettings:
    values: dict[str, Any] = {
        "name_prefix": stack.settings.name_prefix,
        "bucket": stack.bucket,
        "wait_time_seconds": 1,
        "shutdown_grace_seconds": 5.0,
    }
    return TranscribeSettings(**{**values, **overrides})


@dataclass
class Running:
    stack: Stack
    backend: CountingBackend
    seen: list[Envelope] = field(default_factory=list)

    def wait_for(self, queue: str, match: Callable[[Envelope], bool], timeout: float) -> Envelope:
        """Events arriving on ``queue`` (podpipe's rules route them there) until one matches."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for message in self.stack.drain(self.stack.queue_url(queue), expect=1, timeout=2):
                envelope = parse_envelope(message["Body"])
                self.seen.append(envelope)
                if match(envelope):
                    return envelope
        raise AssertionError(f"no matching event on {queue} within {timeout} s: {self.seen}")


@pytest.fixture(scope="module")
def running(module_stack: Stack, whisper_model: LazyWhisperModel) -> Iterator[Running]:
    """The transcribe service under the real runtime, in a background thread."""
    settings = transcribe_settings(module_stack)
    backend = CountingBackend(WhisperBackend(whisper_model))
    service = build_service(settings, s3=module_stack.s3, sqs=module_stack.sqs, backend=backend)
    with running_service(service, settings, options=RuntimeOptions(retry_base_seconds=0.5)):
        yield Running(module_stack, backend)


@dataclass(frozen=True)
class Outputs:
    event: TranscriptReady
    transcript: Transcript
    text: str
    srt: str
    vtt: str
    podcasting20: dict[str, Any]
    stage: StageRecord


@pytest.fixture(scope="module")
def sample_outputs(running: Running) -> Outputs:
    """Upload the sample episode (sidecar first) and wait for "Transcript Ready"."""
    stack = running.stack
    stack.put_sidecar("sample-ep1", SIDECAR)
    stack.put_upload("sample-ep1", SAMPLE.read_bytes())
    envelope = running.wait_for(
        "llm-dispatch", lambda e: e.detail.episode_key() == "sample-ep1", timeout=900
    )
    event = envelope.detail
    assert isinstance(event, TranscriptReady)
    keys = EpisodeKeys("sample-ep1")

    def text(key: str) -> str:
        return str(stack.s3.get_object(Bucket=stack.bucket, Key=key)["Body"].read().decode())

    stage = json.loads(text(keys.stage_record("transcribe")))
    return Outputs(
        event=event,
        transcript=Transcript.model_validate_json(text(keys.transcript_json)),
        text=text(keys.transcript_text),
        srt=text(keys.subtitles_srt),
        vtt=text(keys.subtitles_vtt),
        podcasting20=json.loads(text(keys.podcasting20_json)),
        stage=StageRecord.model_validate(stage),
    )


@pytest.mark.slow
def test_sample_episode_transcript_matches_the_script(sample_outputs: Outputs) -> None:
    words = " ".join(w.text for w in sample_outputs.transcript.words)
    error_rate = jiwer.wer(normalise_words(SCRIPT), normalise_words(words))
    assert error_rate <= 0.10, f"word error rate {error_rate:.1%}"
    event = sample_outputs.event
    assert event.backend == "whisper"
    assert event.language == "en"
    assert 175 < event.duration_seconds < 195
    assert event.word_count == len(sample_outputs.transcript.words)
    assert sample_outputs.stage.status == "done"
    # Whisper does not diarize, but the two voices are told apart (speaker turns): the first
    # heard is the host, the other the guest, and no line carries the joint label.
    assert sample_outputs.transcript.speakers == ["Maya Patel", "Tom Becker"]
    assert sample_outputs.text.startswith("Small Steps - Heat Pumps Without the Hype\n")
    assert "[00:00:00] Maya Patel: Welcome to Small Steps" in sample_outputs.text
    assert "Maya Patel & Tom Becker" not in sample_outputs.text
    assert "] Tom Becker: Thanks for having me" in sample_outputs.text


def words_by_speaker(lines: list[tuple[str, str]]) -> tuple[list[str], list[str]]:
    """(words, the speaker of each word) of (speaker, text) lines, normalised for matching."""
    words: list[str] = []
    speakers: list[str] = []
    for speaker, text in lines:
        for word in normalise_words(text).split():
            words.append(word)
            speakers.append(speaker)
    return words, speakers


@pytest.mark.slow
def test_sample_lines_are_attributed_to_who_said_them(sample_outputs: Outputs) -> None:
    """The script alternates host and guest lines, host first: align the transcript's words to
    the script's and count the matched words whose speaker is the one who said them."""
    people = [SIDECAR["hosts"][0], SIDECAR["guests"][0]]
    script = [(people[i % 2], line) for i, line in enumerate(SCRIPT.strip().splitlines())]
    said, said_by = words_by_speaker(script)
    heard, heard_by = words_by_speaker(
        [(s.speaker, s.text) for s in sample_outputs.transcript.segments]
    )
    matcher = difflib.SequenceMatcher(None, said, heard, autojunk=False)
    pairs = [
        (said_by[block.a + i], heard_by[block.b + i])
        for block in matcher.get_matching_blocks()
        for i in range(block.size)
    ]
    assert len(pairs) >= 0.8 * len(heard)  # the alignment itself is sound
    right = sum(truth == labelled for truth, labelled in pairs) / len(pairs)
    assert right >= 0.8, f"{right:.0%} of the words are attributed to the right speaker"
    guest_words = [w for w, speaker in zip(heard, heard_by, strict=True) if speaker == people[1]]
    assert len(guest_words) > len(heard) / 2  # the guest does most of the talking


@pytest.mark.slow
def test_sample_subtitles_parse_and_respect_the_line_limits(sample_outputs: Outputs) -> None:
    for text, fmt in ((sample_outputs.srt, "srt"), (sample_outputs.vtt, "vtt")):
        subs = pysubs2.SSAFile.from_string(text, format_=fmt)
        assert len(subs) > 30
        for cue in subs:
            lines = cue.plaintext.split("\n")
            assert len(lines) <= 2, cue.plaintext
            assert all(len(line) <= 42 for line in lines), cue.plaintext
            assert 0 < cue.end - cue.start <= 7000
        assert subs[-1].end / 1000 <= sample_outputs.event.duration_seconds + 1
    segments = sample_outputs.podcasting20["segments"]
    assert segments[0]["startTime"] < 1.0
    assert "Welcome to Small Steps" in segments[0]["body"]


@pytest.mark.slow
def test_a_redelivered_upload_is_not_transcribed_again(
    running: Running, sample_outputs: Outputs
) -> None:
    stack = running.stack
    redelivery = ObjectCreated.model_validate(
        {"bucket": {"name": stack.bucket}, "object": {"key": "uploads/sample-ep1.m4a"}}
    )
    stack.sqs.send_message(
        QueueUrl=stack.queue_url("transcribe"), MessageBody=json.dumps(to_envelope(redelivery))
    )
    again = running.wait_for(
        "llm-dispatch", lambda e: e.detail.episode_key() == "sample-ep1", timeout=120
    ).detail
    assert isinstance(again, TranscriptReady)
    assert again.transcript_json == sample_outputs.event.transcript_json
    assert again.word_count == sample_outputs.event.word_count
    assert running.backend.calls.count("sample-ep1") == 1


def depth(stack: Stack, url: str) -> int:
    attributes = stack.sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


def test_a_text_file_named_m4a_fails_once_through_the_runtime(running: Running) -> None:
    stack = running.stack
    stack.put_upload("notes-ep", b"Show notes for episode 42\nIntro, guest, outro.\n")
    failed = running.wait_for(
        "notify",
        lambda e: isinstance(e.detail, TranscriptionFailed) and e.detail.episode_id == "notes-ep",
        timeout=120,
    ).detail
    assert isinstance(failed, TranscriptionFailed)
    # The same words as transcode, not ffmpeg's jargon.
    assert "notes-ep.m4a is a text file, not audio" in failed.failure.reason
    assert failed.failure.attempts == 1
    # Rejected, not dead-lettered: once the queue is empty the runtime has acted on it (a DLQ
    # copy would have been sent before the delete), and the DLQ that pages operators is empty.
    deadline = time.monotonic() + 60
    while depth(stack, stack.queue_url("transcribe")) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert depth(stack, stack.queue_url("transcribe")) == 0
    assert depth(stack, stack.dlq_url("transcribe")) == 0


# --------------------------------------------------------------------------- bad input


def ffmpeg(*args: str) -> None:
    subprocess.run([find_ffmpeg(), "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


@pytest.fixture(scope="module")
def bad_media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    folder = tmp_path_factory.mktemp("transcribe-bad")
    sample = SAMPLE.read_bytes()  # +faststart: the index is at the front
    moov_last = folder / "moov-last.m4a"
    ffmpeg("-i", str(SAMPLE), "-t", "20", "-c", "copy", str(moov_last))
    silence = folder / "silence.m4a"
    ffmpeg(
        "-f",
        "lavfi",
        "-i",
        "anoisesrc=c=brown:a=0.002:d=8:r=16000",
        "-c:a",
        "aac",
        "-b:a",
        "32k",
        str(silence),
    )
    return {
        "text": b"Show notes for episode 42\nIntro, guest, outro.\n",
        "empty": b"",
        "cut-data": sample[: len(sample) // 2],
        "cut-index": moov_last.read_bytes()[: moov_last.stat().st_size // 2],
        "silence": silence.read_bytes(),
        "long": sample,
    }


@pytest.fixture(scope="module")
def quiet_bucket(module_stack: Stack) -> str:
    """A bucket without EventBridge notifications: an upload there reaches no queue, so the
    service that other tests run on module_stack cannot race the handler called directly."""
    name = f"{module_stack.settings.name_prefix}-quiet"
    module_stack.s3.create_bucket(Bucket=name)
    return name


def direct_handler(stack: Stack, model: LazyWhisperModel, **overrides: Any) -> TranscribeHandler:
    settings = transcribe_settings(stack, **overrides)
    return build_handler(
        settings,
        s3=stack.s3,
        backend=WhisperBackend(
            model, max_duration_seconds=settings.transcribe_max_duration_seconds
        ),
    )


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("text", "bad-text.m4a is a text file, not audio"),
        ("empty", "bad-empty.m4a is empty (0 bytes)"),
        ("cut-data", "truncated or corrupt"),
        ("cut-index", "bad-cut-index.m4a is incomplete: its index"),
        ("long", "the limit is 1.0 minutes"),
        pytest.param("silence", "no speech", marks=pytest.mark.slow),
    ],
)
def test_bad_input_fails_permanently_with_a_clear_reason(
    module_stack: Stack,
    quiet_bucket: str,
    whisper_model: LazyWhisperModel,
    bad_media: dict[str, bytes],
    name: str,
    reason: str,
) -> None:
    limit = 60 if name == "long" else 600
    handler = direct_handler(
        module_stack, whisper_model, bucket=quiet_bucket, transcribe_max_duration_seconds=limit
    )
    episode_id = f"bad-{name}"
    key = f"uploads/{episode_id}.m4a"
    module_stack.s3.put_object(Bucket=quiet_bucket, Key=key, Body=bad_media[name])
    event = ObjectCreated.model_validate({"bucket": {"name": quiet_bucket}, "object": {"key": key}})
    with pytest.raises(PermanentError) as caught:
        handler.handle_upload(event, CTX)
    assert reason in caught.value.reason
    failure = Failure(reason=caught.value.reason, error_type="PermanentError")
    (failed,) = handler.upload_failed(event, failure)
    assert isinstance(failed, TranscriptionFailed)
    assert failed.episode_id == episode_id
    keys = EpisodeKeys(episode_id)
    stage = module_stack.s3.get_object(Bucket=quiet_bucket, Key=keys.stage_record("transcribe"))
    assert json.loads(stage["Body"].read())["status"] == "failed"
    listed = module_stack.s3.list_objects_v2(Bucket=quiet_bucket, Prefix=keys.root)
    assert keys.transcript_json not in [o["Key"] for o in listed.get("Contents", [])]
