"""Reading an upload's audio with ffmpeg: probe it, reject bad input, decode it for Whisper.

ffmpeg, its header probe and the truncation rule are the media library's (podpipe.ffmpeg,
podpipe.media), the same as transcode's. Decoding to
16 kHz mono float32 here (instead of letting faster-whisper decode) doubles as validation: a
text file renamed .m4a, a file without an audio stream, or a truncated file is caught with
ffmpeg's own words, and a file whose header promises more audio than it holds (an m4a cut
after a front-loaded index) is caught by comparing decoded and declared durations.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from podpipe.ffmpeg import find_ffmpeg, parse_probe_output, read_header
from podpipe.media import is_truncated, unreadable_file_reason

SAMPLE_RATE = 16_000


class BadAudioError(ValueError):
    """The upload is not usable audio (never worth retrying)."""


@dataclass(frozen=True)
class Probe:
    duration_seconds: float | None
    has_audio: bool
    audio_header_seconds: float | None = None
    """The length the truncation rule compares the decoded audio with (None: not trusted)."""


def _last_error_line(stderr: str) -> str:
    lines = [line.strip() for line in stderr.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "ffmpeg could not read the file"


def probe(path: Path) -> Probe:
    """Container duration and whether there is an audio stream (``ffmpeg -i``, no decoding)."""
    stderr = read_header(path).stderr
    info = parse_probe_output(stderr)
    if info is None:  # ffmpeg could not open it as media at all
        # The same words as transcode: "ep.m4a is a text file, not audio (...)".
        raise BadAudioError(unreadable_file_reason(path, stderr))
    return Probe(
        duration_seconds=info.duration_seconds,
        has_audio=info.has_audio,
        audio_header_seconds=info.audio_header_seconds,
    )


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
    declared = found.audio_header_seconds
    if declared and is_truncated(declared, decoded_seconds):
        raise BadAudioError(
            f"the file is truncated or corrupt: it declares {declared:.1f} s of audio but only "
            f"{decoded_seconds:.1f} s could be decoded"
        )
    if decoded_seconds == 0:
        raise BadAudioError("the file contains no audio samples")
    return samples
