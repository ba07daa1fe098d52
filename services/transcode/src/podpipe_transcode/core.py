"""The pure core of transcoding: what counts as bad input, what may be reused, what to emit.

No I/O here: the handler gathers facts through ports and asks these functions what to do.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from podpipe.events import AudioTranscoded, S3Location
from podpipe.ffmpeg import MediaInfo
from podpipe.media import empty_upload_reason as empty_upload_reason
from podpipe.media import is_truncated
from podpipe.media import looks_like_text as looks_like_text
from podpipe.media import unreadable_reason as unreadable_reason


class BadInputError(Exception):
    """The upload itself is unusable; ``reason`` tells the host what to do about it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def normalize_etag(etag: str) -> str:
    """S3 returns ETags quoted in HEAD responses and unquoted in events: compare bare."""
    return etag.strip().strip('"')


def format_duration(seconds: float) -> str:
    """``14523`` → ``4 h 2 min 3 s``: for reasons a host reads."""
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{hours} h"] if hours else []
    if minutes or (hours and secs):
        parts.append(f"{minutes} min")
    if secs or not parts:
        parts.append(f"{secs} s")
    return " ".join(parts)


# --------------------------------------------------------------------------- bad input
# The words for an unreadable upload are shared with transcribe (podpipe.media).


def check_source(info: MediaInfo, name: str, max_duration_seconds: float) -> None:
    """Refuse what can be refused from the header alone, before any decoding."""
    if not info.has_audio:
        what = "a video without a sound track" if info.has_video else "a file without audio"
        raise BadInputError(f"{name} is {what}: there is nothing to publish.")
    if info.duration_seconds is not None:
        check_duration(info.duration_seconds, name, max_duration_seconds)


def too_long_reason(name: str, seconds: float | None, max_duration_seconds: float) -> str:
    """``seconds`` is None when decoding was stopped at the limit (the header had no duration)."""
    limit = format_duration(max_duration_seconds)
    if seconds is None:
        what = f"{name} is longer than the maximum of {limit}"
    else:
        what = f"{name} is {format_duration(seconds)} long; the maximum is {limit}"
    return f"{what} (PODPIPE_MAX_DURATION_SECONDS). Split the recording or raise the limit."


def check_duration(seconds: float, name: str, max_duration_seconds: float) -> None:
    if seconds > max_duration_seconds:
        raise BadInputError(too_long_reason(name, seconds, max_duration_seconds))


def check_decoded(
    header_seconds: float | None, decoded_seconds: float, name: str, *, partial: bool = False
) -> None:
    """A file that decodes much shorter than its header says was cut off (truncated upload).

    ``header_seconds`` is None when the header cannot be trusted for the audio alone (a video's
    container duration covers its longest track); ``partial`` is ffmpeg reporting a partial
    file while demuxing, which proves truncation whatever the header says.
    """
    if decoded_seconds <= 0:
        raise BadInputError(f"{name} contains no decodable audio: it is damaged or truncated.")
    if header_seconds is not None and is_truncated(header_seconds, decoded_seconds):
        raise BadInputError(
            f"{name} is truncated: its header says {format_duration(header_seconds)} but only "
            f"{format_duration(decoded_seconds)} of audio could be decoded. Upload it again."
        )
    if partial:
        raise BadInputError(
            f"{name} is truncated: the file ends in the middle of its data after "
            f"{format_duration(decoded_seconds)} of audio. Upload it again."
        )


def silent_reason(name: str) -> str:
    return f"{name} is silent (no measurable loudness): check the recording's input levels."


# --------------------------------------------------------------------------- the record


class MeasuredLoudness(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    integrated_lufs: float
    true_peak_dbtp: float
    loudness_range_lu: float


class AudioInfo(BaseModel):
    """``episodes/<id>/audio.json``: what was made from which upload (the idempotency check)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    episode_id: str
    source: S3Location
    source_etag: str
    source_size_bytes: int
    source_format: str
    source_duration_seconds: float
    source_loudness: MeasuredLoudness
    audio: S3Location
    audio_etag: str
    size_bytes: int
    duration_seconds: float
    loudness: MeasuredLoudness
    normalization_type: str
    encodes: int = 1
    bitrate_kbps: int
    channels: int
    sample_rate: int
    targets: dict[str, float]
    tags: dict[str, str] = Field(default_factory=dict)
    metadata_problems: list[str] = Field(default_factory=list)
    backend: str
    elapsed_seconds: float
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    video: S3Location | None = None
    """A video episode's ``video.mp4``, when it could be made."""
    loudness_filter: str = ""
    """The filter the MP3 went through: video.mp4's sound goes through it too."""
    channel_map: str | None = None


def parse_audio_info(raw: Any) -> AudioInfo | None:
    """A stored record, or None when absent or unreadable (then the work is simply redone)."""
    if raw is None:
        return None
    try:
        return AudioInfo.model_validate(raw)
    except ValidationError:
        return None


@dataclass(frozen=True)
class ObjectHead:
    size: int
    etag: str
    metadata: dict[str, str]
    content_type: str = ""


def reusable(info: AudioInfo | None, source_etag: str, audio_head: ObjectHead | None) -> bool:
    """The MP3 already made from exactly this upload is still there, untouched."""
    return (
        info is not None
        and audio_head is not None
        and normalize_etag(info.source_etag) == normalize_etag(source_etag)
        and normalize_etag(info.audio_etag) == normalize_etag(audio_head.etag)
    )


def audio_transcoded(info: AudioInfo, url: str, expires_at: datetime) -> AudioTranscoded:
    return AudioTranscoded(
        episode_id=info.episode_id,
        source=info.source,
        audio=info.audio,
        duration_seconds=round(info.duration_seconds, 3),
        integrated_lufs=info.loudness.integrated_lufs,
        true_peak_dbtp=info.loudness.true_peak_dbtp,
        size_bytes=info.size_bytes,
        bitrate_kbps=info.bitrate_kbps,
        channels=info.channels,
        presigned_url=url,
        presigned_url_expires_at=expires_at,
        elapsed_seconds=round(info.elapsed_seconds, 3),
        metadata_problems=info.metadata_problems,
        source_etag=info.source_etag,
    )
