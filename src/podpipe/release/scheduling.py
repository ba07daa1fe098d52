"""Firing scheduled releases: EventBridge Scheduler on AWS, a small loop on a laptop.

Both only *trigger*; what makes a release fire once is the compare-and-swap in
:meth:`ReleaseDesk.fire` (scheduled → published happens for exactly one caller). So a schedule
that fires twice, a loop that restarts mid-scan, or two loops on one bucket publish once.

* :class:`EventBridgeScheduleTrigger` creates a one-time schedule (``at(...)``, UTC, deleted
  after it runs) whose target is the release queue; its message is a "Release Time Reached"
  event in the EventBridge envelope, the same shape a rule would deliver.
* :class:`LocalScheduleIndex` writes ``release-schedule/<episode>.json`` in the bucket; the
  loop started by `podpipe local up` (:func:`run_loop`) scans that prefix and fires what is
  due. The index lives in S3, so a schedule survives restarts of the laptop.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

import structlog
from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, ValidationError

from podpipe.events import Event, ReleaseTimeReached, to_envelope
from podpipe.release.model import SCHEDULE_INDEX_PREFIX, ReleaseError, schedule_key
from podpipe.release.operations import ReleaseDesk
from podpipe.release.shows import ShowConfigError
from podpipe.release.store import BlobStore

log = structlog.get_logger()


class ScheduleEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    episode_id: str
    at: datetime


class LocalScheduleIndex:
    """ScheduleTrigger for a laptop: one small object per scheduled job.

    Releases are one kind of job (``release-schedule/<episode>.json``); another kind (promotion
    items) passes its own ``prefix`` and uses a job id in place of the episode id.
    """

    def __init__(self, store: BlobStore, *, prefix: str = SCHEDULE_INDEX_PREFIX) -> None:
        self._store = store
        self._prefix = prefix

    def _key(self, job_id: str) -> str:
        if self._prefix == SCHEDULE_INDEX_PREFIX:
            return schedule_key(job_id)
        return f"{self._prefix}{job_id}.json"

    def schedule(self, episode_id: str, at: datetime) -> None:
        entry = ScheduleEntry(episode_id=episode_id, at=at.astimezone(UTC))
        self._store.put(
            self._key(episode_id),
            entry.model_dump_json().encode(),
            content_type="application/json",
        )

    def cancel(self, episode_id: str) -> None:
        self._store.delete(self._key(episode_id))

    def entries(self) -> list[ScheduleEntry]:
        found: list[ScheduleEntry] = []
        for key in self._store.list_keys(self._prefix):
            blob = self._store.get(key)
            if blob is None:
                continue
            try:
                found.append(ScheduleEntry.model_validate_json(blob.body))
            except ValidationError:
                log.warning("release.schedule_entry_unreadable", key=key)
        return found


def run_due(desk: ReleaseDesk, index: LocalScheduleIndex, now: datetime) -> list[str]:
    """Fire every scheduled release whose time has come; the episodes this call published."""
    published: list[str] = []
    for entry in index.entries():
        if entry.at > now:
            continue
        try:
            outcome = desk.fire(entry.episode_id)
        except (ReleaseError, ShowConfigError) as exc:
            log.error("release.fire_failed", episode_id=entry.episode_id, reason=str(exc))
            continue
        if outcome.published_now:
            published.append(entry.episode_id)
        if outcome.release.state != "scheduled":
            index.cancel(entry.episode_id)  # published or unpublished by someone: done
    return published


def run_loop(
    desk: ReleaseDesk,
    index: LocalScheduleIndex,
    *,
    interval_seconds: float,
    stop: threading.Event,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> None:
    """Scan and fire until ``stop`` is set (SIGTERM sets it in ``python -m podpipe.release``)."""
    log.info("release.scheduler_started", interval_seconds=interval_seconds)
    while not stop.is_set():
        try:
            for episode_id in run_due(desk, index, clock()):
                log.info("release.fired", episode_id=episode_id)
        except ClientError as exc:  # S3 briefly unreachable: try again next round
            log.warning("release.scan_failed", error=str(exc))
        stop.wait(interval_seconds)


# --------------------------------------------------------------------------- AWS


class SchedulerClient(Protocol):
    def create_schedule(self, **kwargs: Any) -> Any: ...

    def delete_schedule(self, **kwargs: Any) -> Any: ...


def release_time_reached(job_id: str, at: datetime) -> Event:
    return ReleaseTimeReached(episode_id=job_id, scheduled_for=at)


class EventBridgeScheduleTrigger:
    """ScheduleTrigger on AWS: one EventBridge Scheduler one-time schedule per job.

    A release is the default kind of job; another kind passes its ``kind`` (part of the
    schedule's name) and ``message``, the event the schedule delivers for a job id.
    """

    def __init__(
        self,
        client: SchedulerClient,
        *,
        group: str,
        target_arn: str,
        role_arn: str,
        name_prefix: str,
        kind: str = "release",
        message: Callable[[str, datetime], Event] = release_time_reached,
    ) -> None:
        self._client = client
        self._group = group
        self._target_arn = target_arn
        self._role_arn = role_arn
        self._name_prefix = name_prefix
        self._kind = kind
        self._message = message

    def name(self, episode_id: str) -> str:
        name = f"{self._name_prefix}-{self._kind}-{episode_id}"
        if len(name) <= 64:
            return name
        # Scheduler names stop at 64 characters: keep them unique with a digest of the rest.
        digest = hashlib.sha256(name.encode()).hexdigest()[:12]
        return f"{name[:51]}-{digest}"

    def schedule(self, episode_id: str, at: datetime) -> None:
        at = at.astimezone(UTC)
        message = to_envelope(self._message(episode_id, at))
        self.cancel(episode_id)  # rescheduling replaces the old schedule
        self._client.create_schedule(
            Name=self.name(episode_id),
            GroupName=self._group,
            ScheduleExpression=f"at({at.strftime('%Y-%m-%dT%H:%M:%S')})",
            ScheduleExpressionTimezone="UTC",
            FlexibleTimeWindow={"Mode": "OFF"},
            ActionAfterCompletion="DELETE",
            Target={
                "Arn": self._target_arn,
                "RoleArn": self._role_arn,
                "Input": json.dumps(message),
                "RetryPolicy": {"MaximumEventAgeInSeconds": 86400, "MaximumRetryAttempts": 185},
            },
        )

    def cancel(self, episode_id: str) -> None:
        try:
            self._client.delete_schedule(Name=self.name(episode_id), GroupName=self._group)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                raise
