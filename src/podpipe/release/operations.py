"""The release operations: the ONE place they live (the CLI and the studio only map onto them).

:class:`ReleaseDesk` is an imperative shell: it reads through a :class:`BlobStore`, decides
with the pure functions of :mod:`podpipe.release.model` and :mod:`podpipe.release.feed`, and
writes back with compare-and-swap. The feed is never edited in place: it is regenerated from
the published releases (the source of truth) and written with ``If-Match`` on the ETag read
*before* the releases were listed, so of two publishes at the same moment the one that loses
the race reads again and writes a feed with both.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import structlog
from pydantic import ValidationError
from tenacity import (
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from podpipe.documents import ClipPicks
from podpipe.events import EpisodePublished, EpisodeUnpublished
from podpipe.layout import EpisodeKeys, EpisodeMetadata, validate_episode_id
from podpipe.release import model
from podpipe.release.feed import FeedItem, Person, Soundbite, Transcript, build_feed
from podpipe.release.model import (
    EpisodeType,
    MediaPerson,
    MediaSoundbite,
    NotesVersion,
    PublishedMedia,
    Release,
    ReleaseConflictError,
    ReleaseError,
    ReleaseKeys,
    TitleChoice,
)
from podpipe.release.shows import (
    SHOWS_PREFIX,
    Show,
    ShowConfigError,
    match_show_id,
    parse_show,
    show_id_from_key,
    show_keys,
)
from podpipe.release.store import BlobStore, EventSink, PreconditionFailedError

log = structlog.get_logger()

FEED_CONTENT_TYPE = "application/rss+xml; charset=utf-8"
# Public copies: what each artifact is called under public/<show>/episodes/<id>/, and its type.
TRANSCRIPT_COPIES = (
    ("subtitles.vtt", "transcript.vtt", "vtt"),
    ("subtitles.srt", "transcript.srt", "srt"),
    ("transcript.podcasting20.json", "transcript.json", "json"),
)
CONTENT_TYPES = {
    "mp3": "audio/mpeg",
    "vtt": "text/vtt; charset=utf-8",
    "srt": "application/x-subrip; charset=utf-8",
    "json": "application/json",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "png": "image/png",
}
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


class ScheduleTrigger(Protocol):
    """What fires a scheduled release once its time comes (EventBridge Scheduler, or the
    local loop's index). Firing is safe to repeat: the release's CAS decides who publishes."""

    def schedule(self, episode_id: str, at: datetime) -> None: ...

    def cancel(self, episode_id: str) -> None: ...


MetadataReader = Callable[[str], EpisodeMetadata]
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Draft:
    """What the host reviews: the generated titles and notes, chapters and clips."""

    show: Show
    release: Release
    saved: bool
    titles: list[str]
    generated_notes: str | None
    notes: str | None
    chapters: list[tuple[float, str]] = field(default_factory=list)
    clips: ClipPicks | None = None


@dataclass(frozen=True)
class PublishOutcome:
    release: Release
    feed_url: str
    published_now: bool
    event: EpisodePublished | None = None


@dataclass(frozen=True)
class FeedOutcome:
    feed_url: str
    items: int
    written: bool
    attempts: int


class ReleaseDesk:
    def __init__(
        self,
        store: BlobStore,
        *,
        events: EventSink,
        trigger: ScheduleTrigger,
        metadata: MetadataReader,
        clock: Clock = utc_now,
        feed_attempts: int = 40,
        release_attempts: int = 10,
    ) -> None:
        self._store = store
        self._events = events
        self._trigger = trigger
        self._metadata = metadata
        self._clock = clock
        self._feed_attempts = feed_attempts
        self._release_attempts = release_attempts

    # ------------------------------------------------------------------ shows

    def show_ids(self) -> list[str]:
        ids = {show_id_from_key(k) for k in self._store.list_keys(SHOWS_PREFIX)}
        return sorted(i for i in ids if i)

    def show(self, show_id: str) -> Show:
        for key in show_keys(show_id):
            blob = self._store.get(key)
            if blob is not None:
                return parse_show(blob.body, key)
        raise ShowConfigError(
            f"no show {show_id!r}: put its channel data at {show_keys(show_id)[0]} "
            f"(shows here: {', '.join(self.show_ids()) or 'none'})"
        )

    def show_for_episode(self, episode_id: str) -> Show:
        """The show an episode's metadata names (by id or title), or the only show there is."""
        named = self._metadata(episode_id).show.strip()
        ids = self.show_ids()
        found = match_show_id(named, ids, lambda show_id: self.show(show_id).title)
        if found is not None:
            return self.show(found)
        if named:
            raise ShowConfigError(
                f"episode {episode_id} belongs to show {named!r}, which has no shows/<id>.json "
                f"(shows here: {', '.join(ids) or 'none'})"
            )
        raise ShowConfigError(
            f"episode {episode_id} names no show and there are {len(ids)} "
            "(set 'show' in its metadata)"
        )

    # ------------------------------------------------------------------ reading

    def _load(self, episode_id: str) -> tuple[Release | None, str | None]:
        blob = self._store.get(model.release_key(validate_episode_id(episode_id)))
        if blob is None:
            return None, None
        return Release.model_validate_json(blob.body), blob.etag

    def release(self, episode_id: str) -> Release:
        found, _ = self._load(episode_id)
        if found is None:
            raise ReleaseError(
                f"{episode_id} has no release yet: approve it with "
                f"`podpipe release {episode_id} --title N`"
            )
        return found

    def _text(self, key: str) -> str | None:
        blob = self._store.get(key)
        return None if blob is None else blob.body.decode("utf-8", "replace")

    def _json(self, key: str) -> Any:
        blob = self._store.get(key)
        if blob is None:
            return None
        try:
            return json.loads(blob.body)
        except ValueError:
            return None

    def draft(self, episode_id: str) -> Draft:
        """Everything to review before approving (nothing is written)."""
        keys = EpisodeKeys(episode_id)
        existing, _ = self._load(episode_id)
        show = self.show(existing.show_id) if existing else self.show_for_episode(episode_id)
        release = existing or model.new_release(
            episode_id, show.show_id, show.podcast_guid, self._clock()
        )
        generated = self._text(keys.prompt_output("show-notes", "md"))
        notes = self._text(release.notes.key) if release.notes else generated
        chapters_raw = self._json(keys.prompt_output("chapters", "json")) or {}
        chapters = [
            (float(c.get("startTime", 0)), str(c.get("title", "")))
            for c in chapters_raw.get("chapters", [])
            if isinstance(c, dict)
        ]
        return Draft(
            show=show,
            release=release,
            saved=existing is not None,
            titles=model.parse_titles(self._text(keys.prompt_output("titles", "md")) or ""),
            generated_notes=generated,
            notes=notes,
            chapters=chapters,
            clips=self._clip_picks(episode_id),
        )

    def _clip_picks(self, episode_id: str) -> ClipPicks | None:
        raw = self._json(EpisodeKeys(episode_id).prompt_output("clip-picks", "json"))
        try:
            return None if raw is None else ClipPicks.model_validate(raw)
        except ValidationError:
            return None

    # ------------------------------------------------------------------ CAS

    def _save(self, release: Release, etag: str | None) -> None:
        key = ReleaseKeys(release.episode_id, release.show_id).release
        body = release.model_dump_json(indent=2).encode()
        try:
            self._store.put(
                key,
                body,
                content_type="application/json",
                if_match=etag,
                if_absent=etag is None,
            )
        except PreconditionFailedError:
            raise ReleaseConflictError(
                f"the release of {release.episode_id} changed while it was being updated"
            ) from None

    def _update(
        self, episode_id: str, change: Callable[[Release | None], Release]
    ) -> tuple[Release | None, Release]:
        """Read, change (pure), compare-and-swap; re-read and re-decide on a conflict."""
        for attempt in Retrying(
            retry=retry_if_exception_type(ReleaseConflictError),
            stop=stop_after_attempt(self._release_attempts),
            wait=wait_random_exponential(multiplier=0.05, max=1.0),
            reraise=True,
        ):
            with attempt:
                before, etag = self._load(episode_id)
                after = change(before)
                if after != before:
                    self._save(after, etag)
                return before, after
        raise AssertionError("unreachable")  # pragma: no cover

    # ------------------------------------------------------------------ approve

    def approve(
        self,
        episode_id: str,
        *,
        title_number: int | None = None,
        title_text: str | None = None,
        notes_markdown: str | None = None,
        episode_type: EpisodeType | None = None,
        season: int | None = None,
    ) -> Release:
        """Approve (or edit) the release: a chosen or written title, generated or edited notes
        (and, optionally, the item's itunes:episodeType and itunes:season).

        Edited notes become a new version beside the model's; nothing is overwritten. An
        edit of a published release rebuilds the feed; the item keeps its guid and pubDate.
        """
        keys = EpisodeKeys(validate_episode_id(episode_id))
        now = self._clock()
        draft = self.draft(episode_id)
        if title_number is None and title_text is None and draft.release.title is not None:
            choice = draft.release.title  # editing only the notes keeps the approved title
        else:
            title, source = model.choose_title(draft.titles, title_number, title_text)
            choice = TitleChoice(text=title, source=source, at=now)
        release_keys = ReleaseKeys(episode_id, draft.show.show_id)
        if notes_markdown is not None:
            notes = self._store_notes_version(release_keys, model.clean_notes(notes_markdown), now)
        elif draft.release.notes is not None:
            notes = draft.release.notes
        else:
            if draft.generated_notes is None:
                raise ReleaseError(
                    f"{episode_id} has no generated show notes (outputs/show-notes.md): "
                    "pass --notes FILE"
                )
            model.clean_notes(draft.generated_notes)  # refuse unsafe generated text as well
            notes = NotesVersion(
                key=keys.prompt_output("show-notes", "md"), source="generated", at=now
            )
        show = draft.show

        def change(current: Release | None) -> Release:
            base = current or model.new_release(episode_id, show.show_id, show.podcast_guid, now)
            return model.with_details(
                model.approve(base, choice, notes, now), episode_type, season, now
            )

        _, after = self._update(episode_id, change)
        self._store.put(
            release_keys.index,
            json.dumps({"episode_id": episode_id}).encode(),
            content_type="application/json",
        )
        if after.state == "published":
            self.rebuild_feed(show.show_id)
        log.info("release.approved", episode_id=episode_id, state=after.state, title=choice.source)
        return after

    def _store_notes_version(self, keys: ReleaseKeys, text: str, now: datetime) -> NotesVersion:
        existing, _ = self._load(keys.episode_id)
        if existing and existing.notes and self._text(existing.notes.key) == text:
            return existing.notes
        host_versions = (
            [v for v in existing.notes_versions if v.source == "host"] if existing else []
        )
        number = len(host_versions) + 1
        for _ in range(20):
            key = keys.notes_version(number)
            try:
                self._store.put(
                    key,
                    text.encode("utf-8"),
                    content_type="text/markdown; charset=utf-8",
                    if_absent=True,
                )
            except PreconditionFailedError:
                number += 1  # another edit took this number: versions are never overwritten
                continue
            return NotesVersion(key=key, source="host", at=now)
        raise ReleaseConflictError("could not store the edited notes: too many concurrent edits")

    # ------------------------------------------------------------------ publish

    def publish(self, episode_id: str, *, at: datetime | None = None) -> PublishOutcome:
        """Publish now, or schedule for ``at``. Republishing is idempotent (no second event)."""
        if at is None:
            return self._publish_now(episode_id, only_if_due=False)
        now = self._clock()
        _, after = self._update(
            episode_id, lambda r: model.schedule(self._existing(episode_id, r), at, now)
        )
        assert after.scheduled_for is not None
        self._trigger.schedule(episode_id, after.scheduled_for)
        log.info("release.scheduled", episode_id=episode_id, at=after.scheduled_for.isoformat())
        return PublishOutcome(after, self.show(after.show_id).feed_url, published_now=False)

    def fire(self, episode_id: str) -> PublishOutcome:
        """A scheduled release's time came: publish it if it is (still) scheduled and due.

        Safe to call any number of times, from any number of places: only the caller whose
        compare-and-swap moves the release to published emits "Episode Published".
        """
        return self._publish_now(episode_id, only_if_due=True)

    def _existing(self, episode_id: str, release: Release | None) -> Release:
        if release is None:
            raise ReleaseError(
                f"{episode_id} has no release yet: approve it with "
                f"`podpipe release {episode_id} --title N`"
            )
        return release

    def _publish_now(self, episode_id: str, *, only_if_due: bool) -> PublishOutcome:
        now = self._clock()
        current = self.release(episode_id)
        show = self.show(current.show_id)
        if only_if_due and not model.due(current, now):
            return PublishOutcome(current, show.feed_url, published_now=False)
        model.publish(current, now)  # refuse a draft before copying anything
        media = self._publish_files(show, current)

        def change(release: Release | None) -> Release:
            release = self._existing(episode_id, release)
            if only_if_due and not model.due(release, now):
                return release
            published = model.publish(release, now)
            if published.media == media:
                return published
            return published.model_copy(update={"media": media})

        before, after = self._update(episode_id, change)
        if after.state != "published":
            # Unpublished (or rescheduled) between our read and our write: take back the
            # copies we made, unless someone published it meanwhile.
            if self.release(episode_id).state != "published":
                self._remove_public_files(after)
            return PublishOutcome(after, show.feed_url, published_now=False)
        published_now = before is None or before.state != "published"
        self.rebuild_feed(show.show_id)
        if before is not None and before.state == "scheduled" and after.state == "published":
            self._trigger.cancel(episode_id)
        event = None
        if published_now:
            assert after.title is not None
            assert after.first_published_at is not None
            event = EpisodePublished(
                episode_id=episode_id,
                show_id=show.show_id,
                show_title=show.title,
                title=after.title.text,
                guid=after.guid,
                feed_url=show.feed_url,
                episode_url=self._public_url(show, episode_id, "audio.mp3"),
                published_at=after.first_published_at,
                scheduled=only_if_due,
            )
            self._events.publish([event])
        log.info("release.published", episode_id=episode_id, published_now=published_now)
        return PublishOutcome(after, show.feed_url, published_now=published_now, event=event)

    def _public_url(self, show: Show, episode_id: str, name: str) -> str:
        return f"{show.public_root}/episodes/{episode_id}/{name}"

    def _publish_files(self, show: Show, release: Release) -> PublishedMedia:
        """Copy the public files of an episode under public/<show>/ and measure them."""
        episode_id = release.episode_id
        keys = EpisodeKeys(episode_id)
        target = ReleaseKeys(episode_id, show.show_id).public_episode
        if self._store.size(keys.audio) is None:
            raise ReleaseError(
                f"{episode_id} has no audio.mp3 yet (transcode has not finished): "
                f"`podpipe status {episode_id}`"
            )
        self._store.copy(keys.audio, target + "audio.mp3", content_type=CONTENT_TYPES["mp3"])
        length = self._store.size(target + "audio.mp3") or 0
        transcripts: list[str] = []
        for source, name, kind in TRANSCRIPT_COPIES:
            if self._store.size(keys.root + source) is not None:
                self._store.copy(
                    keys.root + source, target + name, content_type=CONTENT_TYPES[kind]
                )
                transcripts.append(kind)
        chapters_key = keys.prompt_output("chapters", "json")
        has_chapters = self._store.size(chapters_key) is not None
        if has_chapters:
            self._store.copy(
                chapters_key, target + "chapters.json", content_type="application/json"
            )
        metadata = self._metadata(episode_id)
        persons = [MediaPerson(name=n, role="host") for n in (metadata.hosts or show.hosts)]
        persons += [MediaPerson(name=n, role="guest") for n in metadata.guests]
        picks = self._clip_picks(episode_id)
        soundbites = [
            MediaSoundbite(
                start_seconds=p.start, duration_seconds=round(p.end - p.start, 3), title=p.title
            )
            for p in (picks.clips if picks else [])
        ]
        return PublishedMedia(
            audio_length=length,
            duration_seconds=self._duration(keys),
            episode_number=metadata.episode_number,
            language=show.language,
            transcripts=transcripts,
            chapters=has_chapters,
            soundbites=soundbites,
            persons=persons,
        )

    def _duration(self, keys: EpisodeKeys) -> float:
        for key in (keys.audio_info, keys.transcript_json):
            raw = self._json(key)
            if isinstance(raw, dict) and isinstance(raw.get("duration_seconds"), int | float):
                return float(raw["duration_seconds"])
        raise ReleaseError(
            f"{keys.episode_id}: no duration (neither audio.json nor transcript.json has one)"
        )

    # ------------------------------------------------------------------ unpublish

    def unpublish(self, episode_id: str) -> Release:
        """Take the episode out of the feed (or cancel its schedule); its files leave public/.

        "Episode Unpublished" goes out every time (promote cancels the plan; a repeat is a
        no-op there), so running it again after a failed publish still reaches promote.
        """
        now = self._clock()
        before, after = self._update(
            episode_id, lambda r: model.unpublish(self._existing(episode_id, r), now)
        )
        self._trigger.cancel(episode_id)
        self._remove_public_files(after)
        self.rebuild_feed(after.show_id)
        self._events.publish(
            [EpisodeUnpublished(episode_id=episode_id, show_id=after.show_id, unpublished_at=now)]
        )
        log.info("release.unpublished", episode_id=episode_id, was=before.state if before else None)
        return after

    def _remove_public_files(self, release: Release) -> None:
        for key in self._store.list_keys(
            ReleaseKeys(release.episode_id, release.show_id).public_episode
        ):
            self._store.delete(key)

    # ------------------------------------------------------------------ the feed

    def _show_releases(self, show_id: str) -> list[Release]:
        releases: list[Release] = []
        prefix = f"{model.RELEASE_INDEX_PREFIX}{show_id}/"
        for key in self._store.list_keys(prefix):
            episode_id = key[len(prefix) :].removesuffix(".json")
            found, _ = self._load(episode_id)
            if found is not None and found.show_id == show_id:
                releases.append(found)
        return releases

    def _artwork_url(self, show: Show) -> str:
        extension = show.artwork_key.rsplit(".", 1)[-1].lower()
        if extension not in {"jpg", "jpeg", "png"}:
            raise ShowConfigError(f"shows/{show.show_id}: artwork_key must be a .jpg or .png")
        if self._store.size(show.artwork_key) is None:
            raise ShowConfigError(
                f"shows/{show.show_id}: artwork_key {show.artwork_key!r} is not in the bucket"
            )
        name = f"artwork.{extension}"
        self._store.copy(
            show.artwork_key,
            model.show_public_root(show.show_id) + name,
            content_type=CONTENT_TYPES[extension],
        )
        return f"{show.public_root}/{name}"

    def _feed_item(self, show: Show, release: Release) -> FeedItem | None:
        media = release.media
        if release.title is None or release.notes is None or media is None:
            return None
        notes = self._text(release.notes.key) or ""

        def url(name: str) -> str:
            return self._public_url(show, release.episode_id, name)

        types = {"vtt": "text/vtt", "srt": "application/x-subrip", "json": "application/json"}
        return FeedItem(
            guid=release.guid,
            title=release.title.text,
            notes_markdown=notes,
            published_at=release.first_published_at or _EPOCH,
            enclosure_url=url("audio.mp3"),
            enclosure_length=media.audio_length,
            duration_seconds=media.duration_seconds,
            episode_number=media.episode_number,
            season=release.season or show.season,
            episode_type=release.episode_type,
            transcripts=[
                Transcript(url(f"transcript.{kind}"), types[kind], media.language)
                for kind in media.transcripts
            ],
            chapters_url=url("chapters.json") if media.chapters else None,
            soundbites=[
                Soundbite(s.start_seconds, s.duration_seconds, s.title) for s in media.soundbites
            ],
            persons=[Person(p.name, p.role) for p in media.persons],
        )

    def rebuild_feed(self, show_id: str) -> FeedOutcome:
        """Regenerate ``public/<show>/feed.xml`` from the published releases (CAS + retry).

        The same releases give the same bytes (lastBuildDate is the newest release change),
        so a rebuild with nothing new writes nothing.
        """
        show = self.show(show_id)
        artwork_url = self._artwork_url(show)
        key = model.feed_key(show_id)
        attempts = 0
        for attempt in Retrying(
            retry=retry_if_exception_type(PreconditionFailedError),
            stop=stop_after_attempt(self._feed_attempts),
            wait=wait_random_exponential(multiplier=0.02, max=0.5),
            reraise=True,
        ):
            with attempt:
                attempts += 1
                current = self._store.get(key)  # read the ETag BEFORE listing the releases
                releases = self._show_releases(show_id)
                items = [
                    item
                    for r in releases
                    if r.is_public and (item := self._feed_item(show, r)) is not None
                ]
                last_build = max((r.updated_at or _EPOCH for r in releases), default=_EPOCH)
                body = build_feed(show, items, artwork_url=artwork_url, last_build=last_build)
                if current is not None and current.body == body:
                    return FeedOutcome(show.feed_url, len(items), written=False, attempts=attempts)
                self._store.put(
                    key,
                    body,
                    content_type=FEED_CONTENT_TYPE,
                    if_match=current.etag if current else None,
                    if_absent=current is None,
                    cache_control="max-age=300",
                )
                log.info("feed.written", show_id=show_id, items=len(items), attempts=attempts)
                return FeedOutcome(show.feed_url, len(items), written=True, attempts=attempts)
        raise AssertionError("unreachable")  # pragma: no cover
