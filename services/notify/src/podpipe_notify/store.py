"""What notify reads and writes in the episode's bucket: a small port and its S3 adapter.

The handlers and the completion tracker talk only to :class:`NotifyStore`, so the
exactly-once rule of "Episode Completed" (one conditional create of ``completed.json``) is
unit-tested on an in-memory store (tests/support/notify_store.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

from podpipe import s3io
from podpipe.episodes_s3 import EpisodeSnapshot, read_episode
from podpipe.layout import EpisodeMetadata, StageRecord

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


class NotifyStore(Protocol):
    bucket: str

    def read_episode(
        self, episode_id: str, overlay: Mapping[str, StageRecord] | None = None
    ) -> EpisodeSnapshot: ...

    def get_json(self, key: str) -> Any: ...

    def get_bytes(self, key: str) -> bytes | None: ...

    def put_json(self, key: str, value: Any) -> None: ...

    def put_json_if_absent(self, key: str, value: Any) -> bool:
        """Create ``key`` only if it does not exist; False when another writer was first."""
        ...

    def presign(self, key: str, expires_in: int) -> str: ...

    def episode_metadata(self, episode_id: str) -> EpisodeMetadata: ...


class S3NotifyStore:
    def __init__(self, s3: S3Client, bucket: str) -> None:
        self._s3 = s3
        self.bucket = bucket

    def read_episode(
        self, episode_id: str, overlay: Mapping[str, StageRecord] | None = None
    ) -> EpisodeSnapshot:
        return read_episode(self._s3, self.bucket, episode_id, overlay=overlay)

    def get_json(self, key: str) -> Any:
        return s3io.get_json_or_none(self._s3, self.bucket, key)

    def get_bytes(self, key: str) -> bytes | None:
        return s3io.get_bytes_or_none(self._s3, self.bucket, key)

    def put_json(self, key: str, value: Any) -> None:
        s3io.put_json(self._s3, self.bucket, key, value)

    def put_json_if_absent(self, key: str, value: Any) -> bool:
        return s3io.put_json_if_absent(self._s3, self.bucket, key, value)

    def presign(self, key: str, expires_in: int) -> str:
        return s3io.presign(self._s3, self.bucket, key, expires_in)[0]

    def episode_metadata(self, episode_id: str) -> EpisodeMetadata:
        return s3io.read_episode_metadata(self._s3, self.bucket, episode_id)
