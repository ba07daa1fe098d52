"""The pure episode-status core: per-stage states, overall state, and when the digest is due."""

from __future__ import annotations

from typing import Any

import pytest

from podpipe.episodes import (
    DlqEntry,
    ManifestError,
    episode_status,
    parse_manifest,
    ready_for_digest,
    with_event_overlay,
)
from podpipe.layout import EpisodeKeys, StageRecord

EP = "2026-11-27-ep42"
KEYS = EpisodeKeys(EP)
MANIFEST = {"prompts": [{"id": "titles", "model": "m"}, {"id": "show-notes", "model": "m"}]}


def rec(
    stage: str, status: str, start: float = 100.0, end: float | None = 110.0, **kw: Any
) -> StageRecord:
    return StageRecord(
        stage=stage,
        status=status,
        started_at=start,
        finished_at=None if status == "running" else end,
        **kw,
    )


def done_records(*prompts: str) -> dict[str, StageRecord]:
    records = {
        "transcode": rec("transcode", "done", 100, 130),
        "transcribe": rec("transcribe", "done", 100, 200),
        "dispatch": rec("dispatch", "done", 200, 201),
    }
    for i, p in enumerate(prompts):
        records[f"prompt-{p}"] = rec(f"prompt-{p}", "done", 201 + i, 230 + i)
    return records


def test_nothing_known_is_pending_and_not_existing() -> None:
    status = episode_status(EP, records={}, manifest=None, existing_keys=[])
    assert status.state == "pending"
    assert not status.exists
    assert [s.state for s in status.stages] == ["pending", "pending", "pending"]


def test_all_prompts_done_is_completed_with_timings() -> None:
    status = episode_status(
        EP, records=done_records("titles", "show-notes"), manifest=MANIFEST, existing_keys=[]
    )
    assert status.state == "completed"
    assert status.stage("transcode") is not None
    assert status.stage("transcode").seconds == 30  # type: ignore[union-attr]
    assert [s.prompt_id for s in status.prompt_stages] == ["titles", "show-notes"]
    assert status.wall_seconds == 231 - 100
    assert ready_for_digest(status)


def test_prompt_still_running_keeps_episode_running() -> None:
    records = done_records("titles")
    records["prompt-show-notes"] = rec("prompt-show-notes", "running", 205)
    status = episode_status(EP, records=records, manifest=MANIFEST, existing_keys=[])
    assert status.state == "running"
    assert status.stage("prompt-show-notes").state == "running"  # type: ignore[union-attr]
    assert not ready_for_digest(status)


def test_prompt_without_record_is_pending_until_its_output_exists() -> None:
    records = done_records("titles")
    pending = episode_status(EP, records=records, manifest=MANIFEST, existing_keys=[])
    assert pending.stage("prompt-show-notes").state == "pending"  # type: ignore[union-attr]
    done = episode_status(
        EP,
        records=records,
        manifest=MANIFEST,
        existing_keys=[KEYS.prompt_metadata("show-notes")],
    )
    assert done.state == "completed"


def test_failed_prompt_fails_the_episode_but_the_digest_is_due() -> None:
    records = done_records("titles")
    records["prompt-show-notes"] = rec("prompt-show-notes", "failed", reason="model refused")
    status = episode_status(EP, records=records, manifest=MANIFEST, existing_keys=[])
    assert status.state == "failed"
    assert ready_for_digest(status)
    assert [s.stage for s in status.failed_stages] == ["prompt-show-notes"]


def test_prompt_in_the_llm_dlq_shows_in_dlq_with_reason() -> None:
    records = done_records("titles")
    dlq = [DlqEntry(queue="llm", episode_id=EP, prompt_id="show-notes", reason="throttled")]
    status = episode_status(
        EP, records=records, manifest=MANIFEST, existing_keys=[], dlq_entries=dlq
    )
    stage = status.stage("prompt-show-notes")
    assert stage is not None
    assert (stage.state, stage.reason) == ("in DLQ", "throttled")
    assert status.state == "failed"


def test_dlq_entries_of_other_episodes_are_ignored() -> None:
    dlq = [DlqEntry(queue="transcode", episode_id="other-episode")]
    status = episode_status(EP, records={}, manifest=None, existing_keys=[], dlq_entries=dlq)
    assert status.stage("transcode").state == "pending"  # type: ignore[union-attr]


def test_replayed_prompt_that_succeeded_is_done_even_if_record_said_failed() -> None:
    records = done_records("titles")
    records["prompt-show-notes"] = rec("prompt-show-notes", "failed")
    status = episode_status(
        EP,
        records=records,
        manifest=MANIFEST,
        existing_keys=[KEYS.prompt_metadata("show-notes")],
        dlq_entries=[DlqEntry(queue="llm", episode_id=EP, prompt_id="show-notes")],
    )
    assert status.state == "completed"


def test_failed_transcode_fails_the_episode_at_once_and_blocks_the_digest() -> None:
    records = {
        "transcode": rec("transcode", "failed", reason="not audio"),
        "transcribe": rec("transcribe", "running"),
    }
    status = episode_status(EP, records=records, manifest=None, existing_keys=[])
    assert status.state == "failed"
    assert not ready_for_digest(status)


def test_failed_transcription_fails_the_episode() -> None:
    records = {
        "transcode": rec("transcode", "done"),
        "transcribe": rec("transcribe", "failed"),
    }
    status = episode_status(EP, records=records, manifest=None, existing_keys=[])
    assert status.state == "failed"


def test_transcode_pending_blocks_the_digest_even_if_prompts_are_done() -> None:
    records = done_records("titles", "show-notes")
    del records["transcode"]
    status = episode_status(EP, records=records, manifest=MANIFEST, existing_keys=[])
    assert status.state == "running"
    assert not ready_for_digest(status)


def test_no_manifest_yet_means_not_complete() -> None:
    records = done_records()
    del records["dispatch"]
    status = episode_status(EP, records=records, manifest=None, existing_keys=[])
    assert status.state == "running"
    assert not ready_for_digest(status)


def test_empty_manifest_completes_when_audio_and_transcript_are_done() -> None:
    status = episode_status(EP, records=done_records(), manifest={"prompts": []}, existing_keys=[])
    assert status.state == "completed"


def test_artifacts_count_when_records_are_missing() -> None:
    keys = [KEYS.audio, KEYS.transcript_json, KEYS.manifest, KEYS.prompt_metadata("titles")]
    status = episode_status(EP, records={}, manifest={"prompts": ["titles"]}, existing_keys=keys)
    assert status.state == "completed"


def test_completed_marker_is_reported() -> None:
    status = episode_status(EP, records={}, manifest=None, existing_keys=[KEYS.completed_marker])
    assert status.completed_marker


def test_as_dict_is_json_ready() -> None:
    status = episode_status(
        EP, records=done_records("titles"), manifest={"prompts": ["titles"]}, existing_keys=[]
    )
    data = status.as_dict()
    assert data["state"] == "completed"
    assert data["prompts"] == ["titles"]
    assert data["stages"][0] == {
        "stage": "transcode",
        "state": "done",
        "started_at": 100,
        "finished_at": 130,
        "seconds": 30,
        "attempts": 1,
        "reason": None,
        "made_without": [],
        "waiting_for": [],
    }


@pytest.mark.parametrize(
    ("raw", "ids"),
    [
        ({"prompts": [{"id": "a", "model": "x"}]}, ["a"]),
        ({"prompts": [{"prompt_id": "b"}]}, ["b"]),
        ({"prompts": ["c", "d"]}, ["c", "d"]),
    ],
)
def test_manifest_shapes(raw: Any, ids: list[str]) -> None:
    assert [p.prompt_id for p in parse_manifest(raw)] == ids


@pytest.mark.parametrize(
    "raw", [[], {"prompts": "x"}, {"prompts": [{"model": "m"}]}, {"prompts": [3]}]
)
def test_bad_manifest_is_an_error_and_a_note_in_status(raw: Any) -> None:
    with pytest.raises(ManifestError):
        parse_manifest(raw)
    status = episode_status(EP, records=done_records(), manifest=raw, existing_keys=[])
    assert status.notes
    assert status.state == "running"


def test_event_overlay_never_undoes_done() -> None:
    records = {"prompt-a": rec("prompt-a", "done")}
    merged = with_event_overlay(records, "prompt-a", rec("prompt-a", "failed"))
    assert merged["prompt-a"].status == "done"
    merged = with_event_overlay({}, "prompt-a", rec("prompt-a", "failed"))
    assert merged["prompt-a"].status == "failed"


def test_status_says_what_the_team_was_not_told() -> None:
    undelivered = [
        {
            "notification": "audio-ready-0123",
            "channel": "slack",
            "reason": "slack: webhook request failed: ConnectError",
        }
    ]
    dead = [DlqEntry("notify", EP, "titles", "notification not delivered: slack: HTTP 500")]
    status = episode_status(
        EP,
        records=done_records("titles", "show-notes"),
        manifest=MANIFEST,
        existing_keys=[],
        dlq_entries=dead,
        undelivered=undelivered,
    )
    assert status.state == "completed"
    assert status.stage("prompt-titles").state == "done"  # type: ignore[union-attr]
    assert status.notes == (
        "notification audio-ready-0123 not delivered to slack: "
        "slack: webhook request failed: ConnectError",
        "a notification (prompt titles) is in the notify DLQ: "
        "notification not delivered: slack: HTTP 500",
        "every stage is done, but 'Episode completed' has not been announced yet",
    )
    announced = episode_status(
        EP,
        records=done_records("titles", "show-notes"),
        manifest=MANIFEST,
        existing_keys=[KEYS.completed_marker],
    )
    assert announced.notes == ()


def test_an_output_made_without_its_dependency_is_never_plain_done() -> None:
    records = done_records("titles", "show-notes")
    records["prompt-show-notes"] = rec(
        "prompt-show-notes", "done", details={"missing_dependencies": ["titles"]}
    )
    status = episode_status(EP, records=records, manifest=MANIFEST, existing_keys=[])
    notes = status.stage("prompt-show-notes")
    assert notes is not None
    assert notes.state == "done"  # it ended: the digest is not held back
    assert notes.label == "done (without titles)"
    assert notes.as_dict()["made_without"] == ["titles"]
    parked = episode_status(
        EP,
        records={
            **done_records("titles"),
            "prompt-show-notes": rec(
                "prompt-show-notes", "running", details={"waiting_for": ["titles"]}
            ),
        },
        manifest=MANIFEST,
        existing_keys=[],
    )
    assert parked.stage("prompt-show-notes").label == "running (waiting for titles)"  # type: ignore[union-attr]
    assert parked.state == "running"
