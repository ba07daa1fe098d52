"""The real links in the show notes: the chosen prep items the transcript actually discusses.

Matching is on the item's distinctive title words (product and feature names, numbers
aside; vendor and announcement words like "Amazon", "now", "available" say nothing): an
item counts as discussed when at least :data:`MATCH_SHARE` of them are said in the episode.
An item that was prepared but not discussed is left out; no URL is ever made up — every
link comes from the running order, which came from a feed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

import structlog

from podpipe.documents import Transcript
from podpipe_llm import extract
from podpipe_llm.prep.models import ChosenItem, RunningOrder

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

log = structlog.get_logger()
SHOW_NOTES = "show-notes"
MATCH_SHARE = 0.6
LINKS_HEADING = "## Links"
_GENERIC = frozenset(
    [
        "amazon",
        "aws",
        "announces",
        "announcing",
        "announced",
        "introduces",
        "introducing",
        "launches",
        "launched",
        "launch",
        "available",
        "availability",
        "generally",
        "general",
        "now",
        "new",
        "adds",
        "added",
        "support",
        "supports",
        "supported",
        "feature",
        "features",
        "region",
        "regions",
        "today",
        "update",
        "updates",
        "updated",
        "public",
        "preview",
        "service",
        "services",
        "cloud",
        "via",
        "using",
        "enhanced",
        "improved",
        "faster",
        "cheaper",
        "lower",
        "reduces",
        "reduced",
        "price",
        "prices",
        "pricing",
        "offers",
        "offering",
        "enables",
        "enabled",
        "capabilities",
        "capability",
    ]
)
_HEADING = re.compile(r"^#{1,6}\s")


def _stem(word: str) -> str:
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


def distinctive_terms(title: str) -> set[str]:
    words = {_stem(w.strip("'’-")) for w in extract.content_words(title.replace("-", " "))}
    return {w for w in words if w and w not in _GENERIC}


def discussed(items: Sequence[ChosenItem], transcript: Transcript) -> list[ChosenItem]:
    said = {
        _stem(w.strip("'’-"))
        for s in transcript.segments
        for w in extract.content_words(s.text.replace("-", " "))
    }
    found: list[ChosenItem] = []
    for item in items:
        terms = distinctive_terms(item.title)
        if terms and len(terms & said) >= math.ceil(MATCH_SHARE * len(terms)):
            found.append(item)
    return found


def with_links(notes: str, items: Sequence[ChosenItem]) -> str:
    """The notes with a bullet per item under their "Links…" heading (made when missing)."""
    if not items:
        return notes
    bullets = [f"- [{item.title}]({item.url})" for item in items]
    lines = notes.rstrip("\n").split("\n")
    at = next(
        (
            i
            for i, line in enumerate(lines)
            if line.strip().lower().startswith(LINKS_HEADING.lower())
        ),
        None,
    )
    if at is None:
        footer = next((i for i, line in enumerate(lines) if line.strip() == "---"), len(lines))
        block = ["", LINKS_HEADING, "", *bullets, ""]
        return "\n".join([*lines[:footer], *block, *lines[footer:]]).rstrip("\n") + "\n"
    end = next(
        (j for j in range(at + 1, len(lines)) if _HEADING.match(lines[j]) or lines[j] == "---"),
        len(lines),
    )
    kept = [
        line
        for line in lines[at + 1 : end]
        if line.strip() and line.strip().lower() not in {"none mentioned.", "none mentioned"}
    ]
    section = [lines[at], "", *bullets, *kept, ""]
    return "\n".join([*lines[:at], *section, *lines[end:]]).rstrip("\n") + "\n"


class RunningOrders(Protocol):
    def read_running_order(self, episode_id: str) -> RunningOrder | None: ...


class ShowNotesLinks:
    """The hook the llm worker calls on every finished prompt (only show-notes changes)."""

    def __init__(self, orders: RunningOrders) -> None:
        self._orders = orders

    @classmethod
    def from_s3(cls, s3: S3Client, bucket: str) -> ShowNotesLinks:
        from podpipe_llm.prep.store import S3PrepStore

        return cls(S3PrepStore(s3, bucket))

    def apply(self, episode_id: str, prompt_id: str, text: str, transcript: Transcript) -> str:
        if prompt_id != SHOW_NOTES:
            return text
        order = self._orders.read_running_order(episode_id)
        if order is None:
            return text
        found = discussed(order.items, transcript)
        log.info(
            "prep links added to the show notes",
            chosen=len(order.items),
            discussed=[i.rank for i in found],
        )
        return with_links(text, found)
