"""On AWS: the consumer of the release queue, where EventBridge Scheduler's one-time schedules
deliver "Release Time Reached". It fires the release through the same ReleaseDesk the CLI
uses; the "Episode Published" event it causes is returned to the runtime, which publishes it
before deleting the message (so a crash in between redelivers, and the CAS makes the retry a
no-op that still returns nothing twice)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import structlog

from podpipe.events import Event, ReleaseTimeReached
from podpipe.release.model import ReleaseError
from podpipe.release.operations import ReleaseDesk
from podpipe.release.shows import ShowConfigError
from podpipe.release.store import EventSink
from podpipe.runtime.errors import PermanentError
from podpipe.runtime.service import Consumer, MessageContext, Route, Service

log = structlog.get_logger()

RELEASE_QUEUE = "release"


class CollectedEvents:
    """An EventSink that keeps the events for the handler to return."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def publish(self, events: Sequence[Event]) -> None:
        self.events += list(events)


class ReleaseHandlers:
    def __init__(self, desk_for: Callable[[EventSink], ReleaseDesk]) -> None:
        self._desk_for = desk_for

    def release_time_reached(
        self, event: ReleaseTimeReached, ctx: MessageContext
    ) -> Sequence[Event]:
        sink = CollectedEvents()
        try:
            outcome = self._desk_for(sink).fire(event.episode_id)
        except (ReleaseError, ShowConfigError) as exc:
            # No release, no audio, a broken show file: retrying the message cannot fix it.
            # It waits in the release DLQ; `podpipe publish EP` publishes by hand once fixed.
            raise PermanentError(f"release of {event.episode_id} not published: {exc}") from exc
        log.info(
            "release.time_reached",
            episode_id=event.episode_id,
            published_now=outcome.published_now,
            state=outcome.release.state,
        )
        return sink.events

    def service(self) -> Service:
        routes = [Route(ReleaseTimeReached, self.release_time_reached)]
        return Service(
            name="release",
            consumers=[Consumer(queue=RELEASE_QUEUE, routes=routes, concurrency=1)],
        )
