"""Clips and the trailer cut from a video episode's own picture: vertical and square at the
picks' times (±0.1 s), from ONE ffmpeg run per clip and one for the trailer. The source
picture's brightness counts its frames, so a frame grab says exactly where in the episode a
clip (or a trailer segment) comes from — and that it is not the audiogram's background."""

from __future__ import annotations

import subprocess
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from podpipe.documents import ClipPick, Transcript
from podpipe.ffmpeg import find_ffmpeg, probe, probe_streams, run_ffmpeg
from podpipe_clips.graph import BACKGROUND_COLOR, PictureFormat
from podpipe_clips.render import EpisodeInput, RenderOptions, render_episode

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "samples" / "episode.m4a"
TRANSCRIPT = REPO / "tests" / "integration" / "test_clips_sample_transcript.json"
SECONDS = 150
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


def source_luma(at: float) -> float:
    """The synthetic picture's grey at ``at`` seconds: frame N is N*2 (mod 256)."""
    return (round(at * FPS) * 2) % 256


def grey_distance(a: float, b: float) -> float:
    """How far apart two of the source's greys are, around its wrap from 254 to 0."""
    return min(abs(a - b), 256 - abs(a - b))


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("picture") / "episode.mp4"
    # Frame N is N*2 grey (mod 256): 12.8 s before it repeats, 0.1 s per frame step of 2.
    run_ffmpeg(
        [
            "-f", "lavfi", "-i",
            f"nullsrc=s=160x90:r={FPS}:d={SECONDS},geq=lum='mod(N*2,256)':cb=128:cr=128",
            "-t", str(SECONDS), "-i", str(SAMPLE), "-map", "0:v", "-map", "1:a",
            "-c:v", "libx264", "-preset", "ultrafast", "-qp", "0", "-pix_fmt", "yuv420p",
            "-c:a", "aac", "-b:a", "64k", "-shortest", str(path),
        ],
        label="make-test-video",
    )  # fmt: skip
    return path


def test_clips_are_cut_from_the_picture_vertical_and_square(source: Path, tmp_path: Path) -> None:
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
            expected = source_luma(start + offset)
            assert brightness(output, offset, shape) == pytest.approx(expected, abs=2.5)


def test_the_trailer_of_a_video_episode_is_cut_from_its_picture(
    source: Path, tmp_path: Path
) -> None:
    transcript = Transcript.model_validate_json(TRANSCRIPT.read_text())
    options = replace(
        RenderOptions(),
        square=SQUARE,
        vertical=VERTICAL,
        video=replace(RenderOptions().video, preset="ultrafast"),
    )
    episode = EpisodeInput(
        audio=SAMPLE, transcript=transcript, title="Boats", show="Show", video=source
    )
    picks = [
        ClipPick(start=4.0, end=38.0, title="One", hook="a"),
        ClipPick(start=50.0, end=84.0, title="Two", hook="b"),
        ClipPick(start=100.0, end=140.0, title="Three", hook="c"),
    ]
    result = render_episode(episode, picks, options, tmp_path / "out", duration=SECONDS)
    trailer = result.trailer
    assert trailer is not None
    assert trailer.video is not None
    assert trailer.vertical is not None
    plan = trailer.plan
    assert len(plan.segments) == 3
    # The audiogram's background, which an audio-only episode's trailer would show instead.
    red, green, blue = (int(BACKGROUND_COLOR[i : i + 2], 16) for i in (2, 4, 6))
    background = 16 + (65.481 * red + 128.553 * green + 24.966 * blue) / 255
    for output, shape in ((trailer.vertical, VERTICAL), (trailer.video, SQUARE)):
        streams = probe_streams(output)
        [picture] = [s for s in streams if s.kind == "Video"]
        assert (picture.width, picture.height) == (shape.width, shape.height)
        assert [s.codec for s in streams if s.kind == "Audio"] == ["aac"]
        assert probe(output).duration_seconds == pytest.approx(plan.duration, abs=0.1)
        # Inside each segment (clear of its crossfades) the trailer shows the source's frame
        # from that segment's place in the episode (±1 frame), not a drawn background.
        checked = 0
        for segment, at in zip(plan.segments, plan.offsets(), strict=True):
            for into in (1.0, segment.duration / 2):
                expected = source_luma(segment.start + into)
                seen = brightness(output, at + into, shape)
                assert grey_distance(seen, expected) <= 2.5, (segment, into, seen, expected)
                if abs(expected - background) > 20:
                    assert abs(seen - background) > 15
                    checked += 1
        assert checked >= 3
