"""Running a blocking handler beside the event loop, and racing coroutines."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


async def run_in_thread(fn: Callable[..., T], /, *args: Any) -> T:
    """Run a blocking function in a fresh daemon thread, with the caller's contextvars.

    Like ``asyncio.to_thread`` (structlog's bound context propagates), but on a daemon thread
    rather than the loop's shared executor: handlers never queue behind each other in a
    small default pool, and a handler still running when the shutdown grace period ends does
    not keep the process alive past it (asyncio.run would wait for the executor).
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()
    context = contextvars.copy_context()

    def settle(setter: Callable[[Any], None], value: Any) -> None:
        if not future.done():
            setter(value)

    def target() -> None:
        try:
            result = context.run(fn, *args)
        except BaseException as exc:  # handed to the awaiting task, which decides
            outcome: tuple[Callable[[Any], None], Any] = (future.set_exception, exc)
        else:
            outcome = (future.set_result, result)
        with contextlib.suppress(RuntimeError):  # the loop closed: nobody is waiting any more
            loop.call_soon_threadsafe(settle, *outcome)

    threading.Thread(
        target=target, name=f"handler-{getattr(fn, '__name__', 'fn')}", daemon=True
    ).start()
    return await future


async def first_of(*aws: Coroutine[Any, Any, Any]) -> None:
    """Wait until the first of several coroutines finishes; cancel the others."""
    tasks = [asyncio.ensure_future(a) for a in aws]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
