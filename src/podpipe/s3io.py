"""Small, shared S3 reads and writes every service uses for artifacts and stage records.

They take an injected boto3 S3 client (sync: handlers run in worker threads) and the bucket,
so tests hand them a LocalStack client and production hands them the real one.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import structlog
from botocore.exceptions import ClientError

from podpipe.layout import (
    UPLOADS_PREFIX,
    EpisodeKeys,
    EpisodeMetadata,
    MetadataReading,
    StageRecord,
    StageRecordStatus,
    is_audio_upload,
    read_episode_metadata_from,
    sidecar_key,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

_MISSING = {"404", "NoSuchKey", "NotFound"}
log = structlog.get_logger()


def is_missing(error: ClientError) -> bool:
    return str(error.response.get("Error", {}).get("Code")) in _MISSING


def head_or_none(s3: S3Client, bucket: str, key: str) -> dict[str, Any] | None:
    try:
        return dict(s3.head_object(Bucket=bucket, Key=key))
    except ClientError as exc:
        if is_missing(exc):
            return None
        raise


def exists(s3: S3Client, bucket: str, key: str) -> bool:
    return head_or_none(s3, bucket, key) is not None


def get_bytes_or_none(s3: S3Client, bucket: str, key: str) -> bytes | None:
    try:
        return s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        if is_missing(exc):
            return None
        raise


def get_json_or_none(s3: S3Client, bucket: str, key: str) -> Any:
    raw = get_bytes_or_none(s3, bucket, key)
    return None if raw is None else json.loads(raw)


def put_text(
    s3: S3Client, bucket: str, key: str, text: str, content_type: str = "text/plain; charset=utf-8"
) -> None:
    s3.put_object(Bucket=bucket, Key=key, Body=text.encode("utf-8"), ContentType=content_type)


def put_json(s3: S3Client, bucket: str, key: str, value: Any) -> None:
    body = (
        value.model_dump_json(indent=2)
        if hasattr(value, "model_dump_json")
        else json.dumps(value, indent=2, ensure_ascii=False)
    )
    put_text(s3, bucket, key, body, "application/json")


def put_json_if_absent(s3: S3Client, bucket: str, key: str, value: Any) -> bool:
    """Atomic create (S3 conditional write, If-None-Match: *). False if the key existed."""
    body = value.model_dump_json() if hasattr(value, "model_dump_json") else json.dumps(value)
    try:
        s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=body.encode(),
            ContentType="application/json",
            IfNoneMatch="*",
        )
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code"))
        if code in {"PreconditionFailed", "412", "ConditionalRequestConflict", "409"}:
            return False
        raise
    return True


def presign(s3: S3Client, bucket: str, key: str, expires_in: int) -> tuple[str, datetime]:
    """A presigned GET URL and the moment it stops working."""
    url = s3.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=expires_in
    )
    return url, datetime.now(UTC) + timedelta(seconds=expires_in)


def record_stage(
    s3: S3Client,
    bucket: str,
    episode_id: str,
    stage: str,
    status: StageRecordStatus,
    *,
    started_at: float | None = None,
    attempts: int = 1,
    reason: str | None = None,
    details: dict[str, Any] | None = None,
) -> StageRecord:
    """Write ``episodes/<id>/stages/<stage>.json`` (read by `podpipe status` and notify)."""
    now = time.time()
    record = StageRecord(
        stage=stage,
        status=status,
        started_at=started_at if started_at is not None else now,
        finished_at=None if status == "running" else now,
        attempts=attempts,
        reason=reason,
        details=details or {},
    )
    put_json(s3, bucket, EpisodeKeys(episode_id).stage_record(stage), record)
    return record


def read_stage(s3: S3Client, bucket: str, episode_id: str, stage: str) -> StageRecord | None:
    raw = get_json_or_none(s3, bucket, EpisodeKeys(episode_id).stage_record(stage))
    return None if raw is None else StageRecord.model_validate(raw)


def upload_object_metadata(s3: S3Client, bucket: str, episode_id: str) -> dict[str, str]:
    """The ``x-amz-meta-*`` of the episode's audio upload (empty when there is none)."""
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=f"{UPLOADS_PREFIX}{episode_id}.")
    for item in listed.get("Contents", []):
        if is_audio_upload(item["Key"]):
            head = head_or_none(s3, bucket, item["Key"])
            return dict(head.get("Metadata", {})) if head else {}
    return {}


def read_metadata_reading(
    s3: S3Client,
    bucket: str,
    episode_id: str,
    *,
    object_metadata: dict[str, str] | None = None,
) -> MetadataReading:
    """The episode's metadata as every stage sees it, with what was wrong with the host's
    sidecar (see layout.read_episode_metadata_from). Never raises over a bad sidecar.

    ``object_metadata``: the upload's metadata when the caller already has its HEAD.
    """
    if object_metadata is None:
        object_metadata = upload_object_metadata(s3, bucket, episode_id)
    sidecar = get_bytes_or_none(s3, bucket, sidecar_key(episode_id))
    reading = read_episode_metadata_from(episode_id, object_metadata, sidecar)
    for problem in reading.problems:
        log.warning("episode.metadata_problem", episode_id=episode_id, problem=problem)
    return reading


def read_episode_metadata(
    s3: S3Client,
    bucket: str,
    episode_id: str,
    *,
    object_metadata: dict[str, str] | None = None,
) -> EpisodeMetadata:
    """Just the metadata of :func:`read_metadata_reading` (problems are logged)."""
    return read_metadata_reading(s3, bucket, episode_id, object_metadata=object_metadata).metadata
