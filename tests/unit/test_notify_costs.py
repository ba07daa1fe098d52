"""The digest's estimated cost and timings (pure parts of the completion tracker)."""

from __future__ import annotations

import pytest

from podpipe.episodes import EpisodeStatus, episode_status
from podpipe.layout import EpisodeKeys, StageRecord
from podpipe.pricing import compute_cost, llm_cost
from podpipe_notify.completion import estimate_costs, is_deliverable, timings

EP = "ep-cost"


def rec(stage: str, status: str, start: float, end: float) -> StageRecord:
    return StageRecord(stage=stage, status=status, started_at=start, finished_at=end)


def status_with(prompt_state: str = "done") -> EpisodeStatus:
    records = {
        "transcode": rec("transcode", "done", 0, 60),
        "transcribe": rec("transcribe", "done", 0, 120),
        "dispatch": rec("dispatch", "done", 120, 121),
        "prompt-titles": rec("prompt-titles", prompt_state, 121, 131),
    }
    return episode_status(EP, records=records, manifest={"prompts": ["titles"]}, existing_keys=[])


def test_costs_add_transcription_llm_and_compute() -> None:
    status = status_with()
    costs = estimate_costs(
        status,
        transcription_backend="aws",
        audio_seconds=600,
        prompt_metadata={
            "titles": {"estimated_cost_usd": 0.01},
            "notes": {"model": "amazon.nova-lite-v1:0", "input_tokens": 2000, "output_tokens": 500},
        },
    )
    assert costs.transcription == pytest.approx(10 * 0.024)
    assert costs.llm == pytest.approx(0.01 + llm_cost("amazon.nova-lite-v1:0", 2000, 500))
    expected_compute = (
        compute_cost(1.0, 2.0, 60)
        + compute_cost(2.0, 4.0, 120)
        + compute_cost(0.25, 0.5, 1)
        + compute_cost(0.5, 1.0, 10)
    )
    assert costs.compute == pytest.approx(expected_compute)
    assert costs.total == pytest.approx(costs.transcription + costs.llm + costs.compute)
    assert set(costs.breakdown()) == {"transcription", "llm", "compute"}


def test_whisper_transcription_costs_compute_only() -> None:
    costs = estimate_costs(
        status_with(),
        transcription_backend="whisper",
        audio_seconds=3600,
        prompt_metadata={},
    )
    assert costs.transcription == 0
    assert costs.compute > 0


def test_timings_mark_failed_stages() -> None:
    rows = {t.stage: (t.status, t.seconds) for t in timings(status_with("failed"))}
    assert rows["transcode"] == ("done", 60)
    assert rows["prompt-titles"] == ("failed", 10)


@pytest.mark.parametrize(
    ("name", "deliverable"),
    [
        ("audio.mp3", True),
        ("outputs/titles.md", True),
        ("clips/clip-01.mp3", True),
        ("outputs/titles.meta.json", False),
        ("stages/transcode.json", False),
        ("prompts/manifest.json", False),
        ("completed.json", False),
        ("audio.json", False),
    ],
)
def test_only_deliverables_get_links(name: str, deliverable: bool) -> None:
    keys = EpisodeKeys(EP)
    assert is_deliverable(keys, keys.root + name) is deliverable
