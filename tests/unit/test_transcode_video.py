"""Video episodes: reading the picture track from ``ffmpeg -i``, copy-or-fix decisions,
refusals with reasons, and the ``video.mp4`` argument list (pure, no ffmpeg run)."""

from __future__ import annotations

from pathlib import Path

import pytest

from podpipe.ffmpeg import MediaInfo, VideoStreamInfo, parse_probe_output
from podpipe_transcode.commands import Mp3Encoding, channel_filter
from podpipe_transcode.core import BadInputError
from podpipe_transcode.video import (
    VideoOptions,
    is_variable_rate,
    plan_video,
    video_args,
    video_stream_of,
)

PHONE = """\
Input #0, mov,mp4,m4a,3gp,3g2,mj2, from 'phone.mov':
  Duration: 00:00:12.00, start: 0.000000, bitrate: 284 kb/s
  Stream #0:0[0x1](und): Video: h264 (High) (avc1 / 0x31637661), yuv420p(tv, bt709, progressive), 1920x1080 [SAR 1:1 DAR 16:9], 9000 kb/s, 29.83 fps, 30 tbr, 90k tbn (default)
    Metadata:
      handler_name    : Core Media Video
    Side data:
      Display Matrix: rotation of -90.00 degrees
  Stream #0:1[0x2](und): Audio: aac (LC) (mp4a / 0x6134706D), 44100 Hz, stereo, fltp, 128 kb/s (default)
"""


def _stream(**overrides: object) -> VideoStreamInfo:
    values: dict[str, object] = {
        "codec": "h264",
        "pixel_format": "yuv420p",
        "width": 1280,
        "height": 720,
        "fps": 25.0,
        "tbr": 25.0,
    }
    values.update(overrides)
    return VideoStreamInfo(**values)  # type: ignore[arg-type]


def test_the_header_gives_the_picture_its_rate_and_its_rotation() -> None:
    info = parse_probe_output(PHONE)
    assert info is not None
    assert info.has_video
    assert info.has_audio
    [video] = info.video_streams
    assert (video.codec, video.pixel_format) == ("h264", "yuv420p")
    assert (video.width, video.height, video.fps, video.tbr) == (1920, 1080, 29.83, 30.0)
    assert video.rotation == -90.0
    assert is_variable_rate(video)


def test_cover_art_is_not_a_picture_track() -> None:
    art = PHONE.replace("(default)\n    Metadata", "(attached pic)\n    Metadata", 1)
    info = parse_probe_output(art)
    assert info is not None
    assert not info.has_video
    assert info.video_streams == ()


def test_a_web_ready_picture_is_copied_untouched() -> None:
    plan = plan_video(_stream())
    assert plan.copy
    assert plan.filters == ()
    assert plan.reasons == ()


@pytest.mark.parametrize(
    ("overrides", "reason", "video_filter"),
    [
        ({"codec": "hevc"}, "hevc is not H.264", None),
        ({"pixel_format": "yuv444p"}, "yuv444p pixels are not 4:2:0", None),
        ({"rotation": -90.0}, "recorded rotated by 270 degrees", None),
        ({"width": 641, "height": 361}, "odd size 641x361", "scale=trunc(iw/2)*2:trunc(ih/2)*2"),
        ({"fps": 29.83, "tbr": 30.0}, "variable frame rate", "fps=30"),
    ],
)
def test_anything_else_is_reencoded_with_just_the_fix_it_needs(
    overrides: dict[str, object], reason: str, video_filter: str | None
) -> None:
    plan = plan_video(_stream(**overrides))
    assert not plan.copy
    assert any(r.startswith(reason) for r in plan.reasons), plan.reasons
    assert plan.filters[-1] == "format=yuv420p"
    if video_filter:
        assert video_filter in plan.filters


def _info(video: tuple[VideoStreamInfo, ...], audio: bool = True) -> MediaInfo:
    parsed = parse_probe_output(PHONE)
    assert parsed is not None
    return MediaInfo(
        format_name="mov",
        duration_seconds=12.0,
        audio_streams=parsed.audio_streams if audio else (),
        has_video=bool(video),
        video_streams=video,
    )


@pytest.mark.parametrize(
    ("info", "words"),
    [
        (_info(()), "no video track"),
        (_info((_stream(),), audio=False), "no sound"),
        (_info((_stream(width=8192, height=4320),)), "8192x4320"),
        (_info((_stream(width=None, height=None),)), "cannot tell the size"),
    ],
)
def test_unusable_pictures_are_refused_with_a_reason(info: MediaInfo, words: str) -> None:
    with pytest.raises(BadInputError, match=words):
        video_stream_of(info, "ep.mp4")


def test_video_mp4_reuses_the_mp3_loudness_filter_and_plays_while_it_downloads() -> None:
    args = video_args(
        Path("ep.mov"),
        Path("video.mp4"),
        "volume=2.00dB",
        Mp3Encoding(),
        plan_video(_stream()),
        VideoOptions(meter_audio=True),
        channel_map=channel_filter(1, 2),
    )
    assert args[args.index("-c:v") + 1] == "copy"
    assert args[args.index("-af") + 1] == "volume=2.00dB,aresample=44100,pan=stereo|c0=c0|c1=c0"
    assert args[args.index("-c:a") + 1] == "aac"
    assert args[args.index("-movflags") + 1] == "+faststart"
    # The AAC is decoded back inside the same run and measured (output 0, stream 1).
    assert args[args.index("-dec") + 1] == "0:1"


def test_a_fixed_picture_is_encoded_with_x264_in_4_2_0() -> None:
    plan = plan_video(_stream(width=641, height=361))
    args = video_args(
        Path("a.mkv"), Path("v.mp4"), "volume=0dB", Mp3Encoding(), plan, VideoOptions()
    )
    assert args[args.index("-vf") + 1] == "scale=trunc(iw/2)*2:trunc(ih/2)*2,format=yuv420p"
    assert args[args.index("-c:v") + 1] == "libx264"
    assert args[args.index("-pix_fmt") + 1] == "yuv420p"
    assert "-dec" not in args  # unmetered by default: the MP3's measurement stands
