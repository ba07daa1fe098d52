# ruff: noqa: N803  (keyword names are the AWS API's)
"""In-memory fakes of the SQS and EventBridge calls the runtime makes.

They implement the same keyword API as aiobotocore's clients (the runtime's ports), keep
state a test can assert on, and behave like SQS where it matters to the runtime: receipt
handles change per receive, visibility timeouts hide messages, ApproximateReceiveCount
grows, and a RedrivePolicy moves a message to its DLQ when a receive would exceed
maxReceiveCount. Visibility timeouts are scaled (``time_scale``) so a "5 s" backoff takes
50 ms of wall time while the runtime still sees and sets the real numbers.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError


def client_error(code: str, operation: str, message: str = "") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message or code}}, operation)


@dataclass
class FakeMessage:
    message_id: str
    body: str
    attributes: dict[str, Any]
    sent_ms: int
    receive_count: int = 0
    first_receive_ms: int | None = None
    visible_at: float = 0.0
    receipt_handle: str | None = None


@dataclass
class FakeQueue:
    name: str
    url: str
    visibility_timeout: int = 30
    redrive: dict[str, Any] | None = None
    messages: list[FakeMessage] = field(default_factory=list)


class FakeSqs:
    def __init__(self, *, time_scale: float = 0.01) -> None:
        self.time_scale = time_scale
        self.queues: dict[str, FakeQueue] = {}
        self.ops: list[tuple[str, Any]] = []  # (operation, detail), in call order
        self.visibility_changes: list[tuple[str, int]] = []  # (message id, seconds)
        self.receive_requests: list[int] = []  # MaxNumberOfMessages of each receive
        self.deleted: list[str] = []  # message ids
        self.on_receive: Callable[[list[dict[str, Any]]], None] | None = None
        self._handles = itertools.count(1)

    # ------------------------------------------------------------ test helpers

    def create_queue(
        self,
        name: str,
        *,
        visibility_timeout: int = 30,
        dlq: str | None = None,
        max_receive: int = 3,
    ) -> str:
        url = f"https://sqs.fake/000000000000/{name}"
        redrive = (
            {
                "deadLetterTargetArn": f"arn:aws:sqs:us-east-1:000000000000:{dlq}",
                "maxReceiveCount": max_receive,
            }
            if dlq
            else None
        )
        self.queues[url] = FakeQueue(name, url, visibility_timeout, redrive)
        return url

    def send(
        self, url: str, body: str | Mapping[str, Any], attributes: dict[str, Any] | None = None
    ) -> str:
        text = body if isinstance(body, str) else json.dumps(body)
        message = FakeMessage(str(uuid.uuid4()), text, attributes or {}, int(time.time() * 1000))
        self.queues[url].messages.append(message)
        return message.message_id

    def messages(self, url: str) -> list[FakeMessage]:
        return list(self.queues[url].messages)

    def url_of(self, name: str) -> str:
        return next(q.url for q in self.queues.values() if q.name == name)

    def remove(self, url: str, message_id: str) -> None:
        """Take a message away behind the runtime's back (its receipt handle goes stale)."""
        queue = self.queues[url]
        queue.messages = [m for m in queue.messages if m.message_id != message_id]

    def _queue(self, url: str, operation: str) -> FakeQueue:
        if url not in self.queues:
            raise client_error("AWS.SimpleQueueService.NonExistentQueue", operation)
        return self.queues[url]

    def _by_handle(self, url: str, handle: str, operation: str) -> FakeMessage:
        for message in self._queue(url, operation).messages:
            if message.receipt_handle == handle:
                return message
        raise client_error("ReceiptHandleIsInvalid", operation, f"handle {handle} is invalid")

    # ------------------------------------------------------------ the SQS API

    async def get_queue_url(self, *, QueueName: str) -> dict[str, Any]:
        for queue in self.queues.values():
            if queue.name == QueueName:
                return {"QueueUrl": queue.url}
        raise client_error("AWS.SimpleQueueService.NonExistentQueue", "GetQueueUrl")

    async def get_queue_attributes(
        self,
        *,
        QueueUrl: str,
        AttributeNames: Sequence[str],
    ) -> dict[str, Any]:
        queue = self._queue(QueueUrl, "GetQueueAttributes")
        attributes = {"VisibilityTimeout": str(queue.visibility_timeout)}
        if queue.redrive:
            attributes["RedrivePolicy"] = json.dumps(queue.redrive)
        return {"Attributes": attributes}

    async def receive_message(
        self,
        *,
        QueueUrl: str,
        MaxNumberOfMessages: int,
        WaitTimeSeconds: int,
        MessageSystemAttributeNames: Sequence[str],
        MessageAttributeNames: Sequence[str],
    ) -> dict[str, Any]:
        assert 1 <= MaxNumberOfMessages <= 10
        self.receive_requests.append(MaxNumberOfMessages)
        deadline = time.monotonic() + max(WaitTimeSeconds * self.time_scale, 0.01)
        while True:
            got = self._take(QueueUrl, MaxNumberOfMessages)
            if got or time.monotonic() >= deadline:
                break
            await asyncio.sleep(0.005)
        self.ops.append(("receive", [m["MessageId"] for m in got]))
        if self.on_receive is not None:
            self.on_receive(got)
        return {"Messages": got} if got else {}

    def _take(self, url: str, limit: int) -> list[dict[str, Any]]:
        queue = self._queue(url, "ReceiveMessage")
        now = time.monotonic()
        got: list[dict[str, Any]] = []
        for message in list(queue.messages):
            if len(got) >= limit:
                break
            if message.visible_at > now:
                continue
            if queue.redrive and message.receive_count >= int(queue.redrive["maxReceiveCount"]):
                # What SQS does: the receive that would exceed maxReceiveCount moves it instead.
                queue.messages.remove(message)
                dlq_name = str(queue.redrive["deadLetterTargetArn"]).rsplit(":", 1)[1]
                message.visible_at = 0.0
                message.receipt_handle = None
                self.queues[self.url_of(dlq_name)].messages.append(message)
                continue
            message.receive_count += 1
            now_ms = int(time.time() * 1000)
            message.first_receive_ms = message.first_receive_ms or now_ms
            message.visible_at = now + queue.visibility_timeout * self.time_scale
            message.receipt_handle = f"rh-{next(self._handles)}"
            got.append(
                {
                    "MessageId": message.message_id,
                    "ReceiptHandle": message.receipt_handle,
                    "Body": message.body,
                    "Attributes": {
                        "ApproximateReceiveCount": str(message.receive_count),
                        "SentTimestamp": str(message.sent_ms),
                        "ApproximateFirstReceiveTimestamp": str(message.first_receive_ms),
                    },
                    **({"MessageAttributes": message.attributes} if message.attributes else {}),
                }
            )
        return got

    async def delete_message(self, *, QueueUrl: str, ReceiptHandle: str) -> dict[str, Any]:
        message = self._by_handle(QueueUrl, ReceiptHandle, "DeleteMessage")
        self.queues[QueueUrl].messages.remove(message)
        self.deleted.append(message.message_id)
        self.ops.append(("delete", message.message_id))
        return {}

    async def change_message_visibility(
        self,
        *,
        QueueUrl: str,
        ReceiptHandle: str,
        VisibilityTimeout: int,
    ) -> dict[str, Any]:
        message = self._by_handle(QueueUrl, ReceiptHandle, "ChangeMessageVisibility")
        if message.visible_at <= time.monotonic():
            raise client_error("InvalidParameterValue", "ChangeMessageVisibility", "not in flight")
        assert 0 <= VisibilityTimeout <= 43200
        message.visible_at = time.monotonic() + VisibilityTimeout * self.time_scale
        self.visibility_changes.append((message.message_id, VisibilityTimeout))
        self.ops.append(("visibility", (message.message_id, VisibilityTimeout)))
        return {}

    async def send_message(
        self,
        *,
        QueueUrl: str,
        MessageBody: str,
        MessageAttributes: Mapping[str, Any],
    ) -> dict[str, Any]:
        assert len(MessageAttributes) <= 10
        queue = self._queue(QueueUrl, "SendMessage")
        message = FakeMessage(
            str(uuid.uuid4()), MessageBody, dict(MessageAttributes), int(time.time() * 1000)
        )
        queue.messages.append(message)
        self.ops.append(("send", (queue.name, message.message_id)))
        return {"MessageId": message.message_id}


class FakeEvents:
    """EventBridge PutEvents: records accepted entries; ``fail`` decides per-entry errors."""

    def __init__(self, sqs_ops: list[tuple[str, Any]] | None = None) -> None:
        self.calls: list[list[dict[str, Any]]] = []
        self.accepted: list[dict[str, Any]] = []
        self.fail: Callable[[dict[str, Any], int], str | None] = lambda entry, call: None
        self.raise_error: ClientError | None = None
        self._ops = sqs_ops  # share the SQS fake's op log to assert publish-before-delete

    async def put_events(self, *, Entries: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        return self.put_events_sync(Entries=Entries)

    def put_events_sync(self, *, Entries: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        assert 1 <= len(Entries) <= 10
        entries = [dict(e) for e in Entries]
        self.calls.append(entries)
        if self.raise_error is not None:
            raise self.raise_error
        results: list[dict[str, Any]] = []
        for entry in entries:
            code = self.fail(entry, len(self.calls))
            if code:
                results.append({"ErrorCode": code, "ErrorMessage": f"{code} (fake)"})
            else:
                self.accepted.append(entry)
                results.append({"EventId": str(uuid.uuid4())})
                if self._ops is not None:
                    self._ops.append(("publish", entry["DetailType"]))
        return {"FailedEntryCount": sum(1 for r in results if "ErrorCode" in r), "Entries": results}


class SyncFakeEvents:
    """The same fake behind boto3's synchronous call shape."""

    def __init__(self, inner: FakeEvents) -> None:
        self.inner = inner

    def put_events(self, *, Entries: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        return self.inner.put_events_sync(Entries=Entries)
