"""The documents of prep: its configuration, the feed items, the brief and the running order."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl

from podpipe.layout import (
    PREP_DATE_PATTERN,
    prep_brief_key,
    prep_running_order_key,
)

CONFIG_KEYS = ("prep/config.yaml", "prep/config.yml", "prep/config.json")
DATE_PATTERN = PREP_DATE_PATTERN


class FeedSource(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(min_length=1, max_length=200)
    url: HttpUrl


class GuestContact(BaseModel):
    """A guest of the coming episode: notify e-mails them the brief (SNS, guests topic)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(default="", max_length=200)
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254)


class PrepConfig(BaseModel):
    """``prep/config.yaml`` (or ``.json``) in the bucket: edited by the team, read on every run."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    show: str = Field(default="the show", min_length=1, max_length=200)
    audience: str = Field(
        min_length=1,
        max_length=2000,
        description="Who listens: the ranking and 'why it matters' are written for them",
    )
    feeds: list[FeedSource] = Field(min_length=1, max_length=50)
    max_items: int = Field(default=8, ge=1, le=40, description="Items briefed in full")
    lookback_days: int = Field(
        default=7, ge=1, le=60, description="How far back the first brief (no earlier one) looks"
    )
    guests: list[GuestContact] = Field(
        default_factory=list,
        max_length=20,
        description="The coming episode's guest(s): each is e-mailed the brief, once per brief",
    )


class FeedItem(BaseModel):
    """One entry of one feed, after de-duplication (``also_in``: the other feeds carrying it)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    title: str
    url: str
    feed: str
    published: datetime | None = None
    feed_summary: str = ""
    also_in: list[str] = Field(default_factory=list)


ProblemKind = Literal["feed", "article", "paywall", "writer"]


class Problem(BaseModel):
    """Something that could not be read or written; the brief lists it, the run goes on."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: ProblemKind
    source: str = Field(description="The feed name or the item's title")
    url: str
    reason: str


class ItemAnswer(BaseModel):
    """What the model writes for one item (the ``prep-item`` schema)."""

    model_config = ConfigDict(extra="ignore")
    summary: str = Field(min_length=20, max_length=1200, description="exactly 3 sentences")
    why_it_matters: str = Field(min_length=10, max_length=800)
    questions: list[str] = Field(min_length=2, max_length=2, description="two guest questions")


class RankingAnswer(BaseModel):
    """The model's order of the candidates (the ``prep-ranking`` schema): 1-based numbers."""

    model_config = ConfigDict(extra="ignore")
    order: list[int] = Field(min_length=1, max_length=200)


class BriefItem(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    rank: int = Field(ge=1)
    title: str
    url: str
    feed: str
    also_in: list[str] = Field(default_factory=list)
    published: datetime | None = None
    summary: str
    why_it_matters: str
    questions: list[str]


class Brief(BaseModel):
    """``prep/<date>/brief.json`` (brief.md is rendered from it)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    date: str = Field(pattern=DATE_PATTERN.pattern)
    show: str
    audience: str
    since: datetime
    generated_at: datetime
    model: str
    items: list[BriefItem]
    below_the_cut: list[FeedItem] = Field(default_factory=list)
    problems: list[Problem] = Field(default_factory=list)


class ChosenItem(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    rank: int
    title: str
    url: str
    summary: str = Field(
        default="", description="The brief's text on it: what the transcript is matched against"
    )


class RunningOrder(BaseModel):
    """``prep/running-orders/<episode-id>.json``: the items the episode covers, in order.

    Kept under prep/, not in the episode's folder: a new recording of the episode archives
    that folder (versions), and the running order belongs to the episode, not to a recording.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    episode_id: str
    brief_date: str
    items: list[ChosenItem] = Field(min_length=1)


def brief_json_key(date: str) -> str:
    return prep_brief_key(date, "json")


def brief_markdown_key(date: str) -> str:
    return prep_brief_key(date, "md")


def running_order_key(episode_id: str) -> str:
    return prep_running_order_key(episode_id)
