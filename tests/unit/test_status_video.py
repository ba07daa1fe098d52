"""`podpipe status` of a video episode: its video stages (video.mp4, the subtitled pair,
youtube.md) come from the same stage ledger as every other stage, and never decide the
episode's state (a bad picture never holds back the audio)."""

from __future__ import annotations

from rich.console import Console

from podpipe.episodes import VIDEO_STAGES, EpisodeStatus, episode_status
from podpipe.events import Failure, S3Location, VideoFailed
from podpipe.layout import EpisodeKeys
from podpipe.stages import fail_stage
from podpipe_cli.status import render_episode
from tests.support.stage_ledger import MemoryStageLedger

EP = "2026-12-03-video"
KEYS = EpisodeKeys(EP)
MANIFEST = {"prompts": [{"id": "titles", "model": "m"}]}


def audio_done(ledger: MemoryStageLedger) -> None:
    for stage in ("transcode", "transcribe", "dispatch", "prompt-titles"):
        ledger.record(EP, stage, "running", started_at=100.0)
        ledger.record(EP, stage, "done", started_at=100.0)


def status_of(ledger: MemoryStageLedger, *existing: str) -> EpisodeStatus:
    records = {
        stage: record for (episode, stage), record in ledger.records.items() if episode == EP
    }
    return episode_status(
        EP, records=records, manifest=MANIFEST, existing_keys=[KEYS.audio, *existing]
    )


def test_a_video_episode_shows_its_video_stages_from_the_ledger() -> None:
    ledger = MemoryStageLedger()
    audio_done(ledger)
    ledger.record(EP, "video", "running", started_at=100.0)
    ledger.record(EP, "video", "done", started_at=100.0)
    ledger.record(EP, "video-subtitles", "running", started_at=150.0)

    status = status_of(ledger, KEYS.video)
    states = {s.stage: s.state for s in status.stages if s.stage in VIDEO_STAGES}
    assert states == {"video": "done", "video-subtitles": "running", "youtube": "pending"}
    assert status.state == "completed"  # the audio episode is whole; the video goes on

    out = Console(record=True, width=160)
    render_episode(status, out)
    table = out.export_text()
    rows = {line.split()[0]: line for line in table.splitlines() if line.strip()}
    assert "done" in rows["video"]
    assert "running" in rows["video-subtitles"]
    assert "pending" in rows["youtube"]


def test_a_failed_video_stage_is_shown_with_its_reason_and_the_audio_goes_on() -> None:
    ledger = MemoryStageLedger()
    audio_done(ledger)
    ledger.record(EP, "video", "running", started_at=100.0)
    failure = Failure(reason="the picture is 160x8: too small to encode", error_type="E")
    fail_stage(
        ledger,
        EP,
        "video",
        failure,
        VideoFailed(
            episode_id=EP,
            source=S3Location(bucket="b", key=f"uploads/{EP}.mkv"),
            output="video.mp4",
            failure=failure,
        ),
        resume=True,
    )

    status = status_of(ledger)
    video = status.stage("video")
    assert video is not None
    assert video.state == "failed"
    assert video.reason == failure.reason
    assert video.started_at == 100.0
    assert status.state == "completed"
    assert [s.stage for s in status.failed_stages] == ["video"]

    out = Console(record=True, width=200)
    render_episode(status, out)
    assert "160x8: too small to encode" in out.export_text()


def test_the_artifact_is_the_truth_when_a_video_record_is_stale() -> None:
    ledger = MemoryStageLedger()
    audio_done(ledger)
    ledger.record(EP, "video-subtitles", "running", started_at=100.0)
    status = status_of(
        ledger, KEYS.video, KEYS.video_subtitles_record, KEYS.prompt_output("youtube", "md")
    )
    assert [s.state for s in status.stages if s.stage in VIDEO_STAGES] == ["done"] * 3


def test_an_audio_only_episode_has_no_video_stages() -> None:
    ledger = MemoryStageLedger()
    audio_done(ledger)
    status = status_of(ledger)
    assert not any(s.stage in VIDEO_STAGES for s in status.stages)
