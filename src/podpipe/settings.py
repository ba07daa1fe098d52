"""Core settings (pydantic-settings). Built once in a service's bootstrap and passed down.

AWS endpoints come from the standard ``AWS_ENDPOINT_URL`` (boto3 reads it itself), so nothing
here knows about LocalStack.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from podpipe.loudness import LoudnessTargets
from podpipe.topology import dlq_name, queue_name


class CoreSettings(BaseSettings):
    """Settings every podpipe process shares. Environment variables use the PODPIPE_ prefix."""

    model_config = SettingsConfigDict(env_prefix="PODPIPE_", extra="ignore")

    name_prefix: str = Field(
        default="podpipe", description="Prefix of every queue, DLQ, bus and rule name."
    )
    bucket: str = Field(
        default="podpipe-media", description="The S3 bucket of uploads and artifacts."
    )
    bus_name: str = Field(default="", description="EventBridge bus; default '<prefix>-events'.")
    region: str = Field(
        default="us-east-1",
        validation_alias="AWS_REGION",
        description="AWS region (standard AWS_REGION).",
    )
    log_level: str = Field(default="INFO", description="Log level: DEBUG, INFO, WARNING, ERROR.")
    log_json: bool | None = Field(
        default=None, description="JSON logs; default: JSON unless stdout is a terminal."
    )
    wait_time_seconds: int = Field(
        default=20, ge=0, le=20, description="SQS long-poll wait (seconds)."
    )
    shutdown_grace_seconds: float = Field(
        default=25.0, description="How long SIGTERM waits for in-flight work (ECS kills at 30 s)."
    )
    presign_expiry_seconds: int = Field(
        default=7200, ge=60, le=604800, description="Lifetime of presigned download links."
    )

    @property
    def event_bus(self) -> str:
        return self.bus_name or f"{self.name_prefix}-events"

    def queue(self, name: str) -> str:
        return queue_name(self.name_prefix, name)

    def dlq(self, name: str) -> str:
        return dlq_name(self.name_prefix, name)


class MediaSettings(CoreSettings):
    """The core settings plus what every stage that runs ffmpeg reads the same way: the
    loudness targets (clips are cut at the episode's loudness), the ffmpeg binary, the scratch
    directory and the font drawn on video. Transcode and clips each derive their own settings
    from this class, so one environment configures both."""

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
    ffmpeg_path: str = Field(
        default="", description="ffmpeg binary; default: PATH, then the imageio-ffmpeg wheel."
    )
    work_dir: str = Field(
        default="", description="Scratch directory for downloads and encodes; default: system tmp."
    )
    clips_font_file: str = Field(
        default="",
        description="Font for text drawn on video (audiograms, captions, thumbnails); "
        "default: DejaVu Sans if installed.",
    )

    def loudness_targets(self) -> LoudnessTargets:
        return LoudnessTargets(
            integrated_lufs=self.target_lufs,
            true_peak_dbtp=self.target_true_peak,
            loudness_range_lu=self.target_lra,
            true_peak_headroom_db=self.true_peak_headroom_db,
        )
