"""The runtime's pure policy: how long to back off, when to beat, what a handler's outcome
means for its message (no I/O, no clock: unit-tested without SQS and without sleeping).

:func:`classify_failure` turns what a handler raised into a verdict; :class:`Plan` is what the
worker then does — publish its events, act on SQS — and reports under one closed
:data:`Outcome`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from podpipe.events import Event, Failure
from podpipe.runtime.errors import PermanentError, RejectedInputError, RetryableError
from podpipe.topology import SQS_MAX_VISIBILITY_SECONDS

_HEARTBEAT_CAP_MARGIN_SECONDS = 30  # stay clear of the 12 h cap: SQS rejects a change past it
_DLQ_REASON_MAX_CHARS = 1024


def retry_visibility_timeout(receive_count: int, *, base: float, cap: int) -> int:
    """Seconds to hide a message after its ``receive_count``-th attempt failed (exp., capped)."""
    exponent = max(receive_count, 1) - 1
    delay = base * (2 ** min(exponent, 32))
    return int(min(math.ceil(delay), cap, SQS_MAX_VISIBILITY_SECONDS))


def heartbeat_extension(visibility_timeout: int, seconds_since_receive: float) -> int:
    """The visibility to set now, or 0 when the 12 h cap leaves no room for another extension.

    SQS caps a message's total visibility at 12 h from the ReceiveMessage that returned it and
    rejects a change past that, so the extension shrinks near the cap instead of failing.
    """
    room = SQS_MAX_VISIBILITY_SECONDS - seconds_since_receive - _HEARTBEAT_CAP_MARGIN_SECONDS
    return max(0, int(min(visibility_timeout, room)))


def heartbeat_interval(visibility_timeout: int) -> float:
    # A third of the timeout leaves two chances for a slow or failed extension call.
    return max(visibility_timeout / 3.0, 0.5)


def dead_letter_attributes(
    *, reason: str, source_queue: str, error_type: str, message_id: str, receive_count: int
) -> dict[str, dict[str, str]]:
    """Message attributes on a message the runtime dead-letters itself (why, and from where)."""
    return {
        "podpipe-reason": {
            "DataType": "String",
            "StringValue": reason[:_DLQ_REASON_MAX_CHARS] or "-",
        },
        "podpipe-source-queue": {"DataType": "String", "StringValue": source_queue},
        "podpipe-error-type": {"DataType": "String", "StringValue": error_type},
        "podpipe-original-message-id": {"DataType": "String", "StringValue": message_id},
        "podpipe-receive-count": {"DataType": "Number", "StringValue": str(receive_count)},
    }


Action = Literal["delete", "backoff", "redrive", "dead-letter", "release"]
Outcome = Literal[
    "succeeded",
    "rejected",
    "retrying",
    "failed",
    "dead-lettered",
    "released",
    "abandoned",
    "publish-failed",
    "runtime-error",
]
"""How a message ended, in logs and metrics (``+ack-failed`` when SQS refused the action)."""


@dataclass(frozen=True)
class Plan:
    """What to do with a message once its handler has run: the outcome name for logs and
    metrics, the events to publish before acting, and the SQS action."""

    outcome: Outcome
    action: Action
    events: Sequence[Event] = ()
    visibility_timeout: int = 0
    reason: str | None = None
    error_type: str | None = None
    error: BaseException | None = None
    ack_failed: bool = False
    """SQS refused the action (the message comes back, or stays, by itself)."""

    @property
    def label(self) -> str:
        """The outcome as logs and metrics name it."""
        return f"{self.outcome}+ack-failed" if self.ack_failed else self.outcome

    @property
    def succeeded(self) -> bool:
        return self.outcome == "succeeded" and not self.ack_failed

    @property
    def failed(self) -> bool:
        # A message released on shutdown neither succeeded nor failed: it was not handled; a
        # rejected one was handled (the input was bad, podpipe was not).
        rejected = self.outcome == "rejected" and not self.ack_failed
        return not self.succeeded and self.action != "release" and not rejected


@dataclass(frozen=True)
class Verdict:
    """What a handler's exception means for its message."""

    outcome: Outcome
    action: Action
    reason: str
    error_type: str
    failure: Failure | None = None
    """The final failure the route's on_failure hears; None while retries remain."""
    decided: tuple[Event, ...] = ()
    """Events the handler decided before it raised (published whatever happens)."""
    keep_error: bool = True
    """Log the traceback (not for bad input: the host is told, podpipe did nothing wrong)."""


def classify_failure(exc: Exception, *, attempts: int, last_attempt: bool) -> Verdict:
    """Permanent → dead-letter (bad input: done, no DLQ); anything else → retry with backoff,
    or dead-letter on the last attempt, which the runtime does itself so the DLQ copy carries
    the real cause (SQS's own redrive stays the safety net if the worker dies first)."""
    error_type = type(exc).__name__
    if isinstance(exc, PermanentError):
        failure = Failure(
            reason=exc.reason, error_type=error_type, retryable=False, attempts=attempts
        )
        if isinstance(exc, RejectedInputError):
            return Verdict(
                "rejected", "delete", exc.reason, error_type, failure, exc.events, keep_error=False
            )
        return Verdict("dead-lettered", "dead-letter", exc.reason, error_type, failure, exc.events)
    reason = str(exc) or error_type
    decided = exc.events if isinstance(exc, RetryableError) else ()
    if last_attempt:
        failure = Failure(reason=reason, error_type=error_type, retryable=True, attempts=attempts)
        return Verdict("failed", "dead-letter", reason, error_type, failure, decided)
    return Verdict("retrying", "backoff", reason, error_type, None, decided)
