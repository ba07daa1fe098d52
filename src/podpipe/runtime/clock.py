"""The runtime's clock: the one place the loop reads time or waits for it.

The worker, its heartbeat and its receive backoff take a :class:`Clock`, so unit tests drive
them with a manual clock (tests/support/clock.py) instead of sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (durations, the 12 h visibility cap)."""
        ...

    def now(self) -> datetime:
        """Wall-clock time, timezone-aware (message ages, metric timestamps)."""
        ...

    async def wait(self, event: asyncio.Event, seconds: float) -> bool:
        """Wait until ``event`` is set or ``seconds`` pass; True if it was set."""
        ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def wait(self, event: asyncio.Event, seconds: float) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout=seconds)
        return event.is_set()
