"""What the clips need to know about ffmpeg and the machine beyond ``podpipe_transcode.ffmpeg``:
whether libass is built in, which font to draw with, every stream of a rendered file (with
video size), and the loudness of a result.

Kept apart from ``ffmpeg.py`` (owned by the transcode service) on purpose: the audio
probe there reports audio streams only, and audiograms need the video stream's size too.
"""

from __future__ import annotations

import functools
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from podpipe_transcode.ffmpeg import find_ffmpeg, run_ffmpeg
from podpipe_transcode.loudness import (
    LoudnessMeasurement,
    LoudnessTargets,
    analysis_filter,
    parse_loudnorm_report,
)

FONT_CANDIDATES = (
    # Debian/Ubuntu fonts-dejavu-core, Fedora, Arch, Alpine, then macOS.
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/TTF/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf",
    "/System/Library/Fonts/Supplemental/Arial Bold.ttf",
    "/Library/Fonts/Arial.ttf",
)


def find_font(configured: str = "") -> Path | None:
    """The font file to draw text with: the configured one, else a common system font."""
    if configured:
        path = Path(configured)
        return path if path.is_file() else None
    for candidate in FONT_CANDIDATES:
        path = Path(candidate)
        if path.is_file():
            return path
    for root in (Path("/usr/share/fonts"), Path("/usr/local/share/fonts")):
        if root.is_dir():
            found = sorted(root.rglob("*.ttf"))
            if found:
                return found[0]
    return None


@functools.cache
def filters_available(ffmpeg: str) -> frozenset[str]:
    """Names of the filters this ffmpeg build has (``subtitles`` needs libass)."""
    completed = subprocess.run(
        [ffmpeg, "-hide_banner", "-nostdin", "-filters"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    names = set()
    for line in completed.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 3 and "->" in parts[2]:
            names.add(parts[1])
    return frozenset(names)


@dataclass(frozen=True)
class StreamInfo:
    index: int
    kind: str  # "Audio", "Video", "Subtitle", "Data"
    codec: str
    width: int | None = None
    height: int | None = None
    attached_picture: bool = False


_STREAM = re.compile(r"^\s*Stream #0:(\d+)(?:\[[^\]]*\])?(?:\([^)]*\))?: (\w+): (\S+)(.*)$")
_SIZE = re.compile(r",\s*(\d{2,5})x(\d{2,5})[\s,\[]")


def parse_streams(stderr: str) -> list[StreamInfo]:
    """Every stream of input #0 in ``ffmpeg -i`` output, with the size of video streams."""
    streams = []
    for line in stderr.splitlines():
        match = _STREAM.match(line)
        if match is None:
            continue
        index, kind, codec, rest = match.groups()
        width = height = None
        if kind == "Video":
            size = _SIZE.search(rest + " ")
            if size is not None:
                width, height = int(size.group(1)), int(size.group(2))
        streams.append(
            StreamInfo(
                index=int(index),
                kind=kind,
                codec=codec.rstrip(","),
                width=width,
                height=height,
                attached_picture="attached pic" in rest,
            )
        )
    return streams


def probe_streams(path: Path, *, ffmpeg: str | None = None) -> list[StreamInfo]:
    completed = subprocess.run(
        [ffmpeg or find_ffmpeg(), "-hide_banner", "-nostdin", "-i", str(path)],
        capture_output=True,
        text=True,
        encoding="utf-8",
        errors="replace",
        timeout=60,
        check=False,
    )
    return parse_streams(completed.stderr)


def measure_loudness(
    path: Path, *, targets: LoudnessTargets | None = None, ffmpeg: str | None = None
) -> LoudnessMeasurement:
    """Integrated loudness and true peak of a file's first audio stream."""
    result = run_ffmpeg(
        [
            "-i",
            str(path),
            "-map",
            "0:a:0",
            "-af",
            analysis_filter(targets or LoudnessTargets()),
            "-f",
            "null",
            "-",
        ],
        ffmpeg=ffmpeg,
        label="measure",
    )
    return parse_loudnorm_report(result.stderr)
