"""The visibility heartbeat: keeps one in-flight message invisible while its handler runs."""

from __future__ import annotations

import asyncio

import structlog
from botocore.exceptions import BotoCoreError, ClientError

from podpipe.runtime.clock import Clock
from podpipe.runtime.messages import QueueConfig, ReceivedMessage
from podpipe.runtime.policy import heartbeat_extension
from podpipe.runtime.ports import SqsClient, is_stale_receipt

log = structlog.get_logger("podpipe.runtime")


class Heartbeat:
    """Keeps one in-flight message invisible while its handler runs.

    Stopping waits for an extension call in flight to finish, so a late heartbeat can never
    overwrite the visibility the runtime sets when it acks or backs off.
    """

    def __init__(
        self,
        sqs: SqsClient,
        queue: QueueConfig,
        message: ReceivedMessage,
        interval: float,
        clock: Clock,
    ) -> None:
        self._sqs = sqs
        self._clock = clock
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
            if await self._clock.wait(self._stopped, self._interval):
                return
            elapsed = self._clock.monotonic() - self._message.received_at
            extension = heartbeat_extension(self._queue.visibility_timeout, elapsed)
            if extension <= 0:
                log.warning("runtime.heartbeat_stopped_at_visibility_cap", elapsed_s=elapsed)
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
                    log.warning("runtime.heartbeat_stopped_stale_receipt", error=str(exc))
                    return
                log.warning("runtime.heartbeat_extension_failed", error=str(exc))
            except BotoCoreError as exc:
                log.warning("runtime.heartbeat_extension_failed", error=str(exc))
