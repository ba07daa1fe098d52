"""A message as the runtime holds it: the consumer's queue as resolved at startup, and one
received SQS message with the system attributes the ack rules need."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


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
    received_at: float  # the clock's monotonic() when the ReceiveMessage call was sent
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
