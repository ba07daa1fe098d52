"""The transcoding port and its default adapter, ffmpeg (two-pass EBU R128 loudnorm → MP3).

A backend turns a local source file into a normalised MP3 and reports what it measured; it
raises :class:`BadInputError` for input no retry can fix. Another backend (e.g. a managed
service) only has to implement :class:`TranscodeBackend`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

import structlog

from podpipe.media import unreadable_file_reason
from podpipe_transcode.commands import (
    Mp3Encoding,
    analysis_args,
    channel_filter,
    encode_args,
    measure_args,
)
from podpipe_transcode.core import (
    BadInputError,
    check_decoded,
    check_duration,
    check_source,
    silent_reason,
    too_long_reason,
)
from podpipe_transcode.ffmpeg import (
    FfmpegError,
    FfmpegProgress,
    MediaInfo,
    ProbeError,
    find_ffmpeg,
    probe,
    run_ffmpeg,
)
from podpipe_transcode.loudness import (
    TOLERANCE_LU,
    LoudnessMeasurement,
    LoudnessReading,
    LoudnessTargets,
    LoudnormParseError,
    limited_gain_filter,
    linear_fits,
    linear_gain_db,
    normalize_filter,
    parse_ebur128_summary,
    parse_loudnorm_report,
)

log = structlog.get_logger()

SNIFF_BYTES = 512
MAX_ENCODES = 3
PARTIAL_FILE_MARKER = ": partial file"
"""What ffmpeg's MP4/MOV demuxer logs when the data ends before its index says it should."""


@dataclass(frozen=True)
class TranscodeJob:
    targets: LoudnessTargets
    encoding: Mp3Encoding
    max_duration_seconds: float


@dataclass(frozen=True)
class TranscodeResult:
    """What the backend measured: the source, and the finished MP3 (decoded again)."""

    source_format: str
    source_duration_seconds: float
    source_loudness: LoudnessMeasurement
    output_duration_seconds: float
    output_loudness: LoudnessReading
    normalization_type: str
    """linear (one constant gain), dynamic (loudnorm's own), or limited (gain + limiter)."""
    encodes: int = 1
    timings: dict[str, float] = field(default_factory=dict)


class TranscodeBackend(Protocol):
    """Source file in, normalised MP3 out. Raises BadInputError for unusable input."""

    name: str

    def transcode(self, source: Path, destination: Path, job: TranscodeJob) -> TranscodeResult:
        """Write the MP3 to ``destination`` and report the measurements."""
        ...


@dataclass(frozen=True)
class _Normalized:
    loudness: LoudnessReading
    seconds: float
    method: str
    encodes: int


class _TooLongError(Exception):
    """Raised from a progress callback to stop decoding a file that is over the limit."""


@dataclass
class FfmpegBackend:
    """The default backend: ffmpeg from PATH or the imageio-ffmpeg wheel."""

    ffmpeg: str = ""
    progress_log_seconds: float = 15.0
    name: str = "ffmpeg"

    def __post_init__(self) -> None:
        self.ffmpeg = self.ffmpeg or find_ffmpeg()

    def inspect(self, source: Path) -> MediaInfo:
        try:
            return probe(source, ffmpeg=self.ffmpeg)
        except ProbeError as exc:
            raise BadInputError(unreadable_file_reason(source, exc.stderr)) from exc

    def transcode(self, source: Path, destination: Path, job: TranscodeJob) -> TranscodeResult:
        name = source.name
        timings: dict[str, float] = {}
        started = time.monotonic()
        info = self.inspect(source)
        check_source(info, name, job.max_duration_seconds)
        timings["probe"] = time.monotonic() - started

        started = time.monotonic()
        source_loudness, decoded, partial = self._analyse(source, info, job)
        timings["analyse"] = time.monotonic() - started
        # A video's container duration covers its longest track, not necessarily the audio.
        header_seconds = None if info.has_video else info.duration_seconds
        check_decoded(header_seconds, decoded, name, partial=partial)
        check_duration(decoded, name, job.max_duration_seconds)
        if source_loudness.is_silent:
            raise BadInputError(silent_reason(name))

        started = time.monotonic()
        normalized = self._normalize(
            source, destination, job, source_loudness, decoded, _channel_map(info, job)
        )
        timings["normalize"] = time.monotonic() - started
        return TranscodeResult(
            source_format=info.format_name,
            source_duration_seconds=decoded,
            source_loudness=source_loudness,
            output_duration_seconds=normalized.seconds,
            output_loudness=normalized.loudness,
            normalization_type=normalized.method,
            encodes=normalized.encodes,
            timings={k: round(v, 3) for k, v in timings.items()},
        )

    def _normalize(
        self,
        source: Path,
        destination: Path,
        job: TranscodeJob,
        measured: LoudnessMeasurement,
        decoded_seconds: float,
        channel_map: str | None,
    ) -> _Normalized:
        """Encode, measure the MP3, and correct with another encode while it misses the target.

        Most speech fits one linear gain and is right first time. Peaky material goes through
        the limiter; its loudness loss is measured and the gain corrected (at most
        MAX_ENCODES encodes in all; the last one stands, with a warning, if none hit).
        """
        targets = job.targets
        use_loudnorm = linear_fits(targets, measured)
        gain = linear_gain_db(targets, measured)
        name = source.name
        result: _Normalized | None = None
        for encode in range(1, MAX_ENCODES + 1):
            if use_loudnorm:
                loudness_filter = normalize_filter(targets, measured)
            else:
                loudness_filter = limited_gain_filter(targets, gain, job.encoding.sample_rate)
            try:
                encoded = run_ffmpeg(
                    encode_args(
                        source, destination, loudness_filter, job.encoding, channel_map=channel_map
                    ),
                    ffmpeg=self.ffmpeg,
                    total_seconds=decoded_seconds,
                    label=f"encode-{encode}",
                    log_every_seconds=self.progress_log_seconds,
                )
            except FfmpegError as exc:
                raise _conversion_error(name, exc) from exc
            report = _report_or_none(encoded.stderr) if use_loudnorm else None
            method = report.normalization_type if report else "limited"
            loudness, seconds = self.measure(destination, decoded_seconds)
            result = _Normalized(loudness, seconds, method, encode)
            miss = targets.integrated_lufs - loudness.integrated_lufs
            peak_over = loudness.true_peak_dbtp - targets.true_peak_dbtp
            log.info(
                "transcode.encoded",
                encode=encode,
                method=method,
                integrated_lufs=loudness.integrated_lufs,
                true_peak_dbtp=loudness.true_peak_dbtp,
            )
            if abs(miss) <= TOLERANCE_LU and peak_over <= 0:
                return result
            if use_loudnorm:
                use_loudnorm = False  # loudnorm went dynamic or missed: limit it ourselves
            else:
                gain += miss
            if peak_over > 0:  # the MP3 encoder overshot: aim the limiter lower
                targets = replace(
                    targets, true_peak_headroom_db=targets.true_peak_headroom_db + peak_over + 0.1
                )
        assert result is not None
        log.warning(
            "transcode.loudness_missed",
            integrated_lufs=result.loudness.integrated_lufs,
            true_peak_dbtp=result.loudness.true_peak_dbtp,
            target_lufs=job.targets.integrated_lufs,
        )
        return result

    def measure(
        self, audio: Path, expected_seconds: float | None = None
    ) -> tuple[LoudnessReading, float]:
        """Loudness and true peak of a finished file (ebur128), and how long it decodes."""
        result = run_ffmpeg(
            measure_args(audio),
            ffmpeg=self.ffmpeg,
            total_seconds=expected_seconds,
            label="measure",
            log_every_seconds=self.progress_log_seconds,
        )
        seconds = result.last_progress.out_time_seconds if result.last_progress else 0.0
        return parse_ebur128_summary(result.stderr), seconds

    def _analyse(
        self, source: Path, info: MediaInfo, job: TranscodeJob
    ) -> tuple[LoudnessMeasurement, float, bool]:
        """The source's loudness, how many seconds decode, and whether the file is partial."""
        limit = job.max_duration_seconds

        def stop_when_too_long(progress: FfmpegProgress) -> None:
            # The header may not state a duration (raw streams): stop decoding at the limit.
            if progress.out_time_seconds > limit:
                raise _TooLongError

        try:
            result = run_ffmpeg(
                analysis_args(source, job.targets, channel_map=_channel_map(info, job)),
                ffmpeg=self.ffmpeg,
                total_seconds=info.duration_seconds,
                on_progress=stop_when_too_long,
                label="analyse",
                log_every_seconds=self.progress_log_seconds,
            )
        except _TooLongError as exc:
            raise BadInputError(too_long_reason(source.name, None, limit)) from exc
        except FfmpegError as exc:
            raise _conversion_error(source.name, exc) from exc
        decoded = result.last_progress.out_time_seconds if result.last_progress else 0.0
        partial = PARTIAL_FILE_MARKER in result.stderr
        try:
            return parse_loudnorm_report(result.stderr), decoded, partial
        except LoudnormParseError as exc:
            raise BadInputError(
                f"{source.name} could not be measured: no audio decoded ({exc})"
            ) from exc


def _channel_map(info: MediaInfo, job: TranscodeJob) -> str | None:
    return channel_filter(info.audio_streams[0].channels, job.encoding.channels)


def _report_or_none(stderr: str) -> LoudnessMeasurement | None:
    try:
        return parse_loudnorm_report(stderr)
    except LoudnormParseError:
        return None


_TRANSIENT_MARKERS = ("No space left on device", "Cannot allocate memory", "Resource temporarily")


def _conversion_error(name: str, exc: FfmpegError) -> Exception:
    """A failed ffmpeg run on a file that probed fine: damaged data, unless the box is sick."""
    if any(marker in exc.stderr for marker in _TRANSIENT_MARKERS):
        return exc  # the machine, not the file: worth a retry
    return BadInputError(f"{name} could not be converted: ffmpeg said {exc.reason}")
