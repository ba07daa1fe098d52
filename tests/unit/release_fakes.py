"""Fakes of the release ports: an in-memory bucket with S3's conditional-write semantics,
an event sink and a schedule trigger that remember what they were given."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence
from datetime import datetime

from podpipe.events import Event
from podpipe.release.store import Blob, PreconditionFailedError


class MemoryBlobStore:
    def __init__(self) -> None:
        self.objects: dict[str, Blob] = {}
        self.conflicts = 0
        self._lock = threading.Lock()
        self._version = 0

    def get(self, key: str) -> Blob | None:
        with self._lock:
            return self.objects.get(key)

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
        with self._lock:
            current = self.objects.get(key)
            if (if_absent and current is not None) or (
                if_match is not None and (current is None or current.etag != if_match)
            ):
                self.conflicts += 1
                raise PreconditionFailedError(key)
            self._version += 1
            etag = f'"{hashlib.md5(body + str(self._version).encode()).hexdigest()}"'
            self.objects[key] = Blob(body, etag, content_type)
            return etag

    def size(self, key: str) -> int | None:
        blob = self.get(key)
        return None if blob is None else len(blob.body)

    def copy(self, source: str, target: str, *, content_type: str) -> None:
        blob = self.get(source)
        assert blob is not None, f"copy of missing {source}"
        self.put(target, blob.body, content_type=content_type)

    def delete(self, key: str) -> None:
        with self._lock:
            self.objects.pop(key, None)

    def list_keys(self, prefix: str) -> list[str]:
        with self._lock:
            return sorted(k for k in self.objects if k.startswith(prefix))

    def text(self, key: str) -> str:
        blob = self.get(key)
        assert blob is not None, key
        return blob.body.decode()


class RecordingEvents:
    def __init__(self) -> None:
        self.events: list[Event] = []
        self._lock = threading.Lock()

    def publish(self, events: Sequence[Event]) -> None:
        with self._lock:
            self.events += list(events)


class RecordingTrigger:
    def __init__(self) -> None:
        self.scheduled: dict[str, datetime] = {}
        self.cancelled: list[str] = []

    def schedule(self, episode_id: str, at: datetime) -> None:
        self.scheduled[episode_id] = at

    def cancel(self, episode_id: str) -> None:
        self.cancelled.append(episode_id)
        self.scheduled.pop(episode_id, None)
