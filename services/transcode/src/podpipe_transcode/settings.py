"""Transcode settings: the core settings plus loudness targets, MP3 encoding and limits."""

from __future__ import annotations

from pydantic import Field

from podpipe.loudness import LoudnessTargets
from podpipe_transcode.clips.settings import ClipsSettings
from podpipe_transcode.commands import EncodingPreset, Mp3Encoding


class TranscodeSettings(ClipsSettings):
    """Environment variables use the PODPIPE_ prefix (e.g. PODPIPE_TARGET_LUFS)."""

    target_lufs: float = Field(
        default=-16.0, ge=-40.0, le=-5.0, description="Integrated loudness target (LUFS)."
    )
    target_true_peak: float = Field(
        default=-1.0, ge=-9.0, le=0.0, description="True-peak ceiling of the MP3 (dBTP)."
    )
    target_lra: float = Field(
        default=11.0, ge=1.0, le=50.0, description="Loudness range target of loudnorm (LU)."
    )
    true_peak_headroom_db: float = Field(
        default=0.5,
        ge=0.0,
        le=3.0,
        description="loudnorm aims this far below the ceiling: MP3 encoding overshoots a little.",
    )
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
    ffmpeg_path: str = Field(
        default="", description="ffmpeg binary; default: PATH, then the imageio-ffmpeg wheel."
    )
    transcode_backend: str = Field(default="ffmpeg", description="Transcoding backend: ffmpeg.")
    work_dir: str = Field(
        default="", description="Scratch directory for downloads and encodes; default: system tmp."
    )
    ffmpeg_progress_log_seconds: float = Field(
        default=15.0, gt=0, description="How often ffmpeg progress is logged (seconds)."
    )

    def loudness_targets(self) -> LoudnessTargets:
        return LoudnessTargets(
            integrated_lufs=self.target_lufs,
            true_peak_dbtp=self.target_true_peak,
            loudness_range_lu=self.target_lra,
            true_peak_headroom_db=self.true_peak_headroom_db,
        )

    def mp3_encoding(self) -> Mp3Encoding:
        return Mp3Encoding.from_preset(
            self.mp3_preset,
            bitrate_kbps=self.mp3_bitrate_kbps,
            channels=self.mp3_channels,
            sample_rate=self.mp3_sample_rate,
        )
