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
import json
import signal
import threading
import time
from collections.abc import Callable, Coroutine, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

import structlog
from aiobotocore.config import AioConfig
from aiobotocore.session import AioSession, get_session
from botocore.exceptions import BotoCoreError, ClientError

from podpipe.events import Event, EventParseError, Failure, parse_envelope
from podpipe.runtime.metrics import MessageMetrics, MetricsSink, StreamMetricsSink, emf_record
from podpipe.runtime.policy import (
    Plan,
    classify_failure,
    dead_letter_attributes,
    heartbeat_extension,
    heartbeat_interval,
    retry_visibility_timeout,
)
from podpipe.runtime.ports import SqsClient, error_code, is_stale_receipt
from podpipe.runtime.publisher import (
    AsyncEventPublisher,
    AsyncEventsClient,
    PublishError,
    RetryPolicy,
)
from podpipe.runtime.service import Consumer, MessageContext, Route, Service
from podpipe.settings import CoreSettings
from podpipe.topology import QueueSpec, load_topology

log = structlog.get_logger("podpipe.runtime")

MAX_RECEIVE_BATCH = 10  # SQS's limit per ReceiveMessage
_SYSTEM_ATTRIBUTES = (
    "ApproximateReceiveCount",
    "SentTimestamp",
    "ApproximateFirstReceiveTimestamp",
)

T = TypeVar("T")


class QueueResolutionError(RuntimeError):
    """A consumer's queue or DLQ does not exist (or cannot be read) at startup."""


@dataclass(frozen=True)
class RuntimeOptions:
    """Knobs of the loop itself; defaults suit production, tests shorten them."""

    retry_base_seconds: float = 5.0  # first retry after ~5 s, then 10, 20, ...
    retry_max_seconds: int = 900  # never hide a retry longer than 15 min
    heartbeat_interval_seconds: float | None = None  # default: a third of the visibility timeout
    receive_error_backoff_max_seconds: float = 30.0
    release_timeout_seconds: float = 3.0  # for visibility-0 releases during a forced shutdown
    publish_policy: RetryPolicy = field(default_factory=RetryPolicy)


# --------------------------------------------------------------------------- messages


@dataclass(frozen=True)
class QueueConfig:
    """A consumer's queue as resolved at startup."""

    name: str
    url: str
    dlq_url: str
    visibility_timeout: int
    max_receive_count: int
    concurrency: int


@dataclass(frozen=True)
class ReceivedMessage:
    message_id: str
    receipt_handle: str
    body: str
    receive_count: int
    received_at: float  # time.monotonic() when the ReceiveMessage call was sent
    sent_at: datetime | None
    first_received_at: datetime | None
    message_attributes: Mapping[str, Any]

    @classmethod
    def from_sqs(cls, raw: Mapping[str, Any], *, received_at: float) -> ReceivedMessage:
        attributes = raw.get("Attributes") or {}
        return cls(
            message_id=str(raw.get("MessageId", "")),
            receipt_handle=str(raw["ReceiptHandle"]),
            body=str(raw.get("Body", "")),
            receive_count=int(attributes.get("ApproximateReceiveCount", 1)),
            received_at=received_at,
            sent_at=_epoch_ms(attributes.get("SentTimestamp")),
            first_received_at=_epoch_ms(attributes.get("ApproximateFirstReceiveTimestamp")),
            message_attributes=raw.get("MessageAttributes") or {},
        )

    def age_ms(self, now: datetime) -> float | None:
        return None if self.sent_at is None else (now - self.sent_at).total_seconds() * 1000


def _epoch_ms(value: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(value) / 1000, tz=UTC)
    except (TypeError, ValueError):
        return None


async def run_in_thread(fn: Callable[..., T], /, *args: Any) -> T:
    """Run a blocking function in a fresh daemon thread, with the caller's contextvars.

    Like ``asyncio.to_thread`` (structlog's bound context propagates), but on a daemon thread
    rather than the loop's shared executor: handlers never queue behind each other in a
    small default pool, and a handler still running when the shutdown grace period ends does
    not keep the process alive past it (asyncio.run would wait for the executor).
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()
    context = contextvars.copy_context()

    def settle(setter: Callable[[Any], None], value: Any) -> None:
        if not future.done():
            setter(value)

    def target() -> None:
        try:
            result = context.run(fn, *args)
        except BaseException as exc:  # handed to the awaiting task, which decides
            outcome: tuple[Callable[[Any], None], Any] = (future.set_exception, exc)
        else:
            outcome = (future.set_result, result)
        with contextlib.suppress(RuntimeError):  # the loop closed: nobody is waiting any more
            loop.call_soon_threadsafe(settle, *outcome)

    threading.Thread(
        target=target, name=f"handler-{getattr(fn, '__name__', 'fn')}", daemon=True
    ).start()
    return await future


async def _first_of(*aws: Coroutine[Any, Any, Any]) -> None:
    """Wait until the first of several coroutines finishes; cancel the others."""
    tasks = [asyncio.ensure_future(a) for a in aws]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


# --------------------------------------------------------------------------- heartbeat


class Heartbeat:
    """Keeps one in-flight message invisible while its handler runs.

    Stopping waits for an extension call in flight to finish, so a late heartbeat can never
    overwrite the visibility the runtime sets when it acks or backs off.
    """

    def __init__(
        self, sqs: SqsClient, queue: QueueConfig, message: ReceivedMessage, interval: float
    ) -> None:
        self._sqs = sqs
        self._queue = queue
        self._message = message
        self._interval = interval
        self._stopped = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.extensions = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        self._stopped.set()
        if self._task is not None:
            await asyncio.shield(self._task)

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopped.wait(), timeout=self._interval)
                return
            elapsed = time.monotonic() - self._message.received_at
            extension = heartbeat_extension(self._queue.visibility_timeout, elapsed)
            if extension <= 0:
                log.warning("heartbeat stopped: 12 h visibility cap reached", elapsed_s=elapsed)
                return
            try:
                await self._sqs.change_message_visibility(
                    QueueUrl=self._queue.url,
                    ReceiptHandle=self._message.receipt_handle,
                    VisibilityTimeout=extension,
                )
                self.extensions += 1
            except ClientError as exc:
                if is_stale_receipt(exc):
                    log.warning("heartbeat stopped: receipt handle is stale", error=str(exc))
                    return
                log.warning("heartbeat extension failed; will retry", error=str(exc))
            except BotoCoreError as exc:
                log.warning("heartbeat extension failed; will retry", error=str(exc))


# --------------------------------------------------------------------------- the worker


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
                await _first_of(self._slot_freed.wait(), self._stopping.wait())
                continue
            try:
                messages = await self._receive(min(MAX_RECEIVE_BATCH, free))
            except (ClientError, BotoCoreError) as exc:
                log.error(
                    "receive failed", queue=self.queue.name, error=str(exc), code=error_code(exc)
                )
                await _first_of(asyncio.sleep(error_backoff), self._stopping.wait())
                error_backoff = min(
                    error_backoff * 2, self._options.receive_error_backoff_max_seconds
                )
                continue
            error_backoff = 1.0
            for message in messages:
                self._start(message)

    async def _receive(self, count: int) -> list[ReceivedMessage]:
        received_at = time.monotonic()
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
            log.error("message task crashed", exc_info=task.exception())

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
        started = time.monotonic()
        interval = self._options.heartbeat_interval_seconds or heartbeat_interval(
            self.queue.visibility_timeout
        )
        heartbeat = Heartbeat(self._sqs, self.queue, message, interval)
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
        try:
            envelope = parse_envelope(message.body)
        except EventParseError as exc:
            return Plan(
                "dead-lettered", "dead-letter", reason=str(exc), error_type=type(exc).__name__
            )
        event = envelope.detail
        structlog.contextvars.bind_contextvars(
            detail_type=envelope.detail_type, episode_id=event.episode_key()
        )
        route = self.consumer.route_for(event)
        if route is None:
            reason = f"no route for {envelope.detail_type!r} on queue {self.queue.name!r}"
            return Plan("dead-lettered", "dead-letter", reason=reason, error_type="NoRouteError")
        if self._stopping.is_set():
            return Plan("released", "release")
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
            log.exception("on_failure raised; no failure event published")
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
                log.error("failure events could not be published", error=str(exc))
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
            if plan.action == "delete":
                await self._delete(message)
            elif plan.action in ("backoff", "redrive", "release"):
                await self._change_visibility(message, plan.visibility_timeout)
            else:
                await self._dead_letter(message, plan)
                await self._delete(message)
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
        duration_ms = (time.monotonic() - started) * 1000
        now = datetime.now(UTC)
        fields: dict[str, Any] = {"outcome": plan.label, "duration_ms": round(duration_ms, 1)}
        if plan.reason:
            fields["reason"] = plan.reason
            fields["error_type"] = plan.error_type
        if plan.action in ("backoff",):
            fields["retry_in_s"] = plan.visibility_timeout
        if plan.events:
            fields["published"] = [e.DETAIL_TYPE for e in plan.events]
        if plan.succeeded or plan.label == "released":
            log.info("message handled", **fields)
        elif plan.label in ("retrying", "rejected"):
            log.warning("message handled", exc_info=plan.error, **fields)
        else:
            log.error("message handled", exc_info=plan.error, **fields)
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


# --------------------------------------------------------------------------- startup


async def resolve_queue(sqs: SqsClient, settings: CoreSettings, consumer: Consumer) -> QueueConfig:
    """Queue and DLQ URLs by name, plus what the live queue says about visibility and redrive.

    The live queue's attributes win over topology.yaml: its RedrivePolicy is what SQS will
    actually enforce, so "last attempt" means what SQS means.
    """
    spec: QueueSpec | None = load_topology().queues.get(consumer.queue)
    try:
        url = str((await sqs.get_queue_url(QueueName=settings.queue(consumer.queue)))["QueueUrl"])
        dlq_url = str((await sqs.get_queue_url(QueueName=settings.dlq(consumer.queue)))["QueueUrl"])
        reply = await sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["VisibilityTimeout", "RedrivePolicy"]
        )
    except (ClientError, BotoCoreError) as exc:
        raise QueueResolutionError(
            f"cannot resolve queue {settings.queue(consumer.queue)!r} or its DLQ "
            f"{settings.dlq(consumer.queue)!r}: {exc}"
        ) from exc
    attributes = reply.get("Attributes") or {}
    visibility = int(attributes.get("VisibilityTimeout", spec.visibility_timeout if spec else 30))
    redrive = json.loads(attributes["RedrivePolicy"]) if attributes.get("RedrivePolicy") else {}
    max_receive = int(redrive.get("maxReceiveCount") or (spec.max_receive_count if spec else 1))
    concurrency = consumer.concurrency or (spec.concurrency if spec else 1)
    return QueueConfig(
        name=consumer.queue,
        url=url,
        dlq_url=dlq_url,
        visibility_timeout=visibility,
        max_receive_count=max_receive,
        concurrency=concurrency,
    )


async def serve(
    service: Service,
    settings: CoreSettings,
    *,
    stop: asyncio.Event | None = None,
    sqs: SqsClient | None = None,
    events: AsyncEventsClient | None = None,
    session: AioSession | None = None,
    options: RuntimeOptions | None = None,
    metrics: MetricsSink | None = None,
    on_ready: Callable[[], None] | None = None,
) -> int:
    """Run a service's consumers until ``stop`` is set, then drain. Returns the exit code:
    0 after a clean drain, 1 if handlers were still running when the grace period ended."""
    stop = stop or asyncio.Event()
    options = options or RuntimeOptions()
    metrics = metrics or StreamMetricsSink()
    async with AsyncExitStack() as clients:
        if sqs is None or events is None:
            session = session or get_session()
            slots = sum(c.concurrency or 10 for c in service.consumers)
            config = AioConfig(max_pool_connections=max(10, 3 * slots + len(service.consumers)))
            if sqs is None:
                sqs = cast(
                    SqsClient,
                    await clients.enter_async_context(
                        session.create_client("sqs", region_name=settings.region, config=config)
                    ),
                )
            if events is None:
                events = cast(
                    AsyncEventsClient,
                    await clients.enter_async_context(
                        session.create_client("events", region_name=settings.region, config=config)
                    ),
                )
        publisher = AsyncEventPublisher(events, settings.event_bus, policy=options.publish_policy)
        queues = [await resolve_queue(sqs, settings, consumer) for consumer in service.consumers]
        workers = [
            QueueWorker(
                service=service.name,
                consumer=consumer,
                queue=queue,
                sqs=sqs,
                publisher=publisher,
                options=options,
                metrics=metrics,
                wait_time_seconds=settings.wait_time_seconds,
                stopping=stop,
            )
            for consumer, queue in zip(service.consumers, queues, strict=True)
        ]
        log.info(
            "service started",
            service=service.name,
            queues={
                q.name: {
                    "concurrency": q.concurrency,
                    "visibility_timeout": q.visibility_timeout,
                    "max_receive_count": q.max_receive_count,
                }
                for q in queues
            },
        )
        receivers = [asyncio.create_task(w.receive_loop()) for w in workers]
        if on_ready is not None:
            on_ready()
        try:
            await stop.wait()
        finally:
            stop.set()
            deadline = asyncio.get_running_loop().time() + settings.shutdown_grace_seconds
            in_flight = sum(w.in_flight for w in workers)
            log.info(
                "stopping: draining in-flight messages", service=service.name, in_flight=in_flight
            )
            await asyncio.gather(*receivers, return_exceptions=True)
            abandoned = sum([await w.drain(deadline) for w in workers])
        if abandoned:
            log.error(
                "stopped with handlers still running", service=service.name, abandoned=abandoned
            )
            return 1
        log.info("service stopped", service=service.name)
        return 0


def run_service(
    service: Service, settings: CoreSettings, *, options: RuntimeOptions | None = None
) -> int:
    """The entry point of every service's ``__main__``: serve until SIGTERM/SIGINT, drain,
    return the process exit code."""

    async def main() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()

        def on_signal(signum: int) -> None:
            if stop.is_set():
                log.warning("already stopping", signal=signal.Signals(signum).name)
                return
            log.info("signal received: stopping", signal=signal.Signals(signum).name)
            stop.set()

        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, on_signal, signum)
        try:
            return await serve(service, settings, stop=stop, options=options)
        except QueueResolutionError as exc:
            log.error("cannot start", service=service.name, error=str(exc))
            return 2

    return asyncio.run(main())


__all__ = [
    "Heartbeat",
    "Plan",
    "QueueConfig",
    "QueueResolutionError",
    "QueueWorker",
    "ReceivedMessage",
    "RuntimeOptions",
    "dead_letter_attributes",
    "heartbeat_extension",
    "heartbeat_interval",
    "retry_visibility_timeout",
    "run_in_thread",
    "run_service",
    "serve",
]
