"""The clips stage: clip picks + the episode's media → clips, audiograms, trailer in S3 →
"Clips Rendered" (or "Clips Failed").

A join of two events that arrive in either order: "Prompt Completed" for clip-picks (llm) and
the episode's media being ready ("Audio Transcoded" / "Video Transcoded", transcode). Whichever
arrives second renders; the first finds the other half missing and returns without error (the
picks record the stage as running, waiting for the media). Nothing waits by failing and
retrying, so a long video re-encode cannot push the picks into the DLQ.

An imperative shell: read the picks, transcript, audio, metadata and cover art through the
store port, render with the pure-ish renderer on local files, upload, record the stage.

Idempotency is keyed on the clip-picks output's ETag (plus a fingerprint of the render
settings), recorded in ``episodes/<id>/clips/clips.json`` after every upload succeeded: a
duplicate delivery re-announces the existing clips with fresh links, while a new clip-picks
output (a replay from the DLQ, another model) renders again and removes clips that the new
picks no longer have. A media event that finds the clips already rendered announces nothing
(the picks' delivery did). Transcription is never touched.

Versions: both halves name the episode version they were made for. An event of a version
that a newer recording replaced is dropped, and so is a render whose episode was replaced
while it ran (checked before the upload and before the manifest): the old version's clips
never land among the new version's outputs.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from podpipe.bucket import BucketStore, S3BucketStore
from podpipe.documents import ClipPick, ClipPicks, Transcript
from podpipe.events import (
    AudioTranscoded,
    ClipsFailed,
    ClipsRendered,
    ClipSummary,
    Event,
    Failure,
    PromptCompleted,
    S3Location,
    VideoTranscoded,
)
from podpipe.layout import (
    EpisodeKeys,
    EpisodeMetadata,
    read_episode_metadata_from,
    sidecar_key,
)
from podpipe.release.shows import (
    SHOWS_PREFIX,
    ShowConfigError,
    clip_crop_box,
    match_show_id,
    show_id_from_key,
    show_keys,
    show_title,
)
from podpipe.release.shows import CropBox as ShowCropBox
from podpipe.runtime.errors import PermanentError, RetryableError
from podpipe.runtime.service import MessageContext, Route
from podpipe.stages import S3StageLedger, StageLedger, fail_stage, pinned_version, superseded
from podpipe_clips.graph import CropBox
from podpipe_clips.render import (
    EpisodeInput,
    RenderOptions,
    RenderResult,
    render_episode,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from podpipe_clips.settings import ClipsSettings

log = structlog.get_logger()

PROMPT_ID = "clip-picks"
STAGE = "clips"
VIDEO_STAGE = "video"
"""The transcode's stage that makes ``video.mp4`` (services share stage names, not code)."""
WAITING_FOR = "waiting_for"
"""The stage record's detail that `podpipe status` shows as "running (waiting for …)"."""
MANIFEST_NAME = "clips.json"
CONTENT_TYPES = {".mp3": "audio/mpeg", ".mp4": "video/mp4", ".srt": "application/x-subrip"}

Renderer = Callable[[EpisodeInput, Sequence[ClipPick], RenderOptions, Path], RenderResult]


@dataclass(frozen=True)
class ClipsConfig:
    bucket: str
    options: RenderOptions
    presign_expiry_seconds: int = 7200
    cover_art_key: str = ""
    show_name: str = ""
    work_dir: str = ""

    def fingerprint(self, options: RenderOptions | None = None) -> str:
        """Changes when a setting that changes the rendered files changes (``options``: the
        episode's own, e.g. with its show's crop box)."""
        payload = {
            "options": asdict(options or self.options),
            "cover": self.cover_art_key,
            "show": self.show_name,
        }
        digest = hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode())
        return digest.hexdigest()[:16]


@dataclass(frozen=True)
class _Job:
    """One render: the episode, its picks' version and the options it renders with."""

    episode_id: str
    keys: EpisodeKeys
    picks_etag: str
    metadata: EpisodeMetadata
    options: RenderOptions
    fingerprint: str
    is_video: bool
    version: int | None = None


class ManifestClip(BaseModel):
    model_config = ConfigDict(extra="forbid")
    index: int
    title: str
    hook: str
    start: float
    end: float
    audio_key: str
    captions_key: str
    video_key: str | None = None
    vertical_key: str | None = None


class ClipsManifest(BaseModel):
    """``episodes/<id>/clips/clips.json``: what was rendered from which clip-picks output."""

    model_config = ConfigDict(extra="forbid")
    picks_etag: str
    settings_fingerprint: str
    clips: list[ManifestClip]
    skipped: list[str] = Field(default_factory=list)
    repaired: list[str] = Field(default_factory=list)
    trailer_audio_key: str | None = None
    trailer_video_key: str | None = None
    trailer_vertical_key: str | None = None
    trailer_captions_key: str | None = None
    trailer_seconds: float | None = None
    render_seconds: float = 0.0
    rendered_at: float = 0.0

    def object_keys(self) -> set[str]:
        keys = {
            k
            for c in self.clips
            for k in (c.audio_key, c.captions_key, c.video_key, c.vertical_key)
            if k
        }
        trailer = (
            self.trailer_audio_key,
            self.trailer_video_key,
            self.trailer_vertical_key,
            self.trailer_captions_key,
        )
        return keys | {k for k in trailer if k}


class ClipsHandler:
    def __init__(
        self,
        store: BucketStore,
        config: ClipsConfig,
        renderer: Renderer | None = None,
        *,
        ledger: StageLedger,
        ffmpeg: str = "",
    ) -> None:
        self._store = store
        self._ledger = ledger
        self._config = config
        self._ffmpeg = ffmpeg
        self._render: Renderer = renderer or self._render_with_ffmpeg

    def _render_with_ffmpeg(
        self,
        episode: EpisodeInput,
        picks: Sequence[ClipPick],
        options: RenderOptions,
        workdir: Path,
    ) -> RenderResult:
        return render_episode(episode, picks, options, workdir, ffmpeg=self._ffmpeg or None)

    # ------------------------------------------------------------------ the route

    def on_picks(self, event: PromptCompleted, ctx: MessageContext) -> Sequence[Event]:
        """The clip picks exist: render now if the media is ready, else record the wait."""
        if event.prompt_id != PROMPT_ID:
            return []
        episode_id = event.episode_id
        if superseded(self._ledger, episode_id, event.version, work=STAGE):
            return []
        version = pinned_version(self._ledger, episode_id, event.version)
        picks_key = EpisodeKeys(episode_id).prompt_output(PROMPT_ID, "json")
        picks_etag = self._store.etag(picks_key)
        if picks_etag is None:
            raise PermanentError(f"{picks_key} does not exist: nothing to cut clips from")
        missing = self._media_missing(episode_id)
        if missing:
            # The first half of the join: transcode's event renders when the media exists.
            self._ledger.record(
                episode_id,
                STAGE,
                "running",
                attempts=ctx.receive_count,
                details={"picks_etag": picks_etag, WAITING_FOR: missing},
            )
            log.info("clips.waiting", waiting_for=missing)
            return []
        return self._render_or_reuse(episode_id, picks_etag, ctx, version, announce_reuse=True)

    def on_media(
        self, event: AudioTranscoded | VideoTranscoded, ctx: MessageContext
    ) -> Sequence[Event]:
        """The episode's MP3 (or picture) is ready: render now if the picks exist."""
        episode_id = event.episode_id
        if superseded(self._ledger, episode_id, event.version, work=STAGE):
            return []
        version = pinned_version(self._ledger, episode_id, event.version)
        picks_etag = self._store.etag(EpisodeKeys(episode_id).prompt_output(PROMPT_ID, "json"))
        if picks_etag is None:
            # The first half of the join (or an episode whose catalog has no clip picks):
            # nothing is recorded, so a show without clips never shows a clips stage.
            log.info("clips.waiting", waiting_for=["clip picks"])
            return []
        missing = self._media_missing(episode_id)
        if missing:
            # "Audio Transcoded" can name an MP3 whose picture is still being made elsewhere;
            # "Video Transcoded" or the next "Audio Transcoded" renders then.
            log.info("clips.waiting", waiting_for=missing)
            return []
        return self._render_or_reuse(episode_id, picks_etag, ctx, version, announce_reuse=False)

    def _media_missing(self, episode_id: str) -> list[str]:
        """What the render still waits for: the MP3, and a video episode's picture while the
        transcode is making it (a failed video.mp4 ends the wait: audiograms then)."""
        keys = EpisodeKeys(episode_id)
        if self._store.etag(keys.audio) is None:
            # Transcode and transcribe run in parallel: the picks can beat the MP3.
            return [Path(keys.audio).name]
        if self._store.etag(keys.video) is None:
            video_stage = self._ledger.read(episode_id, VIDEO_STAGE)
            if video_stage is not None and video_stage.status == "running":
                return [Path(keys.video).name]
        return []

    def _render_or_reuse(
        self,
        episode_id: str,
        picks_etag: str,
        ctx: MessageContext,
        version: int | None,
        *,
        announce_reuse: bool,
    ) -> Sequence[Event]:
        keys = EpisodeKeys(episode_id)
        manifest_key = keys.clips_prefix + MANIFEST_NAME
        metadata = self._metadata(episode_id)
        is_video = self._store.etag(keys.video) is not None
        options = self._options(metadata.show) if is_video else self._config.options
        fingerprint = self._config.fingerprint(options)
        previous = self._read_manifest(manifest_key)
        if (
            previous is not None
            and previous.picks_etag == picks_etag
            and previous.settings_fingerprint == fingerprint
        ):
            log.info("clips.already_rendered", clips=len(previous.clips), picks_etag=picks_etag)
            return [self._event(episode_id, previous)] if announce_reuse else []
        job = _Job(episode_id, keys, picks_etag, metadata, options, fingerprint, is_video, version)
        return self._cut(job, ctx)

    def _cut(self, job: _Job, ctx: MessageContext) -> Sequence[Event]:
        """Render every clip and the trailer, upload them, then the manifest and the record."""
        episode_id, keys, picks_etag, metadata = (
            job.episode_id,
            job.keys,
            job.picks_etag,
            job.metadata,
        )
        options, fingerprint, is_video = job.options, job.fingerprint, job.is_video
        picks_key = keys.prompt_output(PROMPT_ID, "json")
        manifest_key = keys.clips_prefix + MANIFEST_NAME
        started = time.time()
        self._ledger.record(
            episode_id,
            STAGE,
            "running",
            started_at=started,
            attempts=ctx.receive_count,
            details={"picks_etag": picks_etag},
        )
        picks = self._read_picks(picks_key)
        transcript = self._read_transcript(keys)
        title = metadata.title or episode_id
        show = metadata.show or self._config.show_name
        base = Path(self._config.work_dir) if self._config.work_dir else None
        if base is not None:
            base.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="podpipe-clips-", dir=base) as tmp:
            workdir = Path(tmp)
            audio = workdir / "episode.mp3"
            if not self._store.download(keys.audio, audio):
                # It existed a moment ago: a new upload moved it aside, its MP3 is on its way.
                raise RetryableError(f"{keys.audio} disappeared while the clips were cut")
            cover = self._download_cover(workdir)
            # A video episode's clips are cut from its picture (audio-only: audiograms).
            picture = workdir / "video.mp4"
            video = picture if is_video and self._store.download(keys.video, picture) else None
            result = self._render(
                EpisodeInput(
                    audio=audio,
                    transcript=transcript,
                    title=title,
                    show=show,
                    cover=cover,
                    video=video,
                ),
                picks.clips,
                options,
                workdir / "out",
            )
            if superseded(self._ledger, episode_id, job.version, work=STAGE):
                return []  # a new recording arrived while these were cut: they are the old one's
            manifest = self._upload(keys, result, picks_etag, fingerprint, started)
        if superseded(self._ledger, episode_id, job.version, work=STAGE):
            return []
        stale = sorted(
            key
            for key in self._store.list_keys(keys.clips_prefix)
            if key != manifest_key and key not in manifest.object_keys()
        )
        if stale:
            self._store.delete(stale)
        # Written last: a crash before this point renders again on the retry.
        self._store.put_json(manifest_key, manifest)
        self._ledger.record(
            episode_id,
            STAGE,
            "done",
            started_at=started,
            attempts=ctx.receive_count,
            details={
                "picks_etag": picks_etag,
                "clips": len(manifest.clips),
                "skipped": len(manifest.skipped),
                "repaired": len(manifest.repaired),
                "trailer_seconds": manifest.trailer_seconds,
                "render_seconds": round(result.elapsed_seconds, 2),
                "caption_mode": result.caption_mode,
            },
        )
        log.info(
            "clips.rendered",
            clips=len(manifest.clips),
            skipped=len(manifest.skipped),
            trailer_seconds=manifest.trailer_seconds,
            render_seconds=round(result.elapsed_seconds, 2),
        )
        return [self._event(episode_id, manifest)]

    def on_failure(
        self, event: PromptCompleted | AudioTranscoded | VideoTranscoded, failure: Failure
    ) -> Sequence[Event]:
        if isinstance(event, PromptCompleted) and event.prompt_id != PROMPT_ID:
            return []
        if superseded(self._ledger, event.episode_id, event.version, work=STAGE):
            return []
        return fail_stage(
            self._ledger,
            event.episode_id,
            STAGE,
            failure,
            ClipsFailed(episode_id=event.episode_id, failure=failure),
        )

    # ------------------------------------------------------------------ inputs

    def _read_manifest(self, key: str) -> ClipsManifest | None:
        raw = self._store.get_bytes(key)
        if raw is None:
            return None
        try:
            return ClipsManifest.model_validate_json(raw)
        except ValidationError:
            log.warning("clips.manifest_unreadable", key=key)
            return None

    def _read_picks(self, key: str) -> ClipPicks:
        raw = self._store.get_bytes(key)
        if raw is None:
            raise PermanentError(f"{key} disappeared while the clips stage read it")
        try:
            return ClipPicks.model_validate_json(raw)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}"
                for err in exc.errors()[:5]
            )
            raise PermanentError(f"{key} is not valid clip picks: {problems}") from exc

    def _read_transcript(self, keys: EpisodeKeys) -> Transcript:
        raw = self._store.get_bytes(keys.transcript_json)
        if raw is None:
            raise RetryableError(f"{keys.transcript_json} does not exist (yet)")
        try:
            return Transcript.model_validate_json(raw)
        except ValidationError as exc:
            raise PermanentError(f"{keys.transcript_json} is not a valid transcript") from exc

    def _metadata(self, episode_id: str) -> EpisodeMetadata:
        reading = read_episode_metadata_from(
            episode_id, None, self._store.get_bytes(sidecar_key(episode_id))
        )
        for problem in reading.problems:
            log.warning("clips.metadata_unreadable", problem=problem)
        return reading.metadata

    def _options(self, named_show: str) -> RenderOptions:
        """A video episode's render options: its show file's ``clip_crop_box`` (a known layout)
        over the deployment's PODPIPE_CLIPS_CROP_BOX, else the centre crops."""
        box = self._show_crop_box(named_show)
        if box is None:
            return self._config.options
        crop = CropBox(box.x, box.y, box.width, box.height)
        options = self._config.options
        return replace(
            options,
            square=replace(options.square, crop=crop),
            vertical=replace(options.vertical, crop=crop),
        )

    def _show_crop_box(self, named_show: str) -> ShowCropBox | None:
        show_ids = sorted(
            {i for i in map(show_id_from_key, self._store.list_keys(SHOWS_PREFIX)) if i}
        )

        def raw_show(show_id: str) -> tuple[bytes, str] | None:
            for key in show_keys(show_id):
                raw = self._store.get_bytes(key)
                if raw is not None:
                    return raw, key
            return None

        def title_of(show_id: str) -> str | None:
            found = raw_show(show_id)
            return show_title(*found) if found else None

        show_id = match_show_id(named_show or self._config.show_name, show_ids, title_of)
        found = raw_show(show_id) if show_id else None
        if found is None:
            return None
        try:
            return clip_crop_box(*found)
        except ShowConfigError as exc:
            # The team's file is wrong: a clear "Clips Failed" beats clips cut from the wrong
            # part of the picture.
            raise PermanentError(str(exc)) from exc

    def _download_cover(self, workdir: Path) -> Path | None:
        key = self._config.cover_art_key
        if not key:
            return None
        path = workdir / ("cover" + (Path(key).suffix.lower() or ".img"))
        if self._store.download(key, path):
            return path
        log.warning("clips.cover_art_missing", key=key)
        return None

    # ------------------------------------------------------------------ outputs

    def _upload(
        self,
        keys: EpisodeKeys,
        result: RenderResult,
        picks_etag: str,
        fingerprint: str,
        started: float,
    ) -> ClipsManifest:
        def upload(path: Path) -> str:
            key = keys.clips_prefix + path.name
            self._store.upload(path, key, content_type=CONTENT_TYPES[path.suffix])
            return key

        def put(path: Path | None) -> str | None:
            return None if path is None else upload(path)

        clips = []
        for clip in result.clips:
            clips.append(
                ManifestClip(
                    index=clip.index,
                    title=clip.clip.title,
                    hook=clip.clip.hook,
                    start=clip.clip.start,
                    end=clip.clip.end,
                    audio_key=upload(clip.audio),
                    captions_key=upload(clip.captions),
                    video_key=put(clip.video),
                    vertical_key=put(clip.vertical),
                )
            )
        trailer = result.trailer
        return ClipsManifest(
            picks_etag=picks_etag,
            settings_fingerprint=fingerprint,
            clips=clips,
            skipped=list(result.skipped),
            repaired=list(result.plan.repaired),
            trailer_audio_key=put(trailer.audio) if trailer else None,
            trailer_video_key=put(trailer.video) if trailer else None,
            trailer_vertical_key=put(trailer.vertical) if trailer else None,
            trailer_captions_key=put(trailer.captions) if trailer else None,
            trailer_seconds=round(trailer.plan.duration, 3) if trailer else None,
            render_seconds=round(result.elapsed_seconds, 2),
            rendered_at=time.time(),
        )

    def _event(self, episode_id: str, manifest: ClipsManifest) -> ClipsRendered:
        bucket, expiry = self._config.bucket, self._config.presign_expiry_seconds
        expires_at = None

        def url(key: str | None) -> str | None:
            nonlocal expires_at
            if key is None:
                return None
            link, expires_at = self._store.presign(key, expiry)
            return link

        def location(key: str | None) -> S3Location | None:
            return None if key is None else S3Location(bucket=bucket, key=key)

        summaries = [
            ClipSummary(
                index=clip.index,
                title=clip.title,
                hook=clip.hook,
                start=clip.start,
                end=clip.end,
                audio=S3Location(bucket=bucket, key=clip.audio_key),
                video=location(clip.video_key),
                captions=location(clip.captions_key),
                audio_url=url(clip.audio_key) or "",
                video_url=url(clip.video_key),
                video_vertical=location(clip.vertical_key),
            )
            for clip in manifest.clips
        ]
        return ClipsRendered(
            episode_id=episode_id,
            clips=summaries,
            skipped=manifest.skipped,
            repaired=manifest.repaired,
            trailer_audio=location(manifest.trailer_audio_key),
            trailer_video=location(manifest.trailer_video_key),
            trailer_video_vertical=location(manifest.trailer_vertical_key),
            trailer_url=url(manifest.trailer_audio_key),
            presigned_url_expires_at=expires_at,
        )


def clips_routes(
    settings: ClipsSettings,
    s3: S3Client,
    *,
    renderer: Renderer | None = None,
) -> list[Route[Any]]:
    """The clips service's routes, one per half of the join: "Prompt Completed" of the
    clip-picks prompt (the topology routes only those here; any other prompt id is ignored)
    and transcode's "Audio Transcoded" / "Video Transcoded"."""
    config = ClipsConfig(
        bucket=settings.bucket,
        options=settings.clips_render_options(),
        presign_expiry_seconds=settings.presign_expiry_seconds,
        cover_art_key=settings.clips_cover_art_key,
        show_name=settings.clips_show_name,
        work_dir=settings.work_dir,
    )
    handler = ClipsHandler(
        S3BucketStore(s3, settings.bucket),
        config,
        renderer,
        ledger=S3StageLedger(s3, settings.bucket),
        ffmpeg=settings.ffmpeg_path,
    )
    return [
        Route(PromptCompleted, handler.on_picks, on_failure=handler.on_failure),
        Route(AudioTranscoded, handler.on_media, on_failure=handler.on_failure),
        Route(VideoTranscoded, handler.on_media, on_failure=handler.on_failure),
    ]
