"""Starting a service: resolve its queues, build its clients, run one QueueWorker per
consumer until SIGTERM/SIGINT, then drain within the grace period."""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import Callable
from contextlib import AsyncExitStack
from typing import cast

import structlog
from aiobotocore.config import AioConfig
from aiobotocore.session import AioSession, get_session
from botocore.exceptions import BotoCoreError, ClientError

from podpipe.runtime.messages import QueueConfig
from podpipe.runtime.metrics import MetricsSink, StreamMetricsSink
from podpipe.runtime.options import RuntimeOptions
from podpipe.runtime.ports import SqsClient
from podpipe.runtime.publisher import AsyncEventPublisher, AsyncEventsClient
from podpipe.runtime.service import Consumer, Service
from podpipe.runtime.worker import QueueWorker
from podpipe.settings import CoreSettings
from podpipe.topology import QueueSpec, load_topology

log = structlog.get_logger("podpipe.runtime")


class QueueResolutionError(RuntimeError):
    """A consumer's queue or DLQ does not exist (or cannot be read) at startup."""


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
            "runtime.service_started",
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
            log.info("runtime.draining_in_flight", service=service.name, in_flight=in_flight)
            await asyncio.gather(*receivers, return_exceptions=True)
            abandoned = sum([await w.drain(deadline) for w in workers])
        if abandoned:
            log.error(
                "runtime.stopped_with_handlers_running", service=service.name, abandoned=abandoned
            )
            return 1
        log.info("runtime.service_stopped", service=service.name)
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
                log.warning("runtime.already_stopping", signal=signal.Signals(signum).name)
                return
            log.info("runtime.signal_received", signal=signal.Signals(signum).name)
            stop.set()

        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, on_signal, signum)
        try:
            return await serve(service, settings, stop=stop, options=options)
        except QueueResolutionError as exc:
            log.error("runtime.cannot_start", service=service.name, error=str(exc))
            return 2

    return asyncio.run(main())
