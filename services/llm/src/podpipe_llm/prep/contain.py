"""The brief's promise, kept in one place: one feed or one article that fails — in any way,
foreseen or not — is a line under "Could not be read", and the run goes on.

The foreseen failures (a feed that is down, a malformed link, a 404, a paywall) are
reported where they are found, with their own reasons; this is the backstop for the rest
(a parser's bug on one odd page, an exception type an adapter does not wrap), so that the
weekly task never dies with a traceback over one item.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import structlog

from podpipe_llm.prep.models import Problem, ProblemKind

log = structlog.get_logger()
T = TypeVar("T")


def contained(read: Callable[[], T], *, kind: ProblemKind, source: str, url: str) -> T | Problem:
    """``read()``, or the Problem that it raised (logged with its traceback)."""
    try:
        return read()
    except Exception as exc:  # any bug on one item: reported, never the end of the run
        log.warning("prep.item_failed", kind=kind, source=source, url=url, exc_info=True)
        return Problem(
            kind=kind,
            source=source,
            url=printable(url),
            reason=f"could not be read: {type(exc).__name__}: {exc}"[:500],
        )


def printable(text: str) -> str:
    """``text`` with control characters spelled out (``\\x7f``): a link copied from a feed
    goes into the brief's Markdown, the team's message and the studio as it is."""
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)
