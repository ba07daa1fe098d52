"""The transcribe service's settings (environment variables with the PODPIPE_ prefix)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from podpipe.settings import CoreSettings

DEFAULT_MODEL_CACHE = Path.home() / ".cache" / "podpipe" / "whisper"


class TranscribeSettings(CoreSettings):
    """CoreSettings plus what transcription needs."""

    model_config = SettingsConfigDict(env_prefix="PODPIPE_", extra="ignore")

    transcribe_backend: Literal["whisper", "aws"] = Field(
        default="whisper", description="Transcription backend: whisper (local CPU) or aws."
    )
    whisper_model: str = Field(
        default="base",
        description="faster-whisper model: a size name (base, small, ...) or a model directory.",
    )
    whisper_cache_dir: Path = Field(
        default=DEFAULT_MODEL_CACHE,
        description="Where the assembled offline model and downloaded models are kept (reused).",
    )
    whisper_compute_type: str = Field(default="int8", description="CTranslate2 compute type.")
    whisper_cpu_threads: int = Field(
        default=0, ge=0, description="CPU threads for Whisper; 0 = CTranslate2's default."
    )
    whisper_beam_size: int = Field(default=5, ge=1, le=10, description="Whisper beam size.")
    whisper_speaker_turns: bool = Field(
        default=True,
        description="Whisper: name who speaks each line by telling the listed people's voices "
        "apart (numpy, no model); lines keep one joint label (Maya & Tom) unless the voices "
        "are clearly distinct.",
    )
    transcribe_language: str = Field(
        default="",
        description="Spoken language (ISO 639-1 for whisper, e.g. en; en-US for aws); "
        "empty = detect automatically.",
    )
    transcribe_max_duration_seconds: float = Field(
        default=4 * 3600, gt=0, description="Longer uploads fail as bad input (seconds)."
    )
    transcribe_aws_max_speakers: int = Field(
        default=4, ge=2, le=30, description="Amazon Transcribe: most speakers to tell apart."
    )
    transcribe_aws_poll_seconds: int = Field(
        default=600,
        ge=30,
        le=900,
        description="Amazon Transcribe: delay of the self-check that polls a job in case its "
        "state-change event is lost (SQS DelaySeconds, at most 900).",
    )
