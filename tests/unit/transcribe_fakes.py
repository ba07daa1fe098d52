"""Fakes of the transcribe handler's ports (storage, self-checks, a backend)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from botocore.exceptions import ClientError

from podpipe.events import S3Location
from podpipe.layout import EpisodeMetadata
from podpipe.versions import VersionStart
from podpipe_transcribe.backend import Finished, Started, TranscriptionRequest
from podpipe_transcribe.core import RawSegment, RawTranscript, RawWord
from podpipe_transcribe.store import ObjectHead

BUCKET = "media"


@dataclass
class FakeStore:
    bucket: str = BUCKET
    objects: dict[str, bytes] = field(default_factory=dict)
    etags: dict[str, str] = field(default_factory=dict)
    metadata: EpisodeMetadata = field(default_factory=EpisodeMetadata)
    transient_head_errors: int = 0

    def upload(self, key: str, body: bytes, etag: str = "etag1") -> None:
        self.objects[key] = body
        self.etags[key] = etag

    def head(self, location: S3Location) -> ObjectHead | None:
        if self.transient_head_errors:
            self.transient_head_errors -= 1
            raise ClientError({"Error": {"Code": "SlowDown", "Message": "slow"}}, "HeadObject")
        if location.key not in self.objects:
            return None
        return ObjectHead(self.etags[location.key], len(self.objects[location.key]), {})

    def download(self, location: S3Location, path: Path) -> None:
        path.write_bytes(self.objects[location.key])

    def episode_metadata(self, episode_id: str, head: ObjectHead | None) -> EpisodeMetadata:
        return self.metadata

    def exists(self, key: str) -> bool:
        return key in self.objects

    def put_text(self, key: str, text: str, content_type: str) -> None:
        self.objects[key] = text.encode()

    def text(self, key: str) -> str:
        return self.objects[key].decode()

    def begin_version(self, episode_id: str, source_etag: str, owner: str) -> VersionStart:
        return VersionStart(1)  # versions have their own tests (tests/unit/test_versions.py)


@dataclass
class FakeChecks:
    scheduled: list[tuple[str, int]] = field(default_factory=list)

    def schedule(self, job_name: str, delay_seconds: int) -> None:
        self.scheduled.append((job_name, delay_seconds))


def two_sentences() -> RawTranscript:
    words = (
        RawWord(0.0, 0.5, " Hello", 0.9),
        RawWord(0.5, 1.0, " everyone.", 0.8),
        RawWord(1.5, 2.0, " Welcome", 0.95),
        RawWord(2.0, 2.6, " back.", 0.9),
    )
    return RawTranscript(
        "en",
        3.0,
        (RawSegment(0.0, 2.6, "Hello everyone. Welcome back.", "speaker_0", words),),
        False,
        "fake",
    )


@dataclass
class FakeSyncBackend:
    """A synchronous backend that reads the audio file it is given."""

    name: str = "fake"
    asynchronous: bool = False
    result: RawTranscript = field(default_factory=two_sentences)
    error: Exception | None = None
    calls: list[bytes] = field(default_factory=list)

    def submit(self, request: TranscriptionRequest, audio: Path | None) -> Finished | Started:
        assert audio is not None
        self.calls.append(audio.read_bytes())
        if self.error is not None:
            raise self.error
        return Finished(self.result)

    def check(self, job_name: str) -> Finished | Started:
        raise NotImplementedError
