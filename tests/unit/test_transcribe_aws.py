"""The Amazon Transcribe adapter against botocore's Stubber and a transcript in Transcribe's
documented output format (string times, punctuation items without times, speaker labels)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber

from podpipe.documents import Transcript
from podpipe.events import (
    Failure,
    ObjectCreated,
    TranscribeJobStateChanged,
    TranscriptionFailed,
    TranscriptionStarted,
    TranscriptReady,
)
from podpipe.layout import EpisodeKeys, EpisodeMetadata
from podpipe.runtime.errors import PermanentError
from podpipe.runtime.service import MessageContext
from podpipe_transcribe.aws import (
    AwsTranscribeBackend,
    episode_id_from_job_name,
    job_name_for,
    parse_transcript,
    raw_output_key,
)
from podpipe_transcribe.handler import TranscribeConfig, TranscribeHandler
from podpipe_transcribe.store import SELF_CHECK_STATUS
from tests.support.stage_ledger import MemoryStageLedger
from tests.unit.transcribe_fakes import BUCKET, FakeChecks, FakeStore

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "transcribe_aws_output.json"
CTX = MessageContext(message_id="m1", queue="transcribe", receive_count=1, max_receive_count=3)
ETAG = "0123456789abcdef0123456789abcdef"
JOB = job_name_for("podpipe", "ep42", ETAG)


def document() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(FIXTURE.read_text())
    return loaded


def test_job_name_round_trips_to_the_episode_id() -> None:
    assert JOB == "podpipe-ep42--0123456789ab"
    assert episode_id_from_job_name("podpipe", JOB) == "ep42"
    tricky = job_name_for("podpipe", "2026-11-27-ep-", '"9f8e-12"')
    assert episode_id_from_job_name("podpipe", tricky) == "2026-11-27-ep-"
    assert episode_id_from_job_name("podpipe", "medical-job-7") is None
    assert episode_id_from_job_name("other", JOB) is None


def test_parse_glues_punctuation_and_splits_on_sentences_and_speakers() -> None:
    raw = parse_transcript(document())
    assert raw.diarized
    assert raw.language == "en"
    assert [(s.speaker_label, s.text) for s in raw.segments] == [
        ("spk_0", "Welcome back to the show."),
        ("spk_1", "Thanks, Maya."),
        ("spk_1", "Glad to be here."),
        ("spk_0", "So, heat pumps?"),
    ]
    first_word = raw.segments[0].words[0]
    assert (first_word.start, first_word.end, first_word.confidence) == (0.04, 0.43, 0.999)
    assert raw.duration_seconds == 6.2


def test_parse_uses_speaker_segments_when_items_carry_no_labels() -> None:
    doc = document()
    for item in doc["results"]["items"]:
        item.pop("speaker_label", None)
    assert [s.speaker_label for s in parse_transcript(doc).segments] == [
        "spk_0",
        "spk_1",
        "spk_1",
        "spk_0",
    ]


@pytest.fixture
def clients() -> Iterator[tuple[Any, Stubber, Any, Stubber]]:
    transcribe = boto3.client(
        "transcribe", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    s3 = boto3.client(
        "s3", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    with Stubber(transcribe) as t_stub, Stubber(s3) as s3_stub:
        yield transcribe, t_stub, s3, s3_stub
        t_stub.assert_no_pending_responses()
        s3_stub.assert_no_pending_responses()


def job(status: str, **extra: Any) -> dict[str, Any]:
    return {
        "TranscriptionJob": {
            "TranscriptionJobName": JOB,
            "TranscriptionJobStatus": status,
            "LanguageCode": "en-US",
            **extra,
        }
    }


def make(transcribe: Any, s3: Any) -> tuple[TranscribeHandler, FakeStore, FakeChecks]:
    store = FakeStore(metadata=EpisodeMetadata(hosts=["Maya Patel"], guests=["Tom Becker"]))
    store.upload("uploads/ep42.m4a", b"audio", etag=ETAG)
    checks = FakeChecks()
    backend = AwsTranscribeBackend(
        transcribe, s3, bucket=BUCKET, name_prefix="podpipe", max_speakers=3
    )
    handler = TranscribeHandler(
        store,
        backend,
        checks,
        TranscribeConfig(name_prefix="podpipe", poll_seconds=600),
        ledger=MemoryStageLedger(),
    )
    return handler, store, checks


def upload_event() -> ObjectCreated:
    return ObjectCreated.model_validate(
        {"bucket": {"name": BUCKET}, "object": {"key": "uploads/ep42.m4a", "size": 5}}
    )


def state_event(status: str) -> TranscribeJobStateChanged:
    return TranscribeJobStateChanged.model_validate(
        {"TranscriptionJobName": JOB, "TranscriptionJobStatus": status}
    )


def expect_start(t_stub: Stubber) -> None:
    t_stub.add_response(
        "start_transcription_job",
        job("IN_PROGRESS"),
        {
            "TranscriptionJobName": JOB,
            "Media": {"MediaFileUri": f"s3://{BUCKET}/uploads/ep42.m4a"},
            "OutputBucketName": BUCKET,
            "OutputKey": raw_output_key("ep42", JOB),
            "Settings": {"ShowSpeakerLabels": True, "MaxSpeakerLabels": 3},
            "Subtitles": {"Formats": ["srt", "vtt"], "OutputStartIndex": 1},
            "Tags": ANY,
            "IdentifyLanguage": True,
        },
    )


def expect_transcript_read(s3_stub: Stubber) -> None:
    body = json.dumps(document()).encode()
    s3_stub.add_response(
        "get_object",
        {"Body": StreamingBody(io.BytesIO(body), len(body))},
        {"Bucket": BUCKET, "Key": raw_output_key("ep42", JOB)},
    )


def test_upload_starts_a_job_and_releases_the_message(clients: Any) -> None:
    transcribe, t_stub, s3, _ = clients
    handler, _store, checks = make(transcribe, s3)
    expect_start(t_stub)
    (started,) = handler.handle_upload(upload_event(), CTX)
    assert isinstance(started, TranscriptionStarted)
    assert (started.job_name, started.backend) == (JOB, "aws")
    assert handler.ledger.records[("ep42", "transcribe")].details["job_name"] == JOB
    assert checks.scheduled == [(JOB, 600)]  # the lost-event fallback is armed


def test_a_redelivered_upload_finds_the_existing_job_instead_of_starting_another(
    clients: Any,
) -> None:
    transcribe, t_stub, s3, _ = clients
    handler, _store, _checks = make(transcribe, s3)
    t_stub.add_client_error(
        "start_transcription_job", "ConflictException", "The requested job name already exists."
    )
    t_stub.add_response("get_transcription_job", job("IN_PROGRESS"), {"TranscriptionJobName": JOB})
    (started,) = handler.handle_upload(upload_event(), CTX)
    assert isinstance(started, TranscriptionStarted)
    assert started.job_name == JOB


def test_completed_job_event_writes_the_transcript_with_named_speakers(clients: Any) -> None:
    transcribe, t_stub, s3, s3_stub = clients
    handler, store, _checks = make(transcribe, s3)
    expect_start(t_stub)
    handler.handle_upload(upload_event(), CTX)
    t_stub.add_response("get_transcription_job", job("COMPLETED"), {"TranscriptionJobName": JOB})
    expect_transcript_read(s3_stub)
    (ready,) = handler.handle_job_state(state_event("COMPLETED"), CTX)
    assert isinstance(ready, TranscriptReady)
    assert (ready.backend, ready.language, ready.word_count) == ("aws", "en", 14)
    keys = EpisodeKeys("ep42")
    transcript = Transcript.model_validate_json(store.text(keys.transcript_json))
    assert transcript.speakers == ["Maya Patel", "Tom Becker"]
    text = store.text(keys.transcript_text)
    assert "[00:00:02] Tom Becker: Thanks, Maya. Glad to be here." in text
    # The delayed self-check arriving afterwards stays silent: the transcript exists.
    assert handler.handle_job_state(state_event(SELF_CHECK_STATUS), CTX) == []
    # A redelivered real event re-announces (its first delivery may not have been published).
    (again,) = handler.handle_job_state(state_event("COMPLETED"), CTX)
    assert isinstance(again, TranscriptReady)
    assert again.transcript_json == ready.transcript_json


def test_self_check_of_a_running_job_schedules_the_next_check(clients: Any) -> None:
    transcribe, t_stub, s3, _ = clients
    handler, _store, checks = make(transcribe, s3)
    expect_start(t_stub)
    handler.handle_upload(upload_event(), CTX)
    t_stub.add_response("get_transcription_job", job("IN_PROGRESS"), {"TranscriptionJobName": JOB})
    assert handler.handle_job_state(state_event(SELF_CHECK_STATUS), CTX) == []
    assert checks.scheduled == [(JOB, 600), (JOB, 600)]


def test_failed_job_becomes_transcription_failed_with_transcribes_reason(clients: Any) -> None:
    transcribe, t_stub, s3, _ = clients
    handler, _store, _checks = make(transcribe, s3)
    expect_start(t_stub)
    handler.handle_upload(upload_event(), CTX)
    reason = "The media format provided does not match the detected media format."
    t_stub.add_response(
        "get_transcription_job", job("FAILED", FailureReason=reason), {"TranscriptionJobName": JOB}
    )
    with pytest.raises(PermanentError, match="media format"):
        handler.handle_job_state(state_event("FAILED"), CTX)
    (failed,) = handler.job_failed(
        state_event("FAILED"), Failure(reason=reason, error_type="PermanentError")
    )
    assert isinstance(failed, TranscriptionFailed)
    assert failed.source.key == "uploads/ep42.m4a"
    assert failed.failure.reason == reason
    assert handler.ledger.records[("ep42", "transcribe")].status == "failed"
