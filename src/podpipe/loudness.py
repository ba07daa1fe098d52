"""EBU R128 loudness: loudnorm filter strings and parsing its JSON report (pure, no I/O).

Two-pass normalisation: pass one runs ``loudnorm`` with ``print_format=json`` to measure the
source; pass two feeds those measurements back with ``linear=true`` so the whole episode gets
one constant gain (no pumping) whenever the true-peak ceiling allows it. ffmpeg prints the
report on stderr after a ``[Parsed_loudnorm_N @ 0x...]`` line, mixed with other log lines.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass

SILENCE_LUFS = -70.0
"""At or below this integrated loudness there is nothing to normalise (EBU's absolute gate)."""
TOLERANCE_LU = 0.4
"""How far from the integrated target a result may land before another encode corrects it."""
OVERSAMPLED_RATE = 192000
"""The limiter runs at 192 kHz so that it catches inter-sample (true) peaks, as loudnorm does."""


class LoudnormParseError(ValueError):
    """ffmpeg's stderr holds no readable loudnorm report."""


@dataclass(frozen=True)
class LoudnessTargets:
    """What the published MP3 must meet: integrated loudness, true-peak ceiling, range."""

    integrated_lufs: float = -16.0
    true_peak_dbtp: float = -1.0
    loudness_range_lu: float = 11.0
    true_peak_headroom_db: float = 0.5
    """Aimed below the ceiling because MP3 encoding adds a few tenths of a dB of overshoot."""

    @property
    def filter_true_peak(self) -> float:
        return max(-9.0, self.true_peak_dbtp - self.true_peak_headroom_db)


@dataclass(frozen=True)
class LoudnessMeasurement:
    """loudnorm's report: the input's loudness (and, after pass two, the output's estimate)."""

    input_i: float
    input_tp: float
    input_lra: float
    input_thresh: float
    output_i: float
    output_tp: float
    output_lra: float
    output_thresh: float
    normalization_type: str
    target_offset: float

    @property
    def is_silent(self) -> bool:
        return not math.isfinite(self.input_i) or self.input_i <= SILENCE_LUFS


_REPORT_START = re.compile(r"\[Parsed_loudnorm_\d+ @ [^\]]*\]\s*$", re.MULTILINE)
_FIELDS = (
    "input_i",
    "input_tp",
    "input_lra",
    "input_thresh",
    "output_i",
    "output_tp",
    "output_lra",
    "output_thresh",
    "target_offset",
)


def parse_loudnorm_report(stderr: str) -> LoudnessMeasurement:
    """The last loudnorm JSON report in ffmpeg's stderr.

    Values are strings in the JSON and may be ``-inf``/``inf`` (silence), which ``float()``
    reads; anything else unreadable is a LoudnormParseError.
    """
    starts = list(_REPORT_START.finditer(stderr))
    if not starts:
        raise LoudnormParseError("ffmpeg printed no loudnorm report")
    tail = stderr[starts[-1].end() :]
    opening = tail.find("{")
    closing = tail.find("}", opening)
    if opening < 0 or closing < 0:
        raise LoudnormParseError("the loudnorm report is incomplete")
    try:
        raw = json.loads(tail[opening : closing + 1])
    except json.JSONDecodeError as exc:
        raise LoudnormParseError(f"the loudnorm report is not JSON: {exc.msg}") from exc
    try:
        values = {name: float(raw[name]) for name in _FIELDS}
    except (KeyError, TypeError, ValueError) as exc:
        raise LoudnormParseError(f"the loudnorm report lacks a number: {exc}") from exc
    return LoudnessMeasurement(
        **values, normalization_type=str(raw.get("normalization_type", "unknown"))
    )


def linear_gain_db(targets: LoudnessTargets, measured: LoudnessMeasurement) -> float:
    return targets.integrated_lufs - measured.input_i


def linear_fits(targets: LoudnessTargets, measured: LoudnessMeasurement) -> bool:
    """Whether loudnorm will really stay linear (its own conditions, from af_loudnorm.c).

    One constant gain must keep the true peak under the ceiling, the range must already be
    within the target, and loudnorm ignores measurements of exactly 0 LRA.
    """
    return (
        measured.input_tp + linear_gain_db(targets, measured) <= targets.filter_true_peak
        and 0 < measured.input_lra <= targets.loudness_range_lu
    )


def limited_gain_filter(targets: LoudnessTargets, gain_db: float, sample_rate: int) -> str:
    """A constant gain with a true-peak-safe limiter: for peaky speech that linear cannot lift.

    loudnorm's dynamic mode undershoots the target by 1 LU or more on material whose peaks
    sit far above its loudness (measured on synthetic and clipped speech), so podpipe limits
    the peaks itself — oversampled, so inter-sample peaks count — and corrects the gain from
    the measured result when the limiter ate too much loudness.
    """
    ceiling = 10 ** (targets.filter_true_peak / 20)
    return (
        f"aresample={OVERSAMPLED_RATE},volume={gain_db:.2f}dB,"
        f"alimiter=limit={ceiling:.4f}:attack=1:release=60:level=false,"
        f"aresample={sample_rate}"
    )


@dataclass(frozen=True)
class LoudnessReading:
    """An ebur128 measurement of finished audio (what a listener's player decodes)."""

    integrated_lufs: float
    true_peak_dbtp: float
    loudness_range_lu: float


EBUR128_FILTER = "ebur128=peak=true:framelog=quiet"
"""Measures the result: about 6x cheaper than a loudnorm analysis pass (no 192 kHz resampling
of the signal, only of the peak meter), and a different meter from the filter that did the
work."""
_SUMMARY = re.compile(r"\[Parsed_ebur128_\d+ @ [^\]]*\] Summary:")
_SUMMARY_VALUES = {
    "integrated_lufs": re.compile(r"^\s+I:\s+(-?inf|-?[\d.]+) LUFS", re.MULTILINE),
    "loudness_range_lu": re.compile(r"^\s+LRA:\s+(-?inf|-?[\d.]+) LU\b", re.MULTILINE),
    "true_peak_dbtp": re.compile(r"^\s+Peak:\s+(-?inf|-?[\d.]+) dBFS", re.MULTILINE),
}
_INTEGRATED_THRESHOLD = re.compile(r"^\s+I:.*\n\s+Threshold:\s+(-?inf|-?[\d.]+) LUFS", re.MULTILINE)


def parse_ebur128_summary(stderr: str) -> LoudnessReading:
    """The last ebur128 summary in ffmpeg's stderr (needs ``peak=true`` for the true peak)."""
    starts = list(_SUMMARY.finditer(stderr))
    if not starts:
        raise LoudnormParseError("ffmpeg printed no ebur128 summary")
    summary = stderr[starts[-1].end() :]
    values: dict[str, float] = {}
    for name, pattern in _SUMMARY_VALUES.items():
        match = pattern.search(summary)
        if match is None:
            raise LoudnormParseError(f"the ebur128 summary has no {name}")
        values[name] = float(match.group(1))
    return LoudnessReading(**values)


def parse_ebur128_measurement(stderr: str) -> LoudnessMeasurement:
    """The source's loudness from an ebur128 summary, in the shape pass two needs.

    ebur128 measures what loudnorm's analysis pass measures (BS.1770 integrated loudness, its
    gating threshold, loudness range, oversampled true peak) at a sixth of the CPU: loudnorm
    resamples the whole signal to 192 kHz even when it only measures. There is no estimate of
    an output yet, so the output fields repeat the input's.
    """
    reading = parse_ebur128_summary(stderr)
    starts = list(_SUMMARY.finditer(stderr))
    threshold = _INTEGRATED_THRESHOLD.search(stderr[starts[-1].end() :])
    thresh = float(threshold.group(1)) if threshold else SILENCE_LUFS
    return LoudnessMeasurement(
        input_i=reading.integrated_lufs,
        input_tp=reading.true_peak_dbtp,
        input_lra=reading.loudness_range_lu,
        input_thresh=thresh,
        output_i=reading.integrated_lufs,
        output_tp=reading.true_peak_dbtp,
        output_lra=reading.loudness_range_lu,
        output_thresh=thresh,
        normalization_type="measured",
        target_offset=0.0,
    )


def linear_gain_filter(gain_db: float) -> str:
    """One constant gain: what loudnorm's linear mode applies, without its 192 kHz detour."""
    return f"volume={gain_db:.2f}dB"


def _number(value: float) -> str:
    return f"{value:.2f}"


def analysis_filter(targets: LoudnessTargets) -> str:
    """Pass one (and the check on the result): measure only, report as JSON."""
    return (
        f"loudnorm=I={_number(targets.integrated_lufs)}"
        f":TP={_number(targets.filter_true_peak)}"
        f":LRA={_number(targets.loudness_range_lu)}:print_format=json"
    )


def normalize_filter(targets: LoudnessTargets, measured: LoudnessMeasurement) -> str:
    """Pass two: apply the measured values with one linear gain where the ceiling allows.

    loudnorm itself falls back to dynamic mode when a linear gain would exceed the true-peak
    ceiling or the source's loudness range is wider than the target; the report says which.
    """
    return (
        f"loudnorm=I={_number(targets.integrated_lufs)}"
        f":TP={_number(targets.filter_true_peak)}"
        f":LRA={_number(targets.loudness_range_lu)}"
        f":measured_I={_number(measured.input_i)}"
        f":measured_TP={_number(measured.input_tp)}"
        f":measured_LRA={_number(measured.input_lra)}"
        f":measured_thresh={_number(measured.input_thresh)}"
        f":offset={_number(measured.target_offset)}"
        ":linear=true:print_format=json"
    )
