"""The handler's decisions, with fake storage and a fake backend (no ffmpeg, no S3)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from podpipe.events import (
    AudioTranscoded,
    Failure,
    ObjectCreated,
    S3Location,
    TranscodeFailed,
    UploadRejected,
)
from podpipe.layout import EpisodeKeys
from podpipe.loudness import LoudnessMeasurement, LoudnessReading, LoudnessTargets
from podpipe.runtime.errors import PermanentError
from podpipe.runtime.service import MessageContext
from podpipe.versions import VersionStart
from podpipe_transcode.backend import TranscodeJob, TranscodeResult
from podpipe_transcode.commands import Mp3Encoding
from podpipe_transcode.core import AudioInfo, BadInputError, MeasuredLoudness, ObjectHead
from podpipe_transcode.handler import TranscodeConfig, TranscodeHandler
from podpipe_transcode.tags import read_tags
from tests.support.stage_ledger import MemoryStageLedger

BUCKET = "media"


def make_audio_info(source_etag: str = "abc", audio_etag: str = "mp3etag") -> AudioInfo:
    loud = MeasuredLoudness(integrated_lufs=-16.1, true_peak_dbtp=-1.6, loudness_range_lu=3.0)
    return AudioInfo(
        episode_id="ep1",
        source=S3Location(bucket=BUCKET, key="uploads/ep1.m4a"),
        source_etag=source_etag,
        source_size_bytes=100,
        source_format="mov,mp4,m4a,3gp,3g2,mj2",
        source_duration_seconds=6.0,
        source_loudness=loud,
        audio=S3Location(bucket=BUCKET, key="episodes/ep1/audio.mp3"),
        audio_etag=audio_etag,
        size_bytes=96000,
        duration_seconds=6.0,
        loudness=loud,
        normalization_type="linear",
        bitrate_kbps=128,
        channels=2,
        sample_rate=44100,
        targets={"integrated_lufs": -16.0},
        backend="fake",
        elapsed_seconds=1.0,
    )


@dataclass
class FakeObject:
    body: bytes
    metadata: dict[str, str] = field(default_factory=dict)
    version: int = 1

    @property
    def etag(self) -> str:
        return f'"{abs(hash((self.body, self.version)))}"'


@dataclass
class FakeStore:
    objects: dict[tuple[str, str], FakeObject] = field(default_factory=dict)
    fail_downloads: int = 0
    presigned: int = 0

    def put(self, key: str, body: bytes, metadata: dict[str, str] | None = None) -> None:
        old = self.objects.get((BUCKET, key))
        self.objects[(BUCKET, key)] = FakeObject(
            body, metadata or {}, version=(old.version + 1) if old else 1
        )

    def head(self, bucket: str, key: str) -> ObjectHead | None:
        obj = self.objects.get((bucket, key))
        return None if obj is None else ObjectHead(len(obj.body), obj.etag, obj.metadata)

    def download(self, bucket: str, key: str, path: Path) -> None:
        if self.fail_downloads:
            self.fail_downloads -= 1
            raise ClientError(
                {"Error": {"Code": "SlowDown", "Message": "Reduce rate"}}, "GetObject"
            )
        path.write_bytes(self.objects[(bucket, key)].body)

    def upload(
        self, path: Path, bucket: str, key: str, *, content_type: str, metadata: dict[str, str]
    ) -> None:
        assert content_type == "audio/mpeg"
        self.put(key, path.read_bytes(), metadata)

    def get_json(self, bucket: str, key: str) -> Any:
        obj = self.objects.get((bucket, key))
        return None if obj is None else json.loads(obj.body)

    def get_bytes(self, bucket: str, key: str) -> bytes | None:
        obj = self.objects.get((bucket, key))
        return None if obj is None else obj.body

    def put_json(self, bucket: str, key: str, value: Any) -> None:
        body = value.model_dump_json() if hasattr(value, "model_dump_json") else json.dumps(value)
        self.put(key, body.encode())

    def presign(self, bucket: str, key: str, expires_in: int) -> tuple[str, datetime]:
        self.presigned += 1
        url = f"https://{bucket}.example/{key}?sig={self.presigned}"
        return url, datetime.now(UTC) + timedelta(seconds=expires_in)

    def begin_version(
        self, bucket: str, episode_id: str, source_etag: str, owner: str
    ) -> VersionStart:
        return VersionStart(1)  # versions have their own tests (tests/unit/test_versions.py)


def _measurement(integrated: float, peak: float) -> LoudnessMeasurement:
    return LoudnessMeasurement(
        input_i=integrated,
        input_tp=peak,
        input_lra=3.0,
        input_thresh=integrated - 10,
        output_i=-16.0,
        output_tp=-1.5,
        output_lra=3.0,
        output_thresh=-26.0,
        normalization_type="linear",
        target_offset=0.0,
    )


@dataclass
class FakeBackend:
    name: str = "fake"
    calls: list[tuple[Path, TranscodeJob]] = field(default_factory=list)
    refuse: str | None = None

    def transcode(self, source: Path, destination: Path, job: TranscodeJob) -> TranscodeResult:
        self.calls.append((source, job))
        if self.refuse:
            raise BadInputError(self.refuse)
        destination.write_bytes(b"\xff\xfb\x90\x00" + source.read_bytes())
        return TranscodeResult(
            source_format="wav",
            source_duration_seconds=6.0,
            source_loudness=_measurement(-30.0, -8.0),
            output_duration_seconds=6.02,
            output_loudness=LoudnessReading(-16.2, -1.4, 3.0),
            normalization_type="linear",
        )


def created(key: str) -> ObjectCreated:
    return ObjectCreated.model_validate(
        {"bucket": {"name": BUCKET}, "object": {"key": key, "size": 1, "etag": "x"}}
    )


CTX = MessageContext(message_id="m1", queue="transcode", receive_count=1, max_receive_count=3)


@pytest.fixture
def store() -> FakeStore:
    return FakeStore()


@pytest.fixture
def backend() -> FakeBackend:
    return FakeBackend()


@pytest.fixture
def ledger() -> MemoryStageLedger:
    return MemoryStageLedger()


@pytest.fixture
def handler(store: FakeStore, backend: FakeBackend, ledger: MemoryStageLedger) -> TranscodeHandler:
    config = TranscodeConfig(
        bucket=BUCKET,
        targets=LoudnessTargets(),
        encoding=Mp3Encoding(),
        max_duration_seconds=600,
        presign_expiry_seconds=3600,
    )
    return TranscodeHandler(store, backend, config, ledger=ledger)


def test_an_upload_becomes_a_published_mp3_and_an_event(
    handler: TranscodeHandler, store: FakeStore, backend: FakeBackend, ledger: MemoryStageLedger
) -> None:
    store.put("uploads/ep1.wav", b"RIFF-audio", {"podpipe-title": '"Pilot"'})
    events = handler.handle(created("uploads/ep1.wav"), CTX)

    assert len(backend.calls) == 1
    assert backend.calls[0][0].name == "ep1.wav"
    [event] = events
    assert isinstance(event, AudioTranscoded)
    keys = EpisodeKeys("ep1")
    assert event.audio == S3Location(bucket=BUCKET, key=keys.audio)
    assert event.source == S3Location(bucket=BUCKET, key="uploads/ep1.wav")
    assert (event.integrated_lufs, event.true_peak_dbtp) == (-16.2, -1.4)  # the output's
    assert event.duration_seconds == 6.02
    assert event.size_bytes == len(store.objects[(BUCKET, keys.audio)].body)
    assert (event.bitrate_kbps, event.channels) == (128, 2)
    assert event.presigned_url.startswith(f"https://{BUCKET}.example/{keys.audio}")
    assert event.presigned_url_expires_at > datetime.now(UTC) + timedelta(minutes=59)

    info = AudioInfo.model_validate(store.get_json(BUCKET, keys.audio_info))
    assert info.source_etag == store.objects[(BUCKET, "uploads/ep1.wav")].etag.strip('"')
    assert info.source_loudness.integrated_lufs == -30.0
    assert info.tags["title"] == "Pilot"
    assert [s.status for s in ledger.history] == ["running", "done"]
    assert ledger.history[-1].details["integrated_lufs"] == -16.2


def test_tags_come_from_the_sidecar_over_object_metadata(
    handler: TranscodeHandler, store: FakeStore, tmp_path: Path
) -> None:
    store.put("uploads/ep1.m4a", b"audio", {"podpipe-title": '"Old"', "podpipe-year": "2025"})
    store.put(
        "uploads/ep1.json",
        json.dumps({"title": "New", "show": "Show", "episode_number": 7}).encode(),
    )
    handler.handle(created("uploads/ep1.m4a"), CTX)
    mp3 = tmp_path / "a.mp3"
    mp3.write_bytes(store.objects[(BUCKET, "episodes/ep1/audio.mp3")].body)
    tags = read_tags(mp3)
    assert (tags.title, tags.album, tags.track, tags.year) == ("New", "Show", "7", "2025")


def test_a_broken_sidecar_does_not_stop_the_audio(
    handler: TranscodeHandler, store: FakeStore
) -> None:
    store.put("uploads/ep1.m4a", b"audio")
    store.put("uploads/ep1.json", json.dumps({"episode_number": "not a number"}).encode())
    [event] = handler.handle(created("uploads/ep1.m4a"), CTX)
    assert isinstance(event, AudioTranscoded)
    assert event.audio.key == "episodes/ep1/audio.mp3"
    assert (BUCKET, "episodes/ep1/audio.mp3") in store.objects
    [problem] = event.metadata_problems
    assert problem.startswith("uploads/ep1.json: field 'episode_number' ignored")


def test_a_sidecar_that_is_not_json_is_reported_and_the_audio_goes_on(
    handler: TranscodeHandler, store: FakeStore, tmp_path: Path
) -> None:
    store.put("uploads/ep1.m4a", b"audio", {"podpipe-show": '"The Show"'})
    store.put("uploads/ep1.json", b'{"title": "oops", ')
    [event] = handler.handle(created("uploads/ep1.m4a"), CTX)
    assert isinstance(event, AudioTranscoded)
    [problem] = event.metadata_problems
    assert problem.startswith("uploads/ep1.json ignored: not valid JSON")
    mp3 = tmp_path / "a.mp3"
    mp3.write_bytes(store.objects[(BUCKET, "episodes/ep1/audio.mp3")].body)
    assert read_tags(mp3).album == "The Show"  # the upload's own metadata still tags it
    # A redelivery reuses the MP3 and still tells the host what was wrong.
    [again] = handler.handle(created("uploads/ep1.m4a"), CTX)
    assert isinstance(again, AudioTranscoded)
    assert again.metadata_problems == event.metadata_problems


def test_a_redelivered_upload_is_not_converted_again(
    handler: TranscodeHandler, store: FakeStore, backend: FakeBackend
) -> None:
    store.put("uploads/ep1.m4a", b"audio")
    [first] = handler.handle(created("uploads/ep1.m4a"), CTX)
    mp3_before = store.objects[(BUCKET, "episodes/ep1/audio.mp3")]
    [second] = handler.handle(created("uploads/ep1.m4a"), CTX)

    assert len(backend.calls) == 1
    assert store.objects[(BUCKET, "episodes/ep1/audio.mp3")] is mp3_before
    assert isinstance(first, AudioTranscoded)
    assert isinstance(second, AudioTranscoded)
    assert second.presigned_url != first.presigned_url  # a fresh link
    assert second.model_dump(exclude={"presigned_url", "presigned_url_expires_at"}) == (
        first.model_dump(exclude={"presigned_url", "presigned_url_expires_at"})
    )


def test_a_new_upload_under_the_same_name_is_converted_again(
    handler: TranscodeHandler, store: FakeStore, backend: FakeBackend
) -> None:
    store.put("uploads/ep1.m4a", b"take one")
    handler.handle(created("uploads/ep1.m4a"), CTX)
    store.put("uploads/ep1.m4a", b"take two")
    handler.handle(created("uploads/ep1.m4a"), CTX)
    assert len(backend.calls) == 2


def test_a_deleted_mp3_is_made_again(
    handler: TranscodeHandler, store: FakeStore, backend: FakeBackend
) -> None:
    store.put("uploads/ep1.m4a", b"audio")
    handler.handle(created("uploads/ep1.m4a"), CTX)
    del store.objects[(BUCKET, "episodes/ep1/audio.mp3")]
    handler.handle(created("uploads/ep1.m4a"), CTX)
    assert len(backend.calls) == 2


@pytest.mark.parametrize("key", ["uploads/ep1.json", "uploads/notes.txt", "episodes/ep1/audio.mp3"])
def test_non_audio_objects_are_skipped_quietly(
    handler: TranscodeHandler,
    store: FakeStore,
    backend: FakeBackend,
    key: str,
    ledger: MemoryStageLedger,
) -> None:
    store.put(key, b"{}")
    assert handler.handle(created(key), CTX) == []
    assert backend.calls == []
    assert ledger.history == []


def test_an_empty_upload_fails_at_once_without_converting(
    handler: TranscodeHandler, store: FakeStore, backend: FakeBackend
) -> None:
    store.put("uploads/ep1.m4a", b"")
    with pytest.raises(PermanentError, match=r"empty \(0 bytes\)"):
        handler.handle(created("uploads/ep1.m4a"), CTX)
    assert backend.calls == []


def test_bad_input_from_the_backend_is_permanent(
    handler: TranscodeHandler, store: FakeStore, backend: FakeBackend
) -> None:
    store.put("uploads/ep1.m4a", b"hello")
    backend.refuse = "ep1.m4a is a text file, not audio"
    with pytest.raises(PermanentError, match="text file, not audio"):
        handler.handle(created("uploads/ep1.m4a"), CTX)
    assert not any(k == "episodes/ep1/audio.mp3" for _, k in store.objects)


def test_a_vanished_upload_is_permanent(
    handler: TranscodeHandler, backend: FakeBackend, ledger: MemoryStageLedger
) -> None:
    with pytest.raises(PermanentError, match="no longer exists"):
        handler.handle(created("uploads/ep1.m4a"), CTX)
    assert backend.calls == []
    assert ledger.history == []  # nothing started: on_failure records the failure


def test_a_hostile_key_is_permanent_and_the_host_is_told(handler: TranscodeHandler) -> None:
    with pytest.raises(PermanentError, match="invalid episode id") as caught:
        handler.handle(created("uploads/My Episode.m4a"), CTX)
    [rejected] = caught.value.events
    assert isinstance(rejected, UploadRejected)
    assert rejected.source.key == "uploads/My Episode.m4a"
    assert "invalid episode id 'My Episode'" in rejected.reason


def test_a_transient_s3_error_is_left_to_retry(
    handler: TranscodeHandler, store: FakeStore, backend: FakeBackend
) -> None:
    store.put("uploads/ep1.m4a", b"audio")
    store.fail_downloads = 1
    with pytest.raises(ClientError) as caught:
        handler.handle(created("uploads/ep1.m4a"), CTX)
    assert not isinstance(caught.value, PermanentError)
    [event] = handler.handle(created("uploads/ep1.m4a"), CTX)  # the retry
    assert isinstance(event, AudioTranscoded)


def test_the_final_failure_is_announced_and_recorded(
    handler: TranscodeHandler, store: FakeStore, ledger: MemoryStageLedger
) -> None:
    ledger.record("ep1", "transcode", "running", started_at=100.0)
    failure = Failure(reason="ep1.m4a is truncated", error_type="PermanentError")
    [event] = handler.on_failure(created("uploads/ep1.m4a"), failure)
    assert isinstance(event, TranscodeFailed)
    assert event.episode_id == "ep1"
    assert event.failure.reason == "ep1.m4a is truncated"
    assert event.source.key == "uploads/ep1.m4a"
    assert ledger.history[-1].status == "failed"
    assert ledger.history[-1].started_at == 100.0
    assert ledger.history[-1].reason == "ep1.m4a is truncated"


def test_a_video_stage_left_running_fails_with_the_transcode(
    handler: TranscodeHandler, ledger: MemoryStageLedger
) -> None:
    ledger.record("ep1", "transcode", "running", started_at=100.0)
    ledger.record("ep1", "video", "running", started_at=101.0)
    failure = Failure(reason="S3 went away", error_type="RuntimeError")
    handler.on_failure(created("uploads/ep1.mp4"), failure)
    video = ledger.read("ep1", "video")
    assert video is not None
    assert (video.status, video.started_at, video.reason) == ("failed", 101.0, "S3 went away")


def test_no_failure_event_without_an_episode(handler: TranscodeHandler) -> None:
    failure = Failure(reason="bad key", error_type="PermanentError")
    assert handler.on_failure(created("uploads/My Episode.m4a"), failure) == []
