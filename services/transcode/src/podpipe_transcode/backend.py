"""The transcoding port and its default adapter, ffmpeg (two-pass EBU R128 normalisation → MP3).

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

from podpipe.ffmpeg import (
    FfmpegError,
    FfmpegProgress,
    MediaInfo,
    ProbeError,
    find_ffmpeg,
    probe,
    run_ffmpeg,
)
from podpipe.loudness import (
    TOLERANCE_LU,
    LoudnessMeasurement,
    LoudnessReading,
    LoudnessTargets,
    LoudnormParseError,
    limited_gain_filter,
    linear_fits,
    linear_gain_db,
    linear_gain_filter,
    parse_ebur128_measurement,
    parse_ebur128_summary,
)
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
from podpipe_transcode.video import VideoOptions, plan_video, video_args, video_stream_of

log = structlog.get_logger()

SNIFF_BYTES = 512
MAX_ENCODES = 3
MP3_LOUDNESS_LOSS_LU = 0.3
"""How much quieter libmp3lame's CBR output of speech measures than its input (0.3-0.5 LU on
the sample and on generated speech, both presets). The first encode aims this much higher so
that it usually lands; the MP3 is still measured and corrected when it misses."""
PARTIAL_FILE_MARKER = ": partial file"
"""What ffmpeg's MP4/MOV demuxer logs when the data ends before its index says it should."""


@dataclass(frozen=True)
class TranscodeJob:
    targets: LoudnessTargets
    encoding: Mp3Encoding
    max_duration_seconds: float
    video: VideoOptions = field(default_factory=VideoOptions)


@dataclass(frozen=True)
class TranscodeResult:
    """What the backend measured: the source, and the finished MP3 (decoded again)."""

    source_format: str
    source_duration_seconds: float
    source_loudness: LoudnessMeasurement
    output_duration_seconds: float
    output_loudness: LoudnessReading
    normalization_type: str
    """linear (one constant gain) or limited (gain + true-peak limiter)."""
    encodes: int = 1
    timings: dict[str, float] = field(default_factory=dict)
    loudness_filter: str = ""
    """The filter the published MP3 went through: a video output reuses it (one measurement)."""
    channel_map: str | None = None
    media: MediaInfo | None = None
    """The source's header, as probed once."""

    def for_video(self) -> VideoAudio:
        return VideoAudio(
            loudness_filter=self.loudness_filter,
            channel_map=self.channel_map,
            loudness=self.output_loudness,
            source_duration_seconds=self.source_duration_seconds,
            media=self.media,
        )


@dataclass(frozen=True)
class VideoAudio:
    """What video.mp4's sound takes from the finished MP3 — its filter and its measurement —
    kept in audio.json, so that the video is made in a message of its own, after the MP3."""

    loudness_filter: str
    channel_map: str | None
    loudness: LoudnessReading
    source_duration_seconds: float
    media: MediaInfo | None = None
    """The source's header when already probed (else render_video probes it)."""


@dataclass(frozen=True)
class VideoResult:
    copied: bool
    """The picture was stream-copied (only the audio was encoded)."""
    reasons: tuple[str, ...]
    loudness: LoudnessReading
    seconds: float
    elapsed_seconds: float


class TranscodeBackend(Protocol):
    """Source file in, normalised MP3 out. Raises BadInputError for unusable input."""

    name: str

    def transcode(self, source: Path, destination: Path, job: TranscodeJob) -> TranscodeResult:
        """Write the MP3 to ``destination`` and report the measurements."""
        ...


class VideoRenderer(Protocol):
    """The video episode's ``video.mp4``, from the source and the finished MP3's sound."""

    def render_video(
        self, source: Path, destination: Path, audio: VideoAudio, job: TranscodeJob
    ) -> VideoResult:
        """Raises BadInputError when the picture cannot be used."""
        ...


@dataclass(frozen=True)
class _Normalized:
    loudness: LoudnessReading
    seconds: float
    method: str
    encodes: int
    loudness_filter: str


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
        check_decoded(info.audio_header_seconds, decoded, name, partial=partial)
        check_duration(decoded, name, job.max_duration_seconds)
        if source_loudness.is_silent:
            raise BadInputError(silent_reason(name))

        started = time.monotonic()
        channel_map = _channel_map(info, job)
        normalized = self._normalize(
            source, destination, job, source_loudness, decoded, channel_map
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
            loudness_filter=normalized.loudness_filter,
            channel_map=channel_map,
            media=info,
        )

    def render_video(
        self, source: Path, destination: Path, audio: VideoAudio, job: TranscodeJob
    ) -> VideoResult:
        """``video.mp4`` with the MP3's loudness filter on its audio (no second measurement)."""
        info = audio.media or self.inspect(source)
        stream = video_stream_of(info, source.name)
        plan = plan_video(stream)
        if not plan.copy:
            log.info("transcode.video_reencode", reasons=list(plan.reasons))
        try:
            made = run_ffmpeg(
                video_args(
                    source,
                    destination,
                    # AAC keeps the loudness that libmp3lame loses: take the MP3's allowance back.
                    f"{audio.loudness_filter},volume={-MP3_LOUDNESS_LOSS_LU:.2f}dB",
                    job.encoding,
                    plan,
                    job.video,
                    channel_map=audio.channel_map,
                ),
                ffmpeg=self.ffmpeg,
                total_seconds=audio.source_duration_seconds,
                label="video",
                log_every_seconds=self.progress_log_seconds,
            )
            # Unmetered: the MP3's measurement, which went through the same filter.
            loudness = (
                parse_ebur128_summary(made.stderr) if job.video.meter_audio else audio.loudness
            )
        except FfmpegError as exc:
            raise _conversion_error(source.name, exc) from exc
        except LoudnormParseError as exc:
            raise BadInputError(f"{source.name}: the video's sound could not be measured") from exc
        seconds = made.last_progress.out_time_seconds if made.last_progress else 0.0
        return VideoResult(
            copied=plan.copy,
            reasons=plan.reasons,
            loudness=loudness,
            seconds=seconds,
            elapsed_seconds=made.elapsed_seconds,
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
        """Encode (metered in the same pass), and correct with another encode while it misses.

        Most speech fits one linear gain and is right first time. Peaky material goes through
        the limiter; its loudness loss is measured and the gain corrected (at most
        MAX_ENCODES encodes in all; the last one stands, with a warning, if none hit). The
        meter sits on the encoder's input, in the encode pass itself: a separate decode of the
        MP3 cost a fifth of the bare two-pass time, and the true-peak headroom already covers
        the few tenths of a dB the MP3 encoder may add.
        """
        targets = job.targets
        aimed = replace(targets, integrated_lufs=targets.integrated_lufs + MP3_LOUDNESS_LOSS_LU)
        linear = linear_fits(aimed, measured)
        gain = linear_gain_db(aimed, measured)
        name = source.name
        result: _Normalized | None = None
        for encode in range(1, MAX_ENCODES + 1):
            if linear:
                loudness_filter = linear_gain_filter(gain)
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
            method = "linear" if linear else "limited"
            try:
                loudness = parse_ebur128_summary(encoded.stderr)
            except LoudnormParseError as exc:
                raise BadInputError(f"{name} could not be measured after encoding: {exc}") from exc
            progress = encoded.last_progress
            seconds = progress.out_time_seconds if progress else 0.0
            result = _Normalized(loudness, seconds, method, encode, loudness_filter)
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
            if linear:
                linear = False  # the gain alone missed: limit the peaks ourselves
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
                analysis_args(source, channel_map=_channel_map(info, job)),
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
            return parse_ebur128_measurement(result.stderr), decoded, partial
        except LoudnormParseError as exc:
            raise BadInputError(
                f"{source.name} could not be measured: no audio decoded ({exc})"
            ) from exc


def _channel_map(info: MediaInfo, job: TranscodeJob) -> str | None:
    return channel_filter(info.audio_streams[0].channels, job.encoding.channels)


_TRANSIENT_MARKERS = ("No space left on device", "Cannot allocate memory", "Resource temporarily")


def _conversion_error(name: str, exc: FfmpegError) -> Exception:
    """A failed ffmpeg run on a file that probed fine: damaged data, unless the box is sick."""
    if any(marker in exc.stderr for marker in _TRANSIENT_MARKERS):
        return exc  # the machine, not the file: worth a retry
    return BadInputError(f"{name} could not be converted: ffmpeg said {exc.reason}")
