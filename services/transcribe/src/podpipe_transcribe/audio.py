"""Reading an upload's audio with ffmpeg: probe it, reject bad input, decode it for Whisper.

ffmpeg comes from PATH or, where there is none, from the imageio-ffmpeg wheel. Decoding to
16 kHz mono float32 here (instead of letting faster-whisper decode) doubles as validation: a
text file renamed .m4a, a file without an audio stream, or a truncated file is caught with
ffmpeg's own words, and a file whose header promises more audio than it holds (an m4a cut
after a front-loaded index) is caught by comparing decoded and declared durations.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import numpy.typing as npt

from podpipe.media import unreadable_file_reason

SAMPLE_RATE = 16_000
# A truncated file decodes to less than its header declares; a few percent is encoder padding.
MIN_DECODED_FRACTION = 0.95
_DURATION = re.compile(r"Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)")
_AUDIO_STREAM = re.compile(r"Stream #\d+:\d+.*?: Audio: ")


class BadAudioError(ValueError):
    """The upload is not usable audio (never worth retrying)."""


@cache
def find_ffmpeg() -> str:
    on_path = shutil.which("ffmpeg")
    if on_path:
        return on_path
    import imageio_ffmpeg

    return str(imageio_ffmpeg.get_ffmpeg_exe())


@dataclass(frozen=True)
class Probe:
    duration_seconds: float | None
    has_audio: bool


def _last_error_line(stderr: str) -> str:
    lines = [line.strip() for line in stderr.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "ffmpeg could not read the file"


def probe(path: Path) -> Probe:
    """Container duration and whether there is an audio stream (``ffmpeg -i``, no decoding)."""
    result = subprocess.run(
        [find_ffmpeg(), "-hide_banner", "-i", str(path)],
        capture_output=True,
        text=True,
        errors="replace",
        check=False,
    )
    stderr = result.stderr
    if "Duration:" not in stderr:  # ffmpeg could not open it as media at all
        # The same words as transcode: "ep.m4a is a text file, not audio (...)".
        raise BadAudioError(unreadable_file_reason(path, stderr))
    match = _DURATION.search(stderr)
    duration = None
    if match:
        hours, minutes, seconds = match.groups()
        duration = int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    return Probe(duration_seconds=duration, has_audio=bool(_AUDIO_STREAM.search(stderr)))


def check_duration(found: Probe, max_duration_seconds: float) -> None:
    if not found.has_audio:
        raise BadAudioError("the file has no audio stream")
    if found.duration_seconds is not None and found.duration_seconds > max_duration_seconds:
        raise BadAudioError(
            f"the audio is {found.duration_seconds / 60:.1f} minutes long; the limit is "
            f"{max_duration_seconds / 60:.1f} minutes (PODPIPE_TRANSCRIBE_MAX_DURATION_SECONDS)"
        )


def decode(path: Path, found: Probe) -> npt.NDArray[np.float32]:
    """The first audio stream as 16 kHz mono float32 samples, or BadAudioError."""
    result = subprocess.run(
        [
            find_ffmpeg(),
            "-hide_banner",
            "-nostdin",
            "-v",
            "error",
            "-i",
            str(path),
            "-map",
            "0:a:0",
            "-vn",
            "-ac",
            "1",
            "-ar",
            str(SAMPLE_RATE),
            "-f",
            "f32le",
            "-",
        ],
        capture_output=True,
        check=False,
    )
    stderr = result.stderr.decode("utf-8", "replace")
    if result.returncode != 0:
        raise BadAudioError(f"the audio could not be decoded ({_last_error_line(stderr)})")
    samples = np.frombuffer(result.stdout, dtype=np.float32)
    decoded_seconds = len(samples) / SAMPLE_RATE
    declared = found.duration_seconds
    if declared and decoded_seconds < declared * MIN_DECODED_FRACTION:
        raise BadAudioError(
            f"the file is truncated or corrupt: it declares {declared:.1f} s of audio but only "
            f"{decoded_seconds:.1f} s could be decoded"
        )
    if decoded_seconds == 0:
        raise BadAudioError("the file contains no audio samples")
    return samples
