"""The ffmpeg argument lists for each pass, and the MP3 encoding presets (pure, no I/O).

``run_ffmpeg`` adds the common flags (``-hide_banner -nostdin -y -nostats -progress``);
these builders return only inputs, filters and outputs, so a unit test can read them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from podpipe.loudness import EBUR128_FILTER

MP3_BITRATES_KBPS = (32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)
UPMIX = "pan=stereo|c0=c0|c1=c0"
"""Mono to dual mono at full level; linear, so it can follow the loudness filter."""
AUDIO_STREAM = "0:a:0"
"""The first audio stream: for mp4/mov that skips the video track, for audio files it is it."""


class EncodingPreset(StrEnum):
    """Named starting points; bitrate and channels can still be set one by one."""

    STANDARD = "standard"
    SPEECH = "speech"


PRESETS: dict[EncodingPreset, tuple[int, int]] = {
    EncodingPreset.STANDARD: (128, 2),
    # Speech-only shows sound the same at a fraction of the size: mono at 64 kb/s (96 max).
    EncodingPreset.SPEECH: (64, 1),
}


class EncodingError(ValueError):
    """An MP3 setting libmp3lame cannot honour."""


@dataclass(frozen=True)
class Mp3Encoding:
    bitrate_kbps: int = 128
    channels: int = 2
    sample_rate: int = 44100

    def __post_init__(self) -> None:
        if self.bitrate_kbps not in MP3_BITRATES_KBPS:
            allowed = ", ".join(str(b) for b in MP3_BITRATES_KBPS)
            raise EncodingError(f"MP3 bitrate {self.bitrate_kbps} kb/s is not one of {allowed}")
        if self.channels not in (1, 2):
            raise EncodingError(f"MP3 channels must be 1 (mono) or 2 (stereo), not {self.channels}")
        if self.sample_rate not in (22050, 24000, 32000, 44100, 48000):
            raise EncodingError(f"MP3 sample rate {self.sample_rate} Hz is not supported")

    @classmethod
    def from_preset(
        cls,
        preset: EncodingPreset,
        *,
        bitrate_kbps: int | None = None,
        channels: int | None = None,
        sample_rate: int = 44100,
    ) -> Mp3Encoding:
        default_bitrate, default_channels = PRESETS[preset]
        return cls(
            bitrate_kbps=bitrate_kbps or default_bitrate,
            channels=channels or default_channels,
            sample_rate=sample_rate,
        )


def channel_filter(source_channels: int | None, channels: int) -> str | None:
    """The explicit channel conversion both passes start with (None: nothing to convert).

    Explicit, because ffmpeg's automatic conversion is path-dependent: the same stereo file
    downmixed by format negotiation came out 3 dB apart depending on which filters followed,
    and pass one must measure exactly what pass two encodes. Mono becomes dual mono at full
    level (what a mono file sounds like on a stereo player); stereo becomes the average.
    """
    if source_channels == channels:
        return None
    if source_channels == 1 and channels == 2:
        return UPMIX
    if source_channels == 2 and channels == 1:
        return "pan=mono|c0=0.5*c0+0.5*c1"
    return f"aformat=channel_layouts={'mono' if channels == 1 else 'stereo'}"


def _chain(*filters: str | None) -> str:
    return ",".join(f for f in filters if f)


def analysis_args(
    source: Path,
    *,
    channel_map: str | None = None,
    stream: str = AUDIO_STREAM,
) -> list[str]:
    """Pass one: decode the audio stream and measure it (also proves it decodes to the end).

    ebur128, not loudnorm: the same BS.1770 figures for a sixth of the CPU (loudnorm
    resamples everything to 192 kHz even to measure).
    """
    chain = _chain(channel_map, EBUR128_FILTER)
    return ["-i", str(source), "-map", stream, "-af", chain, "-f", "null", "-"]


def encode_chain(
    loudness_filter: str,
    encoding: Mp3Encoding,
    *,
    channel_map: str | None = None,
) -> str:
    """The encode pass's filters: channels, loudness, the encoder's rate.

    A mono source is normalised before it is doubled to dual mono: the same samples for half
    the limiter's work (it runs oversampled at 192 kHz). Other conversions come first, so the
    loudness filter works on what gets encoded.
    """
    rate = f"aresample={encoding.sample_rate}"
    if channel_map == UPMIX:
        return _chain(loudness_filter, rate, channel_map)
    return _chain(channel_map, loudness_filter, rate)


def encode_args(
    source: Path,
    destination: Path,
    loudness_filter: str,
    encoding: Mp3Encoding,
    *,
    channel_map: str | None = None,
    stream: str = AUDIO_STREAM,
) -> list[str]:
    """Pass two: normalise, encode the MP3, and measure the MP3 itself in the same run.

    ``-dec 0:0`` (ffmpeg 7+) decodes the encoder's own output inside this process and feeds
    it to ebur128: the MP3 is measured exactly as a player decodes it (MP3 encoding moves
    loudness by a few tenths of a dB on some material), without a second ffmpeg run over the
    file. Tags are written afterwards.
    """
    chain = encode_chain(loudness_filter, encoding, channel_map=channel_map)
    return [
        "-i",
        str(source),
        "-filter_complex",
        f"[{stream}]{chain}[encode]",
        "-map",
        "[encode]",
        # The source's own tags and chapters (e.g. an editor's project name) must not leak.
        "-map_metadata",
        "-1",
        "-map_chapters",
        "-1",
        "-ar",
        str(encoding.sample_rate),
        "-ac",
        str(encoding.channels),
        "-c:a",
        "libmp3lame",
        "-b:a",
        f"{encoding.bitrate_kbps}k",
        "-id3v2_version",
        "3",
        "-write_id3v1",
        "0",
        "-f",
        "mp3",
        str(destination),
        *loopback_meter_args(0),
    ]


def loopback_meter_args(output_index: int, stream_index: int = 0) -> list[str]:
    """Decode an output's encoded stream in the same run and measure it with ebur128."""
    return [
        "-dec",
        f"{output_index}:{stream_index}",
        "-filter_complex",
        f"[dec:0]{EBUR128_FILTER}[meter]",
        "-map",
        "[meter]",
        "-f",
        "null",
        "-",
    ]


def measure_args(audio: Path, stream: str = AUDIO_STREAM) -> list[str]:
    """The check on the result: measure the MP3 exactly as a podcast app would decode it."""
    return ["-i", str(audio), "-map", stream, "-af", EBUR128_FILTER, "-f", "null", "-"]
