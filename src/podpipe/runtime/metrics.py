"""Per-message metrics as CloudWatch Embedded Metric Format (EMF) JSON lines.

An EMF line is an ordinary log line that CloudWatch Logs turns into metrics, so the runtime
needs no CloudWatch API calls (and no extra latency or failure mode) per message. Building
the record is a pure function; writing it is a one-line sink.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TextIO

NAMESPACE = "podpipe"
DIMENSIONS = ("service", "queue")
_UNITS = {
    "Processed": "Count",
    "Failed": "Count",
    "DurationMs": "Milliseconds",
    "MessageAgeMs": "Milliseconds",
}


@dataclass(frozen=True)
class MessageMetrics:
    """What the runtime measured about one handled message."""

    service: str
    queue: str
    outcome: str
    processed: bool  # handled successfully
    failed: bool  # handled and failed (a message released on shutdown is neither)
    duration_ms: float
    message_age_ms: float | None
    timestamp_ms: int
    detail_type: str | None = None
    message_id: str | None = None


def emf_record(metrics: MessageMetrics) -> dict[str, Any]:
    """The EMF document for one message: namespace podpipe, dimensions service + queue.

    Processed counts messages handled successfully, Failed those whose handling failed
    (retrying, dead-lettered, ...); a message released unhandled on shutdown is neither. Outcome, detail type and message
    id ride along as properties (searchable in Logs Insights, not metric dimensions, which
    would explode cardinality).
    """
    values: dict[str, float] = {
        "Processed": int(metrics.processed),
        "Failed": int(metrics.failed),
        "DurationMs": round(metrics.duration_ms, 3),
    }
    if metrics.message_age_ms is not None:
        values["MessageAgeMs"] = round(max(metrics.message_age_ms, 0.0), 3)
    record: dict[str, Any] = {
        "_aws": {
            "Timestamp": metrics.timestamp_ms,
            "CloudWatchMetrics": [
                {
                    "Namespace": NAMESPACE,
                    "Dimensions": [list(DIMENSIONS)],
                    "Metrics": [{"Name": name, "Unit": _UNITS[name]} for name in values],
                }
            ],
        },
        "service": metrics.service,
        "queue": metrics.queue,
        "outcome": metrics.outcome,
        **values,
    }
    if metrics.detail_type is not None:
        record["detail_type"] = metrics.detail_type
    if metrics.message_id is not None:
        record["message_id"] = metrics.message_id
    return record


class MetricsSink(Protocol):
    def emit(self, record: Mapping[str, Any]) -> None: ...


class StreamMetricsSink:
    """Writes one EMF JSON document per line (stdout by default, where the log driver reads)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def emit(self, record: Mapping[str, Any]) -> None:
        line = json.dumps(record, separators=(",", ":"), default=str)
        stream = self._stream or sys.stdout
        with self._lock:
            stream.write(line + "\n")
            stream.flush()


class ListMetricsSink:
    """Keeps records in memory (tests and the benchmark)."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    def emit(self, record: Mapping[str, Any]) -> None:
        self.records.append(dict(record))


def emf_count(
    metric: str, dimensions: Mapping[str, str], *, value: int = 1, timestamp_ms: int | None = None
) -> dict[str, Any]:
    """An EMF document for one count outside the per-message record (e.g. LLM throttles,
    which the alarm watches by ``service`` alone)."""
    return {
        "_aws": {
            "Timestamp": timestamp_ms if timestamp_ms is not None else int(time.time() * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": NAMESPACE,
                    "Dimensions": [list(dimensions)],
                    "Metrics": [{"Name": metric, "Unit": "Count"}],
                }
            ],
        },
        **dimensions,
        metric: value,
    }
