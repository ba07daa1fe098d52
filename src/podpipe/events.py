"""Event contracts: every event on the podpipe bus, and the one envelope that parses them.

podpipe's own events are pydantic models with ``extra="forbid"`` (a typo in a producer is a
bug, not data); AWS events (S3 "Object Created", "Transcribe Job State Change") ignore what
podpipe does not read. Every model names its ``SOURCE`` and past-tense ``DETAIL_TYPE``; the
envelope routes on ``detail-type`` through a pydantic discriminated union, so an unknown type
is an :class:`UnknownEventError` rather than a ``KeyError`` somewhere downstream.

Messages carry pointers into S3 (claim-check), never transcripts or outputs.
"""

from __future__ import annotations

import json
import urllib.parse
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Generic, Literal, TypeVar, Union, cast

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    TypeAdapter,
    ValidationError,
    field_validator,
)

from podpipe.layout import InvalidEpisodeKeyError, episode_id_from_upload_key

SCHEMA_VERSION = 1
EpisodeId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9-]*$")]


class EventParseError(ValueError):
    """A message body is not a podpipe-readable event (never worth retrying)."""


class UnknownEventError(EventParseError):
    """The envelope is well-formed but its detail-type is not one podpipe knows."""


class Event(BaseModel):
    """Base of every event detail. Subclasses set SOURCE and DETAIL_TYPE."""

    SOURCE: ClassVar[str]
    DETAIL_TYPE: ClassVar[str]
    model_config = ConfigDict(extra="forbid", frozen=True)

    def episode_key(self) -> str | None:
        """The episode this event belongs to, for logging and idempotency."""
        return getattr(self, "episode_id", None)


class PodpipeEvent(Event):
    """An event podpipe itself emits: versioned, strict, always about one episode."""

    schema_version: int = SCHEMA_VERSION
    episode_id: EpisodeId


class AwsEvent(Event):
    """An event emitted by AWS: podpipe reads a few fields and ignores the rest."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


# --------------------------------------------------------------------------- AWS events


class S3Bucket(AwsEvent):
    name: str


class S3Object(AwsEvent):
    key: str
    """The object's real key: S3 → EventBridge percent-encodes it (``a b`` → ``a%20b``, a
    literal ``%2F`` → ``%252F``); it is decoded once, here, so every message, log line and
    lookup shows the key the host actually uploaded."""
    size: int = 0
    etag: str = ""
    version_id: str | None = Field(default=None, alias="version-id")
    sequencer: str | None = None

    @field_validator("key", mode="before")
    @classmethod
    def _decode_key(cls, value: Any) -> Any:
        return urllib.parse.unquote(value) if isinstance(value, str) else value


class ObjectCreated(AwsEvent):
    """S3 → EventBridge notification for a new object (the upload that starts an episode)."""

    SOURCE: ClassVar[str] = "aws.s3"
    DETAIL_TYPE: ClassVar[str] = "Object Created"
    bucket: S3Bucket
    object: S3Object

    def episode_key(self) -> str | None:
        try:
            return episode_id_from_upload_key(self.object.key)
        except InvalidEpisodeKeyError:
            return None


class TranscribeJobStateChanged(AwsEvent):
    """Amazon Transcribe's best-effort job state event (the poll fallback covers losses)."""

    SOURCE: ClassVar[str] = "aws.transcribe"
    DETAIL_TYPE: ClassVar[str] = "Transcribe Job State Change"
    transcription_job_name: str = Field(alias="TranscriptionJobName")
    transcription_job_status: str = Field(alias="TranscriptionJobStatus")
    failure_reason: str | None = Field(default=None, alias="FailureReason")


# --------------------------------------------------------------------------- shared parts


class S3Location(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    bucket: str
    key: str

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


class Failure(BaseModel):
    """Why a stage failed, in words a host can act on."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    reason: str
    error_type: str
    retryable: bool = False
    attempts: int = 1


# --------------------------------------------------------------------------- transcode


class AudioTranscoded(PodpipeEvent):
    """The publishable MP3 exists: where, how long, how loud, and a presigned link."""

    SOURCE: ClassVar[str] = "podpipe.transcode"
    DETAIL_TYPE: ClassVar[str] = "Audio Transcoded"
    source: S3Location
    audio: S3Location
    duration_seconds: float
    integrated_lufs: float
    true_peak_dbtp: float
    size_bytes: int
    bitrate_kbps: int
    channels: int
    presigned_url: str
    presigned_url_expires_at: datetime
    elapsed_seconds: float = 0.0
    metadata_problems: list[str] = Field(default_factory=list)
    """What was wrong with the host's sidecar/upload metadata (skipped, never fatal)."""
    source_etag: str = ""
    """The upload's ETag: which recording this MP3 was made from."""
    version: int | None = None
    """The episode version (podpipe.versions) this was made for: work for a version that a
    newer recording replaced is dropped, never written among the new one's outputs (None:
    not known, the consumer takes the version current when it starts)."""


class TranscodeFailed(PodpipeEvent):
    """The upload could not be turned into an MP3 (reason in words a host can act on)."""

    SOURCE: ClassVar[str] = "podpipe.transcode"
    DETAIL_TYPE: ClassVar[str] = "Transcode Failed"
    source: S3Location
    failure: Failure


# --------------------------------------------------------------------------- clips


class ClipSummary(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    index: int
    title: str
    hook: str
    start: float
    end: float
    audio: S3Location
    video: S3Location | None = None
    captions: S3Location | None = None
    audio_url: str
    video_url: str | None = None
    video_vertical: S3Location | None = None
    """A video episode's 1080x1920 clip cut from its picture (``video`` is the square one)."""


class ClipsRendered(PodpipeEvent):
    """Social clips (MP3, audiogram MP4, captions) and the trailer were cut from the episode."""

    SOURCE: ClassVar[str] = "podpipe.clips"
    DETAIL_TYPE: ClassVar[str] = "Clips Rendered"
    clips: list[ClipSummary]
    skipped: list[str] = Field(default_factory=list)
    repaired: list[str] = Field(default_factory=list)
    trailer_audio: S3Location | None = None
    trailer_video: S3Location | None = None
    """The audiogram trailer, or a video episode's square trailer cut from its picture."""
    trailer_video_vertical: S3Location | None = None
    """A video episode's 1080x1920 trailer cut from its picture."""
    trailer_url: str | None = None
    presigned_url_expires_at: datetime | None = None


class ClipsFailed(PodpipeEvent):
    """The clip picks could not be rendered."""

    SOURCE: ClassVar[str] = "podpipe.clips"
    DETAIL_TYPE: ClassVar[str] = "Clips Failed"
    failure: Failure


# --------------------------------------------------------------------------- transcode (video)


class VideoTranscoded(PodpipeEvent):
    """A video episode's web-ready ``video.mp4`` exists (H.264/AAC, moov first, the MP3's
    loudness)."""

    SOURCE: ClassVar[str] = "podpipe.transcode"
    DETAIL_TYPE: ClassVar[str] = "Video Transcoded"
    source: S3Location
    video: S3Location
    duration_seconds: float
    integrated_lufs: float
    true_peak_dbtp: float
    picture_copied: bool
    """The picture was stream-copied; False: re-encoded for ``reencode_reasons``."""
    reencode_reasons: list[str] = Field(default_factory=list)
    elapsed_seconds: float = 0.0
    version: int | None = None
    """The episode version (podpipe.versions) this was made for: work for a version that a
    newer recording replaced is dropped, never written among the new one's outputs (None:
    not known, the consumer takes the version current when it starts)."""


class VideoSubtitled(PodpipeEvent):
    """``video.mp4`` carries the transcript as a soft subtitle track and
    ``video-captioned.mp4`` has the captions burned in."""

    SOURCE: ClassVar[str] = "podpipe.transcode"
    DETAIL_TYPE: ClassVar[str] = "Video Subtitled"
    video: S3Location
    video_captioned: S3Location
    language: str
    cues: int
    elapsed_seconds: float = 0.0


class YoutubePrepared(PodpipeEvent):
    """``outputs/youtube.md`` (title, description, chapters, tags) and thumbnail candidates
    exist for a video episode."""

    SOURCE: ClassVar[str] = "podpipe.transcode"
    DETAIL_TYPE: ClassVar[str] = "YouTube Prepared"
    youtube_md: S3Location
    thumbnails: list[S3Location] = Field(default_factory=list)
    chapters: int
    """Chapters in the description (0: YouTube's rules could not be met, see notes)."""
    notes: list[str] = Field(default_factory=list)


class VideoFailed(PodpipeEvent):
    """A video output could not be made; the MP3 and everything audio-only go on without it."""

    SOURCE: ClassVar[str] = "podpipe.transcode"
    DETAIL_TYPE: ClassVar[str] = "Video Failed"
    source: S3Location
    output: str
    """Which output failed (``video.mp4``, ``video-captioned.mp4``)."""
    failure: Failure


class UploadRejected(Event):
    """An upload podpipe will not treat as an episode (a hostile or malformed key): no
    episode id exists, so this names the key as uploaded and why it was refused."""

    SOURCE: ClassVar[str] = "podpipe.transcode"
    DETAIL_TYPE: ClassVar[str] = "Upload Rejected"
    schema_version: int = SCHEMA_VERSION
    source: S3Location
    reason: str


# --------------------------------------------------------------------------- versions


class EpisodeVersionStarted(PodpipeEvent):
    """A different recording was uploaded under the same name: every stage runs again for it;
    the previous version's outputs were moved aside, not lost."""

    SOURCE: ClassVar[str] = "podpipe.versions"
    DETAIL_TYPE: ClassVar[str] = "Episode Version Started"
    version: int
    previous_version: int
    source: S3Location
    archived_prefix: str
    """Where the previous version's outputs now are (``episodes/<id>/versions/<n>/``)."""


# --------------------------------------------------------------------------- transcribe


class TranscriptionStarted(PodpipeEvent):
    """An asynchronous backend (Amazon Transcribe) accepted the job; the message was released."""

    SOURCE: ClassVar[str] = "podpipe.transcribe"
    DETAIL_TYPE: ClassVar[str] = "Transcription Started"
    source: S3Location
    backend: str
    job_name: str


class TranscriptReady(PodpipeEvent):
    """The normalised transcript, its text, subtitles and Podcasting 2.0 JSON exist."""

    SOURCE: ClassVar[str] = "podpipe.transcribe"
    DETAIL_TYPE: ClassVar[str] = "Transcript Ready"
    source: S3Location
    transcript_json: S3Location
    transcript_text: S3Location
    subtitles_srt: S3Location
    subtitles_vtt: S3Location
    podcasting20_json: S3Location
    duration_seconds: float
    word_count: int
    language: str
    backend: str
    elapsed_seconds: float = 0.0
    version: int | None = None
    """The episode version (podpipe.versions) this was made for: work for a version that a
    newer recording replaced is dropped, never written among the new one's outputs (None:
    not known, the consumer takes the version current when it starts)."""


class TranscriptionFailed(PodpipeEvent):
    """The upload could not be transcribed."""

    SOURCE: ClassVar[str] = "podpipe.transcribe"
    DETAIL_TYPE: ClassVar[str] = "Transcription Failed"
    source: S3Location
    failure: Failure


# --------------------------------------------------------------------------- llm


class PromptsDispatched(PodpipeEvent):
    """The dispatcher wrote the manifest and queued one request per prompt."""

    SOURCE: ClassVar[str] = "podpipe.llm"
    DETAIL_TYPE: ClassVar[str] = "Prompts Dispatched"
    manifest: S3Location
    prompt_ids: list[str]
    skipped_existing: list[str] = Field(default_factory=list)


class PromptRequested(PodpipeEvent):
    """One prompt to run for one episode: the message on the single-consumer llm queue."""

    SOURCE: ClassVar[str] = "podpipe.llm"
    DETAIL_TYPE: ClassVar[str] = "Prompt Requested"
    prompt_id: str
    model: str
    transcript_json: S3Location
    replay: bool = False
    version: int | None = None
    """The episode version (podpipe.versions) this was made for: work for a version that a
    newer recording replaced is dropped, never written among the new one's outputs (None:
    not known, the consumer takes the version current when it starts)."""


class PromptCompleted(PodpipeEvent):
    """One prompt's output exists (pointer plus a short preview)."""

    SOURCE: ClassVar[str] = "podpipe.llm"
    DETAIL_TYPE: ClassVar[str] = "Prompt Completed"
    prompt_id: str
    model: str
    output: S3Location
    metadata: S3Location
    output_format: Literal["markdown", "json"]
    preview: str = Field(max_length=500)
    input_tokens: int
    cached_input_tokens: int = 0  # of input_tokens, read from the provider's prompt cache
    output_tokens: int
    latency_seconds: float
    attempts: int
    estimated_cost_usd: float
    missing_dependencies: list[str] = Field(default_factory=list)
    """Prompts whose output this one was made without (they failed for good): not plain done."""
    version: int | None = None
    """The episode version (podpipe.versions) this was made for: work for a version that a
    newer recording replaced is dropped, never written among the new one's outputs (None:
    not known, the consumer takes the version current when it starts)."""


class PromptFailed(PodpipeEvent):
    """One prompt failed for good; its message sits alone in the llm DLQ."""

    SOURCE: ClassVar[str] = "podpipe.llm"
    DETAIL_TYPE: ClassVar[str] = "Prompt Failed"
    prompt_id: str
    model: str
    failure: Failure
    replay_command: str


# --------------------------------------------------------------------------- notify


class StageTiming(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    stage: str
    status: Literal["done", "failed"]
    seconds: float


class OutputLink(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    location: S3Location
    url: str | None = None


class EpisodeCompleted(PodpipeEvent):
    """Emitted exactly once per episode, when transcode is done and every prompt has ended."""

    SOURCE: ClassVar[str] = "podpipe.notify"
    DETAIL_TYPE: ClassVar[str] = "Episode Completed"
    outputs: list[OutputLink]
    failed_prompts: list[str] = Field(default_factory=list)
    timings: list[StageTiming] = Field(default_factory=list)
    estimated_cost_usd: float = 0.0
    cost_breakdown: dict[str, float] = Field(default_factory=dict)
    wall_seconds: float = 0.0
    made_without: dict[str, list[str]] = Field(default_factory=dict)
    """Prompts done without a dependency's output (it failed), by prompt id."""


# --------------------------------------------------------------------------- release


class ReleaseTimeReached(PodpipeEvent):
    """A scheduled release's time came (sent by EventBridge Scheduler, or the local loop)."""

    SOURCE: ClassVar[str] = "podpipe.release"
    DETAIL_TYPE: ClassVar[str] = "Release Time Reached"
    scheduled_for: datetime


class EpisodePublished(PodpipeEvent):
    """An episode went into its show's public feed (once per publication, never on a replay)."""

    SOURCE: ClassVar[str] = "podpipe.release"
    DETAIL_TYPE: ClassVar[str] = "Episode Published"
    show_id: str
    show_title: str
    title: str
    guid: str
    feed_url: str
    episode_url: str = Field(description="the episode's permanent public MP3 URL")
    published_at: datetime
    scheduled: bool = False


class EpisodeUnpublished(PodpipeEvent):
    """An episode was taken out of its show's feed (or its scheduled release was cancelled):
    promote cancels the rest of its plan. Sent on every unpublish, so a retried command still
    reaches promote; consumers treat a repeat as a no-op."""

    SOURCE: ClassVar[str] = "podpipe.release"
    DETAIL_TYPE: ClassVar[str] = "Episode Unpublished"
    show_id: str
    unpublished_at: datetime


# --------------------------------------------------------------------------- prep


class BriefHeadline(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    rank: int
    title: str
    url: str


class BriefGuest(BaseModel):
    """A guest the brief is e-mailed to (from the team's prep config, at the brief's time)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = ""
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254)


class BriefProblem(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: str
    source: str
    url: str = ""
    reason: str


class BriefPrepared(Event):
    """The week's pre-recording brief exists (``prep/<date>/brief.md`` and ``brief.json``): no
    episode yet, so it names the date; what could not be read is listed, not fatal."""

    SOURCE: ClassVar[str] = "podpipe.prep"
    DETAIL_TYPE: ClassVar[str] = "Brief Prepared"
    schema_version: int = SCHEMA_VERSION
    date: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$")
    show: str
    model: str
    brief_markdown: S3Location
    brief_json: S3Location
    items: list[BriefHeadline] = Field(default_factory=list, max_length=40)
    problems: list[BriefProblem] = Field(default_factory=list, max_length=100)
    # Who besides the team gets the brief (notify e-mails each guest once per brief).
    guests: list[BriefGuest] = Field(default_factory=list, max_length=20)


# --------------------------------------------------------------------------- promotion


class PromotionItemDue(PodpipeEvent):
    """One item of an episode's promotion plan reached its time (EventBridge Scheduler, or the
    local loop); the promote service posts it, or asks for a "ready to post" reminder."""

    SOURCE: ClassVar[str] = "podpipe.promote"
    DETAIL_TYPE: ClassVar[str] = "Promotion Item Due"
    item_id: str
    scheduled_for: datetime


class PromotionReadyToPost(PodpipeEvent):
    """A plan item for a network podpipe cannot post to: notify sends it to the team."""

    SOURCE: ClassVar[str] = "podpipe.promote"
    DETAIL_TYPE: ClassVar[str] = "Promotion Ready To Post"
    item_id: str
    network: str
    text: str
    episode_link: str
    clip_url: str | None = None
    scheduled_for: datetime


class PromotionPosted(PodpipeEvent):
    """A plan item was posted by an adapter (once per item, never on a replay)."""

    SOURCE: ClassVar[str] = "podpipe.promote"
    DETAIL_TYPE: ClassVar[str] = "Promotion Posted"
    item_id: str
    network: str
    post_uri: str
    with_video: bool = False


class PromotionFailed(PodpipeEvent):
    """A plan item could not be posted; its message waits in the promote DLQ for a replay."""

    SOURCE: ClassVar[str] = "podpipe.promote"
    DETAIL_TYPE: ClassVar[str] = "Promotion Failed"
    item_id: str
    network: str
    failure: Failure


# --------------------------------------------------------------------------- the envelope

EVENT_TYPES: tuple[type[Event], ...] = (
    ObjectCreated,
    TranscribeJobStateChanged,
    AudioTranscoded,
    TranscodeFailed,
    ClipsRendered,
    ClipsFailed,
    VideoTranscoded,
    VideoSubtitled,
    YoutubePrepared,
    VideoFailed,
    UploadRejected,
    EpisodeVersionStarted,
    TranscriptionStarted,
    TranscriptReady,
    TranscriptionFailed,
    PromptsDispatched,
    PromptRequested,
    PromptCompleted,
    PromptFailed,
    EpisodeCompleted,
    ReleaseTimeReached,
    EpisodePublished,
    EpisodeUnpublished,
    BriefPrepared,
    PromotionItemDue,
    PromotionReadyToPost,
    PromotionPosted,
    PromotionFailed,
)
PODPIPE_EVENT_TYPES: tuple[type[PodpipeEvent], ...] = tuple(
    t for t in EVENT_TYPES if issubclass(t, PodpipeEvent)
)
_BY_DETAIL_TYPE: dict[str, type[Event]] = {t.DETAIL_TYPE: t for t in EVENT_TYPES}


class _EnvelopeBase(BaseModel):
    """EventBridge's envelope; the same shape is used for messages sent straight to a queue."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)
    version: str = "0"
    id: str = Field(default_factory=lambda: str(uuid.uuid4()))
    detail_type: str = Field(alias="detail-type")
    source: str
    account: str = ""
    time: datetime = Field(default_factory=lambda: datetime.now(UTC))
    region: str = ""
    resources: list[str] = Field(default_factory=list)


def _envelope_for(event_type: type[Event]) -> type[_EnvelopeBase]:
    name = event_type.__name__ + "Envelope"
    model: type[_EnvelopeBase] = type(
        name,
        (_EnvelopeBase,),
        {
            "__annotations__": {"detail": event_type, "source": Literal[event_type.SOURCE]},
            "__module__": __name__,
        },
    )
    return model


def _detail_type_of(raw: Any) -> str | None:
    if isinstance(raw, dict):
        value = raw.get("detail-type", raw.get("detail_type"))
        return value if isinstance(value, str) else None
    return getattr(raw, "detail_type", None)


_ENVELOPES = {t.DETAIL_TYPE: _envelope_for(t) for t in EVENT_TYPES}
# The union is built from EVENT_TYPES at import time, so mypy sees it only as a runtime value.
_ANY_ENVELOPE: Any = Annotated[
    Union[tuple(Annotated[env, Tag(dt)] for dt, env in _ENVELOPES.items())],  # noqa: UP007
    Discriminator(_detail_type_of),
]
_ENVELOPE_ADAPTER: TypeAdapter[Any] = TypeAdapter(_ANY_ENVELOPE)


E = TypeVar("E", bound=Event)
K = TypeVar("K", bound=Event)


class Envelope(BaseModel, Generic[E]):
    """A parsed message: envelope metadata plus the typed event in ``detail``.

    ``parse_envelope`` returns ``Envelope[Event]``; :meth:`of` narrows it to one event type
    (``envelope.of(PromptFailed).detail.prompt_id`` type-checks)."""

    model_config = ConfigDict(frozen=True)
    id: str
    detail_type: str
    source: str
    time: datetime
    detail: E

    def is_a(self, kind: type[Event]) -> bool:
        return isinstance(self.detail, kind)

    def of(self, kind: type[K]) -> Envelope[K]:
        """This envelope, typed by its event; TypeError if the event is another kind."""
        if not isinstance(self.detail, kind):
            raise TypeError(f"{self.detail_type!r} event is not a {kind.__name__}")
        return cast("Envelope[K]", self)


def parse_envelope(body: str | bytes | dict[str, Any]) -> Envelope[Event]:
    """Parse an SQS message body (an EventBridge event) into its typed event.

    Raises :class:`UnknownEventError` for a detail-type podpipe does not know and
    :class:`EventParseError` for anything malformed; both are permanent failures.
    """
    try:
        raw = json.loads(body) if isinstance(body, str | bytes) else body
    except json.JSONDecodeError as exc:
        raise EventParseError(f"message body is not JSON: {exc.msg} at position {exc.pos}") from exc
    if not isinstance(raw, dict):
        raise EventParseError(f"message body is a JSON {type(raw).__name__}, not an object")
    detail_type = _detail_type_of(raw)
    if detail_type is None:
        raise EventParseError("message has no 'detail-type': not an EventBridge event")
    if detail_type not in _BY_DETAIL_TYPE:
        known = ", ".join(sorted(_BY_DETAIL_TYPE))
        raise UnknownEventError(f"unknown detail-type {detail_type!r}; podpipe knows: {known}")
    try:
        parsed = _ENVELOPE_ADAPTER.validate_python(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'][1:]) or '<root>'}: {err['msg']}"
            for err in exc.errors()[:5]
        )
        raise EventParseError(f"invalid {detail_type!r} event: {problems}") from exc
    return Envelope[Event](
        id=parsed.id,
        detail_type=parsed.detail_type,
        source=parsed.source,
        time=parsed.time,
        detail=parsed.detail,
    )


def to_envelope(event: Event, *, event_id: str | None = None) -> dict[str, Any]:
    """The EventBridge-shaped dict for an event (what a queue receives from a rule)."""
    return {
        "version": "0",
        "id": event_id or str(uuid.uuid4()),
        "detail-type": event.DETAIL_TYPE,
        "source": event.SOURCE,
        "account": "",
        "time": datetime.now(UTC).isoformat(),
        "region": "",
        "resources": [],
        "detail": event.model_dump(mode="json", by_alias=True),
    }


def put_events_entry(event: Event, bus_name: str) -> dict[str, str]:
    """One PutEvents entry for an event."""
    return {
        "Source": event.SOURCE,
        "DetailType": event.DETAIL_TYPE,
        "Detail": event.model_dump_json(by_alias=True),
        "EventBusName": bus_name,
    }


def events_markdown() -> str:
    """The generated reference of every event (docs/events.md is checked against this)."""
    lines = [
        "# podpipe events",
        "",
        "Generated by `podpipe events --markdown`; a test fails when this file is stale.",
        "Every podpipe event carries `schema_version` and `episode_id` (Upload Rejected names",
        "the key instead: it has no episode; Brief Prepared names its date: it comes before any",
        "episode); messages carry S3 pointers, never transcripts.",
        "",
        "| detail-type | source | model |",
        "|---|---|---|",
    ]
    lines += [f"| {t.DETAIL_TYPE} | `{t.SOURCE}` | `{t.__name__}` |" for t in EVENT_TYPES]
    for t in EVENT_TYPES:
        lines += ["", f"## {t.DETAIL_TYPE}", "", (t.__doc__ or "").strip().splitlines()[0], ""]
        lines += ["| field | type | required |", "|---|---|---|"]
        for name, field in t.model_fields.items():
            shown = field.alias or name
            annotation = getattr(field.annotation, "__name__", None) or str(field.annotation)
            annotation = annotation.replace("podpipe.events.", "").replace("|", "\\|")
            lines.append(
                f"| `{shown}` | `{annotation}` | {'yes' if field.is_required() else 'no'} |"
            )
    return "\n".join(lines) + "\n"
