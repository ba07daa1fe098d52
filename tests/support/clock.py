"""A manual clock for the runtime (podpipe.runtime.clock.Clock): waiting advances it at once.

Every wait that is not cut short by its event moves the clock forward by the full timeout and
yields to the loop once, so hours of heartbeats or backoff run in milliseconds, in order.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


class ManualClock:
    def __init__(self, start: float = 0.0) -> None:
        self.seconds = start
        self.waits: list[float] = []
        """Every timeout waited out in full, in order."""

    def monotonic(self) -> float:
        return self.seconds

    def now(self) -> datetime:
        return EPOCH + timedelta(seconds=self.seconds)

    def advance(self, seconds: float) -> None:
        self.seconds += seconds

    async def wait(self, event: asyncio.Event, seconds: float) -> bool:
        if event.is_set():
            return True
        self.waits.append(seconds)
        self.seconds += seconds
        await asyncio.sleep(0)
        return event.is_set()
