"""One release per episode, and the moves between its states (pure: no I/O).

::

    draft ──approve──> approved ──publish──> published ──unpublish──> unpublished
                          │  └──publish --at──> scheduled ──(time reached)──┘      │
                          └────────────── approve again (edit) <──────────────────┘

A release is a small JSON document (``episodes/<id>/release.json``) written with
compare-and-swap, so two people (or a person and the scheduler) never both win the same move.
The guid is fixed when the release is first approved and never changes afterwards: podcast
apps use it to tell a new episode from an edited one.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from datetime import UTC, datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from podpipe.layout import EpisodeKeys

ReleaseState = Literal["draft", "approved", "scheduled", "published", "unpublished"]
EpisodeType = Literal["full", "trailer", "bonus"]

TITLE_MAX_CHARS = 200
NOTES_MAX_CHARS = 8000
# C0/C1 control characters (except tab, newline, carriage return) cannot appear in XML 1.0 and
# have no business in a title; so are the Unicode noncharacters.
_FORBIDDEN = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufffe\uffff\ud800-\udfff]")
_NUMBERED = re.compile(r"^\s*(\d{1,2})[.)]\s+(.+?)\s*$")
_BOLD = re.compile(r"\*\*(.+?)\*\*|__(.+?)__")


class ReleaseError(ValueError):
    """A release operation that cannot be done, in words a host can act on."""


class InvalidTransitionError(ReleaseError):
    """The move is not allowed from the release's current state."""


class UnsafeTextError(ReleaseError):
    """A title or notes that podpipe refuses to put in a feed (too long, control characters)."""


class ReleaseConflictError(ReleaseError):
    """Someone else changed the release between our read and our write (retry or re-read)."""


class TitleChoice(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    text: str
    source: str = Field(description="'generated:<n>' (outputs/titles.md) or 'host'")
    at: datetime


class NotesVersion(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    key: str = Field(
        description="S3 key of the Markdown; the generated notes are never overwritten"
    )
    source: str = Field(description="'generated' or 'host'")
    at: datetime


class Transition(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    state: ReleaseState
    at: datetime
    note: str = ""


class MediaPerson(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    role: str = "host"


class MediaSoundbite(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    start_seconds: float = Field(ge=0)
    duration_seconds: float = Field(gt=0)
    title: str


class PublishedMedia(BaseModel):
    """What the feed needs about the public files, measured when the episode was published
    (so rebuilding the feed reads one document per episode, not every artifact)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    audio_length: int = Field(gt=0, description="exact byte length of the public MP3")
    duration_seconds: float = Field(ge=0)
    episode_number: int | None = None
    language: str | None = None
    transcripts: list[str] = Field(default_factory=list, description="vtt, srt, json")
    chapters: bool = False
    soundbites: list[MediaSoundbite] = Field(default_factory=list)
    persons: list[MediaPerson] = Field(default_factory=list)


class Release(BaseModel):
    """``episodes/<id>/release.json``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    schema_version: int = 1
    episode_id: str
    show_id: str
    state: ReleaseState = "draft"
    guid: str
    title: TitleChoice | None = None
    titles: list[TitleChoice] = Field(
        default_factory=list, description="every title chosen, oldest first"
    )
    notes: NotesVersion | None = None
    notes_versions: list[NotesVersion] = Field(default_factory=list)
    episode_type: EpisodeType = "full"
    season: int | None = None
    scheduled_for: datetime | None = None
    first_published_at: datetime | None = Field(
        default=None, description="pubDate: set once, kept through edits and republishing"
    )
    media: PublishedMedia | None = None
    updated_at: datetime | None = None
    history: list[Transition] = Field(default_factory=list)

    @property
    def is_public(self) -> bool:
        return self.state == "published"


RELEASE_INDEX_PREFIX = "releases/"
SCHEDULE_INDEX_PREFIX = "release-schedule/"
PUBLIC_PREFIX = "public/"


class ReleaseKeys:
    """Every key the release of one episode touches (pure)."""

    def __init__(self, episode_id: str, show_id: str) -> None:
        self.episode_id = episode_id
        self.show_id = show_id

    @property
    def release(self) -> str:
        return release_key(self.episode_id)

    def notes_version(self, number: int) -> str:
        """Host-edited notes: beside the model's outputs/show-notes.md, never over it."""
        return f"{EpisodeKeys(self.episode_id).release_prefix}show-notes.v{number:03d}.md"

    @property
    def index(self) -> str:
        return f"{RELEASE_INDEX_PREFIX}{self.show_id}/{self.episode_id}.json"

    @property
    def schedule(self) -> str:
        return schedule_key(self.episode_id)

    @property
    def public_episode(self) -> str:
        return f"{PUBLIC_PREFIX}{self.show_id}/episodes/{self.episode_id}/"


def release_key(episode_id: str) -> str:
    """``episodes/<id>/release.json``: the release itself (compare-and-swap)."""
    return EpisodeKeys(episode_id).release_record


def schedule_key(episode_id: str) -> str:
    """The local loop's index entry of a scheduled release."""
    return f"{SCHEDULE_INDEX_PREFIX}{episode_id}.json"


def show_public_root(show_id: str) -> str:
    return f"{PUBLIC_PREFIX}{show_id}/"


def feed_key(show_id: str) -> str:
    return f"{PUBLIC_PREFIX}{show_id}/feed.xml"


def stable_guid(podcast_guid: str, episode_id: str) -> str:
    """The item guid: derived from the show's podcast:guid and the episode id, so it is the
    same on every machine, every rebuild and every edit."""
    return str(uuid.uuid5(uuid.UUID(podcast_guid), episode_id))


def new_release(episode_id: str, show_id: str, podcast_guid: str, now: datetime) -> Release:
    return Release(
        episode_id=episode_id,
        show_id=show_id,
        guid=stable_guid(podcast_guid, episode_id),
        history=[Transition(state="draft", at=now)],
    )


# --------------------------------------------------------------------------- text


def parse_titles(markdown: str) -> list[str]:
    """The numbered titles of ``outputs/titles.md`` (``1. **Title** — why``), in order."""
    titles: list[str] = []
    for line in markdown.splitlines():
        match = _NUMBERED.match(line)
        if not match:
            continue
        item = match.group(2)
        bold = _BOLD.search(item)
        if bold:
            title = bold.group(1) or bold.group(2)
        else:
            title = re.split(r"\s+[—–]\s+|\s+-\s+", item, maxsplit=1)[0]
        title = title.strip().strip('"“”').strip()
        if title:
            titles.append(title)
    return titles


def clean_title(text: str) -> str:
    """A title fit for a feed: one line, NFC, no control characters, ≤ TITLE_MAX_CHARS.

    Markup is not stripped: a title is plain text and the feed writer escapes it, so
    ``<script>`` shows up literally in a podcast app instead of running anywhere.
    """
    if _FORBIDDEN.search(text):
        raise UnsafeTextError("the title contains control characters; remove them and try again")
    title = " ".join(unicodedata.normalize("NFC", text).split())
    if not title:
        raise UnsafeTextError("the title is empty")
    if len(title) > TITLE_MAX_CHARS:
        raise UnsafeTextError(
            f"the title has {len(title)} characters; podcast apps show about 70, the feed allows "
            f"at most {TITLE_MAX_CHARS}"
        )
    return title


def clean_notes(text: str) -> str:
    """Show notes fit for a feed: Markdown, no control characters, ≤ NOTES_MAX_CHARS."""
    if _FORBIDDEN.search(text):
        raise UnsafeTextError(
            "the show notes contain control characters; remove them and try again"
        )
    notes = unicodedata.normalize("NFC", text).replace("\r\n", "\n").strip()
    if not notes:
        raise UnsafeTextError("the show notes are empty")
    if len(notes) > NOTES_MAX_CHARS:
        raise UnsafeTextError(
            f"the show notes have {len(notes)} characters; the feed allows at most "
            f"{NOTES_MAX_CHARS} (Apple shows about 4,000): shorten them"
        )
    return notes


def choose_title(titles: list[str], number: int | None, text: str | None) -> tuple[str, str]:
    """(title, source) from ``--title N`` (1-based, into the generated list) or ``--title-text``."""
    if (number is None) == (text is None):
        raise ReleaseError("choose a title: --title N (one of the generated) or --title-text")
    if text is not None:
        return clean_title(text), "host"
    assert number is not None
    if not titles:
        raise ReleaseError("outputs/titles.md has no numbered titles: write one with --title-text")
    if not 1 <= number <= len(titles):
        raise ReleaseError(f"--title {number}: choose 1 to {len(titles)}")
    return clean_title(titles[number - 1]), f"generated:{number}"


# --------------------------------------------------------------------------- moves


def _moved(release: Release, state: ReleaseState, now: datetime, **changes: object) -> Release:
    history = [*release.history, Transition(state=state, at=now)]
    update = {"state": state, "history": history, "updated_at": now, **changes}
    return release.model_copy(update=update)


def approve(release: Release, title: TitleChoice, notes: NotesVersion, now: datetime) -> Release:
    """Approve a draft, or edit an approved/scheduled/published/unpublished release.

    Editing a published release keeps it published (and its guid and pubDate): the feed is
    rebuilt with the new text, and apps update the item in place.
    """
    same_title = release.title is not None and (release.title.text, release.title.source) == (
        title.text,
        title.source,
    )
    if same_title and release.title is not None:
        title = release.title
    same_notes = release.notes is not None and release.notes.key == notes.key
    if same_notes and release.notes is not None:
        notes = release.notes
    titles = release.titles if same_title else [*release.titles, title]
    versions = release.notes_versions if same_notes else [*release.notes_versions, notes]
    changes: dict[str, object] = {"title": title, "titles": titles, "notes": notes}
    changes["notes_versions"] = versions
    if same_title and same_notes and release.state != "draft":
        return release  # approving the same text again changes nothing
    changes["updated_at"] = now
    if release.state == "draft":
        return _moved(release, "approved", now, **changes)
    return release.model_copy(update=changes)


def with_details(
    release: Release, episode_type: EpisodeType | None, season: int | None, now: datetime
) -> Release:
    """itunes:episodeType and itunes:season of the item (None keeps what is there)."""
    if season is not None and season < 1:
        raise ReleaseError("--season starts at 1")
    changes: dict[str, object] = {}
    if episode_type is not None and episode_type != release.episode_type:
        changes["episode_type"] = episode_type
    if season is not None and season != release.season:
        changes["season"] = season
    if not changes:
        return release
    return release.model_copy(update={**changes, "updated_at": now})


def publish(release: Release, now: datetime) -> Release:
    """Publish now. Publishing a published release changes nothing (idempotent)."""
    if release.state == "published":
        return release
    if release.state == "draft" or release.title is None or release.notes is None:
        raise InvalidTransitionError(
            f"{release.episode_id} is a draft: approve it first (podpipe release "
            f"{release.episode_id} --title N)"
        )
    first = release.first_published_at or now
    return _moved(release, "published", now, first_published_at=first, scheduled_for=None)


def schedule(release: Release, at: datetime, now: datetime) -> Release:
    """Publish at ``at`` (UTC). Rescheduling a scheduled release moves its time."""
    if at.tzinfo is None:
        raise ReleaseError("give the publish time with a timezone (e.g. 2026-12-04T06:00Z)")
    at = at.astimezone(UTC)
    if at <= now:
        raise ReleaseError(f"{at.isoformat()} is in the past: publish now without --at")
    if release.state == "published":
        raise InvalidTransitionError(f"{release.episode_id} is already published")
    if release.state == "draft":
        raise InvalidTransitionError(f"{release.episode_id} is a draft: approve it first")
    return _moved(release, "scheduled", now, scheduled_for=at)


def due(release: Release, now: datetime) -> bool:
    return (
        release.state == "scheduled"
        and release.scheduled_for is not None
        and release.scheduled_for <= now
    )


def unpublish(release: Release, now: datetime) -> Release:
    """Take an episode out of the feed (and cancel a schedule). Idempotent."""
    if release.state == "unpublished":
        return release
    if release.state not in {"published", "scheduled"}:
        raise InvalidTransitionError(
            f"{release.episode_id} is {release.state}, not published or scheduled"
        )
    return _moved(release, "unpublished", now, scheduled_for=None)


_RELATIVE = re.compile(r"^\+(\d{1,6})([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_when(text: str, now: datetime) -> datetime:
    """``--at``: an ISO 8601 time with a timezone (``2026-12-04T06:00Z``) or ``+30m``/``+2h``."""
    relative = _RELATIVE.match(text.strip())
    if relative:
        return now + timedelta(seconds=int(relative.group(1)) * _UNITS[relative.group(2)])
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ReleaseError(
            f"--at {text!r}: use an ISO 8601 time with a timezone (2026-12-04T06:00Z) or +30m"
        ) from None
    if moment.tzinfo is None:
        raise ReleaseError(f"--at {text!r} has no timezone: add Z (UTC) or +01:00")
    return moment.astimezone(UTC)
