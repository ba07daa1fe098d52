"""What a service gives the runtime: handlers keyed by event type, grouped by queue.

A handler is a plain synchronous function ``(event, context) -> events to publish``. The
runtime runs it in a worker thread (so ffmpeg, Whisper or a boto3 call never blocks the
event loop that keeps heartbeats going), publishes what it returns, and only then deletes
the message. Services never write their own SQS loop.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

from podpipe.events import Event, Failure

E = TypeVar("E", bound=Event)


@dataclass(frozen=True)
class MessageContext:
    """What a handler may know about the message it is handling."""

    message_id: str
    queue: str
    receive_count: int
    max_receive_count: int
    first_received_at: datetime | None = None
    sent_at: datetime | None = None
    event_id: str = ""
    """The envelope's id: the same for EventBridge's duplicate deliveries and DLQ replays."""

    @property
    def is_last_attempt(self) -> bool:
        return self.receive_count >= self.max_receive_count


Handler = Callable[[E, MessageContext], Sequence[Event]]
FailureEvents = Callable[[E, Failure], Sequence[Event]]


@dataclass(frozen=True)
class Route(Generic[E]):
    """Handle one event type. ``on_failure`` turns a final failure into events to publish
    (e.g. "Transcode Failed"); it runs on a PermanentError and on the last retryable attempt."""

    event_type: type[E]
    handle: Handler[E]
    on_failure: FailureEvents[E] | None = None


@dataclass(frozen=True)
class Consumer:
    """One queue (a name from topology.yaml) and the routes for the events arriving on it."""

    queue: str
    routes: Sequence[Route[Any]]
    concurrency: int | None = None  # default: the queue's concurrency in topology.yaml

    def route_for(self, event: Event) -> Route[Any] | None:
        for route in self.routes:
            if isinstance(event, route.event_type):
                return route
        return None


@dataclass(frozen=True)
class Service:
    """A podpipe service: a name (for logs and metrics) and the queues it consumes."""

    name: str
    consumers: Sequence[Consumer] = field(default_factory=tuple)
