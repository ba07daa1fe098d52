"""The CloudWatch Embedded Metric Format record built per message."""

from __future__ import annotations

import io
import json

from podpipe.runtime.metrics import MessageMetrics, StreamMetricsSink, emf_record


def sample(**overrides: object) -> MessageMetrics:
    values: dict[str, object] = {
        "service": "transcode",
        "queue": "transcode",
        "outcome": "succeeded",
        "processed": True,
        "failed": False,
        "duration_ms": 1234.5678,
        "message_age_ms": 2000.0,
        "timestamp_ms": 1_700_000_000_000,
        "detail_type": "Object Created",
        "message_id": "m-1",
    }
    values.update(overrides)
    return MessageMetrics(**values)  # type: ignore[arg-type]


def test_emf_record_shape() -> None:
    record = emf_record(sample())
    assert record["_aws"] == {
        "Timestamp": 1_700_000_000_000,
        "CloudWatchMetrics": [
            {
                "Namespace": "podpipe",
                "Dimensions": [["service", "queue"]],
                "Metrics": [
                    {"Name": "Processed", "Unit": "Count"},
                    {"Name": "Failed", "Unit": "Count"},
                    {"Name": "DurationMs", "Unit": "Milliseconds"},
                    {"Name": "MessageAgeMs", "Unit": "Milliseconds"},
                ],
            }
        ],
    }
    # Every declared metric and dimension is a top-level member (EMF's rule).
    for metric in record["_aws"]["CloudWatchMetrics"][0]["Metrics"]:
        assert isinstance(record[metric["Name"]], int | float)
    assert record["service"] == "transcode"
    assert record["queue"] == "transcode"
    assert (record["Processed"], record["Failed"]) == (1, 0)
    assert record["DurationMs"] == 1234.568
    assert record["outcome"] == "succeeded"
    assert record["detail_type"] == "Object Created"


def test_failed_message_counts_as_failed_and_unknown_age_is_omitted() -> None:
    record = emf_record(
        sample(processed=False, failed=True, message_age_ms=None, outcome="retrying")
    )
    assert (record["Processed"], record["Failed"]) == (0, 1)
    assert "MessageAgeMs" not in record
    assert "MessageAgeMs" not in [
        m["Name"] for m in record["_aws"]["CloudWatchMetrics"][0]["Metrics"]
    ]


def test_stream_sink_writes_one_json_line_per_record() -> None:
    out = io.StringIO()
    sink = StreamMetricsSink(out)
    sink.emit(emf_record(sample()))
    sink.emit(emf_record(sample(message_id="m-2")))
    lines = out.getvalue().splitlines()
    assert [json.loads(line)["message_id"] for line in lines] == ["m-1", "m-2"]
