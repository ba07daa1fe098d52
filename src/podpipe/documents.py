"""Artifact documents more than one service reads: the normalised transcript and clip picks.

Services never import each other; what one writes to S3 and another reads is defined here.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Word(BaseModel):
    model_config = ConfigDict(extra="forbid")
    start: float = Field(ge=0)
    end: float = Field(ge=0)
    text: str
    confidence: float | None = Field(default=None, ge=0, le=1)


class Segment(BaseModel):
    """A run of speech by one speaker (what subtitles, chapters and clips snap to)."""

    model_config = ConfigDict(extra="forbid")
    start: float = Field(ge=0)
    end: float = Field(ge=0)
    speaker: str
    text: str
    words: list[Word] = Field(default_factory=list)


class Transcript(BaseModel):
    """``episodes/<id>/transcript.json``: the same shape whatever backend produced it."""

    model_config = ConfigDict(extra="forbid")
    episode_id: str
    language: str
    duration_seconds: float = Field(ge=0)
    backend: str
    segments: list[Segment]

    @property
    def words(self) -> list[Word]:
        return [w for s in self.segments for w in s.words]

    @property
    def word_count(self) -> int:
        return sum(len(s.words) or len(s.text.split()) for s in self.segments)

    @property
    def speakers(self) -> list[str]:
        return list(dict.fromkeys(s.speaker for s in self.segments))


CLIP_MIN_SECONDS = 30.0
CLIP_MAX_SECONDS = 90.0


class ClipPick(BaseModel):
    model_config = ConfigDict(extra="forbid")
    start: float = Field(ge=0, description="seconds from the start of the episode")
    end: float = Field(gt=0)
    title: str = Field(min_length=1, max_length=120)
    hook: str = Field(min_length=1, max_length=300)

    @model_validator(mode="after")
    def _ordered(self) -> ClipPick:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class ClipPicks(BaseModel):
    """``episodes/<id>/outputs/clip-picks.json``, best pick first."""

    model_config = ConfigDict(extra="forbid")
    clips: list[ClipPick] = Field(min_length=1, max_length=10)
    note: str = ""
