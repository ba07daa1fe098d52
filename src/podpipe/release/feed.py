"""The show's RSS 2.0 feed with the iTunes and Podcasting 2.0 namespaces (pure: no I/O).

feedgen writes RSS and the iTunes tags; :class:`PodcastIndexExtension` adds the
``podcast:`` namespace (guid, transcript, chapters, soundbite, person) the same way feedgen's
own extensions do, through lxml elements, so every value is escaped by the XML writer and
nothing is pasted into strings. Show notes are Markdown; the feed carries them as HTML made by
markdown-it (raw HTML in the Markdown is not passed through) and then sanitised by nh3, so a
``<script>`` in the notes never reaches a podcast app.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import nh3
from feedgen.ext.base import BaseEntryExtension, BaseExtension
from feedgen.feed import FeedGenerator
from feedgen.util import xml_elem
from markdown_it import MarkdownIt

from podpipe.release.shows import Show, ShowConfigError

PODCAST_NS = "https://podcastindex.org/namespace/1.0"
# The spec says clients must treat this older URI as identical; some (gPodder's podcastparser
# 0.6) only know this one. A show picks it with ``podcast_namespace: legacy``.
PODCAST_NS_LEGACY = "https://github.com/Podcastindex-org/podcast-namespace/blob/main/docs/1.0.md"
ALLOWED_TAGS = {
    "p", "br", "a", "strong", "b", "em", "i", "ul", "ol", "li", "blockquote", "code", "pre",
    "h1", "h2", "h3", "h4", "hr",
}  # fmt: skip
TRANSCRIPT_TYPES = {
    "vtt": "text/vtt",
    "srt": "application/x-subrip",
    "json": "application/json",
}
CHAPTERS_TYPE = "application/json+chapters"


@dataclass(frozen=True)
class Transcript:
    url: str
    type: str
    language: str | None = None


@dataclass(frozen=True)
class Soundbite:
    start_seconds: float
    duration_seconds: float
    title: str


@dataclass(frozen=True)
class Person:
    name: str
    role: str = "host"  # podcast:person roles: host, guest, ...


@dataclass(frozen=True)
class FeedItem:
    """Everything the feed says about one published episode (built from its release)."""

    guid: str
    title: str
    notes_markdown: str
    published_at: datetime
    enclosure_url: str
    enclosure_length: int
    duration_seconds: float
    link: str | None = None
    episode_number: int | None = None
    season: int | None = None
    episode_type: str = "full"
    explicit: bool | None = None
    transcripts: Sequence[Transcript] = ()
    chapters_url: str | None = None
    soundbites: Sequence[Soundbite] = ()
    persons: Sequence[Person] = ()
    image_url: str | None = None


# --------------------------------------------------------------------------- notes → HTML

_MARKDOWN = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})


def notes_html(markdown: str) -> str:
    """Show notes as safe HTML: Markdown rendered without raw HTML, then an allowlist."""
    rendered = _MARKDOWN.render(markdown)
    return nh3.clean(
        rendered,
        tags=ALLOWED_TAGS,
        attributes={"a": {"href", "title"}},
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener nofollow",
    ).strip()


# --------------------------------------------------------------------------- podcast: namespace


class PodcastIndexExtension(BaseExtension):  # type: ignore[misc]
    """``podcast:guid`` on the channel."""

    namespace = PODCAST_NS

    def __init__(self) -> None:
        self.guid: str | None = None
        self.locked_owner: str | None = None

    def extend_ns(self) -> dict[str, str]:
        return {"podcast": self.namespace}

    def extend_rss(self, rss_feed: Any) -> Any:
        channel = rss_feed[0]
        if self.guid:
            xml_elem(f"{{{self.namespace}}}guid", channel).text = self.guid
        if self.locked_owner:
            locked = xml_elem(f"{{{self.namespace}}}locked", channel)
            locked.attrib["owner"] = self.locked_owner
            locked.text = "no"
        return rss_feed


class PodcastIndexEntryExtension(BaseEntryExtension):  # type: ignore[misc]
    """Transcripts, chapters, soundbites and persons on an item."""

    namespace = PODCAST_NS

    def __init__(self) -> None:
        self.transcripts: list[Transcript] = []
        self.chapters_url: str | None = None
        self.soundbites: list[Soundbite] = []
        self.persons: list[Person] = []

    def extend_ns(self) -> dict[str, str]:
        return {"podcast": self.namespace}

    def extend_rss(self, entry: Any) -> Any:
        for transcript in self.transcripts:
            tag = xml_elem(f"{{{self.namespace}}}transcript", entry)
            tag.attrib["url"] = transcript.url
            tag.attrib["type"] = transcript.type
            if transcript.language:
                tag.attrib["language"] = transcript.language
            if transcript.type in {"text/vtt", "application/x-subrip"}:
                tag.attrib["rel"] = "captions"
        if self.chapters_url:
            tag = xml_elem(f"{{{self.namespace}}}chapters", entry)
            tag.attrib["url"] = self.chapters_url
            tag.attrib["type"] = CHAPTERS_TYPE
        for bite in self.soundbites:
            tag = xml_elem(f"{{{self.namespace}}}soundbite", entry)
            tag.attrib["startTime"] = f"{bite.start_seconds:.3f}".rstrip("0").rstrip(".")
            tag.attrib["duration"] = f"{bite.duration_seconds:.3f}".rstrip("0").rstrip(".")
            tag.text = bite.title
        for person in self.persons:
            tag = xml_elem(f"{{{self.namespace}}}person", entry)
            tag.attrib["role"] = person.role
            tag.text = person.name
        return entry


# --------------------------------------------------------------------------- the feed


def _hms(seconds: float) -> str:
    total = max(0, round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}"


def build_feed(
    show: Show, items: Sequence[FeedItem], *, artwork_url: str, last_build: datetime
) -> bytes:
    """The feed XML (UTF-8). Items appear newest first; ``last_build`` is lastBuildDate."""
    fg = FeedGenerator()
    fg.load_extension("podcast")
    namespace = {"standard": PODCAST_NS, "legacy": PODCAST_NS_LEGACY}[show.podcast_namespace]
    fg.register_extension(
        "podcastindex",
        type("ChannelExtension", (PodcastIndexExtension,), {"namespace": namespace}),
        type("ItemExtension", (PodcastIndexEntryExtension,), {"namespace": namespace}),
    )
    fg.title(show.title)
    fg.description(show.description)
    fg.link(href=show.feed_url, rel="self")
    fg.link(href=str(show.link or show.public_root + "/"), rel="alternate")
    fg.language(show.language)
    fg.author({"name": show.author, "email": show.owner.email})
    fg.image(artwork_url, title=show.title, link=str(show.link or show.public_root + "/"))
    fg.lastBuildDate(last_build)
    fg.generator("podpipe")
    podcast = fg.podcast
    podcast.itunes_author(show.author)
    podcast.itunes_owner(name=show.owner.name, email=show.owner.email)
    podcast.itunes_explicit("yes" if show.explicit else "no")
    podcast.itunes_image(artwork_url)
    podcast.itunes_summary(show.description)
    podcast.itunes_type(show.show_type)
    try:
        podcast.itunes_category(
            [
                {"cat": c.name, "sub": c.subcategory} if c.subcategory else {"cat": c.name}
                for c in show.categories
            ]
        )
    except ValueError as exc:
        raise ShowConfigError(
            f"shows/{show.show_id}: categories: {exc} (use Apple Podcasts' category names)"
        ) from None
    fg.podcastindex.guid = show.podcast_guid
    fg.podcastindex.locked_owner = show.owner.email

    for item in sorted(items, key=lambda i: (i.published_at, i.guid)):
        entry = fg.add_entry(order="prepend")  # oldest added first → newest on top
        entry.guid(item.guid, permalink=False)
        entry.title(item.title)
        entry.description(notes_html(item.notes_markdown))
        entry.pubDate(item.published_at)
        entry.enclosure(item.enclosure_url, str(item.enclosure_length), "audio/mpeg")
        if item.link:
            entry.link(href=item.link)
        entry.podcast.itunes_title(item.title)
        entry.podcast.itunes_duration(_hms(item.duration_seconds))
        entry.podcast.itunes_episode_type(item.episode_type)
        if item.episode_number is not None:
            entry.podcast.itunes_episode(item.episode_number)
        if item.season is not None:
            entry.podcast.itunes_season(item.season)
        if item.explicit is not None:
            entry.podcast.itunes_explicit("yes" if item.explicit else "no")
        if item.image_url:
            entry.podcast.itunes_image(item.image_url)
        extension: PodcastIndexEntryExtension = entry.podcastindex
        extension.transcripts = list(item.transcripts)
        extension.chapters_url = item.chapters_url
        extension.soundbites = list(item.soundbites)
        extension.persons = list(item.persons)
    body: bytes = fg.rss_str(pretty=True)
    return body


__all__ = [
    "FeedItem",
    "Person",
    "Soundbite",
    "Transcript",
    "build_feed",
    "notes_html",
]
