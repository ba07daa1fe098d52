"""A tiny real service for the SIGTERM test: `python -m tests.support.sleepy_service`.

It consumes the transcode queue of the stack named by PODPIPE_NAME_PREFIX; its one handler
logs "handler started", sleeps SLEEPY_SECONDS, and returns a "Clips Failed" event (any
podpipe event would do: the notify rule makes it observable). Built like a real service's
__main__: settings, logging, Service, run_service.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence

import structlog

from podpipe.events import ClipsFailed, Event, Failure, PromptsDispatched
from podpipe.logging import configure_logging
from podpipe.runtime import Consumer, MessageContext, Route, Service, run_service
from podpipe.settings import CoreSettings

log = structlog.get_logger()


def build_service(seconds: float) -> Service:
    def handle(event: PromptsDispatched, ctx: MessageContext) -> Sequence[Event]:
        log.info("handler started", seconds=seconds)
        time.sleep(seconds)
        log.info("handler finished")
        failure = Failure(reason="sleepy service finished", error_type="Done")
        return [ClipsFailed(episode_id=event.episode_id, failure=failure)]

    route = Route(PromptsDispatched, handle)
    return Service(name="sleepy", consumers=[Consumer(queue="transcode", routes=[route])])


def main() -> int:
    settings = CoreSettings()
    configure_logging(settings.log_level, json=True)
    return run_service(build_service(float(os.environ.get("SLEEPY_SECONDS", "5"))), settings)


if __name__ == "__main__":
    raise SystemExit(main())
