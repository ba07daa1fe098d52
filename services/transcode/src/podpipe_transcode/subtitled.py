"""Subtitled videos: "Transcript Ready" or "Video Transcoded" → ``video.mp4`` with a soft
subtitle track and ``video-captioned.mp4`` with the captions burned in → "Video Subtitled".

Transcribe and transcode run in parallel, so this step is a join: it runs on whichever of the
two events arrives second (the first finds the other half missing and does nothing). One
ffmpeg run makes both files: the soft-subtitled one is a stream copy plus the SRT as
``mov_text`` (no decode), the captioned one the only decode and encode of the picture.
Idempotency: ``video-subtitles.json`` records which transcript and which video were used.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from podpipe.bucket import BucketStore, S3BucketStore
from podpipe.captions import CaptionStyle, find_font, parse_srt, to_ass
from podpipe.documents import Transcript
from podpipe.events import (
    Event,
    Failure,
    S3Location,
    TranscriptReady,
    VideoFailed,
    VideoSubtitled,
    VideoTranscoded,
)
from podpipe.ffmpeg import (
    FfmpegError,
    escape_filter_value,
    filters_available,
    find_ffmpeg,
    probe,
    run_ffmpeg,
)
from podpipe.layout import EpisodeKeys
from podpipe.runtime.errors import PermanentError
from podpipe.runtime.service import MessageContext, Route
from podpipe.stages import S3StageLedger, StageLedger, fail_stage
from podpipe_transcode.video import VideoOptions

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

log = structlog.get_logger()

STAGE = "video-subtitles"
ISO_639_2 = {
    "en": "eng", "de": "deu", "fr": "fra", "es": "spa", "it": "ita", "nl": "nld", "pt": "por",
    "pl": "pol", "sv": "swe", "da": "dan", "no": "nor", "fi": "fin", "ja": "jpn", "zh": "zho",
    "ko": "kor", "ru": "rus", "uk": "ukr", "tr": "tur", "ar": "ara", "hi": "hin", "cs": "ces",
}  # fmt: skip
"""MP4 stores a track's language as ISO 639-2; transcribe reports ISO 639-1 (or en-US)."""


def mp4_language(language: str) -> str:
    code = language.split("-")[0].lower()
    return ISO_639_2.get(code, code if len(code) == 3 else "und")


def subtitled_args(
    video: Path,
    srt: Path,
    ass: Path,
    fonts_dir: Path | None,
    soft: Path,
    captioned: Path,
    language: str,
    options: VideoOptions,
) -> list[str]:
    """One run, two outputs: ``soft`` (streams copied + the SRT as mov_text, +faststart) and
    ``captioned`` (the picture re-encoded once with the captions drawn by libass)."""
    fonts = f":fontsdir={escape_filter_value(str(fonts_dir))}" if fonts_dir else ""
    burn = f"subtitles=filename={escape_filter_value(str(ass))}{fonts},format=yuv420p"
    return [
        *("-i", str(video), "-i", str(srt)),
        *("-map", "0:v:0", "-map", "0:a:0", "-map", "1:s:0", "-c:v", "copy", "-c:a", "copy"),
        *("-c:s", "mov_text", "-metadata:s:s:0", f"language={mp4_language(language)}"),
        *("-movflags", "+faststart", "-f", "mp4", str(soft)),
        *("-map", "0:v:0", "-map", "0:a:0", "-vf", burn, "-c:v", "libx264"),
        *("-preset", options.preset, "-crf", str(options.crf), "-pix_fmt", "yuv420p"),
        *("-c:a", "copy", "-movflags", "+faststart", "-f", "mp4", str(captioned)),
    ]  # fmt: skip


@dataclass(frozen=True)
class SubtitlesConfig:
    bucket: str
    video: VideoOptions = field(default_factory=VideoOptions)
    font_file: str = ""
    work_dir: str = ""


class VideoSubtitlesHandler:
    def __init__(
        self, store: BucketStore, config: SubtitlesConfig, ffmpeg: str = "", *, ledger: StageLedger
    ) -> None:
        self.store = store
        self.ledger = ledger
        self.config = config
        self.ffmpeg = ffmpeg or find_ffmpeg()

    def on_transcript(self, event: TranscriptReady, ctx: MessageContext) -> Sequence[Event]:
        return self._join(event.episode_id, event.source, ctx)

    def on_video(self, event: VideoTranscoded, ctx: MessageContext) -> Sequence[Event]:
        return self._join(event.episode_id, event.source, ctx)

    def on_failure(
        self, event: TranscriptReady | VideoTranscoded, failure: Failure
    ) -> Sequence[Event]:
        return fail_stage(
            self.ledger,
            event.episode_id,
            STAGE,
            failure,
            VideoFailed(
                episode_id=event.episode_id,
                source=event.source,
                output="video-captioned.mp4",
                failure=failure,
            ),
        )

    def _join(self, episode_id: str, source: S3Location, ctx: MessageContext) -> Sequence[Event]:
        keys = EpisodeKeys(episode_id)
        video_etag = self.store.etag(keys.video)
        transcript_etag = self.store.etag(keys.transcript_json)
        if (
            video_etag is None
            or transcript_etag is None
            or self.store.etag(keys.subtitles_srt) is None
        ):
            # Audio-only episodes end here, and so does the first half of a video's join.
            log.info("video_subtitles.waiting", video=video_etag is not None)
            return []
        record = _record(self.store.get_bytes(keys.video_subtitles_record))
        if (
            record.get("transcript_etag") == transcript_etag
            and record.get("video_etag") == video_etag
        ):
            log.info("video_subtitles.reused")
            return []
        started = time.time()
        self.ledger.record(
            episode_id, STAGE, "running", started_at=started, attempts=ctx.receive_count
        )
        with tempfile.TemporaryDirectory(
            prefix="podpipe-subtitles-", dir=self.config.work_dir or None
        ) as tmp:
            made = self._render(Path(tmp), keys)
            self.store.upload(made.soft, keys.video, content_type="video/mp4")
            self.store.upload(made.captioned, keys.video_captioned, content_type="video/mp4")
        self.store.put_json(
            keys.video_subtitles_record,
            {"transcript_etag": transcript_etag, "video_etag": self.store.etag(keys.video)},
        )
        self.ledger.record(
            episode_id,
            STAGE,
            "done",
            started_at=started,
            attempts=ctx.receive_count,
            details={"cues": made.cues, "language": made.language},
        )
        bucket = self.config.bucket
        return [
            VideoSubtitled(
                episode_id=episode_id,
                video=S3Location(bucket=bucket, key=keys.video),
                video_captioned=S3Location(bucket=bucket, key=keys.video_captioned),
                language=made.language,
                cues=made.cues,
                elapsed_seconds=time.time() - started,
            )
        ]

    def _render(self, work: Path, keys: EpisodeKeys) -> _Made:
        video, srt = work / "source.mp4", work / "subtitles.srt"
        self.store.download(keys.video, video)
        self.store.download(keys.subtitles_srt, srt)
        raw = self.store.get_bytes(keys.transcript_json)
        if raw is None:
            raise RuntimeError("transcript.json vanished while the subtitles were made")
        transcript = Transcript.model_validate_json(raw)
        info = probe(video, ffmpeg=self.ffmpeg)
        if not info.video_streams or info.video_streams[0].width is None:
            raise PermanentError("video.mp4 has no readable picture to caption")
        picture = info.video_streams[0]
        width, height = picture.width or 0, picture.height or 0
        duration = info.duration_seconds or transcript.duration_seconds
        # The burned captions are the soft track's cues: the episode's subtitle rules (at most
        # 2 lines x 42 characters and 7 s on screen), so both videos say the same thing.
        cues = parse_srt(srt.read_text(encoding="utf-8"))
        ass = work / "captions.ass"
        ass.write_text(to_ass(cues, CaptionStyle(width, height)), encoding="utf-8")
        if "subtitles" not in filters_available(self.ffmpeg):
            raise PermanentError("this ffmpeg has no libass (subtitles filter) to burn captions")
        fonts_dir = _private_fonts(work, self.config.font_file)
        soft, captioned = work / "video.mp4", work / "video-captioned.mp4"
        try:
            run_ffmpeg(
                subtitled_args(
                    video,
                    srt,
                    ass,
                    fonts_dir,
                    soft,
                    captioned,
                    transcript.language,
                    self.config.video,
                ),
                ffmpeg=self.ffmpeg,
                total_seconds=duration,
                label="video-subtitles",
            )
        except FfmpegError as exc:
            raise PermanentError(f"the subtitled videos could not be made: {exc.reason}") from exc
        return _Made(soft, captioned, len(cues), transcript.language)


@dataclass(frozen=True)
class _Made:
    soft: Path
    captioned: Path
    cues: int
    language: str


def _record(raw: bytes | None) -> dict[str, Any]:
    if raw is None:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _private_fonts(work: Path, configured: str) -> Path | None:
    """The font alone in a directory: libass loads only it (scanning system fonts is slow)."""
    font = find_font(configured)
    if font is None:
        return None
    directory = work / "fonts"
    directory.mkdir(exist_ok=True)
    shutil.copyfile(font, directory / ("font" + font.suffix.lower()))
    return directory


def subtitles_routes(
    s3: S3Client, bucket: str, *, ffmpeg: str = "", font_file: str = "", work_dir: str = ""
) -> list[Route[Any]]:
    """The two routes of the join, on the transcode queue."""
    config = SubtitlesConfig(bucket=bucket, font_file=font_file, work_dir=work_dir)
    handler = VideoSubtitlesHandler(
        S3BucketStore(s3, bucket), config, ffmpeg, ledger=S3StageLedger(s3, bucket)
    )
    return [
        Route(TranscriptReady, handler.on_transcript, on_failure=handler.on_failure),
        Route(VideoTranscoded, handler.on_video, on_failure=handler.on_failure),
    ]
