"""Notify's storage port in memory (implements podpipe_notify.store.NotifyStore)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from podpipe.episodes_s3 import EpisodeSnapshot, StoredObject, snapshot_of
from podpipe.layout import UPLOADS_PREFIX, EpisodeKeys, EpisodeMetadata, StageRecord

WRITTEN_AT = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass
class MemoryNotifyStore:
    """One bucket as a dict; ``put_json_if_absent`` is atomic the way S3's conditional write is."""

    bucket: str = "media"
    objects: dict[str, bytes] = field(default_factory=dict)
    metadata: dict[str, EpisodeMetadata] = field(default_factory=dict)

    def read_episode(
        self, episode_id: str, overlay: Mapping[str, StageRecord] | None = None
    ) -> EpisodeSnapshot:
        root = EpisodeKeys(episode_id).root
        objects = tuple(
            StoredObject(key, len(body), WRITTEN_AT)
            for key, body in sorted(self.objects.items())
            if key.startswith(root)
        )
        upload = f"{UPLOADS_PREFIX}{episode_id}."
        return snapshot_of(
            episode_id,
            objects,
            self.get_json,
            upload_exists=any(key.startswith(upload) for key in self.objects),
            overlay=overlay,
        )

    def get_json(self, key: str) -> Any:
        body = self.objects.get(key)
        return None if body is None else json.loads(body)

    def get_bytes(self, key: str) -> bytes | None:
        return self.objects.get(key)

    def put_json(self, key: str, value: Any) -> None:
        body = value.model_dump_json() if hasattr(value, "model_dump_json") else json.dumps(value)
        self.objects[key] = body.encode()

    def put_json_if_absent(self, key: str, value: Any) -> bool:
        if key in self.objects:
            return False
        self.put_json(key, value)
        return True

    def presign(self, key: str, expires_in: int) -> str:
        return f"https://{self.bucket}.example/{key}?expires={expires_in}"

    def episode_metadata(self, episode_id: str) -> EpisodeMetadata:
        return self.metadata.get(episode_id, EpisodeMetadata())
