"""The promotion plan (pure): cadence × networks, texts within limits, host moves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from podpipe_promote import plan as planning
from podpipe_promote.plan import PlanError, fit_text

PUBLISHED = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
POSTS = {"bluesky": "b " * 200, "x": "Queues, not sleeps.", "linkedin": "LinkedIn text"}


def make(**overrides: object) -> planning.PromotionPlan:
    args: dict[str, object] = {
        "episode_id": "ep1",
        "show_id": "the-weekly",
        "published_at": PUBLISHED,
        "cadence_days": [0, 1, 3, 5],
        "networks": ["bluesky", "x", "mastodon", "tiktok"],
        "posts": POSTS,
        "clip_keys": ["c1.mp4", "c2.mp4"],
        "episode_link": "https://cdn.example.org/the-weekly/episodes/ep1/audio.mp3",
        "now": PUBLISHED,
    }
    args.update(overrides)
    return planning.make_plan(**args)  # type: ignore[arg-type]


def test_one_item_per_day_and_network_with_its_clip_and_link() -> None:
    plan = make()
    # tiktok has no text of its own nor a network to borrow from: left out
    assert [(i.number, i.network) for i in plan.items[:3]] == [
        (1, "bluesky"),
        (2, "x"),
        (3, "mastodon"),
    ]
    assert len(plan.items) == 12
    assert [i.at - PUBLISHED for i in plan.items[::3]] == [timedelta(days=d) for d in (0, 1, 3, 5)]
    assert [i.clip_key for i in plan.items[::3]] == ["c1.mp4", "c2.mp4", "c2.mp4", "c2.mp4"]
    for item in plan.items:
        assert len(item.text) <= planning.network_limit(item.network)
        assert item.text.endswith(item.episode_link)
        assert item.item_id == f"{item.number}-{item.network}"


def test_texts_are_cut_at_a_word_within_the_limit() -> None:
    link = "https://example.org/e/1"
    text = fit_text("word " * 100, 50, link)
    assert len(text) <= 50
    assert text.endswith("…\n" + link)
    assert fit_text("short", 50, link) == "short\n" + link


def test_skip_move_and_cancel() -> None:
    plan = make()
    later = PUBLISHED + timedelta(days=2)
    plan = planning.move(plan, 2, later, PUBLISHED)
    assert plan.item(2).at == later
    plan = planning.skip(plan, 1, PUBLISHED)
    assert plan.item(1).state == "skipped"
    plan = planning.record(plan, "3-mastodon", "reminded", PUBLISHED)
    with pytest.raises(PlanError, match="already went out"):
        planning.skip(plan, 3, PUBLISHED)
    cancelled = planning.cancel(plan, PUBLISHED)
    assert cancelled.state == "cancelled"
    assert {i.state for i in cancelled.items} == {"skipped", "reminded", "cancelled"}
    with pytest.raises(PlanError, match="cancelled"):
        planning.move(cancelled, 4, later, PUBLISHED)
    with pytest.raises(PlanError, match="no item 99"):
        planning.skip(plan, 99, PUBLISHED)


def test_job_ids_round_trip() -> None:
    assert planning.split_job_id(planning.job_id("ep-1", "3-x")) == ("ep-1", "3-x")
