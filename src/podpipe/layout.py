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

import hashlib
import json
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

UPLOADS_PREFIX = "uploads/"
EPISODES_PREFIX = "episodes/"
PROMPTS_PREFIX = "prompts/"
REJECTED_PREFIX = "rejected/"
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


def rejected_record_key(upload_key: str) -> str:
    """Where an upload that is no episode at all is kept on record (``rejected/<hash>.json``;
    the key itself may be hostile, so it is never part of the path)."""
    digest = hashlib.sha256(upload_key.encode("utf-8", "surrogatepass")).hexdigest()[:20]
    return f"{REJECTED_PREFIX}{digest}.json"


def rejected_notification_marker(upload_key: str, delivery_id: str, channel: str) -> str:
    """notify's delivery marker for an "Upload failed" message on one channel (no episode
    folder exists): ``rejected/<hash>/notifications/<delivery-id>.<channel>.json``, beside the
    upload's record ``rejected/<hash>.json``."""
    record = rejected_record_key(upload_key).removesuffix(".json")
    return f"{record}/notifications/{_safe_name(delivery_id)}.{_safe_name(channel)}.json"


def sidecar_key(episode_id: str) -> str:
    return f"{UPLOADS_PREFIX}{validate_episode_id(episode_id)}.json"


MAX_TITLE_CHARS = 200
MAX_SHOW_CHARS = 200
MAX_NAME_CHARS = 100
MAX_PEOPLE = 20
MAX_COMMENT_CHARS = 2000
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_LINE_BREAKS = re.compile(r"[\t\n]+")


def _clean(text: str, *, multiline: bool = False) -> str:
    """Control characters stripped (a comment keeps its line breaks), outer spaces trimmed."""
    text = _CONTROL.sub("", text)
    if not multiline:
        text = _LINE_BREAKS.sub(" ", text)
    return text.strip()


class EpisodeMetadata(BaseModel):
    """What the host tells podpipe about an episode (all optional).

    The limits live here, once: every service reads metadata through
    :func:`read_episode_metadata_from`, so an ID3 tag, a transcript header and a Slack line
    all see the same cleaned, bounded values.
    """

    model_config = ConfigDict(extra="forbid")
    title: str = Field(default="", max_length=MAX_TITLE_CHARS)
    show: str = Field(default="", max_length=MAX_SHOW_CHARS)
    episode_number: int | None = Field(default=None, ge=0, le=1_000_000)
    hosts: list[Annotated[str, Field(max_length=MAX_NAME_CHARS)]] = Field(
        default_factory=list, max_length=MAX_PEOPLE
    )
    guests: list[Annotated[str, Field(max_length=MAX_NAME_CHARS)]] = Field(
        default_factory=list, max_length=MAX_PEOPLE
    )
    year: int | None = Field(default=None, ge=1900, le=2200)
    comment: str = Field(default="", max_length=MAX_COMMENT_CHARS)
    speaker_names: dict[str, Annotated[str, Field(max_length=MAX_NAME_CHARS)]] = Field(
        default_factory=dict, max_length=MAX_PEOPLE
    )

    @field_validator("title", "show", mode="before")
    @classmethod
    def _clean_line(cls, value: Any) -> Any:
        return _clean(value) if isinstance(value, str) else value

    @field_validator("comment", mode="before")
    @classmethod
    def _clean_comment(cls, value: Any) -> Any:
        return _clean(value, multiline=True) if isinstance(value, str) else value

    @field_validator("hosts", "guests", mode="before")
    @classmethod
    def _split_names(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.split(",")
        if isinstance(value, list):
            return [_clean(v) if isinstance(v, str) else v for v in value if v != ""]
        return value

    @field_validator("hosts", "guests", mode="after")
    @classmethod
    def _drop_blank(cls, value: list[str]) -> list[str]:
        return [v for v in value if v]

    @field_validator("speaker_names", mode="before")
    @classmethod
    def _clean_names(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: _clean(v) if isinstance(v, str) else v for k, v in value.items()}
        return value

    def to_s3_metadata(self) -> dict[str, str]:
        """As ``x-amz-meta-podpipe-*`` headers (ASCII-safe: JSON with escapes)."""
        payload = self.model_dump(exclude_defaults=True)
        return {f"{METADATA_PREFIX}{k}": json.dumps(v) for k, v in payload.items()}

    @classmethod
    def from_s3_metadata(cls, metadata: dict[str, str]) -> EpisodeMetadata:
        return cls.model_validate(_s3_metadata_values(metadata))

    @property
    def people(self) -> list[str]:
        return [*self.hosts, *self.guests]


def _s3_metadata_values(metadata: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for header, raw in metadata.items():
        if header.lower().startswith(METADATA_PREFIX):
            name = header.lower()[len(METADATA_PREFIX) :].replace("-", "_")
            if name in EpisodeMetadata.model_fields:
                try:
                    values[name] = json.loads(raw)
                except json.JSONDecodeError:
                    values[name] = raw
    return values


@dataclass(frozen=True)
class MetadataReading:
    """The metadata every stage uses, and what was wrong with what the host sent.

    ``problems`` are sentences for the host ("uploads/ep1.json: field 'year' ignored: …"):
    a problem never stops the episode, it is reported (transcode puts it on "Audio
    Transcoded", notify shows it in "Audio ready").
    """

    metadata: EpisodeMetadata
    problems: tuple[str, ...] = ()


def _valid_fields(values: Mapping[str, Any], where: str, problems: list[str]) -> dict[str, Any]:
    """Each field validated on its own: a bad one is named and skipped, the rest are kept."""
    known = ", ".join(EpisodeMetadata.model_fields)
    kept: dict[str, Any] = {}
    for name, value in values.items():
        if name not in EpisodeMetadata.model_fields:
            problems.append(f"{where}: unknown field {name!r} ignored (podpipe reads: {known})")
            continue
        try:
            checked = EpisodeMetadata.model_validate({name: value})
        except ValidationError as exc:
            error = exc.errors()[0]
            problems.append(f"{where}: field {name!r} ignored: {error['msg']}")
            continue
        kept[name] = getattr(checked, name)
    return kept


def parse_sidecar(
    raw: bytes | None, *, key: str = "sidecar"
) -> tuple[dict[str, Any] | None, list[str]]:
    """The sidecar's JSON object, or None with the reason it cannot be read (never raises)."""
    if raw is None:
        return None, []
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None, [f"{key} ignored: it is not UTF-8 text"]
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, [
            f"{key} ignored: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        ]
    if not isinstance(value, dict):
        return None, [f"{key} ignored: it holds a JSON {type(value).__name__}, not an object"]
    return value, []


def resolve_episode_metadata(
    object_metadata: Mapping[str, str] | None, sidecar: Any, *, sidecar_name: str = "sidecar"
) -> tuple[EpisodeMetadata, list[str]]:
    """What the host said about an episode: the upload's ``x-amz-meta-podpipe-*`` metadata,
    overridden field by field by the sidecar ``uploads/<id>.json`` (parsed JSON or None).

    Every field is checked on its own: a bad or unknown one is skipped and named in the
    returned problems, the valid ones are kept. Titles and names are nice to have, and no
    stage refuses to publish an episode over them.
    """
    problems: list[str] = []
    merged = _valid_fields(_s3_metadata_values(object_metadata or {}), "upload metadata", problems)
    if sidecar is not None:
        if isinstance(sidecar, dict):
            merged.update(_valid_fields(sidecar, sidecar_name, problems))
        else:
            problems.append(f"{sidecar_name} ignored: it is not a JSON object")
    return EpisodeMetadata.model_validate(merged), problems


def read_episode_metadata_from(
    episode_id: str, object_metadata: Mapping[str, str] | None, sidecar: bytes | None
) -> MetadataReading:
    """THE sidecar reader: the upload's metadata and the raw bytes of ``uploads/<id>.json``
    (None when there is none) → the metadata and every problem, in the host's words."""
    name = sidecar_key(episode_id)
    parsed, problems = parse_sidecar(sidecar, key=name)
    metadata, more = resolve_episode_metadata(object_metadata, parsed, sidecar_name=name)
    return MetadataReading(metadata, tuple([*problems, *more]))


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
    def version_record(self) -> str:
        """Which recording the outputs are made from (podpipe.versions)."""
        return self._k("version.json")

    @property
    def versions_prefix(self) -> str:
        return self._k("versions/")

    def version_prefix(self, number: int) -> str:
        """Where version ``number``'s outputs are kept once a newer recording replaced it."""
        return self._k(f"versions/{int(number)}/")

    @property
    def release_record(self) -> str:
        """The release (podpipe.release): its state, chosen title, approval, publication."""
        return self._k("release.json")

    @property
    def release_prefix(self) -> str:
        """The host's edited show notes (``release/show-notes.vNNN.md``) the release points at."""
        return self._k("release/")

    def kept_across_versions(self, key: str) -> bool:
        """True for a key a new recording leaves where it is: the version record, the earlier
        versions, and the release (an approved or published release keeps its state; the
        host sees the new version's outputs in it)."""
        return (
            key in (self.version_record, self.release_record)
            or key.startswith(self.versions_prefix)
            or key.startswith(self.release_prefix)
        )

    @property
    def notifications_prefix(self) -> str:
        return self._k("notifications/")

    def notification_marker(self, delivery_id: str, channel: str) -> str:
        """notify's delivery marker for one notification on one channel (exactly-once)."""
        return self._k(f"notifications/{_safe_name(delivery_id)}.{_safe_name(channel)}.json")

    @property
    def completed_marker(self) -> str:
        """Written once with If-None-Match: * — the 'Episode Completed' exactly-once guard."""
        return self._k("completed.json")


def _safe_name(name: str) -> str:
    if not re.fullmatch(r"[a-z0-9][a-z0-9._-]{0,80}", name) or ".." in name:
        raise InvalidEpisodeKeyError(f"invalid artifact name {name[:80]!r}")
    return name


StageRecordStatus = Literal["running", "done", "failed"]
"""What a stage writes about itself (``podpipe.episodes.StageState`` adds what others see)."""


class StageRecord(BaseModel):
    """A stage's state for one episode, written by the stage itself (``stages/<stage>.json``)."""

    model_config = ConfigDict(extra="forbid")
    stage: str
    status: StageRecordStatus
    started_at: float
    finished_at: float | None = None
    attempts: int = 1
    reason: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)

    @property
    def seconds(self) -> float | None:
        return None if self.finished_at is None else self.finished_at - self.started_at


class VersionRecord(BaseModel):
    """``episodes/<id>/version.json``: which recording the episode's outputs are made from
    (written by podpipe.versions; the stage ledger reads its number to fence off stale work)."""

    model_config = ConfigDict(extra="forbid")
    number: int
    source_etag: str
    state: Literal["archiving", "current"]
    claimed_by: str
    claimed_at: float
    previous: int | None = None


# --------------------------------------------------------------------------- prep (before an episode)

PREP_PREFIX = "prep/"
PREP_DATE_PATTERN = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def prep_brief_key(date: str, extension: str) -> str:
    """``prep/<date>/brief.md`` or ``.json``: written by `podpipe prep`, read by the studio."""
    if not PREP_DATE_PATTERN.fullmatch(date):
        raise InvalidEpisodeKeyError(f"{date!r} is not a brief date (YYYY-MM-DD)")
    return f"{PREP_PREFIX}{date}/brief.{extension}"


def prep_notification_marker(date: str, delivery_id: str, channel: str) -> str:
    """notify's delivery marker for a brief's message on one channel (no episode folder yet):
    ``prep/<date>/notifications/<delivery-id>.<channel>.json``."""
    if not PREP_DATE_PATTERN.fullmatch(date):
        raise InvalidEpisodeKeyError(f"{date!r} is not a brief date (YYYY-MM-DD)")
    return f"{PREP_PREFIX}{date}/notifications/{_safe_name(delivery_id)}.{_safe_name(channel)}.json"


def prep_running_order_key(episode_id: str) -> str:
    """``prep/running-orders/<episode-id>.json``: the prep items an episode covers."""
    return f"{PREP_PREFIX}running-orders/{validate_episode_id(episode_id)}.json"
