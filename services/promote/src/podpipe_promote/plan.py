"""An episode's promotion plan and the moves a host makes on it (pure: no I/O).

``episodes/<id>/promotion/plan.json`` lists one item per (day of the show's cadence, network):
its text (the generated social post for that network, cut to the network's limit), the clip
video it goes out with and the episode's link in the feed. A host can skip an item, move it
or post it now; each change reschedules only the items whose time changed.

A plan made again (:func:`reconcile`) keeps what already happened and what the host decided:
items that went out stay as they went out, skips and moves stay, and an item whose time passed
is ``missed`` (never scheduled: the host posts it with ``--now N`` or leaves it).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

ItemState = Literal["scheduled", "skipped", "posted", "reminded", "failed", "cancelled", "missed"]
WENT_OUT: frozenset[str] = frozenset({"posted", "reminded"})
PlanState = Literal["active", "cancelled"]

# The limits the social-posts prompt writes to (characters, counted as the networks count).
NETWORK_LIMITS: dict[str, int] = {"bluesky": 300, "x": 280, "linkedin": 3000}
# Which generated post a network without its own text borrows (Mastodon allows 500).
TEXT_SOURCE: dict[str, str] = {"mastodon": "bluesky", "instagram": "linkedin"}
OTHER_LIMITS: dict[str, int] = {"mastodon": 500, "instagram": 2200}
DEFAULT_CADENCE_DAYS = (0, 1, 3, 5)
DEFAULT_NETWORKS = ("bluesky", "linkedin", "x")


class PlanError(ValueError):
    """A plan move that cannot be done, in words a host can act on."""


class PlanItem(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    item_id: str = Field(description="'<n>-<network>': stable across edits (idempotency key)")
    number: int = Field(ge=1, description="what the CLI calls it (--skip N)")
    network: str
    at: datetime
    text: str
    clip_key: str | None = None
    episode_link: str
    state: ItemState = "scheduled"
    post_uri: str | None = None
    note: str = ""
    moved: bool = Field(default=False, description="the host chose its time (kept on a replan)")


class PromotionPlan(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    schema_version: int = 1
    episode_id: str
    show_id: str
    state: PlanState = "active"
    cadence_days: list[int]
    items: list[PlanItem]
    updated_at: datetime

    def item(self, number_or_id: int | str) -> PlanItem:
        for item in self.items:
            if item.number == number_or_id or item.item_id == number_or_id:
                return item
        raise PlanError(f"{self.episode_id}: the plan has no item {number_or_id}")


def network_limit(network: str) -> int:
    return NETWORK_LIMITS.get(network) or OTHER_LIMITS.get(network) or 280


def fit_text(text: str, limit: int, link: str = "") -> str:
    """The post within ``limit`` characters, the episode link appended when it fits (pure)."""
    text = " ".join(text.split()) if "\n" not in text else text.strip()
    suffix = f"\n{link}" if link else ""
    if len(text) + len(suffix) <= limit:
        return text + suffix
    room = limit - len(suffix) if len(suffix) < limit // 2 else limit
    if room < len(text):
        cut = text[: max(room - 1, 0)].rsplit(" ", 1)[0].rstrip(" ,.;:")
        text = cut + "…"
    return text + suffix if len(text) + len(suffix) <= limit else text[:limit]


def post_text(posts: dict[str, str], network: str) -> str | None:
    return posts.get(network) or posts.get(TEXT_SOURCE.get(network, ""))


def make_plan(
    *,
    episode_id: str,
    show_id: str,
    published_at: datetime,
    cadence_days: list[int],
    networks: list[str],
    posts: dict[str, str],
    clip_keys: list[str],
    episode_link: str,
    now: datetime,
) -> PromotionPlan:
    """Day ``cadence_days[i]`` after publication, every network posts, with clip ``i`` (pure).

    A network without generated text is left out (there is nothing to post); clips are used in
    order and the later days reuse the last one when there are fewer clips than days.
    """
    if not cadence_days:
        raise PlanError("the cadence has no days")
    items: list[PlanItem] = []
    for day_index, days in enumerate(sorted(set(cadence_days))):
        clip = clip_keys[min(day_index, len(clip_keys) - 1)] if clip_keys else None
        for network in networks:
            text = post_text(posts, network)
            if not text:
                continue
            number = len(items) + 1
            items.append(
                PlanItem(
                    item_id=f"{number}-{network}",
                    number=number,
                    network=network,
                    at=published_at + timedelta(days=days),
                    text=fit_text(text, network_limit(network), episode_link),
                    clip_key=clip,
                    episode_link=episode_link,
                )
            )
    return PromotionPlan(
        episode_id=episode_id,
        show_id=show_id,
        cadence_days=sorted(set(cadence_days)),
        items=items,
        updated_at=now,
    )


def _replace(plan: PromotionPlan, item: PlanItem, now: datetime) -> PromotionPlan:
    items = [item if i.item_id == item.item_id else i for i in plan.items]
    return plan.model_copy(update={"items": items, "updated_at": now})


def _open(plan: PromotionPlan, number: int) -> PlanItem:
    if plan.state == "cancelled":
        raise PlanError(f"{plan.episode_id}: the plan was cancelled (the episode is not public)")
    item = plan.item(number)
    if item.state in WENT_OUT:
        raise PlanError(f"item {number} already went out ({item.state})")
    return item


def skip(plan: PromotionPlan, number: int, now: datetime) -> PromotionPlan:
    item = _open(plan, number)
    return _replace(plan, item.model_copy(update={"state": "skipped"}), now)


def move(plan: PromotionPlan, number: int, at: datetime, now: datetime) -> PromotionPlan:
    item = _open(plan, number)
    moved = item.model_copy(update={"at": at, "state": "scheduled", "moved": True, "note": ""})
    return _replace(plan, moved, now)


def record(
    plan: PromotionPlan, item_id: str, state: ItemState, now: datetime, **changes: object
) -> PromotionPlan:
    item = plan.item(item_id)
    return _replace(plan, item.model_copy(update={"state": state, **changes}), now)


def cancel(plan: PromotionPlan, now: datetime) -> PromotionPlan:
    items = [
        i.model_copy(update={"state": "cancelled"}) if i.state == "scheduled" else i
        for i in plan.items
    ]
    return plan.model_copy(update={"state": "cancelled", "items": items, "updated_at": now})


def reconcile(
    fresh: PromotionPlan,
    current: PromotionPlan | None,
    markers: Mapping[str, tuple[ItemState, str | None]],
    now: datetime,
    missed_after: timedelta,
) -> PromotionPlan:
    """The plan made again (``fresh``, all ``scheduled``) over what already happened (pure).

    By item id (the idempotency key): an item that went out (in ``current``, or by its
    delivery marker in ``markers``: state and post URI) is kept as it went out, with its post
    URI; a skip stays skipped and a move keeps its time, both with the new text; a failed item
    keeps waiting for its replay, with the new text (which the replay posts). Every other item
    is scheduled, unless its time is more than ``missed_after`` ago: then it is ``missed`` and
    never fires by itself. Items of ``current`` that are not in ``fresh`` stay only if they
    went out.
    """
    old = {i.item_id: i for i in current.items} if current is not None else {}
    items: list[PlanItem] = []
    for item in fresh.items:
        was = old.pop(item.item_id, None)
        marked = markers.get(item.item_id)
        if was is not None and was.state in WENT_OUT:
            items.append(was)
            continue
        if marked is not None and marked[0] in WENT_OUT:
            base = was or item
            items.append(base.model_copy(update={"state": marked[0], "post_uri": marked[1]}))
            continue
        if was is not None and was.state in ("skipped", "failed"):
            item = item.model_copy(update={"state": was.state, "note": was.note})
        elif was is not None and was.moved:
            item = item.model_copy(update={"at": was.at, "moved": True})
        if item.state == "scheduled" and item.at < now - missed_after:
            note = f"its time passed: --now {item.number} posts it"
            item = item.model_copy(update={"state": "missed", "note": note})
        items.append(item)
    items += [i for i in old.values() if i.state in WENT_OUT]
    return fresh.model_copy(update={"items": sorted(items, key=lambda i: i.number)})


def job_id(episode_id: str, item_id: str) -> str:
    """The scheduler's id of one item (a schedule name and a local index key)."""
    return f"{episode_id}.{item_id}"


def split_job_id(job: str) -> tuple[str, str]:
    episode_id, _, item_id = job.rpartition(".")
    return episode_id, item_id
