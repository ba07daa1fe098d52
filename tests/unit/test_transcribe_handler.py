"""The handler's decisions with fake storage and a fake backend (no S3, no Whisper)."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from podpipe.documents import Transcript
from podpipe.events import (
    Failure,
    ObjectCreated,
    TranscribeJobStateChanged,
    TranscriptionFailed,
    TranscriptReady,
)
from podpipe.layout import EpisodeKeys, EpisodeMetadata
from podpipe.runtime.errors import PermanentError
from podpipe.runtime.service import MessageContext
from podpipe_transcribe.audio import BadAudioError
from podpipe_transcribe.backend import NoSpeechError
from podpipe_transcribe.handler import TranscribeHandler
from tests.support.stage_ledger import MemoryStageLedger
from tests.unit.transcribe_fakes import BUCKET, FakeChecks, FakeStore, FakeSyncBackend

CTX = MessageContext(message_id="m1", queue="transcribe", receive_count=1, max_receive_count=3)
KEYS = EpisodeKeys("ep42")


def upload_event(key: str = "uploads/ep42.m4a") -> ObjectCreated:
    return ObjectCreated.model_validate(
        {"bucket": {"name": BUCKET}, "object": {"key": key, "size": 10, "etag": "etag1"}}
    )


def make(
    metadata: EpisodeMetadata | None = None,
) -> tuple[TranscribeHandler, FakeStore, FakeSyncBackend]:
    store = FakeStore(metadata=metadata or EpisodeMetadata(hosts=["Maya Patel"]))
    store.upload("uploads/ep42.m4a", b"audio bytes")
    backend = FakeSyncBackend()
    return (
        TranscribeHandler(store, backend, FakeChecks(), ledger=MemoryStageLedger()),
        store,
        backend,
    )


def test_upload_is_transcribed_into_every_output() -> None:
    handler, store, backend = make()
    (ready,) = handler.handle_upload(upload_event(), CTX)
    assert isinstance(ready, TranscriptReady)
    assert backend.calls == [b"audio bytes"]  # the backend got the downloaded upload
    assert (ready.word_count, ready.language, ready.backend) == (4, "en", "fake")
    assert ready.transcript_json.key == KEYS.transcript_json
    transcript = Transcript.model_validate_json(store.text(KEYS.transcript_json))
    assert transcript.speakers == ["Maya Patel"]  # one host, no diarization: the host's name
    assert "[00:00:00] Maya Patel: Hello everyone. Welcome back." in store.text(
        KEYS.transcript_text
    )
    assert store.text(KEYS.subtitles_vtt).startswith("WEBVTT")
    assert "Hello everyone." in store.text(KEYS.subtitles_srt)
    assert json.loads(store.text(KEYS.podcasting20_json))["segments"][0]["body"] == (
        "Hello everyone."
    )
    stage = handler.ledger.records[("ep42", "transcribe")]
    assert (stage.status, stage.details["source_etag"]) == ("done", "etag1")
    assert [r.status for r in handler.ledger.history] == ["running", "done"]


def test_redelivery_of_the_same_upload_re_emits_without_transcribing_again() -> None:
    handler, _store, backend = make()
    (first,) = handler.handle_upload(upload_event(), CTX)
    (second,) = handler.handle_upload(upload_event(), CTX)
    assert len(backend.calls) == 1
    assert second.model_dump(exclude={"elapsed_seconds"}) == first.model_dump(
        exclude={"elapsed_seconds"}
    )


def test_a_changed_upload_is_transcribed_again() -> None:
    handler, store, backend = make()
    handler.handle_upload(upload_event(), CTX)
    store.upload("uploads/ep42.m4a", b"new audio", etag="etag2")
    handler.handle_upload(upload_event(), CTX)
    assert backend.calls == [b"audio bytes", b"new audio"]


@pytest.mark.parametrize("key", ["uploads/ep42.json", "uploads/notes.txt", "other/ep42.m4a"])
def test_non_audio_uploads_are_skipped_silently(key: str) -> None:
    handler, _store, backend = make()
    assert handler.handle_upload(upload_event(key), CTX) == []
    assert backend.calls == []
    assert handler.ledger.history == []


def test_zero_byte_upload_fails_permanently_with_a_clear_reason() -> None:
    handler, store, backend = make()
    store.upload("uploads/ep42.m4a", b"")
    with pytest.raises(PermanentError, match="empty"):
        handler.handle_upload(upload_event(), CTX)
    assert backend.calls == []
    failure = Failure(reason="the upload is empty (0 bytes)", error_type="PermanentError")
    (failed,) = handler.upload_failed(upload_event(), failure)
    assert isinstance(failed, TranscriptionFailed)
    assert failed.episode_id == "ep42"
    assert failed.failure.reason.startswith("the upload is empty")
    assert handler.ledger.records[("ep42", "transcribe")].status == "failed"


@pytest.mark.parametrize(
    "error", [BadAudioError("not a readable audio file"), NoSpeechError("no speech was found")]
)
def test_bad_audio_is_a_permanent_error(error: Exception) -> None:
    handler, _store, backend = make()
    backend.error = error
    with pytest.raises(PermanentError, match=str(error)):
        handler.handle_upload(upload_event(), CTX)


def test_a_transient_s3_error_is_left_to_the_runtime_to_retry() -> None:
    handler, store, backend = make()
    store.transient_head_errors = 1
    with pytest.raises(ClientError) as caught:
        handler.handle_upload(upload_event(), CTX)
    assert not isinstance(caught.value, PermanentError)
    (ready,) = handler.handle_upload(upload_event(), CTX)  # the redelivery succeeds
    assert isinstance(ready, TranscriptReady)
    assert len(backend.calls) == 1


def test_hostile_upload_key_is_skipped_here_transcode_reports_it() -> None:
    handler, _store, backend = make()
    event = upload_event("uploads/Bad Name!.m4a")
    assert handler.handle_upload(event, CTX) == []
    assert backend.calls == []
    assert handler.ledger.history == []
    assert handler.upload_failed(event, Failure(reason="x", error_type="PermanentError")) == []


def test_job_events_are_ignored_by_a_synchronous_backend_and_for_foreign_jobs() -> None:
    handler, _store, _backend = make()
    event = TranscribeJobStateChanged.model_validate(
        {"TranscriptionJobName": "someone-elses-job", "TranscriptionJobStatus": "COMPLETED"}
    )
    assert handler.handle_job_state(event, CTX) == []
