"""Dead-letter queues: see what failed (decoded) and replay exactly the messages chosen.

Every queue in topology.yaml has a DLQ. A message lands there either because the runtime
dead-lettered it on a permanent error (with ``podpipe-reason`` and friends as message
attributes) or because SQS moved it after ``maxReceiveCount`` deliveries. Replaying one
message means receive → inspect → send to the source queue → delete, because SQS's own
StartMessageMoveTask moves a whole DLQ without a filter (``--all`` uses it). Replays send the
original pointer message again: the stage it addresses runs, nothing upstream does (a
replayed prompt never re-runs transcription).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from podpipe.events import (
    EventParseError,
    ObjectCreated,
    PromptCompleted,
    PromptFailed,
    PromptRequested,
    parse_envelope,
)
from podpipe.layout import InvalidEpisodeKeyError, episode_id_from_upload_key
from podpipe.settings import CoreSettings
from podpipe.topology import load_topology

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

REPLAY_VISIBILITY_SECONDS = 60
RECEIVE_BATCH = 10
_PODPIPE_ATTRIBUTE_PREFIX = "podpipe-"


class DlqError(Exception):
    """A DLQ command cannot do what was asked (unknown queue, incompatible options...)."""


@dataclass(frozen=True)
class DlqMessage:
    """One dead-lettered message, decoded for a human."""

    queue: str
    message_id: str
    receipt_handle: str
    body: str
    detail_type: str | None
    episode_id: str | None
    prompt_id: str | None
    model: str | None
    reason: str
    error_type: str | None
    receive_count: int
    """Deliveries before it was dead-lettered. Exact when the runtime dead-lettered it
    (``podpipe-receive-count``); otherwise SQS's ApproximateReceiveCount, which every
    listing of the DLQ (this one included) increases — see ``receive_count_exact``."""
    sent_at: datetime | None
    age_seconds: float | None
    attributes: dict[str, Any] = field(default_factory=dict, repr=False)
    receive_count_exact: bool = True

    def summary(self) -> dict[str, Any]:
        return {
            "queue": self.queue,
            "message_id": self.message_id,
            "detail_type": self.detail_type,
            "episode_id": self.episode_id,
            "prompt_id": self.prompt_id,
            "model": self.model,
            "reason": self.reason,
            "error_type": self.error_type,
            "receive_count": self.receive_count,
            "receive_count_exact": self.receive_count_exact,
            "sent_at": self.sent_at.isoformat() if self.sent_at else None,
            "age_seconds": None if self.age_seconds is None else round(self.age_seconds, 1),
        }


def _attribute(raw: dict[str, Any], name: str) -> str | None:
    value = (raw.get("MessageAttributes") or {}).get(name)
    return None if value is None else str(value.get("StringValue", ""))


def decode(queue: str, raw: dict[str, Any], *, now: datetime | None = None) -> DlqMessage:
    """A received DLQ message as a :class:`DlqMessage` (pure; never raises on bad bodies)."""
    now = now or datetime.now(UTC)
    body = str(raw.get("Body", ""))
    system = raw.get("Attributes") or {}
    detail_type = episode_id = prompt_id = model = None
    try:
        envelope = parse_envelope(body)
        detail_type = envelope.detail_type
        event = envelope.detail
        episode_id = event.episode_key()
        if isinstance(event, ObjectCreated):
            try:
                episode_id = episode_id_from_upload_key(event.object.key)
            except InvalidEpisodeKeyError:
                episode_id = None
        if isinstance(event, PromptRequested | PromptCompleted | PromptFailed):
            # Requests in the llm DLQ, and the notify DLQ's undelivered prompt messages.
            prompt_id, model = event.prompt_id, event.model
        decode_problem = None
    except EventParseError as exc:
        decode_problem = str(exc)
    sent_ms = system.get("SentTimestamp")
    sent_at = datetime.fromtimestamp(int(sent_ms) / 1000, UTC) if sent_ms else None
    counted = _attribute(raw, "podpipe-receive-count")
    receive_count = int(counted) if counted else int(system.get("ApproximateReceiveCount", 0))
    reason = _attribute(raw, "podpipe-reason") or (
        f"undecodable message: {decode_problem}"
        if decode_problem
        else "moved by SQS after the queue's maxReceiveCount deliveries (retryable failures)"
    )
    return DlqMessage(
        queue=queue,
        message_id=str(raw.get("MessageId", "")),
        receipt_handle=str(raw.get("ReceiptHandle", "")),
        body=body,
        detail_type=detail_type,
        episode_id=episode_id,
        prompt_id=prompt_id,
        model=model,
        reason=reason,
        error_type=_attribute(raw, "podpipe-error-type"),
        receive_count=receive_count,
        sent_at=sent_at,
        age_seconds=(now - sent_at).total_seconds() if sent_at else None,
        attributes=dict(raw.get("MessageAttributes") or {}),
        receive_count_exact=bool(counted),
    )


@dataclass(frozen=True)
class Selection:
    """Which dead-lettered messages to replay (all given filters must match)."""

    episode_id: str | None = None
    prompt_id: str | None = None

    def matches(self, message: DlqMessage) -> bool:
        if self.episode_id is not None and message.episode_id != self.episode_id:
            return False
        return self.prompt_id is None or message.prompt_id == self.prompt_id


def replay_body(message: DlqMessage, model: str | None) -> str:
    """The body to send back: unchanged, or with ``detail.model`` overridden and
    ``detail.replay`` set (so the worker runs the prompt even if an output exists)."""
    if model is None:
        return message.body
    if message.prompt_id is None:
        raise DlqError(
            f"--model only applies to prompt messages; message {message.message_id} is "
            f"{message.detail_type or 'undecodable'}"
        )
    envelope = json.loads(message.body)
    envelope["detail"] = {**envelope["detail"], "model": model, "replay": True}
    return json.dumps(envelope)


@dataclass
class ReplayReport:
    replayed: list[DlqMessage] = field(default_factory=list)
    kept: int = 0
    move_task_handle: str | None = None


class DeadLetters:
    """The DLQ operations over an injected (sync) boto3 SQS client."""

    def __init__(self, sqs: SQSClient, settings: CoreSettings) -> None:
        self._sqs = sqs
        self._settings = settings
        self._urls: dict[str, str] = {}

    # ----------------------------------------------------------------- queues

    @staticmethod
    def queues(queue: str | None = None) -> list[str]:
        known = sorted(load_topology().queues)
        if queue is None:
            return known
        if queue not in known:
            raise DlqError(f"unknown queue {queue!r}; podpipe's queues are: {', '.join(known)}")
        return [queue]

    def _url(self, name: str) -> str:
        if name not in self._urls:
            self._urls[name] = self._sqs.get_queue_url(QueueName=name)["QueueUrl"]
        return self._urls[name]

    def dlq_url(self, queue: str) -> str:
        return self._url(self._settings.dlq(queue))

    def source_url(self, queue: str) -> str:
        return self._url(self._settings.queue(queue))

    def depth(self, queue: str) -> int:
        attributes = self._sqs.get_queue_attributes(
            QueueUrl=self.dlq_url(queue),
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes.get("ApproximateNumberOfMessages", 0)) + int(
            attributes.get("ApproximateNumberOfMessagesNotVisible", 0)
        )

    # ----------------------------------------------------------------- reading

    def _receive_all(self, queue: str, limit: int) -> Iterable[dict[str, Any]]:
        """Every message currently visible (each at most once), held invisible meanwhile."""
        seen: set[str] = set()
        empty_polls = 0
        while len(seen) < limit and empty_polls < 2:
            reply = self._sqs.receive_message(
                QueueUrl=self.dlq_url(queue),
                MaxNumberOfMessages=min(RECEIVE_BATCH, limit - len(seen)),
                VisibilityTimeout=REPLAY_VISIBILITY_SECONDS,
                WaitTimeSeconds=1,
                MessageAttributeNames=["All"],
                MessageSystemAttributeNames=["ApproximateReceiveCount", "SentTimestamp"],
            )
            fresh = [m for m in reply.get("Messages", []) if m["MessageId"] not in seen]
            empty_polls = 0 if fresh else empty_polls + 1
            for raw in fresh:
                seen.add(raw["MessageId"])
                yield dict(raw)

    def _release(self, queue: str, messages: Sequence[DlqMessage]) -> None:
        """Make messages visible again now rather than when the visibility timeout ends."""
        for start in range(0, len(messages), RECEIVE_BATCH):
            batch = messages[start : start + RECEIVE_BATCH]
            self._sqs.change_message_visibility_batch(
                QueueUrl=self.dlq_url(queue),
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m.receipt_handle, "VisibilityTimeout": 0}
                    for i, m in enumerate(batch)
                ],
            )

    def list(self, queue: str, *, limit: int = 100) -> list[DlqMessage]:
        if self.depth(queue) == 0:
            return []  # skip two empty long polls per queue
        messages = [decode(queue, raw) for raw in self._receive_all(queue, limit)]
        self._release(queue, messages)
        return sorted(messages, key=lambda m: m.sent_at or datetime.min.replace(tzinfo=UTC))

    # ----------------------------------------------------------------- replaying

    def replay(
        self,
        queue: str,
        selection: Selection,
        *,
        model: str | None = None,
        limit: int = 1000,
        on_replayed: Callable[[DlqMessage], None] | None = None,
    ) -> ReplayReport:
        report = ReplayReport()
        kept: list[DlqMessage] = []
        try:
            for raw in self._receive_all(queue, limit):
                message = decode(queue, raw)
                if not selection.matches(message):
                    kept.append(message)
                    continue
                body = replay_body(message, model)
                attributes = {
                    k: v
                    for k, v in message.attributes.items()
                    if not k.startswith(_PODPIPE_ATTRIBUTE_PREFIX)
                }
                attributes["podpipe-replayed-from"] = {
                    "DataType": "String",
                    "StringValue": self._settings.dlq(queue),
                }
                # Send first, delete second: a crash in between duplicates a message (the
                # stages are idempotent) instead of losing one.
                self._sqs.send_message(
                    QueueUrl=self.source_url(queue), MessageBody=body, MessageAttributes=attributes
                )
                self._sqs.delete_message(
                    QueueUrl=self.dlq_url(queue), ReceiptHandle=message.receipt_handle
                )
                report.replayed.append(message)
                if on_replayed is not None:
                    on_replayed(message)
        finally:
            self._release(queue, kept)
            report.kept = len(kept)
        return report

    def replay_all(self, queue: str) -> ReplayReport:
        """Move the whole DLQ back with SQS's StartMessageMoveTask (no filter, no rewrite)."""
        arns = [
            self._sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
                "QueueArn"
            ]
            for url in (self.dlq_url(queue), self.source_url(queue))
        ]
        reply = self._sqs.start_message_move_task(SourceArn=arns[0], DestinationArn=arns[1])
        return ReplayReport(move_task_handle=str(reply.get("TaskHandle", "")))
