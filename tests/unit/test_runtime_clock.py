"""The runtime on a manual clock: hours of heartbeats and receive backoff without sleeping."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from botocore.exceptions import EndpointConnectionError

from podpipe.events import to_envelope
from podpipe.runtime import Consumer, Route
from podpipe.runtime.heartbeat import Heartbeat
from podpipe.runtime.messages import QueueConfig, ReceivedMessage
from podpipe.runtime.metrics import ListMetricsSink
from podpipe.runtime.options import RuntimeOptions
from podpipe.runtime.publisher import AsyncEventPublisher
from podpipe.runtime.worker import QueueWorker
from podpipe.topology import SQS_MAX_VISIBILITY_SECONDS
from tests.support.clock import ManualClock
from tests.unit.runtime_fakes import FakeEvents, client_error
from tests.unit.test_runtime_worker import dispatched, failed_events

QUEUE = QueueConfig(
    name="transcode",
    url="q",
    dlq_url="dlq",
    visibility_timeout=3600,
    max_receive_count=3,
    concurrency=1,
)


class VisibilityRecorder:
    """Only what a heartbeat calls: ChangeMessageVisibility, recorded with the clock's time."""

    def __init__(self, clock: ManualClock, *, stale_after: int | None = None) -> None:
        self.clock = clock
        self.changes: list[tuple[float, int]] = []
        self.stale_after = stale_after

    async def change_message_visibility(self, **kwargs: Any) -> dict[str, Any]:
        if self.stale_after is not None and len(self.changes) >= self.stale_after:
            raise client_error("ReceiptHandleIsInvalid", "ChangeMessageVisibility")
        self.changes.append((self.clock.monotonic(), kwargs["VisibilityTimeout"]))
        return {}


def received(at: float) -> ReceivedMessage:
    return ReceivedMessage(
        message_id="m-1",
        receipt_handle="h-1",
        body=json.dumps(to_envelope(dispatched())),
        receive_count=1,
        received_at=at,
        sent_at=None,
        first_received_at=None,
        message_attributes={},
    )


async def test_a_handler_running_for_hours_is_kept_invisible_up_to_the_12_hour_cap() -> None:
    clock = ManualClock(start=1000.0)
    sqs = VisibilityRecorder(clock)
    heartbeat = Heartbeat(sqs, QUEUE, received(at=1000.0), 1200.0, clock)  # type: ignore[arg-type]
    heartbeat.start()
    for _ in range(100):  # the heartbeat stops by itself; this only bounds a bug
        await asyncio.sleep(0)
    await heartbeat.stop()

    times = [t - 1000.0 for t, _ in sqs.changes]
    values = [v for _, v in sqs.changes]
    assert times == [1200.0 * n for n in range(1, 36)]  # one extension per interval
    # Near the cap the extension shrinks so the total stays under 12 h; then the beats stop.
    assert values[:-3] == [3600] * 32
    assert values[-3:] == [3570, 2370, 1170]
    assert max(t + v for t, v in zip(times, values, strict=True)) < SQS_MAX_VISIBILITY_SECONDS
    assert heartbeat.extensions == 35


async def test_a_stale_receipt_ends_the_heartbeat_at_once() -> None:
    clock = ManualClock()
    sqs = VisibilityRecorder(clock, stale_after=2)
    heartbeat = Heartbeat(sqs, QUEUE, received(at=0.0), 10.0, clock)  # type: ignore[arg-type]
    heartbeat.start()
    for _ in range(50):
        await asyncio.sleep(0)
    await heartbeat.stop()
    assert heartbeat.extensions == 2
    assert clock.waits == [10.0, 10.0, 10.0]  # no beat after the refused one


class UnreachableSqs:
    """ReceiveMessage always fails, as when the endpoint is down."""

    def __init__(self, stop: asyncio.Event, after: int) -> None:
        self.calls = 0
        self.stop, self.after = stop, after

    async def receive_message(self, **kwargs: Any) -> dict[str, Any]:
        self.calls += 1
        if self.calls >= self.after:
            self.stop.set()
        raise EndpointConnectionError(endpoint_url="http://sqs")


async def test_receive_errors_back_off_doubling_to_the_cap_then_stop_promptly() -> None:
    clock = ManualClock()
    stop = asyncio.Event()
    sqs = UnreachableSqs(stop, after=8)
    worker = QueueWorker(
        service="t",
        consumer=Consumer(
            queue="transcode",
            routes=[Route(type(dispatched()), lambda e, c: [], on_failure=failed_events)],
        ),
        queue=QUEUE,
        sqs=sqs,  # type: ignore[arg-type]
        publisher=AsyncEventPublisher(FakeEvents(), "bus"),
        options=RuntimeOptions(receive_error_backoff_max_seconds=30.0, clock=clock),
        metrics=ListMetricsSink(),
        wait_time_seconds=1,
        stopping=stop,
    )
    await asyncio.wait_for(worker.receive_loop(), timeout=10)
    assert sqs.calls == 8
    assert clock.waits == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]  # the 8th failure: stopping
