"""Named output schemas of JSON prompts, and the checks against the transcript behind them.

A catalog entry says ``output: json`` and ``schema: <name>``; the name must be one of
:data:`SCHEMAS` (an unknown name is a load-time error). The model is shown the JSON Schema;
its answer is parsed, validated, checked against the transcript (times inside the episode,
snapped to the start of a transcript line) and normalised. Every problem is reported in
words the model can act on, because the runner feeds them back for another try.
"""

from __future__ import annotations

import bisect
import copy
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from podpipe.documents import CLIP_MAX_SECONDS, CLIP_MIN_SECONDS, ClipPick, ClipPicks, Transcript
from podpipe_llm.prep.models import ItemAnswer, RankingAnswer

X_LIMIT = 280
BLUESKY_LIMIT = 300
LINKEDIN_LIMIT = 3000
END_TOLERANCE_SECONDS = 1.0


class OutputValidationError(ValueError):
    """An answer that does not satisfy its schema; ``problems`` are fed back to the model."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class Chapter(BaseModel):
    model_config = ConfigDict(extra="ignore")
    startTime: float = Field(ge=0, description="seconds from the start of the episode")  # noqa: N815
    title: str = Field(min_length=1, max_length=120)


class Chapters(BaseModel):
    """Podcasting 2.0 chapters (JSON chapters format, version 1.2.0)."""

    model_config = ConfigDict(extra="ignore")
    version: str = "1.2.0"
    # 30 is plenty for a four-hour episode, and bounds what constrained decoding may write.
    chapters: list[Chapter] = Field(min_length=1, max_length=30)
    note: str = ""


class SocialPosts(BaseModel):
    model_config = ConfigDict(extra="ignore")
    linkedin: str = Field(min_length=1, max_length=LINKEDIN_LIMIT)
    x: str = Field(min_length=1, max_length=X_LIMIT)
    bluesky: str = Field(min_length=1, max_length=BLUESKY_LIMIT)
    note: str = ""


class PullQuote(BaseModel):
    model_config = ConfigDict(extra="ignore")
    text: str = Field(min_length=1, max_length=240)
    speaker: str = Field(min_length=1, max_length=120)
    start: float = Field(ge=0, description="seconds: start of the transcript line quoted")


class PullQuotes(BaseModel):
    model_config = ConfigDict(extra="ignore")
    quotes: list[PullQuote] = Field(min_length=1, max_length=10)
    note: str = ""


@dataclass(frozen=True)
class OutputSchema:
    name: str
    model: type[BaseModel]
    check: Callable[[Any, Transcript], BaseModel]

    def schema(self) -> dict[str, Any]:
        return self.model.model_json_schema()

    def json_schema(self) -> str:
        return json.dumps(self.schema(), indent=1)


# --------------------------------------------------------------------------- transcript checks


class _Starts:
    """Segment start times, for snapping a time to the transcript line it belongs to."""

    def __init__(self, transcript: Transcript) -> None:
        self.starts = sorted({round(s.start, 3) for s in transcript.segments}) or [0.0]
        self.ends = sorted({round(s.end, 3) for s in transcript.segments}) or [0.0]
        self.duration = transcript.duration_seconds or (self.ends[-1] if self.ends else 0.0)

    @staticmethod
    def _nearest(values: list[float], t: float) -> float:
        i = bisect.bisect_left(values, t)
        candidates = values[max(0, i - 1) : i + 1]
        return min(candidates, key=lambda v: (abs(v - t), v))

    def snap_start(self, t: float) -> float:
        return self._nearest(self.starts, t)

    def snap_end(self, t: float) -> float:
        return self._nearest(self.ends, t)

    def fit_window(
        self, start: float, shortest: float, longest: float, wanted_end: float
    ) -> tuple[float, float]:
        """(start, end) lasting shortest..longest from ``start``, ending at the line end
        nearest ``wanted_end`` inside that range (or at the range's edge without one)."""
        lo, hi = start + shortest, min(start + longest, self.duration)
        inside = [e for e in self.ends if lo <= e <= hi]
        if inside:
            return start, min(inside, key=lambda e: abs(e - wanted_end))
        return start, max(lo, min(wanted_end, hi)) if lo <= hi else hi


def _check_chapters(model: Any, transcript: Transcript) -> BaseModel:
    chapters: Chapters = model
    lines = _Starts(transcript)
    problems = [
        f"chapter {i} ({chapter.title!r}) starts at {chapter.startTime:.0f} s, after the "
        f"end of the episode ({lines.duration:.0f} s)"
        for i, chapter in enumerate(chapters.chapters, 1)
        if chapter.startTime >= lines.duration
    ]
    if problems:
        raise OutputValidationError(problems)
    snapped: list[Chapter] = []
    # In time order: each title keeps its own start (a small model lists them out of order).
    for chapter in sorted(chapters.chapters, key=lambda c: c.startTime):
        start = lines.snap_start(chapter.startTime)
        if snapped and start <= snapped[-1].startTime:
            problems.append(
                f"chapters {snapped[-1].title!r} and {chapter.title!r} fall on the same transcript "
                f"line ({start:.0f} s): make chapters at least a few minutes long"
            )
            continue
        snapped.append(Chapter(startTime=start, title=chapter.title.strip()))
    if problems:
        raise OutputValidationError(problems)
    return Chapters(chapters=snapped, note=chapters.note)


class ClipMoment(ClipPick):
    """A pick as the model writes it: a moment whose end the check fits (see below)."""

    @model_validator(mode="after")
    def _ordered(self) -> ClipMoment:
        return self  # an end before the start is a misjudged length, fitted like any other


class ClipMoments(ClipPicks):
    clips: list[ClipMoment] = Field(min_length=1, max_length=10)  # type: ignore[assignment]


def _check_clip_picks(model: Any, transcript: Transcript) -> BaseModel:
    picks: ClipMoments = model
    lines = _Starts(transcript)
    problems: list[str] = []
    clips: list[ClipPick] = []
    for i, clip in enumerate(picks.clips, 1):
        if clip.end > lines.duration + END_TOLERANCE_SECONDS:
            problems.append(
                f"clip {i} ({clip.title!r}) ends at {clip.end:.0f} s, after the end of the "
                f"episode ({lines.duration:.0f} s)"
            )
            continue
        start, end = lines.snap_start(clip.start), lines.snap_end(clip.end)
        # Snapping to whole lines reads better, but never at the price of the length rule.
        if not CLIP_MIN_SECONDS <= end - start <= CLIP_MAX_SECONDS:
            start, end = clip.start, min(clip.end, lines.duration)
        if not CLIP_MIN_SECONDS <= end - start <= CLIP_MAX_SECONDS:
            # The pick is a moment; its length is ours to fit: keep the start, end at a line
            # end 30-90 s later (small models misjudge durations far more than moments).
            start, end = lines.fit_window(start, CLIP_MIN_SECONDS, CLIP_MAX_SECONDS, end)
        length = end - start
        if not CLIP_MIN_SECONDS <= length <= CLIP_MAX_SECONDS:
            problems.append(
                f"clip {i} ({clip.title!r}) is {length:.0f} s long: it must last between "
                f"{CLIP_MIN_SECONDS:.0f} and {CLIP_MAX_SECONDS:.0f} seconds"
            )
            continue
        clips.append(ClipPick(start=start, end=end, title=clip.title, hook=clip.hook))
    if problems and not clips:
        raise OutputValidationError(problems)
    # Picks are ranked: the ones that cannot be cut are dropped, the good ones are kept.
    return ClipPicks(clips=clips, note=picks.note)


def _check_social(model: Any, transcript: Transcript) -> BaseModel:
    return model  # type: ignore[no-any-return]  # lengths are enforced by the model itself


def _check_quotes(model: Any, transcript: Transcript) -> BaseModel:
    quotes: PullQuotes = model
    lines = _Starts(transcript)
    problems = [
        f"quote {i} starts at {q.start:.0f} s, after the end of the episode ({lines.duration:.0f} s)"
        for i, q in enumerate(quotes.quotes, 1)
        if q.start >= lines.duration
    ]
    kept = [q for q in quotes.quotes if q.start < lines.duration]
    if not kept:
        raise OutputValidationError(problems)
    # A quote placed after the end is dropped; the others stand on their own.
    return PullQuotes(
        quotes=[
            PullQuote(text=q.text.strip(), speaker=q.speaker, start=lines.snap_start(q.start))
            for q in kept
        ],
        note=quotes.note,
    )


# What each JSON prompt asks for, as list bounds for constrained decoding (the validation
# bounds stay wider): at most one chapter a minute, "3-5" clips, "3-6" quotes.
_DECODING_LISTS: dict[str, tuple[str, Callable[[Transcript], int]]] = {
    "chapters": ("chapters", lambda t: max(3, min(30, math.ceil(t.duration_seconds / 60)))),
    "clip-picks": ("clips", lambda t: 5),
    "pull-quotes": ("quotes", lambda t: 6),
}


DECODING_STRING_LIMIT = 300  # an unbounded string is where a small model loops forever


_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"“'])")


PREP_SUMMARY_SENTENCES = 3  # issue 17: "a 3-sentence summary"
# A full stop that need not end a sentence: after an initial or a common abbreviation
# ("US East (N. Virginia)", "U.S.", "e.g."), which AWS news is full of.
_ABBREVIATION_END = re.compile(r"(?:\b[A-Z]|\b(?:e\.g|i\.e|vs|approx|Inc|Ltd|Mr|Ms|Dr|No))\.$")


def summary_sentences(text: str) -> list[str]:
    """The sentences of a summary as the grammar counts them (_SENTENCE_PATTERN): a split
    after . ! or ? followed by a space and a capital, a digit or a quote."""
    return [s for s in _SENTENCE.split(text.strip()) if s.strip()]


def _sentences_read_with_abbreviations(parts: list[str]) -> list[str]:
    joined: list[str] = []
    for part in parts:
        if joined and _ABBREVIATION_END.search(joined[-1]):
            joined[-1] = f"{joined[-1]} {part}"
        else:
            joined.append(part)
    return joined


def _check_prep_item(model: Any, transcript: Transcript) -> BaseModel:
    answer: ItemAnswer = model
    problems: list[str] = []
    # Exactly what is asked, for every provider, with one reading each way of a full stop
    # after an abbreviation: the llama.cpp grammar (_prep_item_decoding) makes the small local
    # models write three sentences split at every ". X" — "(N." may end one there —, while a
    # Bedrock model writes "(N. Virginia)" inside a sentence and must not be told it wrote
    # four. A summary passes if it is three sentences in either reading; the extractive
    # stand-in picks three sentences that are one each in the grammar's reading.
    parts = summary_sentences(answer.summary)
    read = _sentences_read_with_abbreviations(parts)
    if PREP_SUMMARY_SENTENCES not in {len(parts), len(read)}:
        problems.append(
            f"summary: write exactly {PREP_SUMMARY_SENTENCES} sentences (this one has {len(read)})"
        )
    questions = [q.strip() for q in answer.questions]
    if any(not q.endswith("?") for q in questions):
        problems.append("questions: each of the two must be one question ending with '?'")
    if len(set(questions)) < len(questions):
        problems.append("questions: the two questions must differ")
    if problems:
        raise OutputValidationError(problems)
    return answer


def _check_prep_ranking(model: Any, transcript: Transcript) -> BaseModel:
    # The candidates are the "transcript"'s segments, one each, numbered from 1.
    answer: RankingAnswer = model
    count = len(transcript.segments)
    wrong = [n for n in answer.order if not 1 <= n <= count]
    kept = [n for n in dict.fromkeys(answer.order) if 1 <= n <= count]
    if not kept:
        raise OutputValidationError([f"order: {wrong} are not candidate numbers (1 to {count})"])
    # A number past the last candidate is dropped; the ranked ones stand (the rest keep
    # their feed order after them).
    return RankingAnswer(order=kept)


def _bound_strings(node: Any) -> None:
    if isinstance(node, dict):
        if node.get("type") == "string" and "maxLength" not in node:
            node["maxLength"] = DECODING_STRING_LIMIT
        for value in node.values():
            _bound_strings(value)
    elif isinstance(node, list):
        for value in node:
            _bound_strings(value)


# One sentence as the prep-item check counts them (_SENTENCE): it starts with a capital or a
# digit and ends with . ! or ?; a period inside it is never followed by a space ("3.5", "S3.").
_SENTENCE_PATTERN = r"[A-Z0-9]([^.!?\n]|[.!?][^ \n])*[.!?]"
_QUESTION_PATTERN = r"^[A-Z]([^?\n])*[?]$"


def _prep_item_decoding(schema: dict[str, Any], transcript: Transcript) -> None:
    # What the check demands, in the grammar: without it a small model answers with the
    # title as a one-sentence "summary" and repeats that answer word for word when the
    # problem is fed back, so no retry can succeed.
    summary = schema["properties"]["summary"]
    more = PREP_SUMMARY_SENTENCES - 1
    summary["pattern"] = f"^{_SENTENCE_PATTERN}( {_SENTENCE_PATTERN}){{{more}}}$"
    schema["properties"]["questions"]["items"]["pattern"] = _QUESTION_PATTERN


def _prep_ranking_decoding(schema: dict[str, Any], transcript: Transcript) -> None:
    # Only the candidates' numbers: unbounded integers let a small model count on past the
    # last candidate ("[8, 9, 10]" of 7), which the check then refuses on every try.
    count = max(1, len(transcript.segments))
    order = schema["properties"]["order"]
    order["items"] = {"type": "integer", "minimum": 1, "maximum": count}
    order["maxItems"] = count


def _inside_the_episode(
    definition: str, *fields: str
) -> Callable[[dict[str, Any], Transcript], None]:
    # Times the check refuses past the end, bounded in the grammar: a small model spaces
    # chapters by habit (184, 360, 540 s in a 184 s episode) and keeps them when told.
    # Whole seconds: the grammar engine bounds integers (a number's maximum went unenforced).
    def bound(schema: dict[str, Any], transcript: Transcript) -> None:
        properties = schema["$defs"][definition]["properties"]
        last = max(0, int(transcript.duration_seconds) - 1)
        for name in fields:
            kept = {k: v for k, v in properties[name].items() if k != "exclusiveMinimum"}
            properties[name] = kept | {"type": "integer", "minimum": 0, "maximum": last}

    return bound


_DECODING_EXTRA: dict[str, Callable[[dict[str, Any], Transcript], None]] = {
    "chapters": _inside_the_episode("Chapter", "startTime"),
    "clip-picks": _inside_the_episode("ClipMoment", "start", "end"),
    "prep-item": _prep_item_decoding,
    "prep-ranking": _prep_ranking_decoding,
}


def decoding_schema(name: str, transcript: Transcript) -> dict[str, Any]:
    """The JSON Schema sent for constrained decoding: the output schema with its list bounded
    for this episode, so a small model cannot run on until its token limit, and — for the
    prep prompts — the shape their checks demand (numbers of real candidates, 3 sentences)."""
    schema = copy.deepcopy(SCHEMAS[name].schema())
    _bound_strings(schema)
    bound = _DECODING_LISTS.get(name)
    if bound is not None:
        field_name, limit = bound
        prop = schema["properties"][field_name]
        prop["maxItems"] = min(int(prop.get("maxItems", 10_000)), limit(transcript))
    extra = _DECODING_EXTRA.get(name)
    if extra is not None:
        extra(schema, transcript)
    return schema


SCHEMAS: dict[str, OutputSchema] = {
    s.name: s
    for s in (
        OutputSchema("chapters", Chapters, _check_chapters),
        OutputSchema("clip-picks", ClipMoments, _check_clip_picks),
        OutputSchema("social-posts", SocialPosts, _check_social),
        OutputSchema("pull-quotes", PullQuotes, _check_quotes),
        OutputSchema("prep-item", ItemAnswer, _check_prep_item),
        OutputSchema("prep-ranking", RankingAnswer, _check_prep_ranking),
    )
}


# --------------------------------------------------------------------------- parsing

_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.S)


def extract_json(text: str) -> Any:
    """The JSON object in an answer, tolerating a code fence or a sentence around it."""
    stripped = text.strip()
    fenced = _FENCE.match(stripped)
    if fenced:
        stripped = fenced.group(1)
    try:
        return json.loads(stripped)
    except json.JSONDecodeError:
        start, end = stripped.find("{"), stripped.rfind("}")
        if start != -1 and end > start:
            try:
                return json.loads(stripped[start : end + 1])
            except json.JSONDecodeError as exc:
                raise OutputValidationError([f"the answer is not valid JSON: {exc}"]) from exc
        raise OutputValidationError(["the answer contains no JSON object"]) from None


def validate_json_output(schema_name: str, text: str, transcript: Transcript) -> str:
    """Parse, validate and normalise an answer; returns the JSON to store."""
    schema = SCHEMAS[schema_name]
    raw = extract_json(text)
    try:
        parsed = schema.model.model_validate(raw)
    except ValidationError as exc:
        raise OutputValidationError(
            [
                f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}"
                for err in exc.errors()[:10]
            ]
        ) from exc
    return schema.check(parsed, transcript).model_dump_json(indent=2)
