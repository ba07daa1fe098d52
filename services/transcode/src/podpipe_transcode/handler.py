"""The "Object Created" handler: an imperative shell over the pure core in ``core.py``.

Gathers facts through the ports (ObjectStore, TranscodeBackend), asks the core what they
mean, and returns the events to publish. Bad input raises RejectedInputError with a reason a
host can act on (one attempt, then "Transcode Failed"; no DLQ entry); anything else — a flaky S3, a full
disk — propagates and is retried by the runtime.

A video upload's ``video.mp4`` is a step of its own, on the MP3's "Audio Transcoded" (routed
back to this queue): the MP3 is published first, and the video's retries and its failure
("Video Failed", the ``video`` stage) never redo or fail the audio.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import structlog

from podpipe.events import (
    AudioTranscoded,
    Event,
    Failure,
    ObjectCreated,
    S3Location,
    TranscodeFailed,
    UploadRejected,
    VideoFailed,
    VideoTranscoded,
)
from podpipe.ffmpeg import FfmpegError
from podpipe.layout import (
    EpisodeKeys,
    InvalidEpisodeKeyError,
    MetadataReading,
    episode_id_from_upload_key,
    is_audio_upload,
    read_episode_metadata_from,
    rejected_record_key,
    sidecar_key,
)
from podpipe.loudness import LoudnessMeasurement, LoudnessReading, LoudnessTargets
from podpipe.runtime.errors import PermanentError, RejectedInputError
from podpipe.runtime.service import MessageContext
from podpipe.stages import StageLedger, fail_stage, record_failure
from podpipe.versions import stamped, version_started
from podpipe_transcode.backend import (
    TranscodeBackend,
    TranscodeJob,
    TranscodeResult,
    VideoAudio,
    VideoRenderer,
)
from podpipe_transcode.commands import Mp3Encoding
from podpipe_transcode.core import (
    AudioInfo,
    BadInputError,
    MeasuredLoudness,
    ObjectHead,
    audio_transcoded,
    empty_upload_reason,
    normalize_etag,
    parse_audio_info,
    reusable,
)
from podpipe_transcode.store import ObjectStore
from podpipe_transcode.tags import Id3Tags, tags_for, write_tags

log = structlog.get_logger()

SOURCE_ETAG_METADATA = "podpipe-source-etag"
STAGE = "transcode"
VIDEO_STAGE = "video"
"""A video upload's ``video.mp4``: its own stage, so a failure shows without failing the audio."""


@dataclass(frozen=True)
class TranscodeConfig:
    bucket: str
    """Where episode artifacts go (the upload's own bucket is read from the event)."""
    targets: LoudnessTargets
    encoding: Mp3Encoding
    max_duration_seconds: float = 4 * 3600
    presign_expiry_seconds: int = 7200
    work_dir: str = ""


class TranscodeHandler:
    def __init__(
        self,
        store: ObjectStore,
        backend: TranscodeBackend,
        config: TranscodeConfig,
        video: VideoRenderer | None = None,
        *,
        ledger: StageLedger,
    ):
        self.store = store
        self.ledger = ledger
        self.backend = backend
        self.config = config
        self.video = video
        """Makes ``video.mp4`` for video uploads; None: video uploads get the MP3 only."""

    # ----------------------------------------------------------------- the route

    def handle(self, event: ObjectCreated, ctx: MessageContext) -> Sequence[Event]:
        key = event.object.key
        if not is_audio_upload(key):
            # The sidecar uploads/<id>.json (and anything else) arrives here too: not an episode.
            log.info("transcode.skipped_non_audio", key=key)
            return []
        source = S3Location(bucket=event.bucket.name, key=key)
        try:
            episode_id = episode_id_from_upload_key(key)
        except InvalidEpisodeKeyError as exc:
            # No episode to fail: the host still hears why (transcode speaks for the upload;
            # transcribe skips the same key quietly).
            rejected = UploadRejected(source=source, reason=str(exc))
            self.store.put_json(self.config.bucket, rejected_record_key(key), rejected)
            raise RejectedInputError(str(exc), events=[rejected]) from exc
        structlog.contextvars.bind_contextvars(episode_id=episode_id)
        name = Path(key).name

        head = self.store.head(source.bucket, source.key)
        if head is None:
            raise PermanentError(f"{name} no longer exists in s3://{source.bucket}: nothing to do.")
        if head.size == 0:
            raise RejectedInputError(empty_upload_reason(name))

        # A different recording under this name starts a new version: the old outputs move
        # aside and every stage runs again (an identical re-upload is the same version).
        version = self.store.begin_version(
            self.config.bucket, episode_id, head.etag, ctx.message_id
        )
        announced = version_started(episode_id, source, version)
        keys = EpisodeKeys(episode_id)
        existing = parse_audio_info(self.store.get_json(self.config.bucket, keys.audio_info))
        if existing is not None:
            audio_head = self.store.head(self.config.bucket, keys.audio)
            if reusable(existing, head.etag, audio_head):
                log.info("transcode.reused", audio=existing.audio.uri, source_etag=head.etag)
                return [*announced, *stamped([self._announce(existing)], version.number)]

        started = time.time()
        self.ledger.record(
            episode_id,
            STAGE,
            "running",
            started_at=started,
            attempts=ctx.receive_count,
            details={"source": source.uri, "backend": self.backend.name},
        )
        reading = self._metadata(source.bucket, episode_id, head)
        info = self._convert(episode_id, source, head, reading)
        self.store.put_json(self.config.bucket, keys.audio_info, info)
        self.ledger.record(
            episode_id,
            STAGE,
            "done",
            started_at=started,
            attempts=ctx.receive_count,
            details={
                "audio": info.audio.uri,
                "integrated_lufs": info.loudness.integrated_lufs,
                "true_peak_dbtp": info.loudness.true_peak_dbtp,
                "duration_seconds": info.duration_seconds,
                "conversion_seconds": info.elapsed_seconds,
            },
        )
        log.info(
            "transcode.done",
            audio=info.audio.uri,
            duration_seconds=round(info.duration_seconds, 1),
            integrated_lufs=info.loudness.integrated_lufs,
            true_peak_dbtp=info.loudness.true_peak_dbtp,
            normalization=info.normalization_type,
            encodes=info.encodes,
            elapsed_seconds=round(info.elapsed_seconds, 2),
        )
        # A video upload's video.mp4 follows on this "Audio Transcoded" (make_video), which
        # carries the version on to its "Video Transcoded".
        return [*announced, *stamped([self._announce(info)], version.number)]

    def on_failure(self, event: ObjectCreated, failure: Failure) -> Sequence[Event]:
        """The final failure: record it and tell the host why (when there is an episode)."""
        try:
            episode_id = episode_id_from_upload_key(event.object.key)
        except InvalidEpisodeKeyError:
            return []  # no episode to report on: handle() attached "Upload Rejected"
        source = S3Location(bucket=event.bucket.name, key=event.object.key)
        video = self.ledger.read(episode_id, VIDEO_STAGE)
        if video is not None and video.status == "running":
            # Never left running: the clips would wait for a picture that is not coming.
            record_failure(
                self.ledger, episode_id, VIDEO_STAGE, failure, resume=True, previous=video
            )
        return fail_stage(
            self.ledger,
            episode_id,
            STAGE,
            failure,
            TranscodeFailed(episode_id=episode_id, source=source, failure=failure),
            resume=True,
        )

    # ----------------------------------------------------------------- steps

    def _metadata(self, bucket: str, episode_id: str, head: ObjectHead) -> MetadataReading:
        """x-amz-meta-podpipe-* on the upload, overridden by the sidecar uploads/<id>.json
        (the one shared reader: a broken sidecar is reported, never fatal)."""
        sidecar = self.store.get_bytes(bucket, sidecar_key(episode_id))
        reading = read_episode_metadata_from(episode_id, head.metadata, sidecar)
        for problem in reading.problems:
            # Wrong tags are fixable later; refusing to publish the audio is not.
            log.warning("transcode.bad_metadata", problem=problem)
        return reading

    def _convert(
        self, episode_id: str, source: S3Location, head: ObjectHead, reading: MetadataReading
    ) -> AudioInfo:
        keys = EpisodeKeys(episode_id)
        audio = S3Location(bucket=self.config.bucket, key=keys.audio)
        job = TranscodeJob(
            targets=self.config.targets,
            encoding=self.config.encoding,
            max_duration_seconds=self.config.max_duration_seconds,
        )
        tags = tags_for(reading.metadata, episode_id)
        started = time.monotonic()
        with tempfile.TemporaryDirectory(
            prefix="podpipe-transcode-", dir=self.config.work_dir or None
        ) as scratch:
            local_source = Path(scratch) / Path(source.key).name
            local_audio = Path(scratch) / "audio.mp3"
            self.store.download(source.bucket, source.key, local_source)
            try:
                result = self.backend.transcode(local_source, local_audio, job)
            except BadInputError as exc:
                raise RejectedInputError(exc.reason) from exc
            if self.video is not None and result.media is not None and result.media.has_video:
                # Recorded before the MP3 exists: the clips, which start from the MP3, then
                # know that a picture is on its way and wait for it; and make_video knows
                # that the MP3's "Audio Transcoded" asks for one.
                self.ledger.record(episode_id, VIDEO_STAGE, "running")
            write_tags(local_audio, tags)
            size = local_audio.stat().st_size
            self.store.upload(
                local_audio,
                audio.bucket,
                audio.key,
                content_type="audio/mpeg",
                metadata={SOURCE_ETAG_METADATA: normalize_etag(head.etag)},
            )
        uploaded = self.store.head(audio.bucket, audio.key)
        if uploaded is None:  # read-after-write is strong on S3: this is a real fault
            raise RuntimeError(f"{audio.uri} is missing right after its upload")
        return _audio_info(
            episode_id,
            source,
            head,
            audio,
            uploaded.etag,
            size,
            result,
            job,
            tags,
            self.backend.name,
            elapsed=time.monotonic() - started,
            metadata_problems=list(reading.problems),
        )

    # ----------------------------------------------------------------- video.mp4

    def make_video(self, event: AudioTranscoded, ctx: MessageContext) -> Sequence[Event]:
        """``video.mp4`` for a video upload, once its MP3 is published: a message of its own,
        so its retries redo only the video and its final failure is "Video Failed" (the
        ``video`` stage) while the audio goes on. Only a video stage left running (or failed:
        a replay of this message tries again) asks for work; an audio upload or a video
        already made — a redelivery — is nothing to do."""
        episode_id = event.episode_id
        structlog.contextvars.bind_contextvars(episode_id=episode_id)
        stage = self.ledger.read(episode_id, VIDEO_STAGE)
        if self.video is None or stage is None or stage.status not in {"running", "failed"}:
            log.info("transcode.video_skipped", status=stage.status if stage else None)
            return []
        keys = EpisodeKeys(episode_id)
        info = parse_audio_info(self.store.get_json(self.config.bucket, keys.audio_info))
        if info is None or (event.source_etag and info.source_etag != event.source_etag):
            # A newer recording replaced this one: its own "Audio Transcoded" makes its video.
            log.info("transcode.video_skipped", status="superseded")
            return []
        if not info.loudness_filter:
            raise RejectedInputError(
                f"{Path(info.source.key).name}: the MP3's loudness filter was not recorded "
                "(made by an older podpipe); upload the video again for its video.mp4"
            )
        job = TranscodeJob(
            targets=self.config.targets,
            encoding=self.config.encoding,
            max_duration_seconds=self.config.max_duration_seconds,
        )
        sound = VideoAudio(
            loudness_filter=info.loudness_filter,
            channel_map=info.channel_map,
            loudness=LoudnessReading(
                integrated_lufs=info.loudness.integrated_lufs,
                true_peak_dbtp=info.loudness.true_peak_dbtp,
                loudness_range_lu=info.loudness.loudness_range_lu,
            ),
            source_duration_seconds=info.source_duration_seconds,
        )
        video = S3Location(bucket=self.config.bucket, key=keys.video)
        self.ledger.record(
            episode_id, VIDEO_STAGE, "running", started_at=stage.started_at,
            attempts=ctx.receive_count,
        )  # fmt: skip
        with tempfile.TemporaryDirectory(
            prefix="podpipe-video-", dir=self.config.work_dir or None
        ) as scratch:
            local_source = Path(scratch) / Path(info.source.key).name
            local_video = Path(scratch) / "video.mp4"
            self.store.download(info.source.bucket, info.source.key, local_source)
            try:
                made = self.video.render_video(local_source, local_video, sound, job)
            except (BadInputError, FfmpegError) as exc:
                # The picture is unusable or ffmpeg refused it: a retry would fail the same way.
                raise RejectedInputError(exc.reason) from exc
            self.store.upload(
                local_video, video.bucket, video.key, content_type="video/mp4", metadata={}
            )
        self.store.put_json(
            self.config.bucket, keys.audio_info, info.model_copy(update={"video": video})
        )
        self.ledger.record(
            episode_id,
            VIDEO_STAGE,
            "done",
            started_at=stage.started_at,
            attempts=ctx.receive_count,
            details={
                "video": video.uri,
                "picture_copied": made.copied,
                "reencode_reasons": list(made.reasons),
            },
        )
        log.info("transcode.video_done", video=video.uri, picture_copied=made.copied)
        return [
            VideoTranscoded(
                episode_id=episode_id,
                source=info.source,
                video=video,
                duration_seconds=made.seconds,
                integrated_lufs=made.loudness.integrated_lufs,
                true_peak_dbtp=made.loudness.true_peak_dbtp,
                picture_copied=made.copied,
                reencode_reasons=list(made.reasons),
                elapsed_seconds=made.elapsed_seconds,
                version=event.version,
            )
        ]

    def on_video_failure(self, event: AudioTranscoded, failure: Failure) -> Sequence[Event]:
        """video.mp4's final failure: the ``video`` stage failed, "Video Failed" says why;
        the MP3, its stage and its "Audio Transcoded" stand."""
        log.warning("transcode.video_failed", reason=failure.reason)
        return fail_stage(
            self.ledger,
            event.episode_id,
            VIDEO_STAGE,
            failure,
            VideoFailed(
                episode_id=event.episode_id,
                source=event.source,
                output="video.mp4",
                failure=failure,
            ),
            resume=True,
        )

    def _announce(self, info: AudioInfo) -> Event:
        url, expires_at = self.store.presign(
            info.audio.bucket, info.audio.key, self.config.presign_expiry_seconds
        )
        return audio_transcoded(info, url, expires_at)


def _loudness(measured: LoudnessMeasurement) -> MeasuredLoudness:
    return MeasuredLoudness(
        integrated_lufs=measured.input_i,
        true_peak_dbtp=measured.input_tp,
        loudness_range_lu=measured.input_lra,
    )


def _audio_info(
    episode_id: str,
    source: S3Location,
    head: ObjectHead,
    audio: S3Location,
    audio_etag: str,
    size: int,
    result: TranscodeResult,
    job: TranscodeJob,
    tags: Id3Tags,
    backend: str,
    *,
    elapsed: float,
    metadata_problems: list[str],
) -> AudioInfo:
    return AudioInfo(
        episode_id=episode_id,
        source=source,
        source_etag=normalize_etag(head.etag),
        source_size_bytes=head.size,
        source_format=result.source_format,
        source_duration_seconds=result.source_duration_seconds,
        source_loudness=_loudness(result.source_loudness),
        audio=audio,
        audio_etag=normalize_etag(audio_etag),
        size_bytes=size,
        duration_seconds=result.output_duration_seconds,
        # The output's own measurement, decoded back from the MP3 (ebur128).
        loudness=MeasuredLoudness(
            integrated_lufs=result.output_loudness.integrated_lufs,
            true_peak_dbtp=result.output_loudness.true_peak_dbtp,
            loudness_range_lu=result.output_loudness.loudness_range_lu,
        ),
        normalization_type=result.normalization_type,
        encodes=result.encodes,
        bitrate_kbps=job.encoding.bitrate_kbps,
        channels=job.encoding.channels,
        sample_rate=job.encoding.sample_rate,
        targets={
            "integrated_lufs": job.targets.integrated_lufs,
            "true_peak_dbtp": job.targets.true_peak_dbtp,
            "loudness_range_lu": job.targets.loudness_range_lu,
        },
        tags={k: v for k, v in vars(tags).items() if v},
        metadata_problems=metadata_problems,
        backend=backend,
        elapsed_seconds=elapsed,
        loudness_filter=result.loudness_filter,
        channel_map=result.channel_map,
    )
