"""Episode identity and the S3 key layout (pure: no I/O).

Uploads land under ``uploads/``; the episode id is derived from the upload key
deterministically (``uploads/2026-11-27-ep42.m4a`` → ``2026-11-27-ep42``) and validated, so a
hostile key can never address anything outside ``episodes/<id>/``. Every artifact of an
episode lives under ``episodes/<id>/``; its metadata travels as a sidecar JSON
(``uploads/<id>.json`` next to the audio) and/or as S3 object metadata
(``x-amz-meta-podpipe-*``) on the upload itself; :func:`resolve_episode_metadata` combines
the two the same way for every service.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

UPLOADS_PREFIX = "uploads/"
EPISODES_PREFIX = "episodes/"
PROMPTS_PREFIX = "prompts/"
MAX_KEY_BYTES = 512
EPISODE_ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
AUDIO_EXTENSIONS = frozenset(
    {
        ".m4a",
        ".mp3",
        ".wav",
        ".flac",
        ".ogg",
        ".oga",
        ".opus",
        ".mp4",
        ".mov",
        ".mkv",
        ".webm",
        ".aac",
    }
)
METADATA_PREFIX = "podpipe-"


class InvalidEpisodeKeyError(ValueError):
    """An S3 key or episode id that podpipe refuses to treat as an episode."""


def validate_episode_id(episode_id: str) -> str:
    """Return the id if it is safe (lowercase letters, digits, hyphens; ≤ 64), else raise."""
    if not EPISODE_ID_PATTERN.fullmatch(episode_id):
        raise InvalidEpisodeKeyError(
            f"invalid episode id {episode_id[:80]!r}: use 1-64 characters from a-z, 0-9 and '-', "
            "starting with a letter or digit"
        )
    return episode_id


def slugify_episode_id(name: str) -> str:
    """A safe episode id from a free-form name (used by the CLI when no id is given)."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:64].strip("-")
    return validate_episode_id(slug or "episode")


def episode_id_from_upload_key(key: str) -> str:
    """The episode id for an object under ``uploads/``, or InvalidEpisodeKeyError.

    The key's file stem is the id, and it must already be a valid id: podpipe never rewrites
    a hostile name into something that merely looks safe (``../x`` stays an error).
    """
    if len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
        raise InvalidEpisodeKeyError(f"upload key is longer than {MAX_KEY_BYTES} bytes")
    if not key.startswith(UPLOADS_PREFIX):
        raise InvalidEpisodeKeyError(f"key {key[:80]!r} is not under {UPLOADS_PREFIX!r}")
    name = key[len(UPLOADS_PREFIX) :]
    if not name or "/" in name or "\\" in name or name.startswith("."):
        raise InvalidEpisodeKeyError(
            f"upload key {key[:80]!r} must name one file directly under {UPLOADS_PREFIX!r}"
        )
    stem, dot, _extension = name.rpartition(".")
    if not dot or not stem:
        raise InvalidEpisodeKeyError(f"upload key {key[:80]!r} has no file extension")
    if not name.isascii():
        raise InvalidEpisodeKeyError(f"upload key {key[:80]!r} contains non-ASCII characters")
    return validate_episode_id(stem)


def is_audio_upload(key: str) -> bool:
    """True for ``uploads/<id>.<audio ext>`` (sidecar JSON and other files are not episodes)."""
    return key.startswith(UPLOADS_PREFIX) and any(key.lower().endswith(e) for e in AUDIO_EXTENSIONS)


def sidecar_key(episode_id: str) -> str:
    return f"{UPLOADS_PREFIX}{validate_episode_id(episode_id)}.json"


class EpisodeMetadata(BaseModel):
    """What the host tells podpipe about an episode (all optional)."""

    model_config = ConfigDict(extra="forbid")
    title: str = ""
    show: str = ""
    episode_number: int | None = Field(default=None, ge=0)
    hosts: list[str] = Field(default_factory=list)
    guests: list[str] = Field(default_factory=list)
    year: int | None = None
    comment: str = ""
    speaker_names: dict[str, str] = Field(default_factory=dict)

    @field_validator("hosts", "guests", mode="before")
    @classmethod
    def _split_names(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    def to_s3_metadata(self) -> dict[str, str]:
        """As ``x-amz-meta-podpipe-*`` headers (ASCII-safe: JSON with escapes)."""
        payload = self.model_dump(exclude_defaults=True)
        return {f"{METADATA_PREFIX}{k}": json.dumps(v) for k, v in payload.items()}

    @classmethod
    def from_s3_metadata(cls, metadata: dict[str, str]) -> EpisodeMetadata:
        values: dict[str, Any] = {}
        for header, raw in metadata.items():
            if header.lower().startswith(METADATA_PREFIX):
                field = header.lower()[len(METADATA_PREFIX) :].replace("-", "_")
                if field in cls.model_fields:
                    try:
                        values[field] = json.loads(raw)
                    except json.JSONDecodeError:
                        values[field] = raw
        return cls.model_validate(values)

    @property
    def people(self) -> list[str]:
        return [*self.hosts, *self.guests]


def resolve_episode_metadata(
    object_metadata: Mapping[str, str] | None, sidecar: Any
) -> tuple[EpisodeMetadata, list[str]]:
    """What the host said about an episode: the upload's ``x-amz-meta-podpipe-*`` metadata,
    overridden field by field by the sidecar ``uploads/<id>.json`` (parsed JSON or None).

    Unreadable parts are skipped and named in the returned problems: titles and names are
    nice to have, and no stage refuses to publish an episode over them.
    """
    problems: list[str] = []
    try:
        from_object = EpisodeMetadata.from_s3_metadata(dict(object_metadata or {}))
    except ValidationError as exc:
        problems.append(f"upload metadata ignored: {exc.errors()[0]['msg']}")
        from_object = EpisodeMetadata()
    if sidecar is None:
        return from_object, problems
    try:
        from_sidecar = EpisodeMetadata.model_validate(sidecar)
    except ValidationError as exc:
        problems.append(f"sidecar ignored: {exc.errors()[0]['msg']}")
        return from_object, problems
    merged = from_object.model_copy(update=from_sidecar.model_dump(exclude_unset=True))
    return merged, problems


@dataclass(frozen=True)
class EpisodeKeys:
    """Every S3 key of one episode, in one place."""

    episode_id: str

    def __post_init__(self) -> None:
        validate_episode_id(self.episode_id)

    @property
    def root(self) -> str:
        return f"{EPISODES_PREFIX}{self.episode_id}/"

    def _k(self, name: str) -> str:
        return self.root + name

    @property
    def audio(self) -> str:
        return self._k("audio.mp3")

    @property
    def audio_info(self) -> str:
        """Transcode's record: source ETag, loudness, duration (the idempotency check)."""
        return self._k("audio.json")

    @property
    def video(self) -> str:
        """A video episode's web-ready MP4 (transcode)."""
        return self._k("video.mp4")

    @property
    def video_captioned(self) -> str:
        """The video with the captions burned into the picture."""
        return self._k("video-captioned.mp4")

    def thumbnail(self, index: int) -> str:
        """A 1280x720 thumbnail candidate for a video episode."""
        return self._k(f"thumbnails/thumb-{index:02d}.jpg")

    @property
    def video_subtitles_record(self) -> str:
        """Which transcript the subtitled videos were made from (the idempotency check)."""
        return self._k("video-subtitles.json")

    @property
    def transcript_json(self) -> str:
        return self._k("transcript.json")

    @property
    def transcript_text(self) -> str:
        return self._k("transcript.txt")

    @property
    def subtitles_srt(self) -> str:
        return self._k("subtitles.srt")

    @property
    def subtitles_vtt(self) -> str:
        return self._k("subtitles.vtt")

    @property
    def podcasting20_json(self) -> str:
        return self._k("transcript.podcasting20.json")

    @property
    def manifest(self) -> str:
        return self._k("prompts/manifest.json")

    def prompt_output(self, prompt_id: str, extension: str) -> str:
        return self._k(f"outputs/{_safe_name(prompt_id)}.{extension}")

    def prompt_metadata(self, prompt_id: str) -> str:
        return self._k(f"outputs/{_safe_name(prompt_id)}.meta.json")

    @property
    def outputs_prefix(self) -> str:
        return self._k("outputs/")

    @property
    def clips_prefix(self) -> str:
        return self._k("clips/")

    def stage_record(self, stage: str) -> str:
        """Where a stage records its state and timings (read by `podpipe status`)."""
        return self._k(f"stages/{_safe_name(stage)}.json")

    @property
    def stages_prefix(self) -> str:
        return self._k("stages/")

    @property
    def completed_marker(self) -> str:
        """Written once with If-None-Match: * — the 'Episode Completed' exactly-once guard."""
        return self._k("completed.json")


def _safe_name(name: str) -> str:
    if not re.fullmatch(r"[a-z0-9][a-z0-9._-]{0,80}", name) or ".." in name:
        raise InvalidEpisodeKeyError(f"invalid artifact name {name[:80]!r}")
    return name


class StageRecord(BaseModel):
    """A stage's state for one episode, written by the stage itself (``stages/<stage>.json``)."""

    model_config = ConfigDict(extra="forbid")
    stage: str
    status: str = Field(pattern=r"^(running|done|failed)$")
    started_at: float
    finished_at: float | None = None
    attempts: int = 1
    reason: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)

    @property
    def seconds(self) -> float | None:
        return None if self.finished_at is None else self.finished_at - self.started_at
