"""The transcribe handlers: an imperative shell over the pure core.

Upload ("Object Created") → skip non-audio, check the source, re-emit if this ETag was already
transcribed, else transcribe (whisper) or start a job (aws). Job state ("Transcribe Job State
Change", or podpipe's delayed self-check) → look at the job, finish it when it is done.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

from podpipe.events import (
    Event,
    Failure,
    ObjectCreated,
    S3Location,
    TranscribeJobStateChanged,
    TranscriptionFailed,
    TranscriptionStarted,
    TranscriptReady,
)
from podpipe.layout import (
    EpisodeKeys,
    InvalidEpisodeKeyError,
    StageRecord,
    episode_id_from_upload_key,
    is_audio_upload,
)
from podpipe.media import empty_upload_reason
from podpipe.runtime.errors import PermanentError, RejectedInputError
from podpipe.runtime.service import MessageContext
from podpipe.stages import StageLedger, fail_stage
from podpipe.versions import stamped, version_started
from podpipe_transcribe import core
from podpipe_transcribe.audio import BadAudioError
from podpipe_transcribe.aws import episode_id_from_job_name
from podpipe_transcribe.backend import (
    Finished,
    JobFailedError,
    NoSpeechError,
    Started,
    TranscriptionBackend,
    TranscriptionRequest,
)
from podpipe_transcribe.store import SELF_CHECK_STATUS, EpisodeStore, JobChecks

log = structlog.get_logger()

_BAD_INPUT = (BadAudioError, NoSpeechError, JobFailedError)
STAGE = "transcribe"


@dataclass(frozen=True)
class TranscribeConfig:
    name_prefix: str = "podpipe"
    poll_seconds: int = 600


class TranscribeHandler:
    def __init__(
        self,
        store: EpisodeStore,
        backend: TranscriptionBackend,
        checks: JobChecks | None = None,
        config: TranscribeConfig | None = None,
        *,
        ledger: StageLedger,
    ) -> None:
        self.store = store
        self.ledger = ledger
        self.backend = backend
        self.checks = checks
        self.config = config or TranscribeConfig()

    # ------------------------------------------------------------------ uploads

    def handle_upload(self, event: ObjectCreated, ctx: MessageContext) -> Sequence[Event]:
        key = event.object.key
        if not is_audio_upload(key):
            return []  # the metadata sidecar and other files are not episodes
        try:
            episode_id = episode_id_from_upload_key(key)
        except InvalidEpisodeKeyError as exc:
            # Not an episode. Transcode sees the same upload and tells the host ("Upload
            # Rejected"); a second report or a DLQ entry from here would only repeat it.
            log.warning("transcribe.rejected_key", key=key, reason=str(exc))
            return []
        source = S3Location(bucket=event.bucket.name, key=key)
        structlog.contextvars.bind_contextvars(episode_id=episode_id)
        head = self.store.head(source)  # a transient S3 error raises: the message is retried
        if head is None:
            raise PermanentError(f"the upload {source.uri} no longer exists")
        if head.size == 0:
            raise RejectedInputError(empty_upload_reason(Path(key).name))
        # A different recording under this name starts a new version (podpipe.versions).
        version = self.store.begin_version(episode_id, head.etag, ctx.message_id)
        announced = version_started(episode_id, source, version)
        previous = self.ledger.read(episode_id, STAGE)
        ready = self._already_done(episode_id, source, head.etag, previous)
        if ready is not None:
            log.info("transcribe.transcript_exists", source_etag=head.etag)
            return [*announced, *stamped([ready], version.number)]
        started_at = time.time()
        details = {
            "source_bucket": source.bucket,
            "source_key": source.key,
            "source_etag": head.etag,
            "backend": self.backend.name,
            "version": version.number,
        }
        self.ledger.record(
            episode_id,
            STAGE,
            "running",
            started_at=started_at,
            attempts=ctx.receive_count,
            details=details,
        )
        request = TranscriptionRequest(
            episode_id, source, head.etag, self.store.episode_metadata(episode_id, head)
        )
        try:
            if self.backend.asynchronous:
                outcome = self.backend.submit(request, None)
            else:
                with tempfile.TemporaryDirectory(prefix="podpipe-transcribe-") as tmp:
                    local = Path(tmp) / Path(key).name
                    self.store.download(source, local)
                    outcome = self.backend.submit(request, local)
        except _BAD_INPUT as exc:
            raise RejectedInputError(str(exc)) from exc
        if isinstance(outcome, Started):
            self.ledger.record(
                episode_id,
                STAGE,
                "running",
                started_at=started_at,
                attempts=ctx.receive_count,
                details={**details, "job_name": outcome.job_name},
            )
            self._schedule_check(outcome.job_name)
            return [
                *announced,
                TranscriptionStarted(
                    episode_id=episode_id,
                    source=source,
                    backend=self.backend.name,
                    job_name=outcome.job_name,
                ),
            ]
        finished = self._finish(episode_id, source, head.etag, outcome, started_at, ctx)
        return [*announced, *stamped([finished], version.number)]

    def upload_failed(self, event: ObjectCreated, failure: Failure) -> Sequence[Event]:
        try:
            episode_id = episode_id_from_upload_key(event.object.key)
        except InvalidEpisodeKeyError:
            return []  # no episode to report on; the DLQ keeps the message
        source = S3Location(bucket=event.bucket.name, key=event.object.key)
        return fail_stage(
            self.ledger,
            episode_id,
            STAGE,
            failure,
            TranscriptionFailed(episode_id=episode_id, source=source, failure=failure),
            resume=True,
            keep_details=True,
        )

    # ------------------------------------------------------------------ jobs

    def handle_job_state(
        self, event: TranscribeJobStateChanged, ctx: MessageContext
    ) -> Sequence[Event]:
        job_name = event.transcription_job_name
        episode_id = episode_id_from_job_name(self.config.name_prefix, job_name)
        if episode_id is None or not self.backend.asynchronous:
            return []  # another application's job in this account, or not ours to finish
        structlog.contextvars.bind_contextvars(episode_id=episode_id, job_name=job_name)
        stage = self.ledger.read(episode_id, STAGE)
        if stage is None or stage.details.get("job_name") != job_name:
            log.info("transcribe.job_not_current", stage=stage.status if stage else None)
            return []  # superseded by a newer upload of the episode, or never started here
        source = _source_of(stage)
        etag = str(stage.details.get("source_etag", ""))
        version = stage.details.get("version")
        if stage.status == "done":
            is_self_check = event.transcription_job_status == SELF_CHECK_STATUS
            ready = self._already_done(episode_id, source, etag, stage)
            return [] if is_self_check or ready is None else [ready]
        try:
            outcome = self.backend.check(job_name)
        except _BAD_INPUT as exc:
            raise RejectedInputError(str(exc)) from exc
        if isinstance(outcome, Started):
            if event.transcription_job_status == SELF_CHECK_STATUS:
                self._schedule_check(job_name)  # keep exactly one self-check chain alive
            return []
        finished = self._finish(episode_id, source, etag, outcome, stage.started_at, ctx)
        return stamped([finished], version) if isinstance(version, int) else [finished]

    def job_failed(self, event: TranscribeJobStateChanged, failure: Failure) -> Sequence[Event]:
        episode_id = episode_id_from_job_name(self.config.name_prefix, event.transcription_job_name)
        if episode_id is None:
            return []
        stage = self.ledger.read(episode_id, STAGE)
        if stage is None:
            return []
        return fail_stage(
            self.ledger,
            episode_id,
            STAGE,
            failure,
            TranscriptionFailed(episode_id=episode_id, source=_source_of(stage), failure=failure),
            resume=True,
            previous=stage,
            keep_details=True,
        )

    # ------------------------------------------------------------------ shared

    def _schedule_check(self, job_name: str) -> None:
        if self.checks is not None:
            self.checks.schedule(job_name, self.config.poll_seconds)

    def _already_done(
        self, episode_id: str, source: S3Location, etag: str, stage: StageRecord | None
    ) -> TranscriptReady | None:
        if stage is None or stage.status != "done" or stage.details.get("source_etag") != etag:
            return None
        if not self.store.exists(EpisodeKeys(episode_id).transcript_json):
            return None
        d = stage.details
        ready = _ready_event(
            self.store.bucket,
            episode_id,
            source,
            float(d.get("duration_seconds", 0.0)),
            int(d.get("word_count", 0)),
            str(d.get("language", "")),
            str(d.get("backend", self.backend.name)),
            float(d.get("elapsed_seconds", 0.0)),
        )
        version = d.get("version")
        return ready.model_copy(update={"version": version}) if isinstance(version, int) else ready

    def _finish(
        self,
        episode_id: str,
        source: S3Location,
        etag: str,
        outcome: Finished,
        started_at: float,
        ctx: MessageContext,
    ) -> TranscriptReady:
        head = self.store.head(source)
        # Read late: a sidecar uploaded just after the audio is there by now.
        metadata = self.store.episode_metadata(episode_id, head)
        transcript = core.normalise(outcome.raw, episode_id, metadata)
        srt, vtt = core.subtitles(transcript)
        keys = EpisodeKeys(episode_id)
        self.store.put_text(
            keys.transcript_text,
            core.transcript_text(transcript, metadata),
            "text/plain; charset=utf-8",
        )
        self.store.put_text(keys.subtitles_srt, srt, "application/x-subrip; charset=utf-8")
        self.store.put_text(keys.subtitles_vtt, vtt, "text/vtt; charset=utf-8")
        self.store.put_text(
            keys.podcasting20_json,
            json.dumps(core.podcasting20(transcript), ensure_ascii=False, indent=1),
            "application/json",
        )
        # transcript.json last: its existence is what marks the episode as transcribed.
        self.store.put_text(
            keys.transcript_json, transcript.model_dump_json(indent=1), "application/json"
        )
        elapsed = round(time.time() - started_at, 3)
        details: dict[str, Any] = {
            "source_bucket": source.bucket,
            "source_key": source.key,
            "source_etag": etag,
            "backend": transcript.backend,
            "language": transcript.language,
            "duration_seconds": transcript.duration_seconds,
            "word_count": transcript.word_count,
            "speakers": transcript.speakers,
            "elapsed_seconds": elapsed,
        }
        stage = self.ledger.read(episode_id, STAGE)
        for carried in ("job_name", "version"):
            if stage is not None and carried in stage.details:
                details[carried] = stage.details[carried]
        self.ledger.record(
            episode_id,
            STAGE,
            "done",
            started_at=started_at,
            attempts=ctx.receive_count,
            details=details,
        )
        log.info("transcribe.transcript_written", words=transcript.word_count, elapsed=elapsed)
        return _ready_event(
            self.store.bucket,
            episode_id,
            source,
            transcript.duration_seconds,
            transcript.word_count,
            transcript.language,
            transcript.backend,
            elapsed,
        )


def _source_of(stage: StageRecord) -> S3Location:
    return S3Location(
        bucket=str(stage.details.get("source_bucket", "")),
        key=str(stage.details.get("source_key", "")),
    )


def _ready_event(
    bucket: str,
    episode_id: str,
    source: S3Location,
    duration: float,
    words: int,
    language: str,
    backend: str,
    elapsed: float,
) -> TranscriptReady:
    keys = EpisodeKeys(episode_id)

    def at(key: str) -> S3Location:
        return S3Location(bucket=bucket, key=key)

    return TranscriptReady(
        episode_id=episode_id,
        source=source,
        transcript_json=at(keys.transcript_json),
        transcript_text=at(keys.transcript_text),
        subtitles_srt=at(keys.subtitles_srt),
        subtitles_vtt=at(keys.subtitles_vtt),
        podcasting20_json=at(keys.podcasting20_json),
        duration_seconds=duration,
        word_count=words,
        language=language,
        backend=backend,
        elapsed_seconds=elapsed,
    )
