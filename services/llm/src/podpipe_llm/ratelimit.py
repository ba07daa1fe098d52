"""Client-side rate limiting per model: requests/minute and tokens/minute.

The account's quota is the contract; podpipe paces itself to it instead of sleeping a fixed
two minutes between prompts. Requests are spaced evenly (a GCRA / leaky bucket with a burst
of one: exactly what a per-minute quota tolerates); tokens come from a bucket that refills at
tokens/minute and is charged the prompt estimate plus ``maxTokens`` up front (Bedrock
reserves ``maxTokens`` against the quota too), then settled to the real usage.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Protocol

from podpipe_llm.settings import RateLimit


class Clock(Protocol):
    def now(self) -> float: ...
    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


class RateLimiter:
    def __init__(self, limit: RateLimit, clock: Clock) -> None:
        self._limit = limit
        self._clock = clock
        self._lock = threading.Lock()
        self._next_request_at: float | None = None
        self._tokens = float(limit.tokens_per_minute)
        self._tokens_at = clock.now()
        self.waited_seconds = 0.0

    @property
    def limit(self) -> RateLimit:
        return self._limit

    def _refill(self, now: float) -> None:
        capacity = self._limit.tokens_per_minute
        self._tokens = min(capacity, self._tokens + (now - self._tokens_at) * capacity / 60)
        self._tokens_at = now

    def acquire(self, tokens: int) -> int:
        """Block until one request of ``tokens`` may go; returns the tokens reserved."""
        with self._lock:
            waited = 0.0
            rpm, tpm = self._limit.requests_per_minute, self._limit.tokens_per_minute
            if rpm > 0:
                now = self._clock.now()
                start = now if self._next_request_at is None else max(now, self._next_request_at)
                waited += start - now
                self._clock.sleep(start - now)
                # Space from when this request really leaves (sleep overshoots, never
                # undershoots): the provider counts arrivals, not our schedule.
                self._next_request_at = max(start, self._clock.now()) + 60.0 / rpm
            reserved = 0
            if tpm > 0:
                # One request can never need more than a full bucket, or it would wait forever.
                reserved = min(tokens, int(tpm))
                now = self._clock.now()
                self._refill(now)
                if self._tokens < reserved:
                    wait = (reserved - self._tokens) * 60 / tpm
                    waited += wait
                    self._clock.sleep(wait)
                    self._refill(self._clock.now())
                self._tokens -= reserved
            self.waited_seconds += waited
            return reserved

    def refund_request(self) -> None:
        """A refused (throttled) call used no quota: give its slot back, so the retry waits
        for its backoff only, not for a whole extra interval."""
        rpm = self._limit.requests_per_minute
        if rpm > 0:
            with self._lock:
                if self._next_request_at is not None:
                    self._next_request_at = max(
                        self._clock.now(), self._next_request_at - 60.0 / rpm
                    )

    def settle(self, reserved: int, used: int) -> None:
        """Give back what a call reserved but did not use (or charge what it overran)."""
        if self._limit.tokens_per_minute > 0:
            with self._lock:
                self._tokens = min(self._limit.tokens_per_minute, self._tokens + reserved - used)


class RateLimiters:
    """One limiter per model, created on first use from the configured quota."""

    def __init__(self, limit_for: Callable[[str], RateLimit], clock: Clock | None = None) -> None:
        self._limit_for = limit_for
        self._clock = clock or SystemClock()
        self._limiters: dict[str, RateLimiter] = {}
        self._lock = threading.Lock()

    def for_model(self, model: str) -> RateLimiter:
        with self._lock:
            if model not in self._limiters:
                self._limiters[model] = RateLimiter(self._limit_for(model), self._clock)
            return self._limiters[model]
