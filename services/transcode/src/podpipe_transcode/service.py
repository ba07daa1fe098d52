"""Wiring: settings + injected clients → the transcode Service the runtime runs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from podpipe.events import AudioTranscoded, ObjectCreated
from podpipe.runtime.service import Consumer, Route, Service
from podpipe.stages import S3StageLedger
from podpipe_transcode.backend import FfmpegBackend, TranscodeBackend
from podpipe_transcode.handler import TranscodeConfig, TranscodeHandler
from podpipe_transcode.settings import TranscodeSettings
from podpipe_transcode.store import S3ObjectStore
from podpipe_transcode.subtitled import subtitles_routes
from podpipe_transcode.youtube_handler import youtube_routes

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

SERVICE_NAME = "transcode"
QUEUE = "transcode"


class UnknownBackendError(ValueError):
    """PODPIPE_TRANSCODE_BACKEND names a backend podpipe does not have."""


def build_backend(settings: TranscodeSettings) -> TranscodeBackend:
    if settings.transcode_backend == "ffmpeg":
        return FfmpegBackend(
            ffmpeg=settings.ffmpeg_path,
            progress_log_seconds=settings.ffmpeg_progress_log_seconds,
        )
    raise UnknownBackendError(
        f"unknown transcode backend {settings.transcode_backend!r}; available: ffmpeg"
    )


def build_handler(
    settings: TranscodeSettings, *, s3: S3Client, backend: TranscodeBackend | None = None
) -> TranscodeHandler:
    config = TranscodeConfig(
        bucket=settings.bucket,
        targets=settings.loudness_targets(),
        encoding=settings.mp3_encoding(),
        max_duration_seconds=settings.max_duration_seconds,
        presign_expiry_seconds=settings.presign_expiry_seconds,
        work_dir=settings.work_dir,
    )
    chosen = backend or build_backend(settings)
    # The ffmpeg backend makes video.mp4 too; another backend (or a test's wrapper) only the MP3.
    video = chosen if isinstance(chosen, FfmpegBackend) else None
    return TranscodeHandler(
        S3ObjectStore(s3),
        chosen,
        config,
        video=video,
        ledger=S3StageLedger(s3, settings.bucket),
    )


def transcode_route(handler: TranscodeHandler) -> Route[ObjectCreated]:
    return Route(ObjectCreated, handler.handle, on_failure=handler.on_failure)


def video_route(handler: TranscodeHandler) -> Route[AudioTranscoded]:
    """A video upload's video.mp4, after its MP3 (topology: audio-to-transcode)."""
    return Route(AudioTranscoded, handler.make_video, on_failure=handler.on_video_failure)


def build_service(
    settings: TranscodeSettings, *, s3: S3Client, backend: TranscodeBackend | None = None
) -> Service:
    """The transcode service: one consumer on the transcode queue, routing "Object Created"
    to the MP3 conversion, the MP3's "Audio Transcoded" to a video upload's video.mp4, and a
    video episode's joins to the subtitled videos and YouTube
    outputs (the clips are their own service, on their own queue)."""
    handler = build_handler(settings, s3=s3, backend=backend)
    subtitles = subtitles_routes(
        s3,
        settings.bucket,
        ffmpeg=settings.ffmpeg_path,
        font_file=settings.clips_font_file,
        work_dir=settings.work_dir,
    )
    youtube = youtube_routes(
        s3,
        settings.bucket,
        ffmpeg=settings.ffmpeg_path,
        font_file=settings.clips_font_file,
        work_dir=settings.work_dir,
    )
    routes: list[Route[Any]] = [
        transcode_route(handler),
        video_route(handler),
        *subtitles,
        *youtube,
    ]
    return Service(name=SERVICE_NAME, consumers=[Consumer(queue=QUEUE, routes=routes)])
