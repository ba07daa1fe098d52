"""A show's channel data: what the feed's ``<channel>`` says (pure: parsing and validation).

The team keeps one file per show in the bucket, ``shows/<show-id>.json`` or ``.yaml``, and edits
it without redeploying anything; the next feed rebuild picks it up. One deployment can carry
several shows: an episode names its show in its metadata (``show``), by id or by name.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, HttpUrl, ValidationError, model_validator

from podpipe.layout import slugify_episode_id

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


class CropBox(BaseModel):
    """The region of a video episode's picture that its clips and trailer are cut from, in
    fractions of the picture's width and height (a known layout: e.g. the host's camera on
    the left half of a two-up recording is ``{x: 0, y: 0, width: 0.5, height: 1}``). Each
    shape (vertical, square) is the largest centred region of its own aspect inside it."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    x: float = Field(ge=0, lt=1)
    y: float = Field(ge=0, lt=1)
    width: float = Field(gt=0, le=1)
    height: float = Field(gt=0, le=1)

    @model_validator(mode="after")
    def _inside(self) -> CropBox:
        if self.x + self.width > 1.0001 or self.y + self.height > 1.0001:
            raise ValueError(
                "the crop box must lie inside the picture (x + width <= 1, y + height <= 1)"
            )
        return self


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
    clip_crop_box: CropBox | None = Field(
        default=None,
        description="Video episodes: the region of the picture clips and the trailer are cut "
        "from (fractions of width and height); unset: PODPIPE_CLIPS_CROP_BOX, else centre crops",
    )
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


def match_show_id(
    named: str, show_ids: Sequence[str], title_of: Callable[[str], str | None]
) -> str | None:
    """The show an episode's metadata names (its id, its id's slug, or its title), or the only
    show there is when it names none; None when that finds no show. ``title_of`` reads one
    show's title (None when it cannot)."""
    named = named.strip()
    if not named:
        return show_ids[0] if len(show_ids) == 1 else None
    for candidate in (named, slugify_episode_id(named)):
        if candidate in show_ids:
            return candidate
    for show_id in show_ids:
        title = title_of(show_id)
        if title is not None and title.casefold() == named.casefold():
            return show_id
    return None


def _data(raw: bytes, key: str) -> dict[str, Any] | None:
    try:
        data = (
            yaml.safe_load(raw.decode("utf-8"))
            if key.endswith((".yaml", ".yml"))
            else json.loads(raw)
        )
    except (ValueError, yaml.YAMLError):
        return None
    return data if isinstance(data, dict) else None


def show_title(raw: bytes, key: str) -> str | None:
    """A show file's title, without validating the rest (None when unreadable)."""
    data = _data(raw, key)
    title = data.get("title") if data else None
    return title if isinstance(title, str) else None


def clip_crop_box(raw: bytes, key: str) -> CropBox | None:
    """A show file's ``clip_crop_box`` alone: the rest of the show (a feed's fields) may be
    incomplete without stopping its clips. A crop box that is there but wrong is an error
    that names the file."""
    data = _data(raw, key)
    if data is None:
        raise ShowConfigError(f"{key} is not a readable show file")
    value = data.get("clip_crop_box")
    if value is None:
        return None
    try:
        return CropBox.model_validate(value)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'clip_crop_box'}: {e['msg']}"
            for e in exc.errors()
        )
        raise ShowConfigError(f"{key}: invalid clip_crop_box: {problems}") from None
