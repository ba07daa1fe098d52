"""Clips cut from a video episode's own picture: vertical and square at the pick's times
(±0.1 s), from ONE ffmpeg run per clip. The source picture's brightness counts its frames, so a
frame grab says exactly where in the episode a clip starts."""

from __future__ import annotations

import subprocess
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from podpipe.documents import ClipPick, Transcript
from podpipe.ffmpeg import find_ffmpeg, probe, probe_streams, run_ffmpeg
from podpipe_transcode.clips.graph import PictureFormat
from podpipe_transcode.clips.render import EpisodeInput, RenderOptions, render_episode

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "samples" / "episode.m4a"
TRANSCRIPT = REPO / "tests" / "integration" / "test_clips_sample_transcript.json"
SECONDS = 80
FPS = 10
# Small shapes keep the test fast; the defaults (1080x1920, 1080x1080) are unit-tested.
VERTICAL = PictureFormat(144, 256)
SQUARE = PictureFormat(144, 144)


def brightness(path: Path, at: float, shape: PictureFormat) -> float:
    """Mean luma of a patch at the left edge, half-way down (clear of captions and title)."""
    raw = subprocess.run(
        [
            *(find_ffmpeg(), "-v", "error", "-ss", f"{at:.3f}", "-i", str(path), "-frames:v", "1"),
            *("-f", "rawvideo", "-pix_fmt", "yuv420p", "-"),  # Y plane first, no range change
        ],
        capture_output=True,
        check=True,
    ).stdout
    luma = shape.width * shape.height
    frame = np.frombuffer(raw[:luma], dtype=np.uint8).reshape(shape.height, shape.width)
    middle = shape.height // 2
    return float(frame[middle - 4 : middle + 4, 2:10].mean())


def test_clips_are_cut_from_the_picture_vertical_and_square(tmp_path: Path) -> None:
    source = tmp_path / "episode.mp4"
    # Frame N is N*2 grey (mod 256): 12.8 s before it repeats, 0.1 s per frame step of 2.
    run_ffmpeg(
        [
            "-f", "lavfi", "-i",
            f"nullsrc=s=160x90:r={FPS}:d={SECONDS},geq=lum='mod(N*2,256)':cb=128:cr=128",
            "-t", str(SECONDS), "-i", str(SAMPLE), "-map", "0:v", "-map", "1:a",
            "-c:v", "libx264", "-preset", "ultrafast", "-qp", "0", "-pix_fmt", "yuv420p",
            "-c:a", "aac", "-b:a", "64k", "-shortest", str(source),
        ],
        label="make-test-video",
    )  # fmt: skip
    transcript = Transcript.model_validate_json(TRANSCRIPT.read_text())
    options = replace(
        RenderOptions(),
        render_trailer=False,
        square=SQUARE,
        vertical=VERTICAL,
        video=replace(RenderOptions().video, preset="ultrafast"),
    )
    episode = EpisodeInput(
        audio=SAMPLE, transcript=transcript, title="Boats", show="Show", video=source
    )
    pick = ClipPick(start=40.0, end=72.0, title="Why boats float", hook="Physics")
    result = render_episode(episode, [pick], options, tmp_path / "out")
    [clip] = result.clips
    assert clip.video is not None
    assert clip.vertical is not None
    start, duration = clip.clip.start, clip.clip.duration
    for output, shape in ((clip.vertical, VERTICAL), (clip.video, SQUARE)):
        streams = probe_streams(output)
        [picture] = [s for s in streams if s.kind == "Video"]
        assert (picture.width, picture.height) == (shape.width, shape.height)
        assert [s.codec for s in streams if s.kind == "Audio"] == ["aac"]
        assert probe(output).duration_seconds == pytest.approx(duration, abs=0.1)
        # The first and a later frame show the source's frames at the pick's times (±1 frame).
        for offset in (0.0, 5.0):
            expected = (round((start + offset) * FPS) * 2) % 256
            assert brightness(output, offset, shape) == pytest.approx(expected, abs=2.5)
