"""The storage port the handler talks to, and its S3 adapter (an injected boto3 client)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from podpipe import s3io, versions
from podpipe.versions import VersionStart
from podpipe_transcode.core import ObjectHead

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


class ObjectStore(Protocol):
    def head(self, bucket: str, key: str) -> ObjectHead | None: ...

    def download(self, bucket: str, key: str, path: Path) -> None: ...

    def upload(
        self, path: Path, bucket: str, key: str, *, content_type: str, metadata: dict[str, str]
    ) -> None: ...

    def get_json(self, bucket: str, key: str) -> Any: ...

    def get_bytes(self, bucket: str, key: str) -> bytes | None: ...

    def put_json(self, bucket: str, key: str, value: Any) -> None: ...

    def presign(self, bucket: str, key: str, expires_in: int) -> tuple[str, datetime]: ...

    def begin_version(
        self, bucket: str, episode_id: str, source_etag: str, owner: str
    ) -> VersionStart: ...


class S3ObjectStore:
    """ObjectStore over boto3 (upload_file/download_file use multipart for big episodes)."""

    def __init__(self, s3: S3Client) -> None:
        self._s3 = s3

    def head(self, bucket: str, key: str) -> ObjectHead | None:
        raw = s3io.head_or_none(self._s3, bucket, key)
        if raw is None:
            return None
        return ObjectHead(
            size=int(raw.get("ContentLength", 0)),
            etag=str(raw.get("ETag", "")),
            metadata={str(k): str(v) for k, v in raw.get("Metadata", {}).items()},
            content_type=str(raw.get("ContentType", "")),
        )

    def download(self, bucket: str, key: str, path: Path) -> None:
        self._s3.download_file(bucket, key, str(path))

    def upload(
        self, path: Path, bucket: str, key: str, *, content_type: str, metadata: dict[str, str]
    ) -> None:
        self._s3.upload_file(
            str(path),
            bucket,
            key,
            ExtraArgs={"ContentType": content_type, "Metadata": metadata},
        )

    def get_json(self, bucket: str, key: str) -> Any:
        return s3io.get_json_or_none(self._s3, bucket, key)

    def get_bytes(self, bucket: str, key: str) -> bytes | None:
        return s3io.get_bytes_or_none(self._s3, bucket, key)

    def put_json(self, bucket: str, key: str, value: Any) -> None:
        s3io.put_json(self._s3, bucket, key, value)

    def presign(self, bucket: str, key: str, expires_in: int) -> tuple[str, datetime]:
        return s3io.presign(self._s3, bucket, key, expires_in)

    def begin_version(
        self, bucket: str, episode_id: str, source_etag: str, owner: str
    ) -> VersionStart:
        return versions.begin_version(self._s3, bucket, episode_id, source_etag, owner)
