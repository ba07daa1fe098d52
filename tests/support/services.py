"""Run a podpipe Service in-process for integration and e2e tests.

``running_service(service, settings)`` starts the real runtime (``podpipe.runtime.serve``) in
a background thread with its own event loop and aiobotocore clients (pointed at LocalStack by
AWS_ENDPOINT_URL), waits until its queues are resolved and it is polling, and on exit sets
the stop event and waits for the drain, exactly as SIGTERM would. An error inside the
runtime (e.g. a queue that does not exist) is raised in the test, not lost in the thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from podpipe.runtime import Service, serve
from podpipe.settings import CoreSettings


@dataclass
class RunningService:
    """Handle on a service running in a background thread."""

    service: Service
    exit_code: int | None = None
    error: BaseException | None = None
    _loop: asyncio.AbstractEventLoop | None = None
    _stop: asyncio.Event | None = None
    _ready: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def stop(self, timeout: float = 60.0) -> int | None:
        """Ask the runtime to drain (like SIGTERM) and wait for it; returns its exit code."""
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            stop = self._stop
            # RuntimeError: the loop closed meanwhile, so the runtime has already ended.
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(stop.set)
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise TimeoutError(f"service {self.service.name!r} did not stop within {timeout} s")
        if self.error is not None:
            raise self.error
        return self.exit_code


@contextmanager
def running_service(
    service: Service,
    settings: CoreSettings,
    *,
    startup_timeout: float = 60.0,
    stop_timeout: float = 60.0,
    **serve_kwargs: Any,
) -> Iterator[RunningService]:
    """Run ``service`` until the block ends. Extra keyword arguments go to ``serve``
    (``options=RuntimeOptions(...)`` to shorten backoffs, ``metrics=ListMetricsSink()``, ...)."""
    handle = RunningService(service)

    def run() -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        handle._loop = loop
        try:
            handle._stop = asyncio.Event()
            handle.exit_code = loop.run_until_complete(
                serve(
                    service, settings, stop=handle._stop, on_ready=handle._ready.set, **serve_kwargs
                )
            )
        except BaseException as exc:
            handle.error = exc
        finally:
            handle._ready.set()  # never leave the starter waiting on a runtime that died
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    handle._thread = threading.Thread(target=run, name=f"service-{service.name}", daemon=True)
    handle._thread.start()
    if not handle._ready.wait(startup_timeout):
        handle.stop(stop_timeout)
        raise TimeoutError(f"service {service.name!r} did not start within {startup_timeout} s")
    if handle.error is not None:
        handle._thread.join(stop_timeout)
        raise handle.error
    try:
        yield handle
    finally:
        handle.stop(stop_timeout)
