"""The worker runtime's ack / backoff / poison / drain decisions, against in-memory SQS and
EventBridge fakes (no network, no patching)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
import structlog
from tenacity import wait_none

from podpipe.events import ClipsFailed, Event, Failure, PromptsDispatched, S3Location, to_envelope
from podpipe.runtime import Consumer, MessageContext, PermanentError, Route, Service, serve
from podpipe.runtime.errors import RejectedInputError, RetryableError
from podpipe.runtime.metrics import ListMetricsSink
from podpipe.runtime.options import RuntimeOptions
from podpipe.runtime.policy import (
    dead_letter_attributes,
    heartbeat_extension,
    retry_visibility_timeout,
)
from podpipe.runtime.publisher import PublishRetryPolicy
from podpipe.settings import CoreSettings
from tests.unit.runtime_fakes import FakeEvents, FakeSqs

SCALE = 0.01  # fake SQS: 1 s of visibility = 10 ms of wall time
VISIBILITY = 30  # -> 0.3 s of wall time


def dispatched(episode: str = "ep-1") -> PromptsDispatched:
    return PromptsDispatched(
        episode_id=episode,
        manifest=S3Location(bucket="b", key=f"episodes/{episode}/manifest.json"),
        prompt_ids=["titles"],
    )


def failed_events(event: PromptsDispatched, failure: Failure) -> list[Event]:
    return [ClipsFailed(episode_id=event.episode_id, failure=failure)]


def service_of(
    handle: Callable[[PromptsDispatched, MessageContext], Sequence[Event]],
    *,
    concurrency: int | None = None,
) -> Service:
    route = Route(PromptsDispatched, handle, on_failure=failed_events)
    return Service(
        name="testsvc",
        consumers=[Consumer(queue="transcode", routes=[route], concurrency=concurrency)],
    )


async def eventually(condition: Callable[[], bool], guard_seconds: float = 15.0) -> None:
    """Poll the fakes' state (they have no events to await); the guard only stops a hang."""
    deadline = time.monotonic() + guard_seconds
    while not condition():
        assert time.monotonic() < deadline, "condition never met"
        await asyncio.sleep(0.01)


@dataclass
class Harness:
    max_receive: int = 3
    sqs: FakeSqs = field(default_factory=lambda: FakeSqs(time_scale=SCALE))
    metrics: ListMetricsSink = field(default_factory=ListMetricsSink)
    settings: CoreSettings = field(
        default_factory=lambda: CoreSettings(
            name_prefix="t", wait_time_seconds=1, shutdown_grace_seconds=5.0
        )
    )
    options: RuntimeOptions = field(
        default_factory=lambda: RuntimeOptions(
            retry_base_seconds=2,
            retry_max_seconds=5,
            heartbeat_interval_seconds=VISIBILITY * SCALE / 3,
            publish_policy=PublishRetryPolicy(attempts=3, wait=wait_none()),
        )
    )

    def __post_init__(self) -> None:
        self.dlq_url = self.sqs.create_queue("t-transcode-dlq")
        self.url = self.sqs.create_queue(
            "t-transcode",
            visibility_timeout=VISIBILITY,
            dlq="t-transcode-dlq",
            max_receive=self.max_receive,
        )
        self.events = FakeEvents(self.sqs.ops)

    def send(self, event: Event | str) -> str:
        return self.sqs.send(self.url, event if isinstance(event, str) else to_envelope(event))

    async def run(
        self,
        service: Service,
        until: Callable[[], bool],
        *,
        stop: asyncio.Event | None = None,
    ) -> int:
        """Serve until ``until()`` holds (or serve returns by itself), then stop and drain."""
        stop = stop or asyncio.Event()
        task = asyncio.create_task(
            serve(
                service,
                self.settings,
                stop=stop,
                sqs=self.sqs,
                events=self.events,
                options=self.options,
                metrics=self.metrics,
            )
        )
        try:
            await eventually(lambda: until() or task.done())
        finally:
            stop.set()
        return await task

    def outcomes(self) -> list[str]:
        return [r["outcome"] for r in self.metrics.records]


def recorder(
    into: list[Any],
) -> Callable[[PromptsDispatched, MessageContext], Sequence[Event]]:
    def handle(event: PromptsDispatched, ctx: MessageContext) -> Sequence[Event]:
        into.append(event)
        return []

    return handle


def ok(event: PromptsDispatched, ctx: MessageContext) -> list[Event]:
    return [ClipsFailed(episode_id=event.episode_id, failure=Failure(reason="x", error_type="Y"))]


async def test_success_publishes_then_deletes() -> None:
    h = Harness()
    message_id = h.send(dispatched())
    code = await h.run(service_of(ok), lambda: bool(h.sqs.deleted))

    assert code == 0
    assert h.sqs.deleted == [message_id]
    assert h.sqs.messages(h.url) == []
    assert [e["DetailType"] for e in h.events.accepted] == ["Clips Failed"]
    assert h.events.accepted[0]["EventBusName"] == "t-events"
    ops = [op for op, _ in h.sqs.ops if op in ("publish", "delete")]
    assert ops == ["publish", "delete"]
    assert h.outcomes() == ["succeeded"]


async def test_retryable_error_backs_off_growing_and_capped_then_redrives_to_dlq() -> None:
    h = Harness(max_receive=4)
    attempts: list[int] = []

    def flaky(event: PromptsDispatched, ctx: MessageContext) -> list[Event]:
        attempts.append(ctx.receive_count)
        raise ConnectionError("upstream down")

    message_id = h.send(dispatched())
    await h.run(service_of(flaky), lambda: bool(h.sqs.messages(h.dlq_url)))

    assert attempts == [1, 2, 3, 4]
    # base 2 s doubling, capped at 5 s; the last attempt dead-letters it with the cause.
    assert [s for mid, s in h.sqs.visibility_changes if mid == message_id and s != VISIBILITY] == [
        2,
        4,
        5,
    ]
    assert h.sqs.deleted == [message_id]
    [dead] = h.sqs.messages(h.dlq_url)
    attributes = {k: v["StringValue"] for k, v in dead.attributes.items()}
    assert attributes["podpipe-reason"] == "upstream down"
    assert attributes["podpipe-error-type"] == "ConnectionError"
    assert attributes["podpipe-receive-count"] == "4"
    # on_failure ran exactly once, on the last attempt, with the error in words.
    [failure] = h.events.accepted
    assert failure["DetailType"] == "Clips Failed"
    detail = json.loads(failure["Detail"])
    assert detail["failure"] == {
        "reason": "upstream down",
        "error_type": "ConnectionError",
        "retryable": True,
        "attempts": 4,
    }
    assert h.outcomes() == ["retrying", "retrying", "retrying", "failed"]


async def test_rejected_input_tells_the_host_and_is_done_without_a_dlq_entry() -> None:
    h = Harness(max_receive=5)
    calls: list[int] = []

    def refuse(event: PromptsDispatched, ctx: MessageContext) -> list[Event]:
        calls.append(ctx.receive_count)
        raise RejectedInputError("ep-1.m4a is a text file, not audio")

    message_id = h.send(dispatched())
    await h.run(service_of(refuse), lambda: bool(h.sqs.deleted))

    assert calls == [1]
    assert h.sqs.deleted == [message_id]
    assert h.sqs.messages(h.dlq_url) == []
    [failure] = h.events.accepted
    assert failure["DetailType"] == "Clips Failed"
    assert (
        json.loads(failure["Detail"])["failure"]["reason"] == "ep-1.m4a is a text file, not audio"
    )
    assert h.outcomes() == ["rejected"]


async def test_a_retryable_error_can_still_publish_what_was_decided() -> None:
    h = Harness(max_receive=4)
    decided = dispatched("ep-decided")
    attempts: list[int] = []

    def half_done(event: PromptsDispatched, ctx: MessageContext) -> list[Event]:
        attempts.append(ctx.receive_count)
        if ctx.receive_count == 1:
            raise RetryableError("one channel is down", events=[decided])
        return []

    h.send(dispatched())
    await h.run(service_of(half_done), lambda: bool(h.sqs.deleted))

    assert attempts == [1, 2]
    assert [e["DetailType"] for e in h.events.accepted] == ["Prompts Dispatched"]
    assert json.loads(h.events.accepted[0]["Detail"])["episode_id"] == "ep-decided"
    assert h.outcomes() == ["retrying", "succeeded"]


def test_retry_visibility_grows_with_receive_count_and_is_capped() -> None:
    delays = [retry_visibility_timeout(n, base=5, cap=900) for n in range(1, 12)]
    assert delays[:5] == [5, 10, 20, 40, 80]
    assert delays == sorted(delays)
    assert max(delays) == 900
    assert retry_visibility_timeout(10_000, base=5, cap=10**9) == 43200  # SQS's own maximum


async def test_permanent_error_goes_to_dlq_with_reason_and_is_deleted_at_once() -> None:
    h = Harness(max_receive=5)
    calls: list[int] = []
    extra = dispatched("ep-extra")

    def refuse(event: PromptsDispatched, ctx: MessageContext) -> list[Event]:
        calls.append(ctx.receive_count)
        raise PermanentError("the upload is not audio", events=[extra])

    message_id = h.sqs.send(
        h.url,
        to_envelope(dispatched()),
        {"trace": {"DataType": "String", "StringValue": "t-1", "StringListValues": []}},
    )
    await h.run(service_of(refuse), lambda: bool(h.sqs.messages(h.dlq_url)) and bool(h.sqs.deleted))

    assert calls == [1]  # no retries burned
    assert h.sqs.deleted == [message_id]
    [dead] = h.sqs.messages(h.dlq_url)
    assert json.loads(dead.body)["detail"]["episode_id"] == "ep-1"
    attrs = {k: v["StringValue"] for k, v in dead.attributes.items()}
    assert attrs == {
        "podpipe-reason": "the upload is not audio",
        "podpipe-source-queue": "transcode",
        "podpipe-error-type": "PermanentError",
        "podpipe-original-message-id": message_id,
        "podpipe-receive-count": "1",
        "trace": "t-1",  # the original's own attributes travel along
    }
    assert dead.attributes["trace"] == {"DataType": "String", "StringValue": "t-1"}
    assert [e["DetailType"] for e in h.events.accepted] == ["Clips Failed", "Prompts Dispatched"]
    assert json.loads(h.events.accepted[0]["Detail"])["failure"]["retryable"] is False
    # The DLQ copy exists before the original is deleted (nothing lost in between).
    ops = [op for op, _ in h.sqs.ops if op in ("send", "delete")]
    assert ops == ["send", "delete"]
    assert h.outcomes() == ["dead-lettered"]


@pytest.mark.parametrize(
    ("body", "error_type"),
    [
        ("not json at all", "EventParseError"),
        (
            json.dumps({"detail-type": "Something Else", "source": "x", "detail": {}}),
            "UnknownEventError",
        ),
        (
            json.dumps(
                {"detail-type": "Prompts Dispatched", "source": "podpipe.llm", "detail": {}}
            ),
            "EventParseError",
        ),
    ],
)
async def test_unparseable_body_goes_to_dlq_without_running_a_handler(
    body: str, error_type: str
) -> None:
    h = Harness()
    handled: list[Any] = []
    message_id = h.send(body)
    await h.run(service_of(recorder(handled)), lambda: bool(h.sqs.deleted))

    assert handled == []
    [dead] = h.sqs.messages(h.dlq_url)
    assert dead.body == body
    assert dead.attributes["podpipe-error-type"]["StringValue"] == error_type
    assert dead.attributes["podpipe-original-message-id"]["StringValue"] == message_id
    assert dead.attributes["podpipe-reason"]["StringValue"]
    assert h.events.calls == []  # no event parsed, so no failure event to build


async def test_event_without_a_route_on_this_queue_is_dead_lettered() -> None:
    h = Harness()
    body = to_envelope(ClipsFailed(episode_id="ep-1", failure=Failure(reason="r", error_type="E")))
    h.sqs.send(h.url, body)
    await h.run(service_of(ok), lambda: bool(h.sqs.deleted))
    [dead] = h.sqs.messages(h.dlq_url)
    assert dead.attributes["podpipe-error-type"]["StringValue"] == "NoRouteError"
    assert "Clips Failed" in dead.attributes["podpipe-reason"]["StringValue"]


async def test_publish_failure_keeps_the_message_and_retries_it() -> None:
    h = Harness(max_receive=5)
    h.events.fail = lambda entry, call: "ThrottlingException" if call <= 3 else None
    runs: list[int] = []

    def handle(event: PromptsDispatched, ctx: MessageContext) -> list[Event]:
        runs.append(ctx.receive_count)
        return ok(event, ctx)

    message_id = h.send(dispatched())
    await h.run(service_of(handle), lambda: bool(h.sqs.deleted))

    # The first receive's publish failed 3 times: not deleted, backed off, handled again.
    assert runs == [1, 2]
    assert h.outcomes() == ["publish-failed", "succeeded"]
    assert (message_id, 2) in h.sqs.visibility_changes
    assert len(h.events.accepted) == 1
    assert h.sqs.deleted == [message_id]


async def test_drain_finishes_in_flight_work_and_exits_zero() -> None:
    h = Harness()
    started, release = threading.Event(), threading.Event()

    def slow(event: PromptsDispatched, ctx: MessageContext) -> list[Event]:
        started.set()
        release.wait(10)
        return ok(event, ctx)

    message_id = h.send(dispatched())
    stop = asyncio.Event()
    task = asyncio.create_task(
        serve(
            service_of(slow),
            h.settings,
            stop=stop,
            sqs=h.sqs,
            events=h.events,
            options=h.options,
            metrics=h.metrics,
        )
    )
    await eventually(started.is_set)
    stop.set()  # SIGTERM while the handler runs (heartbeats keep it invisible meanwhile)
    await asyncio.sleep(VISIBILITY * SCALE * 2)
    receives_after_stop = len(h.sqs.receive_requests)
    release.set()
    assert await task == 0
    assert h.sqs.deleted == [message_id]
    assert len(h.events.accepted) == 1
    assert len(h.sqs.receive_requests) == receives_after_stop  # stopped receiving


async def test_messages_received_as_shutdown_begins_are_released_unstarted() -> None:
    h = Harness()
    stop = asyncio.Event()
    handled: list[Any] = []
    ids = [h.send(dispatched(f"ep-{i}")) for i in range(3)]
    # SIGTERM lands while the receive call is in flight: its messages must not start.
    h.sqs.on_receive = lambda got: stop.set() if got else None
    code = await h.run(service_of(recorder(handled), concurrency=4), lambda: False, stop=stop)

    assert code == 0
    assert handled == []
    assert sorted(mid for mid, s in h.sqs.visibility_changes if s == 0) == sorted(ids)
    assert h.sqs.deleted == []
    assert len(h.sqs.messages(h.url)) == 3
    assert h.outcomes() == ["released"] * 3
    assert all(r["Failed"] == 0 and r["Processed"] == 0 for r in h.metrics.records)


async def test_handler_still_running_after_grace_is_released_and_exit_code_says_so() -> None:
    h = Harness()
    h.settings = CoreSettings(name_prefix="t", wait_time_seconds=1, shutdown_grace_seconds=0.2)
    started, release = threading.Event(), threading.Event()

    def stuck(event: PromptsDispatched, ctx: MessageContext) -> list[Event]:
        started.set()
        release.wait(10)
        return []

    message_id = h.send(dispatched())
    try:
        code = await h.run(service_of(stuck), started.is_set)
    finally:
        release.set()
    assert code == 1
    assert h.sqs.visibility_changes[-1] == (message_id, 0)
    assert h.sqs.deleted == []
    assert h.outcomes() == ["abandoned"]


async def test_heartbeat_keeps_a_long_handler_invisible_so_it_runs_once() -> None:
    h = Harness()
    runs: list[int] = []

    def long(event: PromptsDispatched, ctx: MessageContext) -> list[Event]:
        runs.append(ctx.receive_count)
        time.sleep(VISIBILITY * SCALE * 4)  # 4x the (scaled) visibility timeout
        return []

    message_id = h.send(dispatched())
    await h.run(service_of(long, concurrency=2), lambda: bool(h.sqs.deleted))
    assert runs == [1]
    assert h.sqs.deleted == [message_id]
    extensions = [s for mid, s in h.sqs.visibility_changes if mid == message_id]
    assert len(extensions) >= 3
    assert set(extensions) == {VISIBILITY}


async def test_stale_receipt_stops_the_heartbeat_without_crashing_the_worker() -> None:
    h = Harness()
    started, release = threading.Event(), threading.Event()
    handled: list[str] = []

    def handle(event: PromptsDispatched, ctx: MessageContext) -> list[Event]:
        if event.episode_id == "ep-gone":
            started.set()
            release.wait(10)
        handled.append(event.episode_id)
        return []

    gone = h.send(dispatched("ep-gone"))
    stop = asyncio.Event()
    task = asyncio.create_task(
        serve(
            service_of(handle, concurrency=1),
            h.settings,
            stop=stop,
            sqs=h.sqs,
            events=h.events,
            options=h.options,
            metrics=h.metrics,
        )
    )
    await eventually(started.is_set)
    h.sqs.remove(h.url, gone)  # e.g. an operator purged the queue mid-handler
    await asyncio.sleep(VISIBILITY * SCALE)  # a few heartbeat intervals hit the stale handle
    release.set()
    later = h.send(dispatched("ep-later"))
    await eventually(lambda: later in h.sqs.deleted)
    stop.set()
    assert await task == 0
    assert handled == ["ep-gone", "ep-later"]
    assert h.outcomes() == ["succeeded+ack-failed", "succeeded"]


async def test_never_receives_more_messages_than_free_slots() -> None:
    h = Harness()
    running = 0
    peak = 0
    lock = threading.Lock()

    def handle(event: PromptsDispatched, ctx: MessageContext) -> list[Event]:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.05)
        with lock:
            running -= 1
        return []

    for i in range(7):
        h.send(dispatched(f"ep-{i}"))
    await h.run(service_of(handle, concurrency=2), lambda: len(h.sqs.deleted) == 7)

    assert peak == 2
    # Messages held (received, not yet deleted) never exceed the two slots: none sits
    # invisible to other workers while waiting for a slot here.
    held: set[str] = set()
    most_held = 0
    for op, detail in h.sqs.ops:
        if op == "receive":
            held.update(detail)
        elif op == "delete":
            held.discard(detail)
        most_held = max(most_held, len(held))
    assert most_held == 2
    assert all(m.receive_count == 1 for m in h.sqs.messages(h.url))


async def test_handler_sees_per_message_log_context() -> None:
    h = Harness()
    seen: list[dict[str, Any]] = []

    def handle(event: PromptsDispatched, ctx: MessageContext) -> list[Event]:
        seen.append(structlog.contextvars.get_contextvars())
        return []

    message_id = h.send(dispatched("ep-ctx"))
    await h.run(service_of(handle), lambda: bool(h.sqs.deleted))
    [bound] = seen
    assert bound["message_id"] == message_id
    assert bound["episode_id"] == "ep-ctx"
    assert bound["detail_type"] == "Prompts Dispatched"
    assert bound["receive_count"] == 1
    assert bound["queue"] == "transcode"


async def test_one_emf_record_per_message_with_age_and_duration() -> None:
    h = Harness()
    h.send(dispatched())
    await h.run(service_of(ok), lambda: bool(h.sqs.deleted))
    [record] = h.metrics.records
    assert record["service"] == "testsvc"
    assert record["queue"] == "transcode"
    assert record["Processed"] == 1
    assert record["Failed"] == 0
    assert record["MessageAgeMs"] >= 0
    assert record["DurationMs"] >= 0


def test_heartbeat_extension_shrinks_at_the_12_hour_cap() -> None:
    assert heartbeat_extension(300, 10) == 300
    assert heartbeat_extension(300, 43200 - 100) == 70
    assert heartbeat_extension(300, 43200 - 10) == 0


def test_dead_letter_attributes_are_valid_sqs_attributes() -> None:
    attrs = dead_letter_attributes(
        reason="x" * 5000, source_queue="llm", error_type="E", message_id="m", receive_count=2
    )
    assert len(attrs["podpipe-reason"]["StringValue"]) == 1024
    assert attrs["podpipe-receive-count"] == {"DataType": "Number", "StringValue": "2"}
    assert all(set(v) == {"DataType", "StringValue"} for v in attrs.values())
