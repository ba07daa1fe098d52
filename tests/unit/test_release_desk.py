"""ReleaseDesk over fakes: approve → publish → feed, edits, idempotency, schedules firing once,
concurrent publishes all landing in the feed, and the EventBridge Scheduler call shape."""

from __future__ import annotations

import functools
import io
import json
import operator
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import boto3
import podcastparser
import pytest
from botocore.stub import ANY, Stubber

from podpipe.events import EpisodePublished, EpisodeUnpublished, ReleaseTimeReached, parse_envelope
from podpipe.layout import EpisodeMetadata
from podpipe.release.consumer import ReleaseHandlers
from podpipe.release.model import InvalidTransitionError, ReleaseError, UnsafeTextError, feed_key
from podpipe.release.operations import ReleaseDesk
from podpipe.release.scheduling import EventBridgeScheduleTrigger, LocalScheduleIndex, run_due
from podpipe.release.shows import ShowConfigError
from podpipe.runtime.errors import PermanentError
from podpipe.runtime.service import MessageContext
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
    def __init__(self, *, local_schedule: bool = False) -> None:
        self.store = MemoryBlobStore()
        self.events = RecordingEvents()
        self.clock = Clock()
        self.metadata: dict[str, EpisodeMetadata] = {}
        self.store.put(
            f"shows/{SHOW_ID}.json",
            json.dumps(show_config(BASE)).encode(),
            content_type="application/json",
        )
        self.store.put(ARTWORK_KEY, ARTWORK, content_type="image/jpeg")
        self.index = LocalScheduleIndex(self.store)
        self.trigger = RecordingTrigger()
        self.desk = ReleaseDesk(
            self.store,
            events=self.events,
            trigger=self.index if local_schedule else self.trigger,
            metadata=lambda ep: self.metadata.get(ep, EpisodeMetadata()),
            clock=self.clock,
        )

    def add_episode(self, episode_id: str, number: int = 1) -> None:
        for key, (body, content_type) in episode_artifacts(episode_id).items():
            self.store.put(key, body, content_type=content_type)
        self.metadata[episode_id] = EpisodeMetadata.model_validate(sidecar(number))

    def feed(self) -> dict[str, object]:
        body = self.store.get(feed_key(SHOW_ID))
        assert body is not None
        return podcastparser.parse(f"{BASE}/{SHOW_ID}/feed.xml", io.BytesIO(body.body))

    def published_events(self) -> list[EpisodePublished]:
        return [e for e in self.events.events if isinstance(e, EpisodePublished)]


def test_approve_with_a_generated_title_and_publish() -> None:
    world = World()
    world.add_episode("ep1", number=7)
    draft = world.desk.draft("ep1")
    assert draft.titles[1] == "Why Our Pipeline Never Sleeps"
    assert not draft.saved
    assert draft.chapters == [(0.0, "Welcome"), (95.5, "Queues")]
    assert draft.clips is not None
    assert draft.clips.clips[0].title == "The Friday rule"

    approved = world.desk.approve("ep1", title_number=2)
    assert approved.state == "approved"
    assert approved.notes is not None
    assert approved.notes.source == "generated"
    outcome = world.desk.publish("ep1")
    assert outcome.published_now
    assert outcome.release.state == "published"

    (episode,) = world.feed()["episodes"]  # type: ignore[misc]
    assert episode["title"] == "Why Our Pipeline Never Sleeps"
    assert episode["guid"] == approved.guid
    assert episode["number"] == 7
    assert "event-driven pipelines" in episode["description_html"]
    assert episode["enclosures"][0]["file_size"] == 48_000
    public = f"public/{SHOW_ID}/episodes/ep1/"
    for name in (
        "audio.mp3",
        "transcript.vtt",
        "transcript.srt",
        "transcript.json",
        "chapters.json",
    ):
        assert world.store.get(public + name) is not None, name
    (event,) = world.published_events()
    assert event.feed_url == f"{BASE}/{SHOW_ID}/feed.xml"
    assert event.episode_url == f"{BASE}/{SHOW_ID}/episodes/ep1/audio.mp3"


def test_republishing_is_idempotent_and_edits_keep_the_guid() -> None:
    world = World()
    world.add_episode("ep1")
    world.desk.approve("ep1", title_number=1)
    first = world.desk.publish("ep1")
    feed_before = world.store.get(feed_key(SHOW_ID))
    again = world.desk.publish("ep1")
    assert not again.published_now
    assert len(world.published_events()) == 1
    assert world.store.get(feed_key(SHOW_ID)) == feed_before  # same bytes, not rewritten

    world.clock.now += timedelta(hours=1)
    edited = world.desk.approve(
        "ep1", title_text="Queues <b>not</b> sleeps", notes_markdown="# New notes\n\nEdited."
    )
    assert edited.state == "published"
    assert edited.guid == first.release.guid
    assert edited.notes is not None
    assert edited.notes.key.endswith("show-notes.v001.md")
    generated = world.store.text("episodes/ep1/outputs/show-notes.md")
    assert "event-driven" in generated  # what the model wrote is never overwritten
    (episode,) = world.feed()["episodes"]  # type: ignore[misc]
    assert episode["title"] == "Queues <b>not</b> sleeps"
    assert episode["guid"] == first.release.guid
    assert "Edited." in episode["description_html"]
    assert len(world.published_events()) == 1

    bonus = world.desk.approve("ep1", episode_type="bonus", season=3)
    assert (bonus.episode_type, bonus.season, bonus.title) == ("bonus", 3, edited.title)
    (episode,) = world.feed()["episodes"]  # type: ignore[misc]
    assert (episode["type"], episode["season"]) == ("bonus", 3)

    notes_only = world.desk.approve("ep1", notes_markdown="# Third\n\nAgain.")
    assert notes_only.title == edited.title
    assert notes_only.notes is not None
    assert notes_only.notes.key.endswith("show-notes.v002.md")


def test_refusals_are_clear() -> None:
    world = World()
    world.add_episode("ep1")
    with pytest.raises(ReleaseError, match="approve it"):
        world.desk.publish("ep1")
    with pytest.raises(UnsafeTextError, match="control characters"):
        world.desk.approve("ep1", title_text="bad\x00title")
    with pytest.raises(UnsafeTextError, match="at most 200"):
        world.desk.approve("ep1", title_text="t" * 10_000)
    with pytest.raises(UnsafeTextError, match="at most 8000"):
        world.desk.approve("ep1", title_number=1, notes_markdown="n" * 10_000)
    world.desk.approve("ep1", title_number=1)
    with pytest.raises(InvalidTransitionError):
        world.desk.unpublish("ep1")
    world.metadata["ep2"] = EpisodeMetadata(show="Another Show")
    with pytest.raises(ShowConfigError, match="Another Show"):
        world.desk.draft("ep2")


def test_unpublish_takes_the_episode_out_of_the_feed() -> None:
    world = World()
    for number, episode in enumerate(("ep1", "ep2"), 1):
        world.add_episode(episode, number)
        world.desk.approve(episode, title_number=number)
        world.desk.publish(episode)
        world.clock.now += timedelta(minutes=1)
    assert len(world.feed()["episodes"]) == 2  # type: ignore[arg-type]
    assert world.desk.unpublish("ep1").state == "unpublished"
    assert [e["guid"] for e in world.feed()["episodes"]] == [  # type: ignore[attr-defined]
        world.desk.release("ep2").guid
    ]
    assert world.store.list_keys(f"public/{SHOW_ID}/episodes/ep1/") == []
    # "Episode Unpublished" tells promote to cancel the plan now
    (event,) = [e for e in world.events.events if isinstance(e, EpisodeUnpublished)]
    assert event.episode_id == "ep1"
    assert event.show_id == SHOW_ID
    assert event.unpublished_at == world.clock.now


def test_a_scheduled_release_fires_once_however_often_it_is_triggered() -> None:
    world = World(local_schedule=True)
    index = world.index  # the local loop's trigger, over the same fake bucket
    world.add_episode("ep1")
    world.desk.approve("ep1", title_number=3)
    at = world.clock.now + timedelta(minutes=10)
    assert world.desk.publish("ep1", at=at).release.state == "scheduled"
    assert run_due(world.desk, index, world.clock.now) == []  # not yet
    assert world.store.get(feed_key(SHOW_ID)) is None

    world.clock.now = at + timedelta(seconds=1)
    with ThreadPoolExecutor(max_workers=4) as pool:  # four loops (or a duplicate delivery)
        fired = list(pool.map(lambda _: run_due(world.desk, index, world.clock.now), range(4)))
    assert sorted(functools.reduce(operator.iadd, fired, [])) == ["ep1"]
    assert len(world.published_events()) == 1
    assert world.published_events()[0].scheduled
    assert index.entries() == []
    assert world.desk.fire("ep1").published_now is False


def test_many_publishes_at_once_all_land_in_the_feed_exactly_once() -> None:
    world = World()
    episodes = [f"ep{n}" for n in range(1, 13)]
    for number, episode in enumerate(episodes, 1):
        world.add_episode(episode, number)
        world.desk.approve(episode, title_number=1)
    barrier = threading.Barrier(len(episodes))

    def go(episode: str) -> bool:
        barrier.wait()
        return world.desk.publish(episode).published_now

    with ThreadPoolExecutor(max_workers=len(episodes)) as pool:
        assert all(pool.map(go, episodes))
    guids = [e["guid"] for e in world.feed()["episodes"]]  # type: ignore[attr-defined]
    assert sorted(guids) == sorted(world.desk.release(e).guid for e in episodes)
    assert len(world.published_events()) == len(episodes)


def test_eventbridge_schedule_is_a_one_time_at_schedule_to_the_release_queue() -> None:
    client = boto3.client("scheduler", region_name="us-east-1")
    trigger = EventBridgeScheduleTrigger(
        client,
        group="podpipe-releases",
        target_arn="arn:aws:sqs:us-east-1:123456789012:podpipe-release",
        role_arn="arn:aws:iam::123456789012:role/podpipe-release-scheduler",
        name_prefix="podpipe",
    )
    at = datetime(2026, 12, 4, 6, 0, tzinfo=UTC)
    with Stubber(client) as stub:
        stub.add_client_error("delete_schedule", "ResourceNotFoundException")
        stub.add_response(
            "create_schedule",
            {"ScheduleArn": "arn:aws:scheduler:us-east-1:123456789012:schedule/x/y"},
            {
                "Name": "podpipe-release-ep1",
                "GroupName": "podpipe-releases",
                "ScheduleExpression": "at(2026-12-04T06:00:00)",
                "ScheduleExpressionTimezone": "UTC",
                "FlexibleTimeWindow": {"Mode": "OFF"},
                "ActionAfterCompletion": "DELETE",
                "Target": ANY,
            },
        )
        trigger.schedule("ep1", at)
        stub.assert_no_pending_responses()
    # What the queue receives parses as the event the consumer routes on.
    message = trigger_message(trigger, at)
    assert isinstance(parse_envelope(message).detail, ReleaseTimeReached)


def trigger_message(trigger: EventBridgeScheduleTrigger, at: datetime) -> str:
    captured: dict[str, str] = {}

    class Capture:
        def create_schedule(self, **kwargs: object) -> None:
            captured["input"] = kwargs["Target"]["Input"]  # type: ignore[index]

        def delete_schedule(self, **kwargs: object) -> None:
            return None

    EventBridgeScheduleTrigger(
        Capture(), group="g", target_arn="a", role_arn="r", name_prefix="p"
    ).schedule("ep1", at)
    return captured["input"]


def test_the_release_queue_consumer_returns_the_published_event_once() -> None:
    world = World()
    world.add_episode("ep1")
    world.desk.approve("ep1", title_number=1)
    at = world.clock.now + timedelta(minutes=5)
    world.desk.publish("ep1", at=at)
    handlers = ReleaseHandlers(
        lambda sink: ReleaseDesk(
            world.store,
            events=sink,
            trigger=world.trigger,
            metadata=lambda ep: world.metadata[ep],
            clock=world.clock,
        )
    )
    message = ReleaseTimeReached(episode_id="ep1", scheduled_for=at)
    ctx = MessageContext(message_id="m1", queue="release", receive_count=1, max_receive_count=5)
    assert handlers.release_time_reached(message, ctx) == []  # early delivery: not due yet
    world.clock.now = at
    (event,) = handlers.release_time_reached(message, ctx)
    assert isinstance(event, EpisodePublished)
    assert event.scheduled
    assert handlers.release_time_reached(message, ctx) == []  # redelivered: published once
    assert world.trigger.cancelled == ["ep1"]
    assert handlers.service().consumers[0].queue == "release"
    with pytest.raises(PermanentError, match="no release yet"):
        handlers.release_time_reached(ReleaseTimeReached(episode_id="nope", scheduled_for=at), ctx)
