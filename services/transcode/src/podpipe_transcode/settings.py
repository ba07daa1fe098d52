"""Transcode settings: the media settings plus MP3 encoding, limits and the backend."""

from __future__ import annotations

from pydantic import Field

from podpipe.settings import MediaSettings
from podpipe_transcode.commands import EncodingPreset, Mp3Encoding


class TranscodeSettings(MediaSettings):
    """Environment variables use the PODPIPE_ prefix (e.g. PODPIPE_TARGET_LUFS)."""

    mp3_preset: EncodingPreset = Field(
        default=EncodingPreset.STANDARD,
        description="standard = 128 kb/s stereo; speech = 64 kb/s mono.",
    )
    mp3_bitrate_kbps: int | None = Field(
        default=None, description="MP3 bitrate (kb/s); overrides the preset's."
    )
    mp3_channels: int | None = Field(
        default=None, ge=1, le=2, description="1 (mono) or 2 (stereo); overrides the preset's."
    )
    mp3_sample_rate: int = Field(default=44100, description="MP3 sample rate (Hz).")
    max_duration_seconds: float = Field(
        default=4 * 3600, gt=0, description="Longest accepted episode (seconds); longer fails."
    )
    transcode_backend: str = Field(default="ffmpeg", description="Transcoding backend: ffmpeg.")
    ffmpeg_progress_log_seconds: float = Field(
        default=15.0, gt=0, description="How often ffmpeg progress is logged (seconds)."
    )

    def mp3_encoding(self) -> Mp3Encoding:
        return Mp3Encoding.from_preset(
            self.mp3_preset,
            bitrate_kbps=self.mp3_bitrate_kbps,
            channels=self.mp3_channels,
            sample_rate=self.mp3_sample_rate,
        )
