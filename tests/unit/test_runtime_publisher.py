"""The EventBridge publisher: batching, retrying only failed entries, never dropping one."""

from __future__ import annotations

import json

import pytest
from tenacity import wait_none

from podpipe.events import Failure, S3Location, TranscodeFailed
from podpipe.runtime.publisher import (
    AsyncEventPublisher,
    EntryTooLargeError,
    EventPublisher,
    PublishError,
    PublishRetryPolicy,
    batch_entries,
    entry_size,
    failed_entries,
)
from tests.unit.runtime_fakes import FakeEvents, SyncFakeEvents, client_error

FAST = PublishRetryPolicy(attempts=3, wait=wait_none())


def events(n: int) -> list[TranscodeFailed]:
    return [
        TranscodeFailed(
            episode_id=f"ep-{i}",
            source=S3Location(bucket="b", key=f"uploads/ep-{i}.wav"),
            failure=Failure(reason="bad", error_type="E"),
        )
        for i in range(n)
    ]


def episode(entry: dict[str, object]) -> str:
    return str(json.loads(str(entry["Detail"]))["episode_id"])


async def test_25_events_go_out_in_batches_of_10_10_5() -> None:
    fake = FakeEvents()
    await AsyncEventPublisher(fake, "bus", policy=FAST).publish(events(25))
    assert [len(call) for call in fake.calls] == [10, 10, 5]
    assert [episode(e) for e in fake.accepted] == [f"ep-{i}" for i in range(25)]
    assert {e["EventBusName"] for e in fake.accepted} == {"bus"}


async def test_only_the_failed_entries_are_retried() -> None:
    fake = FakeEvents()
    # The first call fails entries 3 and 7 (throttled); the retry carries just those two.
    fake.fail = lambda entry, call: (
        "ThrottlingException" if call == 1 and episode(entry) in ("ep-3", "ep-7") else None
    )
    await AsyncEventPublisher(fake, "bus", policy=FAST).publish(events(10))
    assert [len(call) for call in fake.calls] == [10, 2]
    assert [episode(e) for e in fake.calls[1]] == ["ep-3", "ep-7"]
    assert sorted(episode(e) for e in fake.accepted) == sorted(f"ep-{i}" for i in range(10))


async def test_entries_still_failing_after_retries_raise_and_name_them() -> None:
    fake = FakeEvents()
    fake.fail = lambda entry, call: "InternalFailure" if episode(entry) == "ep-1" else None
    with pytest.raises(PublishError) as caught:
        await AsyncEventPublisher(fake, "bus", policy=FAST).publish(events(3))
    assert [episode(dict(f.entry)) for f in caught.value.failed] == ["ep-1"]
    assert caught.value.failed[0].error_code == "InternalFailure"
    assert len(fake.calls) == 3  # the policy's attempts, each with only the failing entry
    assert [len(c) for c in fake.calls] == [3, 1, 1]


async def test_a_whole_call_error_is_retried_then_raised() -> None:
    fake = FakeEvents()
    fake.raise_error = client_error("InternalException", "PutEvents")
    with pytest.raises(PublishError):
        await AsyncEventPublisher(fake, "bus", policy=FAST).publish(events(2))
    assert len(fake.calls) == 3


def test_sync_publisher_shares_the_batching_and_retry() -> None:
    fake = FakeEvents()
    fake.fail = lambda entry, call: (
        "ThrottlingException" if call == 2 and episode(entry) == "ep-12" else None
    )
    EventPublisher(SyncFakeEvents(fake), "bus", policy=FAST).publish(events(25))
    assert [len(call) for call in fake.calls] == [10, 10, 1, 5]
    assert len(fake.accepted) == 25


def test_batches_also_respect_the_256_kb_request_limit() -> None:
    big = {"Source": "s", "DetailType": "d", "Detail": "x" * 100_000}
    batches = batch_entries([big, big, big, big, big])
    assert [len(b) for b in batches] == [2, 2, 1]
    assert all(sum(entry_size(e) for e in b) <= 256 * 1024 for b in batches)


def test_an_entry_over_256_kb_is_an_error_not_a_silent_drop() -> None:
    with pytest.raises(EntryTooLargeError):
        batch_entries([{"Source": "s", "DetailType": "d", "Detail": "x" * 300_000}])


def test_failed_entries_are_picked_by_position() -> None:
    sent = [{"Detail": str(i)} for i in range(3)]
    reply = {
        "FailedEntryCount": 1,
        "Entries": [
            {"EventId": "a"},
            {"ErrorCode": "Throttled", "ErrorMessage": "slow"},
            {"EventId": "c"},
        ],
    }
    [failed] = failed_entries(sent, reply)
    assert failed.entry == {"Detail": "1"}
    assert failed.error_code == "Throttled"
    # A reply that does not line up cannot tell what landed: all are resent, none dropped.
    assert len(failed_entries(sent, {"FailedEntryCount": 1, "Entries": []})) == 3
