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

import json
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

import structlog
from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, ValidationError

from podpipe.events import ReleaseTimeReached, to_envelope
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
    """ScheduleTrigger for a laptop: one small object per scheduled release."""

    def __init__(self, store: BlobStore) -> None:
        self._store = store

    def schedule(self, episode_id: str, at: datetime) -> None:
        entry = ScheduleEntry(episode_id=episode_id, at=at.astimezone(UTC))
        self._store.put(
            schedule_key(episode_id),
            entry.model_dump_json().encode(),
            content_type="application/json",
        )

    def cancel(self, episode_id: str) -> None:
        self._store.delete(schedule_key(episode_id))

    def entries(self) -> list[ScheduleEntry]:
        found: list[ScheduleEntry] = []
        for key in self._store.list_keys(SCHEDULE_INDEX_PREFIX):
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


class EventBridgeScheduleTrigger:
    """ScheduleTrigger on AWS: one EventBridge Scheduler one-time schedule per release."""

    def __init__(
        self,
        client: SchedulerClient,
        *,
        group: str,
        target_arn: str,
        role_arn: str,
        name_prefix: str,
    ) -> None:
        self._client = client
        self._group = group
        self._target_arn = target_arn
        self._role_arn = role_arn
        self._name_prefix = name_prefix

    def name(self, episode_id: str) -> str:
        return f"{self._name_prefix}-release-{episode_id}"[:64]

    def schedule(self, episode_id: str, at: datetime) -> None:
        at = at.astimezone(UTC)
        message = to_envelope(ReleaseTimeReached(episode_id=episode_id, scheduled_for=at))
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
