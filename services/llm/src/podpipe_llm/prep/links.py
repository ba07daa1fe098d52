"""The real links in the show notes: the chosen prep items the transcript actually discusses.

A speech recogniser mangles product names ("Aurora DSQL" comes out as "or already SQL"), so
an item is not matched on its name alone: its terms are the content words and numbers of its
title and brief text, each weighted by how rare it is among the chosen items (a word every
item shares says nothing about which one is being discussed), and the item counts as
discussed when one stretch of the episode (:data:`WINDOW_SEGMENTS` transcript segments, about
a minute and a half) says at least :data:`MATCH_SHARE` of that weight. An item that was
prepared but not discussed is left out; no URL is ever made up — every link comes from the
running order, which came from a feed.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

import structlog
from botocore.exceptions import BotoCoreError, ClientError

from podpipe.documents import Transcript
from podpipe_llm import extract
from podpipe_llm.prep.models import ChosenItem, RunningOrder

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

log = structlog.get_logger()
SHOW_NOTES = "show-notes"
MATCH_SHARE = 0.35
WINDOW_SEGMENTS = 16
LINKS_HEADING = "## Links"
# Vendor, announcement and measurement words: every item has some, none tells them apart.
_GENERIC = frozenset(
    (
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
        "offers",
        "offering",
        "enables",
        "enabled",
        "capabilities",
        "capability",
        "auto",
        "draft",
        "llm",
        "per",
        "second",
        "seconds",
        "minute",
        "minutes",
        "hour",
        "default",
        "high",
        "higher",
        "low",
        "lower",
        "mode",
        "selected",
        "times",
        "percent",
        "action",
        "api",
        "customer",
        "customers",
        "additional",
        "automatically",
        "applies",
        "apply",
        "existing",
    )
)
_NUMBER = re.compile(r"\d[\d,.]*\d|\d")
_HEADING = re.compile(r"^#{1,6}\s")


def _stem(word: str) -> str:
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


def terms(text: str) -> set[str]:
    """Content words (stemmed, vendor words dropped) and numbers of two digits or more."""
    words = {
        _stem(w.strip("'’-"))
        for w in extract.content_words(text.replace("-", " "))
        if w not in _GENERIC
    }
    numbers = {n.replace(",", "").rstrip(".") for n in _NUMBER.findall(text)}
    return {w for w in words if w} | {n for n in numbers if len(n) >= 2}


def discussed(items: Sequence[ChosenItem], transcript: Transcript) -> list[ChosenItem]:
    """The items some stretch of the transcript talks about, in running order."""
    item_terms = [terms(f"{item.title} {item.summary}") for item in items]
    frequency = Counter(t for found in item_terms for t in found)
    segments = [terms(s.text) for s in transcript.segments]
    windows = [
        set().union(*segments[k : k + WINDOW_SEGMENTS])
        for k in range(max(1, len(segments) - WINDOW_SEGMENTS + 1))
    ]
    found: list[ChosenItem] = []
    for item, wanted in zip(items, item_terms, strict=True):
        weight = {t: 1.0 / frequency[t] for t in wanted}
        total = sum(weight.values())
        if not total:
            continue
        best = max(sum(w for t, w in weight.items() if t in window) for window in windows)
        if best / total >= MATCH_SHARE:
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
        try:
            order = self._orders.read_running_order(episode_id)
        except (ClientError, BotoCoreError, ValueError) as exc:
            # The show notes matter more than their links: written without them, and said so.
            log.warning("prep.running_order_unreadable", error=str(exc))
            return text
        if order is None:
            return text
        found = discussed(order.items, transcript)
        log.info(
            "prep.links_added_to_show_notes",
            chosen=len(order.items),
            discussed=[i.rank for i in found],
        )
        return with_links(text, found)
