"""Envelope parsing of real-shaped S3 events and podpipe's own events."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from podpipe.events import (
    EVENT_TYPES,
    AudioTranscoded,
    BriefPrepared,
    EventParseError,
    Failure,
    ObjectCreated,
    PromptCompleted,
    PromptFailed,
    S3Location,
    TranscribeJobStateChanged,
    UnknownEventError,
    UploadRejected,
    events_markdown,
    parse_envelope,
    put_events_entry,
    to_envelope,
)

FIXTURES = Path(__file__).parents[1] / "fixtures"
REPO = Path(__file__).parents[2]


def _audio_transcoded() -> AudioTranscoded:
    return AudioTranscoded(
        episode_id="ep42",
        source=S3Location(bucket="b", key="uploads/ep42.m4a"),
        audio=S3Location(bucket="b", key="episodes/ep42/audio.mp3"),
        duration_seconds=61.5,
        integrated_lufs=-16.1,
        true_peak_dbtp=-1.4,
        size_bytes=984_000,
        bitrate_kbps=128,
        channels=2,
        presigned_url="https://example.invalid/a.mp3?sig",
        presigned_url_expires_at=datetime(2026, 11, 27, 12, tzinfo=UTC),
    )


def test_s3_object_created_as_eventbridge_delivers_it() -> None:
    envelope = parse_envelope((FIXTURES / "s3_object_created.json").read_text())

    assert isinstance(envelope.detail, ObjectCreated)
    assert envelope.detail.object.key == "uploads/2026-11-27-ep42.m4a"
    assert envelope.detail.object.etag == "b1946ac92492d2347c6235b4d2611184"
    assert envelope.detail.object.version_id == "IYV3p45BT0ac8hjHg1houSdS1a.Mc8cE"
    assert envelope.detail.bucket.name == "podpipe-media"


@pytest.mark.parametrize(
    ("in_event", "uploaded"),
    [
        ("uploads/..%252Fx.m4a", "uploads/..%2Fx.m4a"),
        ("uploads/a%20b%2Bc.m4a", "uploads/a b+c.m4a"),
        ("uploads/ep42.m4a", "uploads/ep42.m4a"),
    ],
)
def test_the_percent_encoded_key_of_an_s3_event_is_decoded_once(
    in_event: str, uploaded: str
) -> None:
    created = ObjectCreated.model_validate({"bucket": {"name": "b"}, "object": {"key": in_event}})
    assert created.object.key == uploaded


def test_transcribe_job_state_change_uses_aws_field_names() -> None:
    body = {
        "version": "0",
        "id": "1",
        "detail-type": "Transcribe Job State Change",
        "source": "aws.transcribe",
        "account": "1",
        "time": "2026-11-27T10:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": {"TranscriptionJobName": "podpipe-ep42", "TranscriptionJobStatus": "COMPLETED"},
    }
    detail = parse_envelope(json.dumps(body)).detail
    assert isinstance(detail, TranscribeJobStateChanged)
    assert detail.transcription_job_status == "COMPLETED"


def test_own_event_round_trips_through_the_envelope() -> None:
    event = _audio_transcoded()
    parsed = parse_envelope(json.dumps(to_envelope(event)))
    assert parsed.detail == event
    assert parsed.source == "podpipe.transcode"


def test_put_events_entry_is_what_a_rule_delivers() -> None:
    event = _audio_transcoded()
    entry = put_events_entry(event, "podpipe-events")
    delivered = {
        "detail-type": entry["DetailType"],
        "source": entry["Source"],
        "detail": json.loads(entry["Detail"]),
    }
    assert parse_envelope(delivered).detail == event


def test_unknown_detail_type_is_a_clear_error() -> None:
    with pytest.raises(UnknownEventError, match="unknown detail-type 'Podcast Exploded'"):
        parse_envelope({"detail-type": "Podcast Exploded", "source": "podpipe.x", "detail": {}})


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("{not json", "not JSON"),
        ("[1, 2]", "JSON list"),
        ('{"source": "aws.s3"}', "no 'detail-type'"),
    ],
)
def test_malformed_bodies_are_parse_errors(body: str, message: str) -> None:
    with pytest.raises(EventParseError, match=message):
        parse_envelope(body)


def test_own_events_forbid_unknown_fields_but_aws_events_ignore_them() -> None:
    envelope = to_envelope(_audio_transcoded())
    envelope["detail"]["surprise"] = 1
    with pytest.raises(EventParseError, match="surprise"):
        parse_envelope(envelope)

    s3 = json.loads((FIXTURES / "s3_object_created.json").read_text())
    s3["detail"]["object"]["new-aws-field"] = "x"
    assert isinstance(parse_envelope(s3).detail, ObjectCreated)


def test_source_must_match_the_detail_type() -> None:
    envelope = to_envelope(_audio_transcoded())
    envelope["source"] = "podpipe.notify"
    with pytest.raises(EventParseError, match="source"):
        parse_envelope(envelope)


def test_every_own_event_has_episode_id_schema_version_and_past_tense_names() -> None:
    for event_type in EVENT_TYPES:
        assert event_type.SOURCE.startswith(("podpipe.", "aws."))
        if event_type.SOURCE.startswith("podpipe."):
            # Upload Rejected exists because the upload has no valid episode id: it names
            # the key instead; Brief Prepared comes before any episode: it names its date.
            identity = {UploadRejected: "source", BriefPrepared: "date"}.get(
                event_type, "episode_id"
            )
            assert {identity, "schema_version"} <= set(event_type.model_fields)
            assert event_type.model_config.get("extra") == "forbid"
            assert event_type.__doc__, f"{event_type.__name__} needs a docstring for docs/events.md"


def test_episode_id_in_an_event_is_validated() -> None:
    with pytest.raises(ValueError, match="episode_id"):
        PromptFailed(
            episode_id="../etc",
            prompt_id="titles",
            model="m",
            failure={"reason": "x", "error_type": "X"},  # type: ignore[arg-type]
            replay_command="podpipe dlq replay",
        )


def test_docs_events_md_is_current() -> None:
    committed = (REPO / "docs" / "events.md").read_text()
    assert committed == events_markdown(), (
        "docs/events.md is stale: run `podpipe events --markdown > docs/events.md`"
    )


def test_an_envelope_is_typed_by_its_event_once_narrowed() -> None:
    failed = PromptFailed(
        episode_id="ep-1",
        prompt_id="titles",
        model="m",
        failure=Failure(reason="model refused", error_type="X", retryable=False, attempts=1),
        replay_command="podpipe dlq replay --queue llm --episode ep-1",
    )
    envelope = parse_envelope(to_envelope(failed))
    assert envelope.is_a(PromptFailed)
    assert not envelope.is_a(PromptCompleted)
    assert envelope.of(PromptFailed).detail.prompt_id == "titles"  # no cast, no ignore
    with pytest.raises(TypeError, match="'Prompt Failed' event is not a PromptCompleted"):
        envelope.of(PromptCompleted)
