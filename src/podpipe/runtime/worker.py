"""THE SQS worker loop every podpipe service runs (asyncio on aiobotocore).

Per consumer (queue): long-poll receive, never more messages than free handler slots (a
received-but-unstarted message is invisible to every other worker); per message: a
visibility heartbeat task, the sync handler in a worker thread, then publish → ack.

Ack rules (the pitfalls of hand-written SQS loops this avoids):
- success: publish the returned events, THEN delete (a failed publish keeps the message);
- retryable error: ChangeMessageVisibility with capped exponential backoff on the receive
  count — never delete-and-resend to the source queue, so the count is never reset; on the
  last attempt (receive count = maxReceiveCount) the route's failure events are published,
  then the runtime sends the body to the DLQ with the error as message attributes and
  deletes it (SQS's own redrive remains the net for a worker that dies first);
- permanent error (unparseable body, unknown type, no route, PermanentError): failure
  events, then the body goes to the DLQ with the reason as message attributes, then delete —
  no retries burned on a message that cannot succeed;
- rejected input (RejectedInputError, a PermanentError): failure events, then delete — bad
  input is the host's to fix, never a DLQ entry (whose alarm means podpipe is broken).

Shutdown (SIGTERM from ECS, which kills 30 s later): stop receiving, let in-flight handlers
finish within ``shutdown_grace_seconds``, release what never started (visibility 0).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections.abc import Mapping
from typing import Any, Literal, assert_never

import structlog
from botocore.exceptions import BotoCoreError, ClientError

from podpipe.events import Envelope, Event, EventParseError, Failure, parse_envelope
from podpipe.runtime.heartbeat import Heartbeat
from podpipe.runtime.messages import QueueConfig, ReceivedMessage
from podpipe.runtime.metrics import MessageMetrics, MetricsSink, emf_record
from podpipe.runtime.options import RuntimeOptions
from podpipe.runtime.policy import (
    Plan,
    classify_failure,
    dead_letter_attributes,
    heartbeat_interval,
    retry_visibility_timeout,
)
from podpipe.runtime.ports import SqsClient, error_code
from podpipe.runtime.publisher import AsyncEventPublisher, PublishError
from podpipe.runtime.service import Consumer, MessageContext, Route
from podpipe.runtime.tasks import first_of, run_in_thread

log = structlog.get_logger("podpipe.runtime")

MAX_RECEIVE_BATCH = 10  # SQS's limit per ReceiveMessage
_SYSTEM_ATTRIBUTES = (
    "ApproximateReceiveCount",
    "SentTimestamp",
    "ApproximateFirstReceiveTimestamp",
)


class QueueWorker:
    """Receives from one queue and handles each message with the consumer's routes."""

    def __init__(
        self,
        *,
        service: str,
        consumer: Consumer,
        queue: QueueConfig,
        sqs: SqsClient,
        publisher: AsyncEventPublisher,
        options: RuntimeOptions,
        metrics: MetricsSink,
        wait_time_seconds: int,
        stopping: asyncio.Event,
    ) -> None:
        self.service = service
        self.consumer = consumer
        self.queue = queue
        self._sqs = sqs
        self._publisher = publisher
        self._options = options
        self._clock = options.clock
        self._metrics = metrics
        self._wait_time_seconds = wait_time_seconds
        self._stopping = stopping
        self._in_flight: set[asyncio.Task[None]] = set()
        self._slot_freed = asyncio.Event()

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    # ---------------------------------------------------------------- receiving

    async def receive_loop(self) -> None:
        """Receive until stopping; each message starts at once in a free slot."""
        error_backoff = 1.0
        while not self._stopping.is_set():
            free = self.queue.concurrency - len(self._in_flight)
            if free <= 0:
                self._slot_freed.clear()
                await first_of(self._slot_freed.wait(), self._stopping.wait())
                continue
            try:
                messages = await self._receive(min(MAX_RECEIVE_BATCH, free))
            except (ClientError, BotoCoreError) as exc:
                log.error(
                    "runtime.receive_failed",
                    queue=self.queue.name,
                    error=str(exc),
                    code=error_code(exc),
                )
                await self._clock.wait(self._stopping, error_backoff)
                error_backoff = min(
                    error_backoff * 2, self._options.receive_error_backoff_max_seconds
                )
                continue
            error_backoff = 1.0
            for message in messages:
                self._start(message)

    async def _receive(self, count: int) -> list[ReceivedMessage]:
        received_at = self._clock.monotonic()
        call = asyncio.ensure_future(
            self._sqs.receive_message(
                QueueUrl=self.queue.url,
                MaxNumberOfMessages=count,
                WaitTimeSeconds=self._wait_time_seconds,
                MessageSystemAttributeNames=list(_SYSTEM_ATTRIBUTES),
                MessageAttributeNames=["All"],
            )
        )
        stop = asyncio.ensure_future(self._stopping.wait())
        await asyncio.wait({call, stop}, return_when=asyncio.FIRST_COMPLETED)
        stop.cancel()
        if not call.done():
            # Abandoning a long poll on shutdown: SQS usually returns nothing to a cancelled
            # poll; anything it did claim reappears after the visibility timeout, never lost.
            call.cancel()
            with contextlib.suppress(asyncio.CancelledError, ClientError, BotoCoreError):
                await call
            return []
        reply = call.result()
        return [
            ReceivedMessage.from_sqs(raw, received_at=received_at)
            for raw in reply.get("Messages") or []
        ]

    def _start(self, message: ReceivedMessage) -> None:
        task = asyncio.create_task(self.handle(message), context=contextvars.Context())
        self._in_flight.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        self._slot_freed.set()
        if not task.cancelled() and task.exception() is not None:
            log.error("runtime.message_task_crashed", exc_info=task.exception())

    async def drain(self, deadline: float) -> int:
        """Wait for in-flight messages until ``deadline`` (loop time); returns how many were
        abandoned (their handler still ran and their message was released)."""
        loop = asyncio.get_running_loop()
        pending = set(self._in_flight)
        if pending:
            _, pending = await asyncio.wait(pending, timeout=max(0.0, deadline - loop.time()))
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=self._options.release_timeout_seconds + 1)
        return len(pending)

    # ---------------------------------------------------------------- handling

    async def handle(self, message: ReceivedMessage) -> None:
        """Handle one message end to end: decide, publish, heartbeat off, act, log, measure."""
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(
            queue=self.queue.name,
            message_id=message.message_id,
            receive_count=message.receive_count,
        )
        started = self._clock.monotonic()
        interval = self._options.heartbeat_interval_seconds or heartbeat_interval(
            self.queue.visibility_timeout
        )
        heartbeat = Heartbeat(self._sqs, self.queue, message, interval, self._clock)
        heartbeat.start()
        try:
            plan = await self._decide(message)
            plan = await self._publish(message, plan)
        except Exception as exc:  # a bug in the runtime itself: keep the message, retry later
            plan = Plan(
                "runtime-error",
                "backoff",
                visibility_timeout=self._backoff(message),
                reason=str(exc),
                error_type=type(exc).__name__,
                error=exc,
            )
        except asyncio.CancelledError:
            # The shutdown grace period ended with the handler still running: hand the message
            # to another worker now rather than after the visibility timeout.
            await heartbeat.stop()
            await self._release(message)
            self._report(message, Plan("abandoned", "release"), started)
            return
        await heartbeat.stop()
        plan = await self._act(message, plan)
        self._report(message, plan, started)

    async def _decide(self, message: ReceivedMessage) -> Plan:
        routed = self._route(message)
        if isinstance(routed, Plan):
            return routed
        envelope, route = routed
        if self._stopping.is_set():
            return Plan("released", "release")
        return await self._run_handler(message, envelope, route)

    def _route(self, message: ReceivedMessage) -> tuple[Envelope[Event], Route[Any]] | Plan:
        """The message's event and the route that handles it, or the plan for a body that
        cannot be handled here (unparseable, or no route on this queue): dead-letter."""
        try:
            envelope = parse_envelope(message.body)
        except EventParseError as exc:
            return Plan(
                "dead-lettered", "dead-letter", reason=str(exc), error_type=type(exc).__name__
            )
        structlog.contextvars.bind_contextvars(
            detail_type=envelope.detail_type, episode_id=envelope.detail.episode_key()
        )
        route = self.consumer.route_for(envelope.detail)
        if route is None:
            reason = f"no route for {envelope.detail_type!r} on queue {self.queue.name!r}"
            return Plan("dead-lettered", "dead-letter", reason=reason, error_type="NoRouteError")
        return envelope, route

    async def _run_handler(
        self, message: ReceivedMessage, envelope: Envelope[Event], route: Route[Any]
    ) -> Plan:
        """Run the route's handler in a thread; what it raised is classified by the policy."""
        event = envelope.detail
        context = MessageContext(
            message_id=message.message_id,
            queue=self.queue.name,
            receive_count=message.receive_count,
            max_receive_count=self.queue.max_receive_count,
            first_received_at=message.first_received_at,
            sent_at=message.sent_at,
            event_id=envelope.id,
        )
        try:
            events = _checked_events(await run_in_thread(route.handle, event, context))
        except Exception as exc:
            verdict = classify_failure(
                exc, attempts=message.receive_count, last_attempt=context.is_last_attempt
            )
            announced = (
                self._failure_events(route, event, verdict.failure) if verdict.failure else []
            )
            return Plan(
                verdict.outcome,
                verdict.action,
                events=[*announced, *verdict.decided],
                visibility_timeout=self._backoff(message) if verdict.action == "backoff" else 0,
                reason=verdict.reason,
                error_type=verdict.error_type,
                error=exc if verdict.keep_error else None,
            )
        return Plan("succeeded", "delete", events=events)

    def _failure_events(self, route: Route[Any], event: Event, failure: Failure) -> list[Event]:
        if route.on_failure is None:
            return []
        try:
            return _checked_events(route.on_failure(event, failure))
        except Exception:
            log.exception("runtime.on_failure_raised")
            return []

    def _backoff(self, message: ReceivedMessage) -> int:
        return retry_visibility_timeout(
            message.receive_count,
            base=self._options.retry_base_seconds,
            cap=self._options.retry_max_seconds,
        )

    async def _publish(self, message: ReceivedMessage, plan: Plan) -> Plan:
        if not plan.events:
            return plan
        try:
            await self._publisher.publish(plan.events)
        except PublishError as exc:
            if plan.outcome == "failed":
                # Last attempt: the message goes to the DLQ anyway; the failure events are
                # lost, which this error line says out loud.
                log.error("runtime.failure_events_unpublished", error=str(exc))
                return plan
            return Plan(
                "publish-failed",
                "backoff",
                visibility_timeout=self._backoff(message),
                reason=str(exc),
                error_type=type(exc).__name__,
                error=exc,
            )
        return plan

    async def _act(self, message: ReceivedMessage, plan: Plan) -> Plan:
        try:
            match plan.action:
                case "delete":
                    await self._delete(message)
                case "backoff" | "redrive" | "release":
                    await self._change_visibility(message, plan.visibility_timeout)
                case "dead-letter":
                    await self._dead_letter(message, plan)
                    await self._delete(message)
                case unknown:
                    assert_never(unknown)
        except (ClientError, BotoCoreError) as exc:
            if plan.action == "dead-letter":
                # The DLQ copy may or may not exist; the original stays so nothing is lost
                # (a duplicate in the DLQ is harmless, a lost message is not).
                with contextlib.suppress(ClientError, BotoCoreError):
                    await self._change_visibility(message, self._backoff(message))
            return Plan(
                plan.outcome,
                plan.action,
                reason=f"{plan.reason or ''} ({plan.action} failed: {exc})".strip(),
                error_type=plan.error_type or type(exc).__name__,
                error=plan.error,
                ack_failed=True,
            )
        return plan

    async def _delete(self, message: ReceivedMessage) -> None:
        await self._sqs.delete_message(
            QueueUrl=self.queue.url, ReceiptHandle=message.receipt_handle
        )

    async def _change_visibility(self, message: ReceivedMessage, seconds: int) -> None:
        await self._sqs.change_message_visibility(
            QueueUrl=self.queue.url, ReceiptHandle=message.receipt_handle, VisibilityTimeout=seconds
        )

    async def _release(self, message: ReceivedMessage) -> None:
        with contextlib.suppress(ClientError, BotoCoreError, TimeoutError):
            async with asyncio.timeout(self._options.release_timeout_seconds):
                await self._change_visibility(message, 0)

    async def _dead_letter(self, message: ReceivedMessage, plan: Plan) -> None:
        attributes: dict[str, Any] = dead_letter_attributes(
            reason=plan.reason or "",
            source_queue=self.queue.name,
            error_type=plan.error_type or "Error",
            message_id=message.message_id,
            receive_count=message.receive_count,
        )
        # Keep the original attributes when they fit in SQS's limit of 10 per message.
        if len(attributes) + len(message.message_attributes) <= 10:
            attributes = {**_sendable(message.message_attributes), **attributes}
        await self._sqs.send_message(
            QueueUrl=self.queue.dlq_url, MessageBody=message.body, MessageAttributes=attributes
        )

    def _report(self, message: ReceivedMessage, plan: Plan, started: float) -> None:
        """The one summary line and the one EMF record for a handled message."""
        duration_ms = (self._clock.monotonic() - started) * 1000
        now = self._clock.now()
        fields: dict[str, Any] = {"outcome": plan.label, "duration_ms": round(duration_ms, 1)}
        if plan.reason:
            fields["reason"] = plan.reason
            fields["error_type"] = plan.error_type
        if plan.action in ("backoff",):
            fields["retry_in_s"] = plan.visibility_timeout
        if plan.events:
            fields["published"] = [e.DETAIL_TYPE for e in plan.events]
        match _severity(plan):
            case "info":
                log.info("runtime.message_handled", **fields)
            case "warning":
                log.warning("runtime.message_handled", exc_info=plan.error, **fields)
            case "error":
                log.error("runtime.message_handled", exc_info=plan.error, **fields)
        bound = structlog.contextvars.get_contextvars()
        self._metrics.emit(
            emf_record(
                MessageMetrics(
                    service=self.service,
                    queue=self.queue.name,
                    outcome=plan.label,
                    processed=plan.succeeded,
                    failed=plan.failed,
                    duration_ms=duration_ms,
                    message_age_ms=message.age_ms(now),
                    timestamp_ms=int(now.timestamp() * 1000),
                    detail_type=bound.get("detail_type"),
                    message_id=message.message_id,
                )
            )
        )


def _severity(plan: Plan) -> Literal["info", "warning", "error"]:
    """How loud a handled message's summary line is: every outcome named, none defaulted."""
    if plan.ack_failed:
        return "error"
    match plan.outcome:
        case "succeeded" | "released":
            return "info"
        case "retrying" | "rejected":
            return "warning"
        case "failed" | "dead-lettered" | "abandoned" | "publish-failed" | "runtime-error":
            return "error"
        case unknown:
            assert_never(unknown)


def _sendable(attributes: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Received attributes as SendMessage accepts them (it rejects the list-value fields
    ReceiveMessage may include)."""
    return {
        name: {k: v for k, v in value.items() if k in ("DataType", "StringValue", "BinaryValue")}
        for name, value in attributes.items()
    }


def _checked_events(events: Any) -> list[Event]:
    """A handler's return value as a list of events (a wrong type is a bug: retryable)."""
    result = list(events or ())
    for item in result:
        if not isinstance(item, Event):
            raise TypeError(f"handler returned {type(item).__name__}, not an Event")
    return result
