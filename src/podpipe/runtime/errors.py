"""How a handler tells the runtime what went wrong."""

from __future__ import annotations

from collections.abc import Sequence

from podpipe.events import Event


class PermanentError(Exception):
    """Retrying cannot help (bad input, a refused request): fail now, without burning retries.

    The runtime publishes the route's failure events, sends the message to the queue's DLQ
    itself (with the reason and the source queue as message attributes) and deletes the
    original. ``events`` are extra events to publish alongside the failure events.
    """

    def __init__(self, reason: str, *, events: Sequence[Event] = ()) -> None:
        super().__init__(reason)
        self.reason = reason
        self.events = tuple(events)


class RejectedInputError(PermanentError):
    """The input itself is unusable (a text file named .m4a, an empty or hostile upload): the
    host's problem, not podpipe's. The failure events are published (the host is told) and
    the message is acknowledged, NOT dead-lettered: the DLQ alarms mean "podpipe is broken",
    and replaying bad input cannot help. What to inspect stays where it was — the upload in
    ``uploads/``, the stage record with the reason (and ``rejected/`` for uploads that have
    no episode) — and the outcome is counted as ``rejected``, not ``failed``.
    """


class RetryableError(Exception):
    """A transient failure worth another attempt (any other exception counts as one too).

    ``events`` are published even though the message is retried: what the handler already
    decided (e.g. notify's "Episode Completed") does not wait for the part that failed.
    """

    def __init__(self, reason: str, *, events: Sequence[Event] = ()) -> None:
        super().__init__(reason)
        self.reason = reason
        self.events = tuple(events)
