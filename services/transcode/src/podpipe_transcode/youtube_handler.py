"""The YouTube step: "Episode Completed" for a video episode → ``outputs/youtube.md`` and
thumbnail candidates → "YouTube Prepared"; "Episode Published" makes them again.

It waits for "Episode Completed" because the description, chapters and thumbnails need every
prompt's output (show notes, chapters, titles, clip picks). Until the host approves a release
the title and description come from what was generated; once the release carries the
approved title and notes (``release.json``), those are used, and publishing the episode
rewrites youtube.md and the thumbnails with them. Audio-only episodes (no ``video.mp4``) are
left alone. An imperative shell over ``youtube.py``.
"""

from __future__ import annotations

import json
import tempfile
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog
from pydantic import ValidationError

from podpipe.bucket import BucketStore, S3BucketStore
from podpipe.captions import find_font
from podpipe.documents import ClipPicks
from podpipe.events import (
    EpisodeCompleted,
    EpisodePublished,
    Event,
    Failure,
    S3Location,
    VideoFailed,
    YoutubePrepared,
)
from podpipe.ffmpeg import FfmpegError, find_ffmpeg, probe, run_ffmpeg
from podpipe.layout import EpisodeKeys
from podpipe.release.model import Release, release_key
from podpipe.runtime.errors import PermanentError
from podpipe.runtime.service import MessageContext, Route
from podpipe.stages import S3StageLedger, StageLedger, fail_stage
from podpipe_transcode.youtube import (
    Chapter,
    first_title_idea,
    fit_youtube_chapters,
    plain_description,
    thumbnail_args,
    thumbnail_times,
    youtube_markdown,
    youtube_tags,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

log = structlog.get_logger()

STAGE = "youtube"


@dataclass(frozen=True)
class YoutubeConfig:
    bucket: str
    font_file: str = ""
    work_dir: str = ""
    thumbnails: int = 3


class YoutubeHandler:
    def __init__(
        self, store: BucketStore, config: YoutubeConfig, ffmpeg: str = "", *, ledger: StageLedger
    ) -> None:
        self.store = store
        self.ledger = ledger
        self.config = config
        self.ffmpeg = ffmpeg or find_ffmpeg()

    def handle(
        self, event: EpisodeCompleted | EpisodePublished, ctx: MessageContext
    ) -> Sequence[Event]:
        keys = EpisodeKeys(event.episode_id)
        if self.store.etag(keys.video) is None:
            log.info("youtube.skipped_audio_only")
            return []
        self.ledger.record(event.episode_id, STAGE, "running", attempts=ctx.receive_count)
        audio = self._json(keys.audio_info) or {}
        tags_of_audio = audio.get("tags", {}) if isinstance(audio, dict) else {}
        approved_title, approved_notes = self._approved(event.episode_id)
        title = (
            approved_title
            or str(tags_of_audio.get("title", "")).strip()
            or first_title_idea(self._text(keys.prompt_output("titles", "md")))
            or event.episode_id
        )
        description = plain_description(
            approved_notes or self._text(keys.prompt_output("show-notes", "md"))
        )
        duration = float(audio.get("duration_seconds", 0.0)) if isinstance(audio, dict) else 0.0
        fitted = fit_youtube_chapters(self._chapters(keys), duration)
        people = [p.strip() for p in str(tags_of_audio.get("artist", "")).split(",")]
        tags = youtube_tags(
            [str(tags_of_audio.get("album", "")), *people, "podcast"]
            + [c.title for c in fitted.chapters[1:] if len(c.title) <= 30]
        )
        with tempfile.TemporaryDirectory(
            prefix="podpipe-youtube-", dir=self.config.work_dir or None
        ) as tmp:
            work = Path(tmp)
            thumbnails = self._thumbnails(work, keys, title, duration)
            markdown = work / "youtube.md"
            markdown.write_text(
                youtube_markdown(title, description, fitted, tags, duration), encoding="utf-8"
            )
            self.store.upload(
                markdown, keys.prompt_output("youtube", "md"), content_type="text/markdown"
            )
        self.ledger.record(
            event.episode_id,
            STAGE,
            "done",
            attempts=ctx.receive_count,
            details={"chapters": len(fitted.chapters), "thumbnails": len(thumbnails)},
        )
        bucket = self.config.bucket
        return [
            YoutubePrepared(
                episode_id=event.episode_id,
                youtube_md=S3Location(bucket=bucket, key=keys.prompt_output("youtube", "md")),
                thumbnails=[S3Location(bucket=bucket, key=key) for key in thumbnails],
                chapters=len(fitted.chapters),
                notes=list(fitted.notes),
            )
        ]

    def on_failure(
        self, event: EpisodeCompleted | EpisodePublished, failure: Failure
    ) -> Sequence[Event]:
        keys = EpisodeKeys(event.episode_id)
        return fail_stage(
            self.ledger,
            event.episode_id,
            STAGE,
            failure,
            VideoFailed(
                episode_id=event.episode_id,
                source=S3Location(bucket=self.config.bucket, key=keys.video),
                output="youtube.md",
                failure=failure,
            ),
        )

    # ----------------------------------------------------------------- steps

    def _approved(self, episode_id: str) -> tuple[str, str]:
        """The release's approved title and notes text, or empty strings before approval."""
        raw = self.store.get_bytes(release_key(episode_id))
        if raw is None:
            return "", ""
        try:
            release = Release.model_validate_json(raw)
        except ValidationError:
            log.warning("youtube.release_unreadable", episode_id=episode_id)
            return "", ""
        if release.state not in ("approved", "scheduled", "published"):
            return "", ""
        title = release.title.text if release.title else ""
        notes = self._text(release.notes.key) if release.notes else ""
        return title, notes

    def _text(self, key: str) -> str:
        raw = self.store.get_bytes(key)
        return raw.decode("utf-8", errors="replace") if raw else ""

    def _json(self, key: str) -> Any:
        raw = self.store.get_bytes(key)
        if raw is None:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            return None

    def _chapters(self, keys: EpisodeKeys) -> list[Chapter]:
        raw = self._json(keys.prompt_output("chapters", "json"))
        items = raw.get("chapters", []) if isinstance(raw, dict) else []
        chapters = []
        for item in items:
            if isinstance(item, dict) and "startTime" in item and item.get("title"):
                try:
                    chapters.append(Chapter(float(item["startTime"]), str(item["title"])))
                except (TypeError, ValueError):
                    continue
        return chapters

    def _pick_starts(self, keys: EpisodeKeys) -> list[float]:
        raw = self.store.get_bytes(keys.prompt_output("clip-picks", "json"))
        if raw is None:
            return []
        try:
            return [pick.start for pick in ClipPicks.model_validate_json(raw).clips]
        except ValidationError:
            return []

    def _thumbnails(self, work: Path, keys: EpisodeKeys, title: str, duration: float) -> list[str]:
        video = work / "video.mp4"
        self.store.download(keys.video, video)
        duration = duration or probe(video, ffmpeg=self.ffmpeg).duration_seconds or 0.0
        times = thumbnail_times(self._pick_starts(keys), duration, self.config.thumbnails)
        if not times:
            return []
        title_file = work / "title.txt"
        title_file.write_text(_wrap(title), encoding="utf-8")
        outputs = [work / f"thumb-{i:02d}.jpg" for i in range(1, len(times) + 1)]
        font = find_font(self.config.font_file)
        try:
            run_ffmpeg(
                thumbnail_args(video, times, outputs, title_file, font),
                ffmpeg=self.ffmpeg,
                label="thumbnails",
            )
        except FfmpegError as exc:
            raise PermanentError(f"thumbnails could not be made: {exc.reason}") from exc
        uploaded = []
        for index, output in enumerate(outputs, start=1):
            key = keys.thumbnail(index)
            self.store.upload(output, key, content_type="image/jpeg")
            uploaded.append(key)
        return uploaded


def _wrap(title: str, columns: int = 32) -> str:
    return "\n".join(textwrap.wrap(title, columns, max_lines=2, placeholder=" …"))


def youtube_routes(
    s3: S3Client, bucket: str, *, ffmpeg: str = "", font_file: str = "", work_dir: str = ""
) -> list[Route[Any]]:
    """youtube.md when every prompt has ended, and again with what the host approved once
    the episode is published."""
    config = YoutubeConfig(bucket=bucket, font_file=font_file, work_dir=work_dir)
    handler = YoutubeHandler(
        S3BucketStore(s3, bucket), config, ffmpeg, ledger=S3StageLedger(s3, bucket)
    )
    return [
        Route(EpisodeCompleted, handler.handle, on_failure=handler.on_failure),
        Route(EpisodePublished, handler.handle, on_failure=handler.on_failure),
    ]
