"""PromotionDesk over fakes: a published episode's plan, host moves rescheduling, delivery
exactly once (a repeated trigger posts nothing), reminders for networks without an adapter,
refusals and outages, and unpublishing cancelling the rest of the week."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from podpipe.events import (
    EpisodeUnpublished,
    PromotionFailed,
    PromotionItemDue,
    PromotionPosted,
    PromotionReadyToPost,
)
from podpipe.layout import EpisodeMetadata
from podpipe.release.operations import ReleaseDesk
from podpipe.release.scheduling import EventBridgeScheduleTrigger, LocalScheduleIndex
from podpipe.runtime.errors import RetryableError
from podpipe.runtime.policy import classify_failure, retry_visibility_timeout
from podpipe.runtime.service import MessageContext
from podpipe_promote.desk import PROMOTE_SCHEDULE_PREFIX, PromotionDesk, marker_key
from podpipe_promote.handlers import PromoteHandlers
from podpipe_promote.plan import PlanError, job_id
from podpipe_promote.wiring import item_due, run_due
from tests.support.promote import CLIP_VIDEO, FakePoster, promotion_artifacts
from tests.support.release import (
    ARTWORK,
    ARTWORK_KEY,
    SHOW_ID,
    episode_artifacts,
    show_config,
    sidecar,
)
from tests.unit.release_fakes import MemoryBlobStore, RecordingEvents, RecordingTrigger

BASE = "https://cdn.example.org"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


class World:
    def __init__(self, *, networks: tuple[str, ...] = ("bluesky", "linkedin")) -> None:
        self.store = MemoryBlobStore()
        self.clock = Clock()
        self.store.put(
            f"shows/{SHOW_ID}.json",
            json.dumps(show_config(BASE)).encode(),
            content_type="application/json",
        )
        self.store.put(ARTWORK_KEY, ARTWORK, content_type="image/jpeg")
        self.release_events = RecordingEvents()
        self.release = ReleaseDesk(
            self.store,
            events=self.release_events,
            trigger=RecordingTrigger(),
            metadata=lambda ep: EpisodeMetadata.model_validate(sidecar(1)),
            clock=self.clock,
        )
        self.trigger = RecordingTrigger()
        self.poster = FakePoster()
        self.desk = PromotionDesk(
            self.store,
            trigger=self.trigger,
            posters={"bluesky": self.poster},
            clip_url=lambda key: f"https://signed.example/{key}",
            default_cadence=[0, 2],
            default_networks=list(networks),
            clock=self.clock,
            retry_max_seconds=0.01,
        )

    def publish(self, episode_id: str = "ep1") -> None:
        artifacts = {**episode_artifacts(episode_id), **promotion_artifacts(episode_id)}
        for key, (body, content_type) in artifacts.items():
            self.store.put(key, body, content_type=content_type)
        self.release.approve(episode_id, title_number=1)
        self.release.publish(episode_id)


def ctx(message_id: str = "m1", receive_count: int = 1) -> MessageContext:
    return MessageContext(
        message_id=message_id, queue="promote", receive_count=receive_count, max_receive_count=4
    )


def test_a_published_episode_gets_a_scheduled_plan() -> None:
    world = World()
    world.publish()
    plan = world.desk.make_plan("ep1")
    assert [(i.number, i.network) for i in plan.items] == [
        (1, "bluesky"),
        (2, "linkedin"),
        (3, "bluesky"),
        (4, "linkedin"),
    ]
    assert plan.items[0].clip_key == "episodes/ep1/clips/clip-01.mp4"
    assert plan.items[2].clip_key == "episodes/ep1/clips/clip-02.mp4"
    assert plan.items[0].episode_link == f"{BASE}/{SHOW_ID}/episodes/ep1/audio.mp3"
    assert len(plan.items[0].text) <= 300
    assert world.trigger.scheduled == {job_id("ep1", i.item_id): i.at for i in plan.items}
    assert plan.items[2].at - plan.items[0].at == timedelta(days=2)
    # stored in the bucket: asking again returns the same plan, not a new one
    assert world.desk.make_plan("ep1") == plan
    assert world.desk.plan("ep1") == plan


def test_a_show_sets_its_own_cadence() -> None:
    world = World()
    world.store.put(
        f"promotion/shows/{SHOW_ID}.json",
        json.dumps({"cadence_days": [0, 1, 3, 5], "networks": ["x"]}).encode(),
        content_type="application/json",
    )
    world.publish()
    plan = world.desk.make_plan("ep1")
    assert [i.network for i in plan.items] == ["x"] * 4
    assert plan.cadence_days == [0, 1, 3, 5]


def test_no_plan_before_the_episode_is_published() -> None:
    world = World()
    for key, (body, content_type) in episode_artifacts("ep1").items():
        world.store.put(key, body, content_type=content_type)
    world.release.approve("ep1", title_number=1)
    with pytest.raises(PlanError, match="approved"):
        world.desk.make_plan("ep1")


def test_moves_reschedule_only_what_changed() -> None:
    world = World()
    world.publish()
    world.desk.make_plan("ep1")
    world.trigger.scheduled.clear()
    later = world.clock.now + timedelta(days=1, hours=3)
    world.desk.move("ep1", 2, later)
    assert world.trigger.scheduled == {job_id("ep1", "2-linkedin"): later}
    world.desk.skip("ep1", 3)
    assert job_id("ep1", "3-bluesky") in world.trigger.cancelled
    world.desk.now("ep1", 4)
    assert world.trigger.scheduled[job_id("ep1", "4-linkedin")] == world.clock.now


def test_an_item_posts_once_with_its_clip_whatever_fires_it() -> None:
    world = World()
    world.publish()
    world.desk.make_plan("ep1")
    first = world.desk.deliver("ep1", "1-bluesky", owner="m1")
    assert first.outcome == "posted"
    (event,) = first.events
    assert isinstance(event, PromotionPosted)
    assert event.post_uri == "at://did:plc:fake/app.bsky.feed.post/1"
    (request,) = world.poster.posts
    assert request.video == CLIP_VIDEO + b"\x01"
    assert request.link.endswith("/episodes/ep1/audio.mp3")
    # the key a network posts idempotently under: the item and its time
    assert request.idempotency_key == "ep1/1-bluesky"
    assert request.scheduled_for == world.desk.plan("ep1").item(1).at  # type: ignore[union-attr]
    # a second schedule firing, a redelivery, a replay: nothing more
    for owner in ("m1", "m2"):
        again = world.desk.deliver("ep1", "1-bluesky", owner=owner)
        assert again.outcome == "already-done"
        assert again.events == []
    assert len(world.poster.posts) == 1
    plan = world.desk.plan("ep1")
    assert plan is not None
    assert plan.item(1).state == "posted"
    assert plan.item(1).post_uri == event.post_uri


def test_a_network_without_an_adapter_gets_a_ready_to_post_reminder_once() -> None:
    world = World()
    world.publish()
    world.desk.make_plan("ep1")
    delivery = world.desk.deliver("ep1", "2-linkedin", owner="m1")
    (event,) = delivery.events
    assert isinstance(event, PromotionReadyToPost)
    assert event.network == "linkedin"
    assert event.clip_url == "https://signed.example/episodes/ep1/clips/clip-01.mp4"
    assert "LinkedIn post" in event.text
    assert world.desk.deliver("ep1", "2-linkedin", owner="m2").events == []
    assert world.poster.posts == []


def test_an_item_moved_later_does_not_go_out_on_its_old_schedule() -> None:
    world = World()
    world.publish()
    world.desk.make_plan("ep1")
    world.clock.now += timedelta(days=2)
    world.desk.move("ep1", 3, world.clock.now + timedelta(hours=5))
    assert world.desk.deliver("ep1", "3-bluesky", owner="m1").outcome == "not-due"
    assert world.desk.marker("ep1", "3-bluesky") is None
    world.desk.skip("ep1", 4)
    assert world.desk.deliver("ep1", "4-linkedin", owner="m1").outcome == "skipped"


def test_unpublishing_cancels_the_plan_and_its_schedules_at_once() -> None:
    world = World()
    world.publish()
    world.desk.make_plan("ep1")
    world.release.unpublish("ep1")
    unpublished = [e for e in world.release_events.events if isinstance(e, EpisodeUnpublished)]
    handlers = PromoteHandlers(world.desk)
    for event in unpublished * 2:  # a repeat (a retried unpublish) changes nothing
        assert handlers.episode_unpublished(event, ctx()) == []
    plan = world.desk.plan("ep1")
    assert plan is not None
    assert plan.state == "cancelled"  # before any item fired
    assert {i.state for i in plan.items} == {"cancelled"}
    assert world.trigger.scheduled == {}
    assert world.desk.deliver("ep1", "1-bluesky", owner="m1").outcome == "cancelled"
    assert world.poster.posts == []


def test_an_unpublish_heard_after_a_republish_keeps_the_plan() -> None:
    world = World()
    world.publish()
    world.desk.make_plan("ep1")
    world.release.unpublish("ep1")
    world.release.publish("ep1")
    (late,) = [e for e in world.release_events.events if isinstance(e, EpisodeUnpublished)]
    PromoteHandlers(world.desk).episode_unpublished(late, ctx())
    plan = world.desk.plan("ep1")
    assert plan is not None
    assert plan.state == "active"
    assert len(world.trigger.scheduled) == 4


def test_unpublishing_cancels_the_rest_of_the_week_at_the_next_item_without_the_event() -> None:
    world = World()
    world.publish()
    world.desk.make_plan("ep1")
    world.release.unpublish("ep1")
    assert world.desk.deliver("ep1", "1-bluesky", owner="m1").outcome == "cancelled"
    plan = world.desk.plan("ep1")
    assert plan is not None
    assert plan.state == "cancelled"
    assert {i.state for i in plan.items} == {"cancelled"}
    assert world.trigger.scheduled == {}
    assert world.poster.posts == []


def test_an_outage_is_retried_then_a_replay_posts_once() -> None:
    world = World()
    world.publish()
    world.desk.make_plan("ep1")
    world.poster.down = 5
    handlers = PromoteHandlers(world.desk)
    due = PromotionItemDue(episode_id="ep1", item_id="1-bluesky", scheduled_for=world.clock.now)
    with pytest.raises(RetryableError, match="503"):
        handlers.item_due(due, ctx("m1"))
    assert world.poster.attempts == 3  # the desk's own retries with backoff
    marker = world.desk.marker("ep1", "1-bluesky")
    assert marker is not None
    assert marker["state"] == "failed"
    world.poster.down = 0
    (posted,) = handlers.item_due(due, ctx("m2", receive_count=2))
    assert isinstance(posted, PromotionPosted)
    assert handlers.item_due(due, ctx("m3")) == []
    assert len(world.poster.posts) == 1


def test_a_refused_post_is_retried_with_backoff_then_dead_lettered_and_tells_the_team() -> None:
    world = World()
    world.publish()
    world.desk.make_plan("ep1")
    world.poster.refuse = 4  # refused on every receive the promote queue allows
    handlers = PromoteHandlers(world.desk)
    due = PromotionItemDue(episode_id="ep1", item_id="1-bluesky", scheduled_for=world.clock.now)
    verdicts = []
    for receive in range(1, 5):
        with pytest.raises(RetryableError, match="too long") as raised:
            handlers.item_due(due, ctx(f"m{receive}", receive_count=receive))
        verdicts.append(classify_failure(raised.value, attempts=receive, last_attempt=receive == 4))
    assert world.poster.attempts == 4  # once per receive: refusals are not hammered in-message
    # the runtime backs off between receives, then dead-letters the last with the reason
    assert [v.action for v in verdicts] == ["backoff", "backoff", "backoff", "dead-letter"]
    assert [v.failure is None for v in verdicts] == [True, True, True, False]
    assert retry_visibility_timeout(2, base=5, cap=900) > retry_visibility_timeout(
        1, base=5, cap=900
    )
    plan = world.desk.plan("ep1")
    assert plan is not None
    assert plan.item(1).state == "failed"
    final = verdicts[-1].failure
    assert final is not None
    (failed,) = handlers.item_failed(due, final)
    assert isinstance(failed, PromotionFailed)
    assert failed.network == "bluesky"
    assert "too long" in failed.failure.reason
    # the replay, once the cause is fixed
    (posted,) = handlers.item_due(due, ctx("replayed"))
    assert isinstance(posted, PromotionPosted)


def test_a_refusal_fixed_during_the_backoff_posts_on_the_next_receive() -> None:
    world = World()
    world.publish()
    world.desk.make_plan("ep1")
    world.poster.refuse = 1
    handlers = PromoteHandlers(world.desk)
    due = PromotionItemDue(episode_id="ep1", item_id="1-bluesky", scheduled_for=world.clock.now)
    with pytest.raises(RetryableError):
        handlers.item_due(due, ctx("m1"))
    (posted,) = handlers.item_due(due, ctx("m1", receive_count=2))
    assert isinstance(posted, PromotionPosted)
    assert len(world.poster.posts) == 1


def test_a_busy_claim_is_retried_not_posted_twice() -> None:
    world = World()
    world.publish()
    world.desk.make_plan("ep1")
    world.store.put(
        marker_key("ep1", "1-bluesky"),
        json.dumps({"state": "posting", "owner": "other", "claimed_at": 9e18}).encode(),
        content_type="application/json",
    )
    handlers = PromoteHandlers(world.desk)
    due = PromotionItemDue(episode_id="ep1", item_id="1-bluesky", scheduled_for=world.clock.now)
    with pytest.raises(RetryableError, match="another worker"):
        handlers.item_due(due, ctx())
    assert world.poster.posts == []


def test_the_local_loop_sends_due_items_once_and_survives_in_the_bucket() -> None:
    store = MemoryBlobStore()
    index = LocalScheduleIndex(store, prefix=PROMOTE_SCHEDULE_PREFIX)
    now = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    index.schedule(job_id("ep1", "1-bluesky"), now)
    index.schedule(job_id("ep1", "3-bluesky"), now + timedelta(days=2))
    assert store.list_keys(PROMOTE_SCHEDULE_PREFIX) == [
        "promote-schedule/ep1.1-bluesky.json",
        "promote-schedule/ep1.3-bluesky.json",
    ]
    # a restarted loop reads the same index from the bucket
    sink = RecordingEvents()
    restarted = LocalScheduleIndex(store, prefix=PROMOTE_SCHEDULE_PREFIX)
    assert run_due(restarted, sink, now) == ["ep1.1-bluesky"]
    assert run_due(restarted, sink, now) == []
    (event,) = sink.events
    assert event == PromotionItemDue(episode_id="ep1", item_id="1-bluesky", scheduled_for=now)
    # releases keep their own prefix
    assert LocalScheduleIndex(store).entries() == []


def test_eventbridge_one_time_schedules_for_items() -> None:
    class Scheduler:
        def __init__(self) -> None:
            self.created: list[dict[str, object]] = []

        def create_schedule(self, **kwargs: object) -> None:
            self.created.append(kwargs)

        def delete_schedule(self, **kwargs: object) -> None:
            pass

    client = Scheduler()
    trigger = EventBridgeScheduleTrigger(
        client,
        group="podpipe-releases",
        target_arn="arn:aws:sqs:us-east-1:123456789012:podpipe-promote",
        role_arn="arn:aws:iam::123456789012:role/r",
        name_prefix="podpipe",
        kind="promote",
        message=item_due,
    )
    at = datetime(2026, 12, 4, 6, 0, tzinfo=UTC)
    long_episode = "e" * 60
    trigger.schedule(job_id(long_episode, "12-linkedin"), at)
    trigger.schedule(job_id(long_episode, "13-linkedin"), at)
    names = [str(c["Name"]) for c in client.created]
    assert len(set(names)) == 2
    assert all(len(n) <= 64 and n.startswith("podpipe-promote-") for n in names)
    first = client.created[0]
    assert first["ScheduleExpression"] == "at(2026-12-04T06:00:00)"
    assert first["ActionAfterCompletion"] == "DELETE"
    message = json.loads(first["Target"]["Input"])  # type: ignore[index]
    assert message["detail-type"] == "Promotion Item Due"
    assert message["detail"]["item_id"] == "12-linkedin"
    assert message["detail"]["episode_id"] == long_episode


def test_a_replan_mid_week_keeps_what_went_out_and_the_skips_and_fires_nothing_past() -> None:
    world = World()
    world.publish()
    world.desk.make_plan("ep1")
    posted = world.desk.deliver("ep1", "1-bluesky", owner="m1")
    assert posted.outcome == "posted"
    assert world.desk.deliver("ep1", "2-linkedin", owner="m1").outcome == "reminded"
    world.desk.skip("ep1", 4)
    world.clock.now += timedelta(days=1)  # day 1 of a 0, 2 cadence: items 1 and 2 are past
    world.trigger.scheduled.clear()
    world.trigger.cancelled.clear()
    plan = world.desk.make_plan("ep1", replace=True)  # podpipe promote EP --replan
    states = {i.item_id: i.state for i in plan.items}
    assert states == {
        "1-bluesky": "posted",
        "2-linkedin": "reminded",
        "3-bluesky": "scheduled",
        "4-linkedin": "skipped",
    }
    assert plan.item(1).post_uri == "at://did:plc:fake/app.bsky.feed.post/1"
    # nothing new was scheduled: item 3's schedule still stands, items 1, 2 and 4 have none
    assert world.trigger.scheduled == {}
    assert world.desk.deliver("ep1", "4-linkedin", owner="m3").outcome == "skipped"
    assert len(world.poster.posts) == 1


def test_a_plan_made_late_marks_past_items_missed_until_the_host_posts_them() -> None:
    world = World()
    world.publish()
    world.clock.now += timedelta(days=1)  # `podpipe promote EP` a day after publication
    plan = world.desk.make_plan("ep1")
    assert [i.state for i in plan.items] == ["missed", "missed", "scheduled", "scheduled"]
    assert "--now 1" in plan.item(1).note
    assert world.trigger.scheduled == {job_id("ep1", i.item_id): i.at for i in plan.items[2:]}
    # a stale fire of a missed item posts nothing; `--now 1` posts it
    assert world.desk.deliver("ep1", "1-bluesky", owner="m1").outcome == "missed"
    world.desk.now("ep1", 1)
    assert world.trigger.scheduled[job_id("ep1", "1-bluesky")] == world.clock.now
    assert world.desk.deliver("ep1", "1-bluesky", owner="m2").outcome == "posted"


def test_a_replan_keeps_a_moved_time_and_takes_the_new_text() -> None:
    world = World()
    world.publish()
    world.desk.make_plan("ep1")
    friday = world.clock.now + timedelta(days=3, hours=2)
    world.desk.move("ep1", 3, friday)
    posts = {"bluesky": "An edited Bluesky post.", "linkedin": "An edited LinkedIn post."}
    world.store.put(
        "episodes/ep1/outputs/social-posts.json",
        json.dumps(posts).encode(),
        content_type="application/json",
    )
    plan = world.desk.make_plan("ep1", replace=True)
    assert plan.item(3).at == friday
    assert plan.item(3).text.startswith("An edited Bluesky post.")
    assert world.trigger.scheduled[job_id("ep1", "3-bluesky")] == friday


def test_a_replan_takes_a_post_the_plan_missed_from_its_marker() -> None:
    world = World()
    world.publish()
    world.desk.make_plan("ep1")
    # the worker posted and wrote its marker, then died before recording it in the plan
    world.store.put(
        marker_key("ep1", "1-bluesky"),
        json.dumps({"state": "posted", "post_uri": "at://did:plc:x/app.bsky.feed.post/a"}).encode(),
        content_type="application/json",
    )
    plan = world.desk.make_plan("ep1", replace=True)
    assert plan.item(1).state == "posted"
    assert plan.item(1).post_uri == "at://did:plc:x/app.bsky.feed.post/a"
    # and a redelivery records it in the plan too, without posting
    world.desk.skip("ep1", 2)
    assert world.desk.deliver("ep1", "1-bluesky", owner="m9").outcome == "already-done"
    assert world.poster.posts == []
