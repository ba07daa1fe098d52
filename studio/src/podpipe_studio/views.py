"""Pure view helpers: stored artifacts → what the templates show (no I/O).

Markdown goes through the release module's ``notes_html`` (markdown-it without raw HTML,
then nh3's allowlist) and is the only HTML the templates do not escape; JSON becomes plain
tables of strings, which Jinja2's autoescape escapes like every other model or host text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup

from podpipe.episodes import StageStatus
from podpipe.release.feed import notes_html

# How the studio names the states of podpipe.episodes (the status logic itself is reused).
STATE_LABELS = {"pending": "queued"}


def state_label(state: str) -> str:
    return STATE_LABELS.get(state, state)


def state_class(state: str) -> str:
    return "state-" + state_label(state).replace(" ", "-").lower()


def clock(seconds: float | None) -> str:
    if seconds is None:
        return ""
    whole = max(0, round(seconds))
    minutes, secs = divmod(whole, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def took(stage: StageStatus) -> str:
    return "" if stage.seconds is None else f"{stage.seconds:.1f} s"


def markdown_html(text: str) -> Markup:
    """Model or host Markdown as HTML that is safe to put in a page."""
    return Markup(notes_html(text))  # sanitised by nh3 in notes_html: safe to mark


@dataclass(frozen=True)
class Table:
    title: str
    columns: list[str]
    rows: list[list[str]]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return json.dumps(value)
    return json.dumps(value, ensure_ascii=False)


def json_tables(value: Any, title: str = "") -> list[Table]:
    """A JSON document as readable tables: lists of objects become one table each (columns =
    their keys), the scalars of an object a two-column table, nested values compact JSON."""
    if isinstance(value, list):
        if value and all(isinstance(item, dict) for item in value):
            columns: list[str] = []
            for item in value:
                columns += [k for k in item if k not in columns]
            rows = [[_cell(item.get(c)) for c in columns] for item in value]
            return [Table(title, columns, rows)]
        return [Table(title, ["value"], [[_cell(item)] for item in value])]
    if isinstance(value, dict):
        tables: list[Table] = []
        scalars: list[list[str]] = []
        for key, item in value.items():
            if isinstance(item, list | dict) and item:
                tables += json_tables(item, f"{title}.{key}" if title else str(key))
            else:
                scalars.append([str(key), _cell(item)])
        if scalars:
            tables.insert(0, Table(title, ["field", "value"], scalars))
        return tables
    return [Table(title, ["value"], [[_cell(value)]])]


@dataclass(frozen=True)
class OutputView:
    """One prompt's output as the episode page shows it."""

    prompt_id: str
    extension: str
    html: Markup | None = None
    tables: list[Table] = field(default_factory=list)
    text: str | None = None
    model: str = ""
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None
    latency_seconds: float | None = None
    url: str = ""


def output_view(
    prompt_id: str, extension: str, body: bytes, meta: Any, url: str = ""
) -> OutputView:
    text = body.decode("utf-8", "replace")
    info = meta if isinstance(meta, dict) else {}

    def number(name: str) -> Any:
        raw = info.get(name)
        return raw if isinstance(raw, int | float) and not isinstance(raw, bool) else None

    common: dict[str, Any] = {
        "prompt_id": prompt_id,
        "extension": extension,
        "model": str(info.get("model") or ""),
        "input_tokens": number("input_tokens"),
        "output_tokens": number("output_tokens"),
        "cost_usd": number("estimated_cost_usd"),
        "latency_seconds": number("latency_seconds"),
        "url": url,
    }
    if extension == "md":
        return OutputView(html=markdown_html(text), **common)
    if extension == "json":
        try:
            return OutputView(tables=json_tables(json.loads(text)), **common)
        except ValueError:
            return OutputView(text=text, **common)
    return OutputView(text=text, **common)
