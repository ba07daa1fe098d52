"""Decoding dead-lettered messages and preparing replays (pure parts of podpipe.dlq)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from podpipe.dlq import DlqError, Selection, decode, replay_body
from podpipe.events import PromptRequested, S3Location, to_envelope

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def raw(body: str, *, reason: str | None = None, receives: str = "1") -> dict[str, object]:
    attributes = {}
    if reason is not None:
        attributes = {
            "podpipe-reason": {"DataType": "String", "StringValue": reason},
            "podpipe-error-type": {"DataType": "String", "StringValue": "PermanentError"},
            "podpipe-receive-count": {"DataType": "Number", "StringValue": "2"},
        }
    return {
        "MessageId": "m-1",
        "ReceiptHandle": "rh",
        "Body": body,
        "Attributes": {
            "ApproximateReceiveCount": receives,
            "SentTimestamp": str(int(NOW.timestamp() * 1000) - 3_600_000),
        },
        "MessageAttributes": attributes,
    }


def prompt_body(prompt_id: str = "pull-quotes", episode: str = "ep-7") -> str:
    event = PromptRequested(
        episode_id=episode,
        prompt_id=prompt_id,
        model="bedrock:amazon.nova-lite-v1:0",
        transcript_json=S3Location(bucket="b", key=f"episodes/{episode}/transcript.json"),
    )
    return json.dumps(to_envelope(event))


def test_a_runtime_dead_lettered_prompt_is_decoded_with_its_reason() -> None:
    message = decode("llm", raw(prompt_body(), reason="model refused"), now=NOW)

    assert (message.episode_id, message.prompt_id) == ("ep-7", "pull-quotes")
    assert message.detail_type == "Prompt Requested"
    assert message.reason == "model refused"
    assert message.receive_count == 2
    assert message.age_seconds == pytest.approx(3600)


def test_a_message_sqs_moved_after_max_receives_says_so() -> None:
    message = decode("llm", raw(prompt_body(), receives="4"), now=NOW)

    assert "maxReceiveCount" in message.reason
    assert message.receive_count == 4


def test_an_upload_event_is_decoded_to_its_episode() -> None:
    body = json.dumps(
        {
            "detail-type": "Object Created",
            "source": "aws.s3",
            "detail": {"bucket": {"name": "b"}, "object": {"key": "uploads/ep-9.m4a"}},
        }
    )
    assert decode("transcode", raw(body), now=NOW).episode_id == "ep-9"


def test_an_undecodable_body_is_still_listed() -> None:
    message = decode("notify", raw("not json"), now=NOW)

    assert message.episode_id is None
    assert message.reason.startswith("undecodable message")


def test_selection_needs_every_filter_to_match() -> None:
    message = decode("llm", raw(prompt_body("titles", "ep-1")), now=NOW)

    assert Selection(episode_id="ep-1", prompt_id="titles").matches(message)
    assert Selection(prompt_id="titles").matches(message)
    assert not Selection(episode_id="ep-1", prompt_id="chapters").matches(message)
    assert not Selection(episode_id="ep-2").matches(message)


def test_a_model_override_rewrites_the_model_and_marks_a_replay() -> None:
    message = decode("llm", raw(prompt_body()), now=NOW)

    detail = json.loads(replay_body(message, "bedrock:amazon.nova-pro-v1:0"))["detail"]

    assert detail["model"] == "bedrock:amazon.nova-pro-v1:0"
    assert detail["replay"] is True
    assert replay_body(message, None) == message.body
    with pytest.raises(DlqError, match="only applies to prompt messages"):
        replay_body(decode("notify", raw("x"), now=NOW), "m")
