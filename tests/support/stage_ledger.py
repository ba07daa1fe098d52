"""The stage ledger in memory (implements podpipe.stages.StageLedger), for unit tests."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from podpipe.layout import StageRecord, StageRecordStatus


@dataclass
class MemoryStageLedger:
    """Every record written, in order (``history``), and the latest per episode and stage."""

    records: dict[tuple[str, str], StageRecord] = field(default_factory=dict)
    history: list[StageRecord] = field(default_factory=list)
    versions: dict[str, int] = field(default_factory=dict)
    """The current version per episode (``version.json``); an episode not here has none."""
    broken: bool = False
    """True: every write raises, like an S3 that is down."""

    def record(
        self,
        episode_id: str,
        stage: str,
        status: StageRecordStatus,
        *,
        started_at: float | None = None,
        attempts: int = 1,
        reason: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        if self.broken:
            raise OSError("the ledger is unreachable")
        now = time.time()
        record = StageRecord(
            stage=stage,
            status=status,
            started_at=started_at if started_at is not None else now,
            finished_at=None if status == "running" else now,
            attempts=attempts,
            reason=reason,
            details=dict(details or {}),
        )
        self.records[(episode_id, stage)] = record
        self.history.append(record)

    def read(self, episode_id: str, stage: str) -> StageRecord | None:
        return self.records.get((episode_id, stage))

    def current_version(self, episode_id: str) -> int | None:
        return self.versions.get(episode_id)
