"""Knobs of the runtime loop itself; defaults suit production, tests shorten them."""

from __future__ import annotations

from dataclasses import dataclass, field

from podpipe.runtime.clock import Clock, SystemClock
from podpipe.runtime.publisher import PublishRetryPolicy


@dataclass(frozen=True)
class RuntimeOptions:
    """Knobs of the loop itself; defaults suit production, tests shorten them."""

    retry_base_seconds: float = 5.0  # first retry after ~5 s, then 10, 20, ...
    retry_max_seconds: int = 900  # never hide a retry longer than 15 min
    heartbeat_interval_seconds: float | None = None  # default: a third of the visibility timeout
    receive_error_backoff_max_seconds: float = 30.0
    release_timeout_seconds: float = 3.0  # for visibility-0 releases during a forced shutdown
    publish_policy: PublishRetryPolicy = field(default_factory=PublishRetryPolicy)
    clock: Clock = field(default_factory=SystemClock)
    """Where the loop reads time and waits for it (a manual clock in unit tests)."""
