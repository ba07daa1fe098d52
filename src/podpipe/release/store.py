"""The ports the release operations need, and their S3/EventBridge adapters.

Every write that decides something is a compare-and-swap: S3 conditional writes
(``If-None-Match: *`` to create, ``If-Match: <etag>`` to replace). S3 answers 412 when the
object changed since it was read, and 409 ``ConditionalRequestConflict`` when another
conditional write to the same key is in flight; both mean "read again and retry".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from botocore.exceptions import ClientError

from podpipe.events import Event
from podpipe.release.model import PUBLIC_PREFIX
from podpipe.s3io import is_missing

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

_CONFLICT_CODES = {"PreconditionFailed", "412", "ConditionalRequestConflict", "409"}


def _encryption(key: str) -> dict[str, str]:
    """Public files are SSE-S3: CloudFront (Origin Access Control) reads them without a grant
    on the bucket's KMS key, which keeps protecting everything private."""
    return {"ServerSideEncryption": "AES256"} if key.startswith(PUBLIC_PREFIX) else {}


class PreconditionFailedError(Exception):
    """The object changed (or appeared) since it was read: read again and retry."""


@dataclass(frozen=True)
class Blob:
    body: bytes
    etag: str
    content_type: str = ""


class BlobStore(Protocol):
    """The bucket, as the release operations use it (keys are full S3 keys)."""

    def get(self, key: str) -> Blob | None: ...

    def put(
        self,
        key: str,
        body: bytes,
        *,
        content_type: str,
        if_match: str | None = None,
        if_absent: bool = False,
        cache_control: str | None = None,
    ) -> str:
        """Write; returns the new ETag. Raises PreconditionFailedError when the condition fails."""
        ...

    def size(self, key: str) -> int | None: ...

    def copy(self, source: str, target: str, *, content_type: str) -> None: ...

    def delete(self, key: str) -> None: ...

    def list_keys(self, prefix: str) -> list[str]: ...


class EventSink(Protocol):
    def publish(self, events: Sequence[Event]) -> None: ...


class S3BlobStore:
    """BlobStore over a boto3 S3 client (injected) and one bucket."""

    def __init__(self, s3: S3Client, bucket: str) -> None:
        self._s3 = s3
        self.bucket = bucket

    def get(self, key: str) -> Blob | None:
        try:
            reply = self._s3.get_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if is_missing(exc):
                return None
            raise
        return Blob(reply["Body"].read(), reply["ETag"], reply.get("ContentType", ""))

    def put(
        self,
        key: str,
        body: bytes,
        *,
        content_type: str,
        if_match: str | None = None,
        if_absent: bool = False,
        cache_control: str | None = None,
    ) -> str:
        extra: dict[str, Any] = _encryption(key)
        if if_match is not None:
            extra["IfMatch"] = if_match
        if if_absent:
            extra["IfNoneMatch"] = "*"
        if cache_control:
            extra["CacheControl"] = cache_control
        try:
            reply = self._s3.put_object(
                Bucket=self.bucket, Key=key, Body=body, ContentType=content_type, **extra
            )
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code"))
            if code in _CONFLICT_CODES or (if_match is not None and is_missing(exc)):
                raise PreconditionFailedError(f"{key}: {code}") from None
            raise
        return str(reply["ETag"])

    def size(self, key: str) -> int | None:
        try:
            return int(self._s3.head_object(Bucket=self.bucket, Key=key)["ContentLength"])
        except ClientError as exc:
            if is_missing(exc):
                return None
            raise

    def copy(self, source: str, target: str, *, content_type: str) -> None:
        self._s3.copy_object(
            Bucket=self.bucket,
            Key=target,
            CopySource={"Bucket": self.bucket, "Key": source},
            ContentType=content_type,
            MetadataDirective="REPLACE",
            **_encryption(target),  # type: ignore[arg-type]
        )

    def delete(self, key: str) -> None:
        self._s3.delete_object(Bucket=self.bucket, Key=key)

    def list_keys(self, prefix: str) -> list[str]:
        keys: list[str] = []
        paginator = self._s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            keys += [item["Key"] for item in page.get("Contents", [])]
        return keys
