"""A show's channel data: what the feed's ``<channel>`` says (pure: parsing and validation).

The team keeps one file per show in the bucket, ``shows/<show-id>.json`` or ``.yaml``, and edits
it without redeploying anything; the next feed rebuild picks it up. One deployment can carry
several shows: an episode names its show in its metadata (``show``), by id or by name.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, HttpUrl, ValidationError

SHOWS_PREFIX = "shows/"
SHOW_ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
SHOW_FILE_EXTENSIONS = (".json", ".yaml", ".yml")


class ShowConfigError(ValueError):
    """A show file that is missing, unreadable or incomplete (names the fields to fix)."""


class Category(BaseModel):
    """An Apple Podcasts category, optionally with one subcategory (e.g. Technology)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(min_length=1, max_length=100)
    subcategory: str | None = Field(default=None, max_length=100)


class Owner(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(min_length=1, max_length=200)
    email: str = Field(pattern=r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$", max_length=254)


class Show(BaseModel):
    """``shows/<show-id>.json``: the channel of one show's feed."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    show_id: str = Field(pattern=SHOW_ID_PATTERN.pattern)
    title: str = Field(min_length=1, max_length=200)
    author: str = Field(min_length=1, max_length=200)
    owner: Owner
    description: str = Field(min_length=1, max_length=4000)
    artwork_key: str = Field(
        min_length=1,
        description="S3 key (in the bucket) of the square cover art, JPEG or PNG, "
        "1400-3000 px; copied to the public prefix on every feed rebuild",
    )
    language: str = Field(pattern=r"^[a-z]{2,3}(-[A-Za-z]{2,4})?$")
    categories: list[Category] = Field(min_length=1, max_length=3)
    explicit: bool = False
    podcast_guid: str = Field(
        pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$",
        description="podcast:guid, a UUID that never changes (even when the feed URL does)",
    )
    base_url: HttpUrl = Field(
        description="Public URL the public/ prefix is served under (CloudFront, or the local "
        "server), without the show id: the feed is <base_url>/<show-id>/feed.xml",
    )
    link: HttpUrl | None = Field(default=None, description="The show's website")
    season: int | None = Field(default=None, ge=1, description="itunes:season of new releases")
    show_type: Literal["episodic", "serial"] = "episodic"
    hosts: list[str] = Field(default_factory=list, description="Default podcast:person hosts")
    podcast_namespace: Literal["standard", "legacy"] = Field(
        default="standard",
        description="standard: xmlns:podcast https://podcastindex.org/namespace/1.0 (the spec's); "
        "legacy: its older GitHub URI, which the spec makes identical and gPodder still needs",
    )

    @property
    def public_root(self) -> str:
        """The URL of ``public/<show-id>/``."""
        return f"{str(self.base_url).rstrip('/')}/{self.show_id}"

    @property
    def feed_url(self) -> str:
        return f"{self.public_root}/feed.xml"


def show_keys(show_id: str) -> list[str]:
    """The keys a show's file may live at, in the order they are tried."""
    return [f"{SHOWS_PREFIX}{show_id}{ext}" for ext in SHOW_FILE_EXTENSIONS]


def show_id_from_key(key: str) -> str | None:
    """``shows/the-weekly.json`` → ``the-weekly`` (None for anything else)."""
    if not key.startswith(SHOWS_PREFIX):
        return None
    name = key[len(SHOWS_PREFIX) :]
    for ext in SHOW_FILE_EXTENSIONS:
        if name.endswith(ext) and SHOW_ID_PATTERN.fullmatch(name[: -len(ext)]):
            return name[: -len(ext)]
    return None


def parse_show(raw: bytes, key: str) -> Show:
    """Parse and validate a show file; every problem is named in one ShowConfigError."""
    show_id = show_id_from_key(key)
    if show_id is None:
        raise ShowConfigError(f"{key!r} is not a show file (shows/<show-id>.json or .yaml)")
    try:
        data: Any = (
            yaml.safe_load(raw.decode("utf-8"))
            if key.endswith((".yaml", ".yml"))
            else json.loads(raw)
        )
    except (ValueError, yaml.YAMLError) as exc:
        raise ShowConfigError(
            f"{key} is not valid {key.rsplit('.', 1)[-1].upper()}: {exc}"
        ) from None
    if not isinstance(data, dict):
        raise ShowConfigError(f"{key} must hold an object with the show's fields")
    data.setdefault("show_id", show_id)
    if data["show_id"] != show_id:
        raise ShowConfigError(
            f"{key} says show_id {data['show_id']!r}; the file name says {show_id!r}"
        )
    try:
        return Show.model_validate(data)
    except ValidationError as exc:
        missing = [str(e["loc"][0]) for e in exc.errors() if e["type"] == "missing"]
        invalid = [
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
            for e in exc.errors()
            if e["type"] != "missing"
        ]
        parts = []
        if missing:
            parts.append("missing required field(s): " + ", ".join(missing))
        if invalid:
            parts.append("invalid: " + "; ".join(invalid[:6]))
        raise ShowConfigError(f"{key}: " + " — ".join(parts)) from None
