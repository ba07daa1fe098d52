"""The promotion operations: the ONE place they live (the CLI, the handler and the loop map
onto them). An imperative shell over :mod:`podpipe_promote.plan`: it reads the release, the
show, the generated posts and the rendered clips through the release's :class:`BlobStore`,
writes the plan with compare-and-swap and (re)schedules items through the release's
:class:`ScheduleTrigger` (a second kind of job: promotion items).

Nothing posts twice: before posting, an item is claimed with a durable marker
``episodes/<id>/promotion/items/<item>.json`` (``If-None-Match: *`` to create, ``If-Match`` to
take over a failed or stale claim); ``posted`` / ``reminded`` markers are final.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from pydantic import BaseModel, ConfigDict, ValidationError
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_random_exponential

from podpipe.events import Event, PromotionPosted, PromotionReadyToPost
from podpipe.layout import EpisodeKeys
from podpipe.release.model import Release, release_key
from podpipe.release.operations import ScheduleTrigger
from podpipe.release.shows import Show, parse_show, show_keys
from podpipe.release.store import BlobStore, PreconditionFailedError
from podpipe_promote import plan as planning
from podpipe_promote.plan import ItemState, PlanError, PlanItem, PromotionPlan
from podpipe_promote.posting import (
    Poster,
    PostRefusedError,
    PostRequest,
    PostUnavailableError,
)

log = structlog.get_logger()

STALE_CLAIM_SECONDS = 300.0
SHOW_SETTINGS_PREFIX = "promotion/shows/"
PROMOTE_SCHEDULE_PREFIX = "promote-schedule/"
# An item fired this long before its time was moved later: its new schedule will fire it.
EARLY_TOLERANCE = timedelta(minutes=1)
# An item whose time passed longer ago than this when the plan is made (again) is "missed", not
# fired late: a host who replans on Thursday does not want Monday's posts to go out at once.
MISSED_AFTER = timedelta(hours=1)


def plan_key(episode_id: str) -> str:
    return f"episodes/{episode_id}/promotion/plan.json"


def marker_key(episode_id: str, item_id: str) -> str:
    return f"episodes/{episode_id}/promotion/items/{item_id}.json"


class ShowPromotion(BaseModel):
    """``promotion/shows/<show-id>.json``: the show-level promotion settings."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    cadence_days: list[int] | None = None
    networks: list[str] | None = None


class ItemBusyError(Exception):
    """Another delivery holds this item's claim (it is posting right now)."""


@dataclass(frozen=True)
class Delivery:
    outcome: str  # posted | reminded | already-done | not-due | skipped | cancelled | missed
    events: list[Event]


def decide(marker: Mapping[str, Any] | None, owner: str, now: float) -> str:
    """Whether ``owner`` may deliver, given the item's marker (pure; the notify rule)."""
    if marker is None:
        return "deliver"
    state = marker.get("state")
    if state in ("posted", "reminded"):
        return "already-done"
    if state == "posting":
        claimed = marker.get("claimed_at")
        stale = not isinstance(claimed, int | float) or now - claimed > STALE_CLAIM_SECONDS
        return "deliver" if marker.get("owner") == owner or stale else "busy"
    return "deliver"


class PromotionDesk:
    def __init__(
        self,
        store: BlobStore,
        *,
        trigger: ScheduleTrigger,
        posters: Mapping[str, Poster],
        clip_url: Callable[[str], str],
        default_cadence: list[int],
        default_networks: list[str],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        post_attempts: int = 3,
        retry_max_seconds: float = 8.0,
        missed_after: timedelta = MISSED_AFTER,
    ) -> None:
        self._store = store
        self._trigger = trigger
        self._posters = posters
        self._clip_url = clip_url
        self._default_cadence = default_cadence
        self._default_networks = default_networks
        self._clock = clock
        self._post_attempts = post_attempts
        self._retry_max_seconds = retry_max_seconds
        self._missed_after = missed_after

    # ------------------------------------------------------------------ reading

    def _json(self, key: str) -> Any:
        blob = self._store.get(key)
        return None if blob is None else json.loads(blob.body)

    def _release(self, episode_id: str) -> Release:
        raw = self._json(release_key(episode_id))
        if raw is None:
            raise PlanError(f"{episode_id} has no release: `podpipe release {episode_id}` first")
        return Release.model_validate(raw)

    def _show(self, show_id: str) -> Show:
        for key in show_keys(show_id):
            blob = self._store.get(key)
            if blob is not None:
                return parse_show(blob.body, key)
        raise PlanError(f"show {show_id!r} has no shows/{show_id}.json")

    def show_settings(self, show_id: str) -> ShowPromotion:
        raw = self._json(f"{SHOW_SETTINGS_PREFIX}{show_id}.json")
        try:
            return ShowPromotion.model_validate(raw or {})
        except ValidationError as exc:
            raise PlanError(f"{SHOW_SETTINGS_PREFIX}{show_id}.json: {exc}") from None

    def _posts(self, episode_id: str) -> dict[str, str]:
        raw = self._json(EpisodeKeys(episode_id).prompt_output("social-posts", "json"))
        if not isinstance(raw, dict):
            raise PlanError(f"{episode_id}: no outputs/social-posts.json to take the texts from")
        return {k: str(v) for k, v in raw.items() if k != "note" and isinstance(v, str) and v}

    def _clips(self, episode_id: str) -> list[str]:
        raw = self._json(EpisodeKeys(episode_id).clips_prefix + "clips.json")
        clips = raw.get("clips", []) if isinstance(raw, dict) else []
        ordered = sorted(clips, key=lambda c: c.get("index", 0))
        return [str(c["video_key"]) for c in ordered if c.get("video_key")]

    def plan(self, episode_id: str) -> PromotionPlan | None:
        found, _ = self._load(episode_id)
        return found

    def _load(self, episode_id: str) -> tuple[PromotionPlan | None, str | None]:
        blob = self._store.get(plan_key(episode_id))
        if blob is None:
            return None, None
        return PromotionPlan.model_validate_json(blob.body), blob.etag

    def _save(self, plan: PromotionPlan, etag: str | None) -> None:
        self._store.put(
            plan_key(plan.episode_id),
            plan.model_dump_json(indent=2).encode(),
            content_type="application/json",
            if_match=etag,
            if_absent=etag is None,
        )

    def _update(
        self, episode_id: str, change: Callable[[PromotionPlan | None], PromotionPlan]
    ) -> tuple[PromotionPlan | None, PromotionPlan]:
        for attempt in Retrying(
            retry=retry_if_exception_type(PreconditionFailedError),
            stop=stop_after_attempt(10),
            wait=wait_random_exponential(multiplier=0.02, max=0.5),
            reraise=True,
        ):
            with attempt:
                before, etag = self._load(episode_id)
                after = change(before)
                if after != before:
                    self._save(after, etag)
                return before, after
        raise AssertionError("unreachable")  # pragma: no cover

    # ------------------------------------------------------------------ making the plan

    def make_plan(
        self, episode_id: str, *, episode_link: str | None = None, replace: bool = False
    ) -> PromotionPlan:
        """The plan of a published episode (kept as it is when it exists and not ``replace``).

        Made again (``replace``, or after a cancel), it keeps what went out, the host's skips
        and moves, and marks items whose time passed ``missed`` (:func:`planning.reconcile`).
        """
        release = self._release(episode_id)
        if not release.is_public or release.first_published_at is None:
            raise PlanError(f"{episode_id} is {release.state}: promotion starts once published")
        show = self._show(release.show_id)
        settings = self.show_settings(release.show_id)
        link = episode_link or f"{show.public_root}/episodes/{episode_id}/audio.mp3"
        published = release.first_published_at
        now = self._clock()
        fresh = planning.make_plan(
            episode_id=episode_id,
            show_id=release.show_id,
            published_at=published,
            cadence_days=settings.cadence_days or self._default_cadence,
            networks=settings.networks or self._default_networks,
            posts=self._posts(episode_id),
            clip_keys=self._clips(episode_id),
            episode_link=link,
            now=now,
        )

        markers = self._went_out(episode_id, [i.item_id for i in fresh.items])

        def change(current: PromotionPlan | None) -> PromotionPlan:
            if current is not None and current.state == "active" and not replace:
                return current
            return planning.reconcile(fresh, current, markers, now, self._missed_after)

        before, after = self._update(episode_id, change)
        self._schedule(after, before)
        log.info("promote.planned", episode_id=episode_id, items=len(after.items))
        return after

    def _went_out(
        self, episode_id: str, item_ids: list[str]
    ) -> dict[str, tuple[ItemState, str | None]]:
        """What the delivery markers say went out (they decide; the plan may lag behind)."""
        found: dict[str, tuple[ItemState, str | None]] = {}
        for item_id in item_ids:
            marker = self.marker(episode_id, item_id) or {}
            state, uri = marker.get("state"), marker.get("post_uri")
            if state in planning.WENT_OUT:
                found[item_id] = (state, uri if isinstance(uri, str) else None)
        return found

    def _schedule(self, plan: PromotionPlan, previous: PromotionPlan | None) -> None:
        """(Re)schedule every scheduled item whose time is new; cancel what left the schedule."""
        old = {i.item_id: i for i in previous.items} if previous else {}
        for gone in old.keys() - {i.item_id for i in plan.items}:
            if old[gone].state == "scheduled":
                self._trigger.cancel(planning.job_id(plan.episode_id, gone))
        for item in plan.items:
            job = planning.job_id(plan.episode_id, item.item_id)
            was = old.get(item.item_id)
            if item.state == "scheduled":
                if was is None or was.at != item.at or was.state != "scheduled":
                    self._trigger.schedule(job, item.at)
            elif was is not None and was.state == "scheduled":
                self._trigger.cancel(job)

    # ------------------------------------------------------------------ host moves

    def _edit(
        self, episode_id: str, move: Callable[[PromotionPlan], PromotionPlan]
    ) -> PromotionPlan:
        def change(current: PromotionPlan | None) -> PromotionPlan:
            if current is None:
                raise PlanError(
                    f"{episode_id} has no promotion plan: `podpipe promote {episode_id}`"
                )
            return move(current)

        before, after = self._update(episode_id, change)
        self._schedule(after, before)
        return after

    def skip(self, episode_id: str, number: int) -> PromotionPlan:
        return self._edit(episode_id, lambda p: planning.skip(p, number, self._clock()))

    def move(self, episode_id: str, number: int, at: datetime) -> PromotionPlan:
        return self._edit(episode_id, lambda p: planning.move(p, number, at, self._clock()))

    def now(self, episode_id: str, number: int) -> PromotionPlan:
        """Post item ``number`` at once: it is moved to now, and the trigger fires it."""
        return self.move(episode_id, number, self._clock())

    def cancel(self, episode_id: str) -> PromotionPlan | None:
        """Cancel every item still scheduled (the episode was unpublished)."""
        if self.plan(episode_id) is None:
            return None
        return self._edit(episode_id, lambda p: planning.cancel(p, self._clock()))

    def unpublished(self, episode_id: str) -> bool:
        """The episode left the feed: cancel its plan and every live schedule now. False when
        there is nothing to cancel, or when it was published again meanwhile (events can
        arrive out of order: a plan is only cancelled for an episode that is not public)."""
        current = self.plan(episode_id)
        if current is None or current.state == "cancelled":
            return False
        if self._release(episode_id).is_public:
            return False
        self.cancel(episode_id)
        return True

    # ------------------------------------------------------------------ delivery

    def _claim(self, episode_id: str, item_id: str, owner: str) -> str:
        key = marker_key(episode_id, item_id)
        now = time.time()
        body = json.dumps({"state": "posting", "owner": owner, "claimed_at": now}).encode()
        try:
            self._store.put(key, body, content_type="application/json", if_absent=True)
            return "deliver"
        except PreconditionFailedError:
            pass
        found = self._store.get(key)
        if found is None:
            return "busy"
        decision = decide(json.loads(found.body), owner, now)
        if decision != "deliver":
            return decision
        try:
            self._store.put(key, body, content_type="application/json", if_match=found.etag)
        except PreconditionFailedError:
            return "busy"
        return "deliver"

    def _mark(self, episode_id: str, item_id: str, state: str, **fields: Any) -> None:
        body = {"state": state, "at": time.time(), **fields}
        self._store.put(
            marker_key(episode_id, item_id),
            json.dumps(body).encode(),
            content_type="application/json",
        )

    def marker(self, episode_id: str, item_id: str) -> dict[str, Any] | None:
        raw = self._json(marker_key(episode_id, item_id))
        return raw if isinstance(raw, dict) else None

    def deliver(self, episode_id: str, item_id: str, owner: str) -> Delivery:
        """Post (or ask for a reminder of) one item, at most once whatever fires it."""
        current = self.plan(episode_id)
        if current is None:
            raise PlanError(f"{episode_id} has no promotion plan")
        item = current.item(item_id)
        if current.state == "cancelled" or item.state in ("skipped", "cancelled", "missed"):
            return Delivery(item.state if item.state != "scheduled" else "cancelled", [])
        if item.at > self._clock() + EARLY_TOLERANCE:
            return Delivery("not-due", [])  # moved later: its new schedule fires it
        if not self._release(episode_id).is_public:
            self.cancel(episode_id)  # unpublished: the rest of the week is off
            return Delivery("cancelled", [])
        decision = self._claim(episode_id, item_id, owner)
        if decision == "busy":
            raise ItemBusyError(f"{episode_id} item {item_id} is being delivered by another worker")
        if decision == "already-done":
            self._catch_up(episode_id, item)
            return Delivery("already-done", [])
        poster = self._posters.get(item.network)
        try:
            if poster is None:
                event: Event = self._reminder(episode_id, item)
                state: ItemState = "reminded"
                changes: dict[str, str] = {}
            else:
                result = self._post(poster, episode_id, item)
                event = PromotionPosted(
                    episode_id=episode_id,
                    item_id=item_id,
                    network=item.network,
                    post_uri=result.uri,
                    with_video=result.with_video,
                )
                state, changes = "posted", {"post_uri": result.uri}
        except (PostRefusedError, PostUnavailableError) as exc:
            reason = exc.reason
            self._mark(episode_id, item_id, "failed", reason=reason, owner=owner)
            self._record(episode_id, item_id, "failed", note=reason)
            raise
        self._mark(episode_id, item_id, state, owner=owner, **changes)
        self._record(episode_id, item_id, state, **changes)
        log.info("promote.delivered", episode_id=episode_id, item_id=item_id, outcome=state)
        return Delivery(state, [event])

    def _catch_up(self, episode_id: str, item: PlanItem) -> None:
        """The marker says the item went out and the plan does not (a crash in between)."""
        went_out = self._went_out(episode_id, [item.item_id]).get(item.item_id)
        if went_out is not None and item.state != went_out[0]:
            state, uri = went_out
            self._record(episode_id, item.item_id, state, **({"post_uri": uri} if uri else {}))

    def _record(self, episode_id: str, item_id: str, state: ItemState, **changes: str) -> None:
        """What happened to an item, in the plan the host sees (the marker is what decides)."""
        self._edit(
            episode_id, lambda p: planning.record(p, item_id, state, self._clock(), **changes)
        )

    def _reminder(self, episode_id: str, item: PlanItem) -> PromotionReadyToPost:
        return PromotionReadyToPost(
            episode_id=episode_id,
            item_id=item.item_id,
            network=item.network,
            text=item.text,
            episode_link=item.episode_link,
            clip_url=self._clip_url(item.clip_key) if item.clip_key else None,
            scheduled_for=item.at,
        )

    def _post(self, poster: Poster, episode_id: str, item: PlanItem) -> Any:
        video = None
        if item.clip_key:
            blob = self._store.get(item.clip_key)
            video = blob.body if blob is not None else None
        request = PostRequest(
            text=item.text,
            link=item.episode_link,
            link_title=item.text.split("\n", 1)[0][:120],
            video=video,
            # A network that can post idempotently names the post after the item and its time.
            idempotency_key=f"{episode_id}/{item.item_id}",
            scheduled_for=item.at,
        )
        for attempt in Retrying(
            retry=retry_if_exception_type(PostUnavailableError),
            stop=stop_after_attempt(self._post_attempts),
            wait=wait_random_exponential(multiplier=0.5, max=self._retry_max_seconds),
            reraise=True,
        ):
            with attempt:
                return poster.post(request)
        raise AssertionError("unreachable")  # pragma: no cover
