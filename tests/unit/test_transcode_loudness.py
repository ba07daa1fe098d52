"""loudnorm's JSON report parsing and the filter strings of both passes."""

from __future__ import annotations

import math

import pytest

from podpipe.loudness import (
    LoudnessMeasurement,
    LoudnessReading,
    LoudnessTargets,
    LoudnormParseError,
    analysis_filter,
    limited_gain_filter,
    linear_fits,
    linear_gain_db,
    linear_gain_filter,
    normalize_filter,
    parse_ebur128_measurement,
    parse_ebur128_summary,
    parse_loudnorm_report,
)

# What ffmpeg 9 really prints on stderr (other log lines around, the report at the end).
REAL_STDERR = """\
Input #0, mov,mp4,m4a,3gp,3g2,mj2, from 'fs.m4a':
  Duration: 00:00:06.00, start: 0.000000, bitrate: 130 kb/s
  Stream #0:0[0x1](und): Audio: aac (LC) (mp4a / 0x6134706D), 44100 Hz, stereo, fltp, 127 kb/s
[Parsed_loudnorm_0 @ 0x7f8f44001d80]\x20
{
\t"input_i" : "-33.59",
\t"input_tp" : "-20.56",
\t"input_lra" : "0.10",
\t"input_thresh" : "-43.59",
\t"output_i" : "-16.02",
\t"output_tp" : "-3.04",
\t"output_lra" : "0.10",
\t"output_thresh" : "-26.02",
\t"normalization_type" : "dynamic",
\t"target_offset" : "0.02"
}
[out#0/null @ 0x555acb3ba040] video:0KiB audio:4500KiB subtitle:0KiB other streams:0KiB
"""


def test_parses_the_report_among_other_log_lines() -> None:
    report = parse_loudnorm_report(REAL_STDERR)
    assert report.input_i == -33.59
    assert report.input_tp == -20.56
    assert report.input_lra == 0.10
    assert report.input_thresh == -43.59
    assert report.output_i == -16.02
    assert report.target_offset == 0.02
    assert report.normalization_type == "dynamic"
    assert not report.is_silent


def test_the_last_report_wins_when_there_are_several() -> None:
    second = REAL_STDERR.replace("Parsed_loudnorm_0", "Parsed_loudnorm_1").replace(
        '"-33.59"', '"-20.00"'
    )
    assert parse_loudnorm_report(REAL_STDERR + second).input_i == -20.0


def test_silence_reads_as_minus_infinity_and_is_silent() -> None:
    silent = REAL_STDERR.replace('"-33.59"', '"-inf"').replace('"-20.56"', '"-inf"')
    report = parse_loudnorm_report(silent)
    assert math.isinf(report.input_i)
    assert report.is_silent


@pytest.mark.parametrize(
    "stderr",
    [
        "",
        "Error opening input file x.m4a.\n",
        '[Parsed_loudnorm_0 @ 0x1] \n{\n\t"input_i" : "-1',
        '[Parsed_loudnorm_0 @ 0x1] \n{ "input_i" : "loud" }\n',
        '[Parsed_loudnorm_0 @ 0x1] \n{ "input_i" : "-20" }\n',
    ],
)
def test_missing_or_broken_reports_are_parse_errors(stderr: str) -> None:
    with pytest.raises(LoudnormParseError):
        parse_loudnorm_report(stderr)


def test_analysis_filter_measures_against_the_targets_below_the_ceiling() -> None:
    targets = LoudnessTargets(integrated_lufs=-16, true_peak_dbtp=-1, true_peak_headroom_db=0.5)
    assert analysis_filter(targets) == "loudnorm=I=-16.00:TP=-1.50:LRA=11.00:print_format=json"


def test_normalize_filter_feeds_back_the_measurements_linearly() -> None:
    targets = LoudnessTargets(integrated_lufs=-19, true_peak_dbtp=-2, loudness_range_lu=9)
    measured = parse_loudnorm_report(REAL_STDERR)
    text = normalize_filter(targets, measured)
    assert text.startswith("loudnorm=I=-19.00:TP=-2.50:LRA=9.00:")
    for part in (
        "measured_I=-33.59",
        "measured_TP=-20.56",
        "measured_LRA=0.10",
        "measured_thresh=-43.59",
        "offset=0.02",
        "linear=true",
        "print_format=json",
    ):
        assert part in text.split(":"), part


def _measured(integrated: float, peak: float, lra: float = 5.0) -> LoudnessMeasurement:
    return LoudnessMeasurement(
        input_i=integrated,
        input_tp=peak,
        input_lra=lra,
        input_thresh=integrated - 10,
        output_i=-16.0,
        output_tp=-1.5,
        output_lra=lra,
        output_thresh=-26.0,
        normalization_type="dynamic",
        target_offset=0.0,
    )


def test_linear_fits_only_when_one_gain_keeps_peaks_under_the_ceiling() -> None:
    targets = LoudnessTargets()  # -16 LUFS, ceiling -1 dBTP, loudnorm aims at -1.5
    assert linear_gain_db(targets, _measured(-26.0, -12.0)) == 10.0
    assert linear_fits(targets, _measured(-26.0, -12.0))  # peaks land at -2
    assert not linear_fits(targets, _measured(-20.0, 0.2))  # peaks would land at +4.2
    assert not linear_fits(targets, _measured(-26.0, -12.0, lra=15.0))  # loudnorm goes dynamic
    assert not linear_fits(targets, _measured(-26.0, -12.0, lra=0.0))  # loudnorm ignores 0 LRA


def test_the_limiter_chain_is_oversampled_and_aims_under_the_ceiling() -> None:
    chain = limited_gain_filter(LoudnessTargets(), 4.93, 44100)
    stages = chain.split(",")
    assert stages[0] == "aresample=192000"
    assert stages[1] == "volume=4.93dB"
    assert stages[2].startswith("alimiter=limit=0.8414:")  # -1.5 dBTP as amplitude
    assert stages[-1] == "aresample=44100"


EBUR128_STDERR = """\
[Parsed_ebur128_0 @ 0x7fdde8001c00] Summary:

  Integrated loudness:
    I:         -16.4 LUFS
    Threshold: -26.6 LUFS

  Loudness range:
    LRA:         2.4 LU
    Threshold: -40.9 LUFS
    LRA low:   -22.2 LUFS
    LRA high:  -19.8 LUFS

  True peak:
    Peak:       -1.3 dBFS
[out#0/null @ 0x562f7a6aaa80] video:0KiB audio:15816KiB subtitle:0KiB
"""


def test_ebur128_summary_gives_the_result_loudness() -> None:
    reading = parse_ebur128_summary("noise\n" + EBUR128_STDERR)
    assert reading == LoudnessReading(-16.4, -1.3, 2.4)


def test_ebur128_summary_of_silence() -> None:
    silent = EBUR128_STDERR.replace("-16.4 LUFS", "-70.0 LUFS").replace("-1.3 dBFS", "-inf dBFS")
    reading = parse_ebur128_summary(silent)
    assert reading.integrated_lufs == -70.0
    assert math.isinf(reading.true_peak_dbtp)


def test_ebur128_without_true_peak_is_an_error() -> None:
    without_peak = EBUR128_STDERR.split("  True peak:")[0]
    with pytest.raises(LoudnormParseError):
        parse_ebur128_summary(without_peak)
    with pytest.raises(LoudnormParseError):
        parse_ebur128_summary("nothing here")


def test_the_analysis_pass_reads_ebur128_into_the_measurement_pass_two_needs() -> None:
    measured = parse_ebur128_measurement("Stream #0:0: Audio\n" + EBUR128_STDERR)
    assert (measured.input_i, measured.input_thresh) == (-16.4, -26.6)  # not the LRA threshold
    assert (measured.input_lra, measured.input_tp) == (2.4, -1.3)
    assert not measured.is_silent
    assert linear_gain_filter(linear_gain_db(LoudnessTargets(), measured)) == "volume=0.40dB"


def test_digital_silence_measures_as_silent() -> None:
    silent = EBUR128_STDERR.replace("-16.4 LUFS", "-70.0 LUFS").replace("-1.3 dBFS", "-inf dBFS")
    assert parse_ebur128_measurement(silent).is_silent
