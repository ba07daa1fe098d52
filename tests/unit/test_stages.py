"""The stage ledger's one way of ending a stage in failure, and the prompt stage names."""

from __future__ import annotations

from podpipe.events import ClipsFailed, Failure
from podpipe.stages import (
    fail_stage,
    prompt_id_of,
    prompt_stage,
    record_failure,
    replay_command,
)
from tests.support.stage_ledger import MemoryStageLedger

FAILURE = Failure(reason="ffmpeg crashed", error_type="PermanentError", attempts=3)


def test_the_failed_record_comes_first_then_the_failed_event() -> None:
    ledger = MemoryStageLedger()
    announced = ClipsFailed(episode_id="ep1", failure=FAILURE)
    assert fail_stage(ledger, "ep1", "clips", FAILURE, announced) == [announced]
    record = ledger.records[("ep1", "clips")]
    assert (record.status, record.reason, record.attempts) == ("failed", "ffmpeg crashed", 3)
    assert record.finished_at is not None


def test_the_event_is_returned_even_when_the_ledger_cannot_be_written() -> None:
    ledger = MemoryStageLedger(broken=True)
    announced = ClipsFailed(episode_id="ep1", failure=FAILURE)
    assert fail_stage(ledger, "ep1", "clips", FAILURE, announced) == [announced]
    assert record_failure(ledger, "ep1", "clips", FAILURE) is False
    assert ledger.history == []


def test_resuming_keeps_the_running_records_start_and_optionally_its_details() -> None:
    ledger = MemoryStageLedger()
    ledger.record("ep1", "transcribe", "running", started_at=100.0, details={"job_name": "j1"})
    assert record_failure(ledger, "ep1", "transcribe", FAILURE, resume=True)
    failed = ledger.records[("ep1", "transcribe")]
    assert (failed.started_at, failed.details) == (100.0, {})

    ledger.record("ep2", "transcribe", "running", started_at=200.0, details={"job_name": "j2"})
    record_failure(ledger, "ep2", "transcribe", FAILURE, resume=True, keep_details=True)
    failed = ledger.records[("ep2", "transcribe")]
    assert (failed.started_at, failed.details) == (200.0, {"job_name": "j2"})


def test_a_long_reason_can_be_cut_and_details_laid_over() -> None:
    ledger = MemoryStageLedger()
    long = Failure(reason="x" * 5000, error_type="RefusedError")
    record_failure(ledger, "ep1", "prompt-titles", long, reason_chars=1000, details={"m": "a"})
    record = ledger.records[("ep1", "prompt-titles")]
    assert (len(record.reason or ""), record.details) == (1000, {"m": "a"})


def test_prompt_stage_names_and_the_replay_command() -> None:
    assert prompt_stage("show-notes") == "prompt-show-notes"
    assert prompt_id_of(prompt_stage("show-notes")) == "show-notes"
    assert prompt_id_of("transcode") is None
    assert replay_command("ep1", "titles") == (
        "podpipe dlq replay --queue llm --episode ep1 --prompt titles"
    )
