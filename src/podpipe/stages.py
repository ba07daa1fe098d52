"""The stage ledger: every stage's record of what it is doing for one episode.

One port (:class:`StageLedger`), one S3 adapter (:class:`S3StageLedger`, the records under
``episodes/<id>/stages/<stage>.json``), and the one way a stage ends in failure
(:func:`fail_stage`: record the failed stage, then announce it). The prompt stages' names and
the command that replays a failed prompt are built here too, so the llm worker, `podpipe
status`, notify and the demo agree on them.

The version fence: the events a stage works from carry the episode version they were made
for (podpipe.versions); before a stage writes into ``episodes/<id>/`` it asks the ledger which
version is current there (:func:`superseded`), so the late work of a recording that was
replaced is dropped instead of landing among the new version's outputs. An output records
its version too, so "it exists already" only counts for the same version (:func:`same_version`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import structlog

from podpipe import s3io
from podpipe.layout import EpisodeKeys, StageRecord, StageRecordStatus, VersionRecord

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

    from podpipe.events import Event, Failure

log = structlog.get_logger()

PROMPT_STAGE_PREFIX = "prompt-"


def prompt_stage(prompt_id: str) -> str:
    """The stage name of one prompt (``prompt-<id>``)."""
    return f"{PROMPT_STAGE_PREFIX}{prompt_id}"


def prompt_id_of(stage: str) -> str | None:
    """The prompt id of a prompt stage's name; None for any other stage."""
    return stage[len(PROMPT_STAGE_PREFIX) :] if stage.startswith(PROMPT_STAGE_PREFIX) else None


def replay_command(episode_id: str, prompt_id: str) -> str:
    """The exact CLI command that replays one failed prompt from the llm DLQ."""
    return f"podpipe dlq replay --queue llm --episode {episode_id} --prompt {prompt_id}"


class StageLedger(Protocol):
    def record(
        self,
        episode_id: str,
        stage: str,
        status: StageRecordStatus,
        *,
        started_at: float | None = None,
        attempts: int = 1,
        reason: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        """Write the stage's record (``started_at`` None: now; a finished status stamps now)."""
        ...

    def read(self, episode_id: str, stage: str) -> StageRecord | None: ...

    def current_version(self, episode_id: str) -> int | None:
        """The episode's current version (``version.json``); None before its first upload."""
        ...


class S3StageLedger:
    """The ledger in the episode's bucket (an injected boto3 client)."""

    def __init__(self, s3: S3Client, bucket: str) -> None:
        self._s3 = s3
        self.bucket = bucket

    def record(
        self,
        episode_id: str,
        stage: str,
        status: StageRecordStatus,
        *,
        started_at: float | None = None,
        attempts: int = 1,
        reason: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        s3io.record_stage(
            self._s3,
            self.bucket,
            episode_id,
            stage,
            status,
            started_at=started_at,
            attempts=attempts,
            reason=reason,
            details=dict(details or {}),
        )

    def read(self, episode_id: str, stage: str) -> StageRecord | None:
        return s3io.read_stage(self._s3, self.bucket, episode_id, stage)

    def current_version(self, episode_id: str) -> int | None:
        raw = s3io.get_json_or_none(self._s3, self.bucket, EpisodeKeys(episode_id).version_record)
        try:
            return None if raw is None else VersionRecord.model_validate(raw).number
        except ValueError:
            return None  # unreadable: the next upload starts a new version (podpipe.versions)


def same_version(recorded: object, version: int | None) -> bool:
    """An output recorded for version ``recorded`` counts as made for ``version`` (either
    unknown: made before versions were recorded, or asked for without one: it counts)."""
    return recorded is None or version is None or recorded == version


def pinned_version(ledger: StageLedger, episode_id: str, version: int | None) -> int | None:
    """The version a piece of work belongs to: the one its event names, else (a request made
    by hand, an older producer) the one current when the work starts."""
    return version if version is not None else ledger.current_version(episode_id)


def superseded(ledger: StageLedger, episode_id: str, version: int | None, *, work: str) -> bool:
    """True (and logged) when work made for ``version`` must not land in the episode's folder
    any more: a newer recording replaced it (its outputs were moved to ``versions/<n>/``)."""
    if version is None:
        return False
    current = ledger.current_version(episode_id)
    if current is None or current == version:
        return False
    log.info(
        "versions.stale_work_dropped",
        episode_id=episode_id,
        version=version,
        current_version=current,
        work=work,
    )
    return True


def record_failure(
    ledger: StageLedger,
    episode_id: str,
    stage: str,
    failure: Failure,
    *,
    resume: bool = False,
    previous: StageRecord | None = None,
    keep_details: bool = False,
    started_at: float | None = None,
    details: Mapping[str, Any] | None = None,
    reason_chars: int | None = None,
) -> bool:
    """Record ``stage`` as failed; never raises (the failure event matters more than the record).

    ``resume``: the failed record keeps the start of the record it replaces (``previous``,
    read when not given); ``keep_details`` also keeps that record's details. ``details`` are
    laid over them. False when the record could not be written.
    """
    try:
        if resume and previous is None:
            previous = ledger.read(episode_id, stage)
        carried = dict(previous.details) if (previous is not None and keep_details) else {}
        ledger.record(
            episode_id,
            stage,
            "failed",
            started_at=previous.started_at if (resume and previous) else started_at,
            attempts=failure.attempts,
            reason=failure.reason if reason_chars is None else failure.reason[:reason_chars],
            details={**carried, **(details or {})},
        )
    except Exception:
        log.warning("stages.record_failed", stage=stage, exc_info=True)
        return False
    return True


def fail_stage(
    ledger: StageLedger,
    episode_id: str,
    stage: str,
    failure: Failure,
    announce: Event | Sequence[Event],
    *,
    resume: bool = False,
    previous: StageRecord | None = None,
    keep_details: bool = False,
) -> list[Event]:
    """Record the failed stage (:func:`record_failure`), then the "… Failed" event(s) to
    publish — returned even when the record could not be written."""
    record_failure(
        ledger,
        episode_id,
        stage,
        failure,
        resume=resume,
        previous=previous,
        keep_details=keep_details,
    )
    return list(announce) if isinstance(announce, Sequence) else [announce]
