"""Every structlog event name is one style, dotted lower snake case ``area.event`` (e.g.
``runtime.message_handled``), so log queries never have to guess between ``ffmpeg.done``,
``transcript_written`` and "message handled". Read from the source with ast, nothing imported."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SOURCE_TREES = [
    REPO / "src",
    *sorted(p for p in (REPO / "services").glob("*/src") if p.is_dir()),
    REPO / "studio" / "src",
    REPO / "cli" / "src",
    REPO / "local" / "src",
]
EVENT_NAME = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
LEVELS = {"debug", "info", "warning", "warn", "error", "exception", "critical", "fatal", "msg"}
LOGGER_NAMES = {"log", "logger"}


def _is_logger(node: ast.expr, loggers: set[str]) -> bool:
    """``log``, ``self._log``, a name bound to ``structlog.get_logger(...)`` / ``.bind(...)``, or
    ``structlog.get_logger(...)`` called in place."""
    if isinstance(node, ast.Name):
        return node.id in loggers
    if isinstance(node, ast.Attribute):
        return node.attr.lstrip("_") in LOGGER_NAMES
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute | ast.Name):
        called = node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id
        return called == "get_logger" or (
            called == "bind"
            and isinstance(node.func, ast.Attribute)
            and _is_logger(node.func.value, loggers)
        )
    return False


def _logger_names(tree: ast.Module) -> set[str]:
    names = set(LOGGER_NAMES)
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and _is_logger(node.value, names):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    return names


def log_calls() -> Iterator[tuple[str, ast.expr | None]]:
    """(where, first argument) of every log call in the source trees."""
    for root in SOURCE_TREES:
        for path in sorted(root.rglob("*.py")):
            tree = ast.parse(path.read_text(), filename=str(path))
            loggers = _logger_names(tree)
            for node in ast.walk(tree):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr in LEVELS
                    and _is_logger(node.func.value, loggers)
                ):
                    where = f"{path.relative_to(REPO)}:{node.lineno}"
                    event = node.args[0] if node.args else None
                    yield where, event


def test_the_log_calls_are_found() -> None:
    # Guards the walk itself: if it stopped recognising loggers the style test would pass empty.
    assert len(list(log_calls())) >= 100


def test_every_log_event_is_a_dotted_snake_case_name() -> None:
    wrong = []
    for where, event in log_calls():
        if not (isinstance(event, ast.Constant) and isinstance(event.value, str)):
            wrong.append(f"{where}: event is not a literal ({ast.dump(event) if event else None})")
        elif not EVENT_NAME.match(event.value):
            wrong.append(f"{where}: {event.value!r} is not area.event")
    assert wrong == []
