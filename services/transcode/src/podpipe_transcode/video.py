"""Video episodes: the web-ready ``video.mp4`` next to the MP3 (pure: decisions and argument
lists, no I/O).

The picture is stream-copied whenever it already plays everywhere (H.264, 4:2:0, even size,
constant frame rate, upright): only the audio is re-encoded, through the very loudness filter
the MP3 got, so one measurement serves both outputs. Anything else is re-encoded once with
exactly the fixes it needs (turned upright, even size, constant rate, 4:2:0).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from podpipe.ffmpeg import MediaInfo, VideoStreamInfo, h264_video
from podpipe_transcode.commands import AUDIO_STREAM, Mp3Encoding, encode_chain, loopback_meter_args
from podpipe_transcode.core import BadInputError

VIDEO_STREAM = "0:v:0"
MIN_SIDE = 16
MAX_SIDE = 4096
"""x264's level 5.2 tops out around 4096 on a side; larger (8K) is refused with a reason."""
VFR_TOLERANCE = 0.002
"""``fps`` and ``tbr`` this far apart (relative) mean the frame rate varies (a phone's
29.83 fps against 30 tbr is 0.6 %; NTSC 29.97 prints 29.97 for both)."""


@dataclass(frozen=True)
class VideoOptions:
    preset: str = "veryfast"
    crf: int = 23
    audio_bitrate_kbps: int = 160
    meter_audio: bool = False
    """Decode the AAC back in the same run and measure it. Off by default: it costs 15-20 %
    of the job's CPU (bench/video.py) to re-learn what the MP3's measurement already says —
    the same filter, and AAC at 160 kb/s keeps loudness within a few tenths."""


@dataclass(frozen=True)
class VideoPlan:
    copy: bool
    """Stream-copy the picture (nothing about it needs to change)."""
    filters: tuple[str, ...]
    """The picture's filters when it is re-encoded (in order)."""
    reasons: tuple[str, ...]
    """Why it is re-encoded, for the log and the stage record."""
    frame_rate: float | None = None


def is_variable_rate(stream: VideoStreamInfo) -> bool:
    if stream.fps is None or stream.tbr is None or stream.tbr <= 0:
        return False
    return abs(stream.fps - stream.tbr) / stream.tbr > VFR_TOLERANCE


def video_stream_of(info: MediaInfo, name: str) -> VideoStreamInfo:
    """The picture track a video output is made from, or BadInputError saying why not."""
    if not info.video_streams:
        raise BadInputError(
            f"{name} has no video track: a video episode needs one (audio-only uploads get the "
            "MP3 and audiograms)."
        )
    if not info.has_audio:
        raise BadInputError(f"{name} has a picture but no sound: there is nothing to publish.")
    stream = info.video_streams[0]
    if stream.width is None or stream.height is None:
        raise BadInputError(f"{name}: ffmpeg cannot tell the size of its picture.")
    if min(stream.width, stream.height) < MIN_SIDE or max(stream.width, stream.height) > MAX_SIDE:
        raise BadInputError(
            f"{name} has a {stream.width}x{stream.height} picture: video between "
            f"{MIN_SIDE} and {MAX_SIDE} pixels a side is supported. Export it at 1080p or 4K."
        )
    return stream


def plan_video(stream: VideoStreamInfo) -> VideoPlan:
    """Copy the picture when nothing needs fixing, else the fewest filters that fix it."""
    reasons: list[str] = []
    filters: list[str] = []
    rate: float | None = None
    if stream.codec != "h264":
        reasons.append(f"{stream.codec} is not H.264")
    if stream.pixel_format != "yuv420p":
        reasons.append(f"{stream.pixel_format or 'unknown'} pixels are not 4:2:0")
    rotation = round(stream.rotation) % 360
    if rotation:
        # ffmpeg's decoder turns the picture upright itself (autorotate): no filter needed,
        # but the copy would keep a sideways picture that some players ignore the flag of.
        reasons.append(f"recorded rotated by {rotation} degrees")
    width, height = stream.width or 0, stream.height or 0
    if width % 2 or height % 2:
        reasons.append(f"odd size {width}x{height}")
        filters.append("scale=trunc(iw/2)*2:trunc(ih/2)*2")
    if is_variable_rate(stream):
        rate = round(stream.tbr or stream.fps or 30.0, 3)
        reasons.append(f"variable frame rate ({stream.fps} fps vs {stream.tbr} tbr)")
        filters.append(f"fps={rate:g}")
    if reasons:
        filters.append("format=yuv420p")
    return VideoPlan(
        copy=not reasons, filters=tuple(filters), reasons=tuple(reasons), frame_rate=rate
    )


def video_args(
    source: Path,
    destination: Path,
    loudness_filter: str,
    encoding: Mp3Encoding,
    plan: VideoPlan,
    options: VideoOptions,
    *,
    channel_map: str | None = None,
) -> list[str]:
    """``video.mp4``: the picture (copied or fixed), the audio through the MP3's own loudness
    filter as AAC, moov first (+faststart) so it plays while it downloads; with
    ``meter_audio`` the AAC is also measured in the same run (loopback decoder)."""
    picture = (
        ["-c:v", "copy"]
        if plan.copy
        else [
            *(["-vf", ",".join(plan.filters)] if plan.filters else []),
            *h264_video(options.preset, options.crf),
        ]
    )
    return [
        "-i",
        str(source),
        "-map",
        VIDEO_STREAM,
        "-map",
        AUDIO_STREAM,
        "-map_metadata",
        "-1",
        "-map_chapters",
        "-1",
        *picture,
        "-af",
        encode_chain(loudness_filter, encoding, channel_map=channel_map),
        "-c:a",
        "aac",
        "-b:a",
        f"{options.audio_bitrate_kbps}k",
        "-movflags",
        "+faststart",
        "-f",
        "mp4",
        str(destination),
        *(loopback_meter_args(0, 1) if options.meter_audio else []),
    ]
