"""ffmpeg argument lists, MP3 presets, progress and ``ffmpeg -i`` header parsing."""

from __future__ import annotations

from pathlib import Path

import pytest

from podpipe.ffmpeg import (
    parse_clock,
    parse_probe_output,
    parse_progress_block,
    stderr_gist,
)
from podpipe.loudness import linear_gain_filter
from podpipe_transcode.commands import (
    EncodingError,
    EncodingPreset,
    Mp3Encoding,
    analysis_args,
    channel_filter,
    encode_args,
)


def _value_after(args: list[str], flag: str) -> str:
    return args[args.index(flag) + 1]


def test_normalize_encodes_the_first_audio_stream_to_a_clean_mp3() -> None:
    loudness = linear_gain_filter(4.0)
    args = encode_args(
        Path("in/ep.mp4"), Path("out/audio.mp3"), loudness, Mp3Encoding(), channel_map="pan=x"
    )
    assert _value_after(args, "-i") == "in/ep.mp4"
    # The video track of an mp4 is dropped: the graph reads the first audio stream only.
    graph = _value_after(args, "-filter_complex")
    assert graph == "[0:a:0]pan=x,volume=4.00dB,aresample=44100[encode]"
    assert _value_after(args, "-map") == "[encode]"
    assert _value_after(args, "-map_metadata") == "-1"
    assert _value_after(args, "-c:a") == "libmp3lame"
    assert _value_after(args, "-b:a") == "128k"
    assert _value_after(args, "-ac") == "2"
    assert _value_after(args, "-ar") == "44100"
    assert _value_after(args, "-id3v2_version") == "3"
    mp3 = args.index("out/audio.mp3")
    # The MP3 is decoded again inside the same run and measured: no second pass over the file.
    meter = args[mp3 + 1 :]
    assert meter[:2] == ["-dec", "0:0"]
    assert _value_after(meter, "-filter_complex").startswith("[dec:0]ebur128=peak=true")
    assert meter[-3:] == ["-f", "null", "-"]


def test_a_mono_source_is_normalised_before_it_is_doubled() -> None:
    args = encode_args(
        Path("a"), Path("b"), "volume=1dB", Mp3Encoding(), channel_map=channel_filter(1, 2)
    )
    graph = _value_after(args, "-filter_complex")
    assert graph == "[0:a:0]volume=1dB,aresample=44100,pan=stereo|c0=c0|c1=c0[encode]"


def test_analysis_pass_writes_nothing() -> None:
    args = analysis_args(Path("x.wav"), channel_map=channel_filter(2, 1))
    assert args[-3:] == ["-f", "null", "-"]
    assert _value_after(args, "-af") == "pan=mono|c0=0.5*c0+0.5*c1,ebur128=peak=true:framelog=quiet"


@pytest.mark.parametrize(
    ("source", "target", "expected"),
    [
        (1, 1, None),
        (2, 2, None),
        (1, 2, "pan=stereo|c0=c0|c1=c0"),
        (2, 1, "pan=mono|c0=0.5*c0+0.5*c1"),
        (6, 2, "aformat=channel_layouts=stereo"),
        (None, 1, "aformat=channel_layouts=mono"),
    ],
)
def test_channel_conversion_is_explicit(source: int | None, target: int, expected: str) -> None:
    assert channel_filter(source, target) == expected


def test_speech_preset_is_mono_at_a_low_bitrate_and_overridable() -> None:
    speech = Mp3Encoding.from_preset(EncodingPreset.SPEECH)
    assert (speech.bitrate_kbps, speech.channels) == (64, 1)
    assert Mp3Encoding.from_preset(EncodingPreset.SPEECH, bitrate_kbps=96).bitrate_kbps == 96
    standard = Mp3Encoding.from_preset(EncodingPreset.STANDARD)
    assert (standard.bitrate_kbps, standard.channels) == (128, 2)
    args = encode_args(Path("a"), Path("b"), "volume=1dB", speech)
    assert _value_after(args, "-filter_complex") == "[0:a:0]volume=1dB,aresample=44100[encode]"
    assert (_value_after(args, "-b:a"), _value_after(args, "-ac")) == ("64k", "1")


@pytest.mark.parametrize("kwargs", [{"bitrate_kbps": 100}, {"channels": 6}, {"sample_rate": 12345}])
def test_impossible_mp3_settings_are_refused(kwargs: dict[str, int]) -> None:
    with pytest.raises(EncodingError):
        Mp3Encoding(**kwargs)


def test_progress_block_reads_microseconds_and_speed() -> None:
    block = {"out_time_us": "90500000", "out_time": "00:01:30.500000", "speed": "12.5x"}
    progress = parse_progress_block({**block, "progress": "continue"}, total_seconds=181.0)
    assert progress.out_time_seconds == 90.5
    assert progress.speed == 12.5
    assert progress.fraction == pytest.approx(0.5)
    assert not progress.done
    assert parse_progress_block({"progress": "end"}).done


def test_progress_before_the_first_frame_is_zero_not_an_error() -> None:
    progress = parse_progress_block(
        {"out_time_us": "N/A", "out_time_ms": "N/A", "out_time": "N/A", "speed": "N/A"}
    )
    assert progress.out_time_seconds == 0.0
    assert progress.speed is None
    assert progress.fraction is None


def test_clock_strings() -> None:
    assert parse_clock("04:00:00.00") == 14400.0
    assert parse_clock("00:00:06.5") == 6.5
    assert parse_clock("N/A") is None


M4A = """\
Input #0, mov,mp4,m4a,3gp,3g2,mj2, from 't.m4a':
  Metadata:
    major_brand     : M4A\x20
  Duration: 00:00:04.00, start: 0.000000, bitrate: 72 kb/s
  Stream #0:0[0x1](und): Audio: aac (LC) (mp4a / 0x6134706D), 44100 Hz, mono, fltp, 69 kb/s (default)
    Metadata:
      handler_name    : SoundHandler
At least one output file must be specified
"""

MP4 = """\
Input #0, mov,mp4,m4a,3gp,3g2,mj2, from 't.mp4':
  Duration: 01:02:03.50, start: 0.000000, bitrate: 83 kb/s
  Stream #0:0[0x1](und): Video: h264 (High) (avc1 / 0x31637661), yuv420p(progressive), 64x64, 25 fps (default)
  Stream #0:1[0x2](und): Audio: aac (LC) (mp4a / 0x6134706D), 48000 Hz, stereo, fltp, 69 kb/s (default)
At least one output file must be specified
"""

MP3_WITH_COVER = """\
Input #0, mp3, from 'ep.mp3':
  Duration: 00:10:00.02, start: 0.025057, bitrate: 128 kb/s
  Stream #0:0: Audio: mp3 (mp3float), 44100 Hz, 5.1, fltp, 128 kb/s
  Stream #0:1: Video: mjpeg (Baseline), yuvj420p(pc), 600x600, 90k tbr, 90k tbn (attached pic)
"""

NOT_MEDIA = """\
[in#0 @ 0x5613feb82040] Format mov,mp4,m4a,3gp,3g2,mj2 detected only with low score of 1, misdetection possible!
[in#0 @ 0x5613feb82040] moov atom not found
[in#0 @ 0x5613feb81cc0] Error opening input: Invalid data found when processing input
Error opening input file bad.m4a.
Error opening input files: Invalid data found when processing input
"""


def test_probe_reads_an_m4a_header() -> None:
    info = parse_probe_output(M4A)
    assert info is not None
    assert info.duration_seconds == 4.0
    assert info.has_audio
    assert not info.has_video
    stream = info.audio_streams[0]
    assert (stream.codec, stream.sample_rate, stream.channels) == ("aac", 44100, 1)


def test_probe_sees_the_audio_track_of_a_video() -> None:
    info = parse_probe_output(MP4)
    assert info is not None
    assert info.duration_seconds == pytest.approx(3723.5)
    assert info.has_video
    assert info.audio_streams[0].channels == 2
    assert info.audio_streams[0].sample_rate == 48000


def test_cover_art_is_not_a_video_track() -> None:
    info = parse_probe_output(MP3_WITH_COVER)
    assert info is not None
    assert info.format_name == "mp3"
    assert not info.has_video
    assert info.audio_streams[0].channels == 6


def test_probe_of_garbage_is_none_and_the_gist_is_readable() -> None:
    assert parse_probe_output(NOT_MEDIA) is None
    gist = stderr_gist(NOT_MEDIA)
    assert "0x5613" not in gist  # pointers mean nothing to a host
    assert "Invalid data found when processing input" in gist
