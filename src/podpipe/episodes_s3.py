"""Read what S3 knows about an episode and hand it to the pure core in podpipe.episodes.

Shared by notify (is the episode complete?) and the CLI (`status`, `wait`, `outputs`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from podpipe.episodes import DlqEntry, EpisodeStatus, episode_status, with_event_overlay
from podpipe.layout import EPISODES_PREFIX, UPLOADS_PREFIX, EpisodeKeys, StageRecord
from podpipe.s3io import get_json_or_none

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    last_modified: datetime


def list_objects(s3: S3Client, bucket: str, prefix: str) -> Iterator[StoredObject]:
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            yield StoredObject(item["Key"], int(item.get("Size", 0)), item["LastModified"])


def list_episode_ids(s3: S3Client, bucket: str) -> list[str]:
    """Every episode with a folder under ``episodes/`` (one page of common prefixes each)."""
    ids: list[str] = []
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=EPISODES_PREFIX, Delimiter="/"):
        for common in page.get("CommonPrefixes", []):
            ids.append(common["Prefix"][len(EPISODES_PREFIX) :].rstrip("/"))
    return ids


@dataclass(frozen=True)
class EpisodeSnapshot:
    """One read of an episode: its objects, records, manifest and the computed status."""

    status: EpisodeStatus
    objects: tuple[StoredObject, ...]
    records: dict[str, StageRecord]
    manifest: Any

    @property
    def last_modified(self) -> datetime | None:
        return max((o.last_modified for o in self.objects), default=None)


def read_records(
    s3: S3Client, bucket: str, keys: EpisodeKeys, object_keys: Iterable[str]
) -> dict[str, StageRecord]:
    return _records(lambda key: get_json_or_none(s3, bucket, key), keys, object_keys)


def _records(
    read_json: Callable[[str], Any], keys: EpisodeKeys, object_keys: Iterable[str]
) -> dict[str, StageRecord]:
    records: dict[str, StageRecord] = {}
    for key in object_keys:
        if not key.startswith(keys.stages_prefix) or not key.endswith(".json"):
            continue
        raw = read_json(key)
        if raw is None:
            continue
        try:
            record = StageRecord.model_validate(raw)
        except ValidationError:
            continue  # a record another version wrote; status still works from artifacts
        records[record.stage] = record
    return records


def read_episode(
    s3: S3Client,
    bucket: str,
    episode_id: str,
    *,
    dlq_entries: Iterable[DlqEntry] = (),
    overlay: Mapping[str, StageRecord] | None = None,
    with_notifications: bool = False,
) -> EpisodeSnapshot:
    """Read an episode. ``overlay``: stage records an event just reported (fresher than S3);
    ``with_notifications``: also read notify's delivery markers (what the team was not told)."""
    keys = EpisodeKeys(episode_id)
    upload_exists = any(
        True for _ in _first(list_objects(s3, bucket, f"{UPLOADS_PREFIX}{episode_id}."))
    )
    return snapshot_of(
        episode_id,
        tuple(list_objects(s3, bucket, keys.root)),
        lambda key: get_json_or_none(s3, bucket, key),
        upload_exists=upload_exists,
        dlq_entries=dlq_entries,
        overlay=overlay,
        with_notifications=with_notifications,
    )


def snapshot_of(
    episode_id: str,
    objects: tuple[StoredObject, ...],
    read_json: Callable[[str], Any],
    *,
    upload_exists: bool,
    dlq_entries: Iterable[DlqEntry] = (),
    overlay: Mapping[str, StageRecord] | None = None,
    with_notifications: bool = False,
) -> EpisodeSnapshot:
    """The episode from its objects (under ``episodes/<id>/``) and a JSON reader for them:
    :func:`read_episode` reads S3, a test's fake store reads memory, the rules are the same."""
    keys = EpisodeKeys(episode_id)
    object_keys = [o.key for o in objects]
    records = _records(read_json, keys, object_keys)
    for stage, record in (overlay or {}).items():
        records = with_event_overlay(records, stage, record)
    manifest = read_json(keys.manifest) if keys.manifest in object_keys else None
    undelivered: list[dict[str, Any]] = []
    if with_notifications:
        for key in object_keys:
            if key.startswith(keys.notifications_prefix):
                marker = read_json(key)
                if isinstance(marker, dict) and marker.get("state") == "failed":
                    undelivered.append(marker)
    status = episode_status(
        episode_id,
        records=records,
        manifest=manifest,
        existing_keys=object_keys,
        dlq_entries=dlq_entries,
        upload_exists=upload_exists,
        undelivered=undelivered,
    )
    return EpisodeSnapshot(status=status, objects=objects, records=records, manifest=manifest)


def undelivered_notifications(s3: S3Client, bucket: str, episode_id: str) -> list[dict[str, Any]]:
    """notify's delivery markers left ``failed``: what the team was NOT told, and why."""
    found: list[dict[str, Any]] = []
    for item in list_objects(s3, bucket, EpisodeKeys(episode_id).notifications_prefix):
        marker = get_json_or_none(s3, bucket, item.key)
        if isinstance(marker, dict) and marker.get("state") == "failed":
            found.append(marker)
    return found


def _first(items: Iterator[StoredObject]) -> Iterator[StoredObject]:
    for item in items:
        yield item
        return
