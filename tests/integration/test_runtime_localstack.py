"""The worker runtime against real SQS and EventBridge semantics (LocalStack).

No timed assertions: durations below are hang guards, never speed checks.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import boto3
import pytest
from aiobotocore.session import get_session
from tenacity import wait_none

from podpipe.events import ClipsFailed, Event, Failure, PromptsDispatched, S3Location, to_envelope
from podpipe.runtime import (
    AsyncEventPublisher,
    Consumer,
    EventPublisher,
    MessageContext,
    Route,
    RuntimeOptions,
    Service,
)
from podpipe.runtime.metrics import ListMetricsSink
from podpipe.runtime.publisher import PublishRetryPolicy
from tests.support.localstack import Stack
from tests.support.services import running_service

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
FAST_RETRIES = RuntimeOptions(
    retry_base_seconds=1, retry_max_seconds=2, publish_policy=PublishRetryPolicy(wait=wait_none())
)


def dispatched(episode: str) -> PromptsDispatched:
    return PromptsDispatched(
        episode_id=episode,
        manifest=S3Location(bucket="b", key=f"episodes/{episode}/manifest.json"),
        prompt_ids=["titles"],
    )


def send(stack: Stack, queue: str, event: Event) -> str:
    reply = stack.sqs.send_message(
        QueueUrl=stack.queue_url(queue), MessageBody=json.dumps(to_envelope(event))
    )
    return str(reply["MessageId"])


def queue_depth(stack: Stack, url: str) -> int:
    attributes = stack.sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


def wait_for(condition: Any, guard_seconds: float = 60.0) -> None:
    deadline = time.monotonic() + guard_seconds
    while not condition():
        assert time.monotonic() < deadline, "condition never met"
        time.sleep(0.1)


def clip_failures(events: Sequence[Any]) -> dict[str, dict[str, Any]]:
    return {
        e.detail.episode_id: e.detail.failure.model_dump()
        for e in events
        if isinstance(e.detail, ClipsFailed)
    }


def test_poison_message_reaches_dlq_after_exactly_max_receive_count_while_others_flow(
    stack: Stack,
) -> None:
    max_receive = int(
        json.loads(
            stack.sqs.get_queue_attributes(
                QueueUrl=stack.queue_url("transcode"), AttributeNames=["RedrivePolicy"]
            )["Attributes"]["RedrivePolicy"]
        )["maxReceiveCount"]
    )
    attempts: list[int] = []
    handled: list[str] = []
    lock = threading.Lock()

    def handle(event: PromptsDispatched, ctx: MessageContext) -> list[Event]:
        with lock:
            if event.episode_id == "ep-poison":
                attempts.append(ctx.receive_count)
                raise RuntimeError("this episode always breaks the handler")
            handled.append(event.episode_id)
        return []

    def on_failure(event: PromptsDispatched, failure: Failure) -> list[Event]:
        return [ClipsFailed(episode_id=event.episode_id, failure=failure)]

    service = Service(
        name="poison",
        consumers=[Consumer("transcode", [Route(PromptsDispatched, handle, on_failure)])],
    )
    poison_id = send(stack, "transcode", dispatched("ep-poison"))
    good = [f"ep-good-{i}" for i in range(6)]
    with running_service(service, stack.settings, options=FAST_RETRIES, metrics=ListMetricsSink()):
        for episode in good[:3]:
            send(stack, "transcode", dispatched(episode))
        wait_for(lambda: len(attempts) >= 2)
        for episode in good[3:]:  # sent while the poison message is mid-retries
            send(stack, "transcode", dispatched(episode))
        dead = stack.drain(stack.dlq_url("transcode"), expect=1)
        wait_for(lambda: len(handled) == len(good))

    assert attempts == list(range(1, max_receive + 1))
    [poisoned] = dead
    # The runtime dead-lettered it on the last attempt: the DLQ copy says why and from where.
    attributes = {k: v["StringValue"] for k, v in poisoned["MessageAttributes"].items()}
    assert attributes["podpipe-reason"] == "this episode always breaks the handler"
    assert attributes["podpipe-error-type"] == "RuntimeError"
    assert attributes["podpipe-original-message-id"] == poison_id
    assert attributes["podpipe-receive-count"] == str(max_receive)
    assert sorted(handled) == sorted(good)  # every other message handled exactly once
    assert queue_depth(stack, stack.queue_url("transcode")) == 0
    failures = clip_failures(stack.drain_events("notify", expect=1))
    assert failures["ep-poison"]["attempts"] == max_receive
    assert failures["ep-poison"]["retryable"] is True


def test_handler_running_three_visibility_timeouts_is_processed_once(stack: Stack) -> None:
    url = stack.queue_url("transcode")
    stack.sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "2"})
    runs: list[int] = []

    def slow(event: PromptsDispatched, ctx: MessageContext) -> list[Event]:
        runs.append(ctx.receive_count)
        time.sleep(6)  # 3x the queue's visibility timeout
        return []

    # Two slots: the runtime keeps polling the queue while the slow handler runs, so a lapsed
    # visibility would hand the same message to the second slot.
    service = Service(
        name="slow",
        consumers=[Consumer("transcode", [Route(PromptsDispatched, slow)], concurrency=2)],
    )
    metrics = ListMetricsSink()
    with running_service(service, stack.settings, metrics=metrics):
        send(stack, "transcode", dispatched("ep-slow"))
        wait_for(lambda: len(metrics.records) == 1)
        # Deleted (neither visible nor in flight): there is nothing left that could come back.
        wait_for(lambda: queue_depth(stack, url) == 0)

    assert runs == [1]
    assert [r["outcome"] for r in metrics.records] == ["succeeded"]
    assert queue_depth(stack, url) == 0
    assert queue_depth(stack, stack.dlq_url("transcode")) == 0


def test_sigterm_during_a_long_handler_finishes_it_and_exits_zero(stack: Stack) -> None:
    env = {
        **stack.env(),
        "SLEEPY_SECONDS": "6",
        "PYTHONPATH": str(REPO),
        "PODPIPE_LOG_JSON": "true",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.support.sleepy_service"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    started = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if "handler started" in line:
                started.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        message_id = send(stack, "transcode", dispatched("ep-sigterm"))
        assert started.wait(60), "".join(lines)
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=30)  # ECS's SIGKILL deadline, as a hang guard
    finally:
        if process.poll() is None:
            process.kill()
    reader.join(5)

    records = [json.loads(line) for line in lines if line.startswith("{")]
    summaries = [r for r in records if r.get("event") == "runtime.message_handled"]
    assert code == 0, "".join(lines)
    assert [(s["message_id"], s["outcome"]) for s in summaries] == [(message_id, "succeeded")]
    assert any(r.get("event") == "runtime.signal_received" for r in records)
    assert queue_depth(stack, stack.queue_url("transcode")) == 0  # deleted, not redelivered
    assert "ep-sigterm" in clip_failures(stack.drain_events("notify", expect=1))


async def test_published_events_reach_a_queue_subscribed_by_a_rule(stack: Stack) -> None:
    events_async = [dispatched(f"ep-async-{i}") for i in range(12)]  # two PutEvents batches
    events_sync = [dispatched(f"ep-sync-{i}") for i in range(3)]

    async with get_session().create_client("events", region_name=stack.settings.region) as client:
        await AsyncEventPublisher(client, stack.settings.event_bus).publish(events_async)
    EventPublisher(boto3.client("events"), stack.settings.event_bus).publish(events_sync)

    received = stack.drain_events("notify", expect=15)
    assert sorted(e.detail.episode_key() or "" for e in received) == sorted(
        e.episode_id for e in events_async + events_sync
    )
    assert {e.source for e in received} == {"podpipe.llm"}
    assert os.environ["AWS_ENDPOINT_URL"]  # really went through the emulator
