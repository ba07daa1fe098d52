"""A video upload's video.mp4 is a stage after the MP3 (fakes: no ffmpeg, no S3).

Issue 14: "an audio-only episode is never held back by a failed video output" — the MP3 is
finished, recorded and announced by "Object Created" alone; video.mp4 is made on that
"Audio Transcoded", so its retries redo only the video and its final failure is the
``video`` stage failing ("Video Failed"), never "Transcode Failed".
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import pytest

from podpipe.events import AudioTranscoded, Failure, VideoFailed, VideoTranscoded
from podpipe.ffmpeg import AudioStreamInfo, MediaInfo
from podpipe.layout import EpisodeKeys
from podpipe.loudness import LoudnessReading, LoudnessTargets
from podpipe.runtime.errors import RejectedInputError
from podpipe.runtime.service import MessageContext
from podpipe_transcode.backend import TranscodeJob, TranscodeResult, VideoAudio, VideoResult
from podpipe_transcode.commands import Mp3Encoding
from podpipe_transcode.core import BadInputError, parse_audio_info
from podpipe_transcode.handler import STAGE, VIDEO_STAGE, TranscodeConfig, TranscodeHandler
from tests.support.stage_ledger import MemoryStageLedger
from tests.unit.test_transcode_handler import BUCKET, CTX, FakeBackend, FakeStore, created

MEDIA = MediaInfo(
    format_name="mov,mp4,m4a,3gp,3g2,mj2",
    duration_seconds=6.0,
    audio_streams=(AudioStreamInfo("aac", 48000, 2, "stereo"),),
    has_video=True,
)
FILTER = "volume=14.20dB"


class VideoStore(FakeStore):
    def __init__(self) -> None:
        super().__init__()
        self.failing_video_uploads = 0
        self.uploads: list[str] = []

    def upload(
        self, path: Path, bucket: str, key: str, *, content_type: str, metadata: dict[str, str]
    ) -> None:
        self.uploads.append(key)
        if content_type == "video/mp4" and self.failing_video_uploads:
            self.failing_video_uploads -= 1
            raise OSError("the network went away while uploading video.mp4")
        self.put(key, path.read_bytes(), metadata)


@dataclass
class VideoBackend(FakeBackend):
    """The MP3 as FakeBackend makes it, of a source with a picture; and its video.mp4."""

    renders: list[VideoAudio] = field(default_factory=list)
    bad_picture: str | None = None

    def transcode(self, source: Path, destination: Path, job: TranscodeJob) -> TranscodeResult:
        made = super().transcode(source, destination, job)
        return replace(made, loudness_filter=FILTER, channel_map=None, media=MEDIA)

    def render_video(
        self, source: Path, destination: Path, audio: VideoAudio, job: TranscodeJob
    ) -> VideoResult:
        self.renders.append(audio)
        if self.bad_picture:
            raise BadInputError(self.bad_picture)
        destination.write_bytes(b"mp4:" + source.read_bytes())
        return VideoResult(
            copied=True, reasons=(), loudness=audio.loudness, seconds=6.0, elapsed_seconds=0.1
        )


@pytest.fixture
def store() -> VideoStore:
    return VideoStore()


@pytest.fixture
def backend() -> VideoBackend:
    return VideoBackend()


@pytest.fixture
def ledger() -> MemoryStageLedger:
    return MemoryStageLedger()


@pytest.fixture
def handler(
    store: VideoStore, backend: VideoBackend, ledger: MemoryStageLedger
) -> TranscodeHandler:
    config = TranscodeConfig(
        bucket=BUCKET, targets=LoudnessTargets(), encoding=Mp3Encoding(), max_duration_seconds=600
    )
    return TranscodeHandler(store, backend, config, video=backend, ledger=ledger)


def audio_of(handler: TranscodeHandler, store: VideoStore) -> AudioTranscoded:
    store.put("uploads/ep1.mp4", b"a video")
    events = handler.handle(created("uploads/ep1.mp4"), CTX)
    [audio] = [e for e in events if isinstance(e, AudioTranscoded)]
    assert not [e for e in events if isinstance(e, (VideoTranscoded, VideoFailed))]
    return audio


def status(ledger: MemoryStageLedger, stage: str) -> str | None:
    record = ledger.read("ep1", stage)
    return None if record is None else record.status


def attempt(n: int) -> MessageContext:
    return MessageContext(message_id="v1", queue="transcode", receive_count=n, max_receive_count=3)


def test_the_mp3_is_announced_before_any_video_work_and_the_video_follows_on_it(
    handler: TranscodeHandler, store: VideoStore, backend: VideoBackend, ledger: MemoryStageLedger
) -> None:
    audio = audio_of(handler, store)

    assert backend.renders == []  # "Audio Transcoded" did not wait for the video
    assert store.uploads == [EpisodeKeys("ep1").audio]
    assert status(ledger, STAGE) == "done"
    assert status(ledger, VIDEO_STAGE) == "running"  # the clips wait for the picture
    info = parse_audio_info(store.get_json(BUCKET, EpisodeKeys("ep1").audio_info))
    assert info is not None
    assert info.loudness_filter == FILTER

    [made] = handler.make_video(audio, attempt(1))
    assert isinstance(made, VideoTranscoded)
    assert made.video.key == EpisodeKeys("ep1").video
    # video.mp4's sound goes through the MP3's filter, measured once.
    assert backend.renders == [
        VideoAudio(FILTER, None, LoudnessReading(-16.2, -1.4, 3.0), 6.0, media=None)
    ]
    assert status(ledger, VIDEO_STAGE) == "done"

    # Redelivered (the upload's message or the MP3's): nothing is redone.
    assert handler.make_video(audio, attempt(2)) == []
    again = handler.handle(created("uploads/ep1.mp4"), CTX)
    assert [type(e) for e in again if not isinstance(e, AudioTranscoded)] == []
    assert len(backend.calls) == 1
    assert len(backend.renders) == 1


def test_a_transient_video_error_retries_only_the_video_and_its_final_failure_is_video_failed(
    handler: TranscodeHandler, store: VideoStore, backend: VideoBackend, ledger: MemoryStageLedger
) -> None:
    audio = audio_of(handler, store)
    store.failing_video_uploads = 3

    for n in (1, 2, 3):  # the runtime retries the message: only the video step runs again
        with pytest.raises(OSError, match="network went away"):
            handler.make_video(audio, attempt(n))
    assert len(backend.calls) == 1  # the MP3 was made once
    assert len(backend.renders) == 3

    failure = Failure(
        reason="the network went away while uploading video.mp4", error_type="OSError"
    )
    [failed] = handler.on_video_failure(audio, failure)
    assert isinstance(failed, VideoFailed)
    assert (failed.output, failed.failure.reason) == ("video.mp4", failure.reason)
    assert status(ledger, VIDEO_STAGE) == "failed"
    assert status(ledger, STAGE) == "done"  # the audio stands

    # Replayed from the DLQ once the network is back: the video, and only the video.
    [made] = handler.make_video(audio, attempt(1))
    assert isinstance(made, VideoTranscoded)
    assert status(ledger, VIDEO_STAGE) == "done"
    assert len(backend.calls) == 1


def test_an_unusable_picture_fails_the_video_at_once_and_leaves_the_audio_alone(
    handler: TranscodeHandler, store: VideoStore, backend: VideoBackend, ledger: MemoryStageLedger
) -> None:
    audio = audio_of(handler, store)
    backend.bad_picture = "ep1.mp4: the picture is 160x8, too small to show"

    with pytest.raises(RejectedInputError, match="160x8"):
        handler.make_video(audio, attempt(1))  # one attempt: a retry would fail the same way
    rejected = Failure(reason=backend.bad_picture, error_type="RejectedInputError")
    [failed] = handler.on_video_failure(audio, rejected)
    assert isinstance(failed, VideoFailed)
    assert status(ledger, VIDEO_STAGE) == "failed"
    assert status(ledger, STAGE) == "done"


def test_an_audio_upload_or_a_newer_recording_asks_for_no_video(
    handler: TranscodeHandler, store: VideoStore, backend: VideoBackend, ledger: MemoryStageLedger
) -> None:
    audio = audio_of(handler, store)
    stale = audio.model_copy(update={"source_etag": "an older recording"})
    assert handler.make_video(stale, attempt(1)) == []

    store.put("uploads/ep2.wav", b"a recording")
    backend.transcode = FakeBackend().transcode  # type: ignore[method-assign]  # no picture
    [*_, wav] = handler.handle(created("uploads/ep2.wav"), CTX)
    assert isinstance(wav, AudioTranscoded)
    assert ledger.read("ep2", VIDEO_STAGE) is None
    assert handler.make_video(wav, attempt(1)) == []
    assert backend.renders == []
