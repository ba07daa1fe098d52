"""Feeds → items since a date, de-duplicated across feeds (pure, over the HTTP port)."""

from __future__ import annotations

import calendar
import functools
import html
import re
import urllib.parse
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import feedparser

from podpipe_llm.prep.contain import contained, printable
from podpipe_llm.prep.fetch import Fetcher, FetchError
from podpipe_llm.prep.models import FeedItem, FeedSource, Problem

_TRACKING = re.compile(r"^(utm_|mc_|fbclid$|gclid$|trk$|sc_channel$|sc_campaign$|ref$)")
_TAG = re.compile(r"<[^>]+>")


def normalise_url(url: str) -> str:
    """The same article under the same string: scheme and host lower-case, no ``www.``, no
    fragment, no tracking parameters, no trailing slash, remaining query sorted."""
    parts = urllib.parse.urlsplit(url.strip())
    host = (parts.hostname or "").lower().removeprefix("www.")
    if parts.port and parts.port not in {80, 443}:
        host = f"{host}:{parts.port}"
    query = sorted(
        (k, v)
        for k, v in urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
        if not _TRACKING.match(k.lower())
    )
    path = parts.path.rstrip("/") or "/"
    scheme = "https" if parts.scheme in {"http", "https"} else parts.scheme
    return urllib.parse.urlunsplit((scheme, host, path, urllib.parse.urlencode(query), ""))


def normalise_title(title: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", title.casefold()).split())


def _published(entry: Any) -> datetime | None:
    for name in ("published_parsed", "updated_parsed"):
        value = entry.get(name)
        if value:
            return datetime.fromtimestamp(calendar.timegm(value), UTC)
    return None


def _plain(text: str) -> str:
    return " ".join(html.unescape(_TAG.sub(" ", text)).split())


def checked_link(link: str) -> str:
    """``link`` when prep can fetch and compare it; a ValueError saying why otherwise.

    ``urlsplit`` itself refuses some links (``http://[bad/x``: "Invalid IPv6 URL"), its
    ``port`` others (``:99999``), and httpx refuses control characters; all of them are
    checked here, once, so that no later step (de-duplication, the fetch) meets them.
    """
    if not link:
        raise ValueError("the entry has no link")
    parts = urllib.parse.urlsplit(link)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ValueError("the link is not an http(s) address")
    _ = parts.port  # raises for a port that is no number or out of range
    if not link.isprintable():
        raise ValueError("the link contains a control character")
    return link


def parse_feed(body: bytes, source: FeedSource) -> tuple[list[FeedItem], list[Problem]]:
    """The entries of one feed; a body that is no feed, or an entry without a usable title
    and link, is a problem, not an exception."""
    parsed = feedparser.parse(body)
    entries = list(parsed.get("entries", []))
    if not entries and (parsed.get("bozo") or not parsed.get("feed")):
        reason = str(parsed.get("bozo_exception") or "no RSS or Atom entries")[:200]
        return [], [
            Problem(
                kind="feed", source=source.name, url=str(source.url), reason=f"not a feed: {reason}"
            )
        ]
    items: list[FeedItem] = []
    problems: list[Problem] = []
    for entry in entries:
        link = str(entry.get("link") or "").strip()
        title = _plain(str(entry.get("title") or ""))
        try:
            checked_link(link)
            if not title:
                raise ValueError("the entry has no title")
        except ValueError as exc:
            problems.append(
                Problem(
                    kind="article",
                    source=title or f"an untitled entry of {source.name}",
                    url=printable(link),
                    reason=f"unusable feed entry ({source.name}): {exc}"[:500],
                )
            )
            continue
        items.append(
            FeedItem(
                title=title,
                url=link,
                feed=source.name,
                published=_published(entry),
                feed_summary=_plain(str(entry.get("summary") or ""))[:600],
            )
        )
    return items, problems


def read_feed(fetcher: Fetcher, source: FeedSource) -> tuple[list[FeedItem], list[Problem]]:
    url = str(source.url)
    try:
        fetched = fetcher.get(url)
    except FetchError as exc:
        return [], [
            Problem(kind="feed", source=source.name, url=url, reason=f"feed is down: {exc}")
        ]
    if fetched.status >= 400:
        return [], [
            Problem(
                kind="feed",
                source=source.name,
                url=url,
                reason=f"feed is down: HTTP {fetched.status}",
            )
        ]
    return parse_feed(fetched.body, source)


def deduplicate(items: Sequence[FeedItem]) -> list[FeedItem]:
    """First occurrence wins (feed order, then entry order); a later copy — the same URL
    after normalisation, or the same title — only adds its feed to ``also_in``."""
    kept: list[FeedItem] = []
    by_key: dict[str, int] = {}
    for item in items:
        keys = (f"url:{normalise_url(item.url)}", f"title:{normalise_title(item.title)}")
        index = next((by_key[k] for k in keys if k in by_key), None)
        if index is None:
            by_key.update(dict.fromkeys(keys, len(kept)))
            kept.append(item)
            continue
        first = kept[index]
        if item.feed != first.feed and item.feed not in first.also_in:
            kept[index] = first.model_copy(update={"also_in": [*first.also_in, item.feed]})
        by_key.update(dict.fromkeys(keys, index))
    return kept


def collect(
    fetcher: Fetcher, feeds: Sequence[FeedSource], since: datetime
) -> tuple[list[FeedItem], list[Problem]]:
    """Every feed's items published since ``since`` (undated items are kept), de-duplicated;
    a feed that is down or broken, or an entry of it, is a problem and the others go on."""
    found: list[FeedItem] = []
    problems: list[Problem] = []
    for source in feeds:
        read = contained(
            functools.partial(read_feed, fetcher, source),
            kind="feed",
            source=source.name,
            url=str(source.url),
        )
        if isinstance(read, Problem):
            problems.append(read)
            continue
        items, feed_problems = read
        problems += feed_problems
        found += [i for i in items if i.published is None or i.published >= since]
    return deduplicate(found), problems
