"""Notify's exactly-once rule for "Episode Completed", on an in-memory store (no S3).

Whoever finds the episode ready first creates ``completed.json`` (a conditional create);
everybody else stays silent, except the claiming message itself when it comes back before
the event was seen on the bus (it may have died before the runtime published it).
"""

from __future__ import annotations

import json
import time

from podpipe.events import EpisodeCompleted, PromptCompleted, S3Location
from podpipe.layout import EpisodeKeys, StageRecord, StageRecordStatus
from podpipe.runtime.service import MessageContext
from podpipe_notify.channels import Fanout
from podpipe_notify.completion import CompletionTracker
from podpipe_notify.handlers import NotifyHandlers
from podpipe_notify.messages import Notification
from tests.support.notify_store import MemoryNotifyStore

EPISODE = "ep1"
KEYS = EpisodeKeys(EPISODE)
PROMPTS = ("titles", "show-notes")


def ctx(message_id: str, receive_count: int = 1) -> MessageContext:
    return MessageContext(message_id, "notify", receive_count, 5)


def put_stage(store: MemoryNotifyStore, stage: str, status: StageRecordStatus = "done") -> None:
    now = time.time()
    record = StageRecord(stage=stage, status=status, started_at=now - 5, finished_at=now)
    store.put_json(KEYS.stage_record(stage), record)


def episode(store: MemoryNotifyStore, *, prompts_done: tuple[str, ...] = PROMPTS) -> None:
    """An episode whose audio and transcript exist and whose manifest lists PROMPTS."""
    store.objects[f"uploads/{EPISODE}.m4a"] = b"audio"
    store.objects[KEYS.audio] = b"mp3"
    store.put_json(KEYS.transcript_json, {"backend": "whisper", "duration_seconds": 60})
    for stage in ("transcode", "transcribe", "dispatch"):
        put_stage(store, stage)
    store.put_json(KEYS.manifest, {"prompts": [{"id": p, "model": "m"} for p in PROMPTS]})
    for prompt_id in prompts_done:
        store.objects[KEYS.prompt_output(prompt_id, "md")] = b"# out"
        store.put_json(KEYS.prompt_metadata(prompt_id), {"model": "m", "estimated_cost_usd": 0.01})
        put_stage(store, f"prompt-{prompt_id}")


def tracker(store: MemoryNotifyStore) -> CompletionTracker:
    return CompletionTracker(store, presign_expiry_seconds=60)


def test_two_workers_finding_the_episode_ready_emit_one_event() -> None:
    store = MemoryNotifyStore()
    episode(store)
    first = tracker(store).check(EPISODE, ctx("m1"))
    second = tracker(store).check(EPISODE, ctx("m2"))  # another task, another message
    assert [type(e) for e in first] == [EpisodeCompleted]
    assert second == []
    marker = store.get_json(KEYS.completed_marker)
    assert (marker["claimed_by_message"], marker["state"]) == ("m1", "claimed")
    [event] = first
    assert event.failed_prompts == []
    assert {o.name for o in event.outputs} >= {"audio.mp3", "outputs/titles.md"}


def test_an_episode_still_running_claims_nothing() -> None:
    store = MemoryNotifyStore()
    episode(store, prompts_done=("titles",))
    assert tracker(store).check(EPISODE, ctx("m1")) == []
    assert KEYS.completed_marker not in store.objects


def test_the_claiming_message_reemits_only_until_the_event_is_seen() -> None:
    store = MemoryNotifyStore()
    episode(store)
    completion = tracker(store)
    assert len(completion.check(EPISODE, ctx("m1"))) == 1
    # The same message again (the task died before publishing): emitted again...
    assert len(completion.check(EPISODE, ctx("m1", receive_count=2))) == 1
    # ...but a duplicate delivery of another message is not the claimer.
    assert completion.check(EPISODE, ctx("m2", receive_count=2)) == []
    completion.mark_received(EPISODE)  # "Episode Completed" reached notify
    assert completion.check(EPISODE, ctx("m1", receive_count=3)) == []
    assert store.get_json(KEYS.completed_marker)["state"] == "received"


class Recording:
    name = "recording"

    def __init__(self) -> None:
        self.sent: list[Notification] = []

    def send(self, notification: Notification) -> None:
        self.sent.append(notification)


def completed_event(prompt_id: str) -> PromptCompleted:
    return PromptCompleted(
        episode_id=EPISODE,
        prompt_id=prompt_id,
        model="m",
        output=S3Location(bucket="media", key=KEYS.prompt_output(prompt_id, "md")),
        metadata=S3Location(bucket="media", key=KEYS.prompt_metadata(prompt_id)),
        output_format="markdown",
        preview="out",
        input_tokens=10,
        output_tokens=5,
        latency_seconds=1.0,
        attempts=1,
        estimated_cost_usd=0.01,
    )


def test_the_last_prompt_event_decides_the_digest_once_even_when_delivered_twice() -> None:
    store = MemoryNotifyStore()
    # The record of show-notes is not written yet: the event itself says it is done.
    episode(store, prompts_done=("titles",))
    store.objects[KEYS.prompt_output("show-notes", "md")] = b"# notes"
    store.objects[KEYS.prompt_metadata("show-notes")] = json.dumps({"model": "m"}).encode()
    channel = Recording()
    handlers = NotifyHandlers(
        store=store,
        notifier=Fanout([channel]),
        completion=tracker(store),
        prompt_messages="line",
    )
    first = handlers.prompt_completed(completed_event("show-notes"), ctx("m1"))
    again = handlers.prompt_completed(completed_event("show-notes"), ctx("m9"))
    assert [type(e) for e in first] == [EpisodeCompleted]
    assert again == []
    assert [n.kind for n in channel.sent] == ["prompt-completed", "prompt-completed"]
