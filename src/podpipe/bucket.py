"""One bucket's objects as a small port, and its S3 adapter (an injected boto3 client).

Shared by the stages that read and write episode keys by name (clips; transcode's subtitled
videos and YouTube outputs): every key they read or write is an episode key in this bucket.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from botocore.exceptions import ClientError

from podpipe import s3io

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


class BucketStore(Protocol):
    def etag(self, key: str) -> str | None: ...

    def get_bytes(self, key: str) -> bytes | None: ...

    def download(self, key: str, path: Path) -> bool:
        """False when the object does not exist."""
        ...

    def upload(self, path: Path, key: str, *, content_type: str) -> None: ...

    def put_json(self, key: str, value: Any) -> None: ...

    def list_keys(self, prefix: str) -> list[str]: ...

    def delete(self, keys: Sequence[str]) -> None: ...

    def presign(self, key: str, expires_in: int) -> tuple[str, datetime]: ...


class S3BucketStore:
    def __init__(self, s3: S3Client, bucket: str) -> None:
        self._s3 = s3
        self.bucket = bucket

    def etag(self, key: str) -> str | None:
        head = s3io.head_or_none(self._s3, self.bucket, key)
        return None if head is None else str(head.get("ETag", "")).strip('"')

    def get_bytes(self, key: str) -> bytes | None:
        return s3io.get_bytes_or_none(self._s3, self.bucket, key)

    def download(self, key: str, path: Path) -> bool:
        try:
            self._s3.download_file(self.bucket, key, str(path))
        except ClientError as exc:
            if s3io.is_missing(exc):
                return False
            raise
        return True

    def upload(self, path: Path, key: str, *, content_type: str) -> None:
        self._s3.upload_file(str(path), self.bucket, key, ExtraArgs={"ContentType": content_type})

    def put_json(self, key: str, value: Any) -> None:
        s3io.put_json(self._s3, self.bucket, key, value)

    def list_keys(self, prefix: str) -> list[str]:
        keys: list[str] = []
        paginator = self._s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            keys += [str(item["Key"]) for item in page.get("Contents", [])]
        return keys

    def delete(self, keys: Sequence[str]) -> None:
        for start in range(0, len(keys), 1000):
            batch = [{"Key": key} for key in keys[start : start + 1000]]
            if batch:
                self._s3.delete_objects(Bucket=self.bucket, Delete={"Objects": batch})  # type: ignore[typeddict-item]

    def presign(self, key: str, expires_in: int) -> tuple[str, datetime]:
        return s3io.presign(self._s3, self.bucket, key, expires_in)
