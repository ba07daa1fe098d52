"""Model evaluation: score every answer with the checks a producer would make.

Pure functions over (prompt, answer, episode); `podpipe prompts eval` runs the prompts and
renders the report, the e2e test uses the same checks on what the pipeline wrote. A check
says what it found in words, so a report reader sees *why* a model lost points:

- structure: the sections (Markdown) or the schema and transcript checks (JSON) the prompt asks for;
- length: the limits the prompt states (title length, word counts, subject line);
- timestamps: every time inside the episode, and, where the episode's topics are known
  (an eval set's ``*.topics.json``), near a real topic change;
- grounding: names and numbers in the answer that also occur in the transcript or metadata;
- echo: the answer is not long runs of the transcript copied out (pull quotes excepted);
- instructions: a Markdown answer does not copy its own prompt's instructions;
- repetition: no line or phrase said over and over.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from podpipe.documents import Transcript
from podpipe.layout import EpisodeMetadata
from podpipe_llm.catalog import PromptSpec
from podpipe_llm.copying import copied_instructions, longest_shared_run
from podpipe_llm.copying import words as word_list
from podpipe_llm.schemas import OutputValidationError, validate_json_output

TOPIC_TOLERANCE_SECONDS = 20.0
ECHO_RUN_WORDS = 25  # a run of this many transcript words copied verbatim is an echo
GROUNDED_ENOUGH = 0.8
_STAMP = re.compile(r"\[?\b(\d{1,2}):(\d{2}):(\d{2})\b\]?|\[(\d{1,2}):(\d{2})\]")
_NUMBER = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)?(?![\w.])")
_NAME = re.compile(r"\b[A-Z][A-Za-z0-9]+(?:[ -][A-Z][A-Za-z0-9]+)*\b")
# What comes right before the first word of a sentence, a heading or a list item.
_SENTENCE_START = re.compile(r"(?:\A|[.!?:]\s+|\n\s*(?:[-*#>]+\s*|\d+[.)]\s*)?|\*\*)\s*\**$")
# Words a heading, a list or the prompt itself puts in an answer: not claims about the episode.
_FORMAT_WORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "for",
        "from",
        "how",
        "i",
        "if",
        "in",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "our",
        "so",
        "that",
        "the",
        "their",
        "then",
        "there",
        "these",
        "this",
        "those",
        "to",
        "we",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "will",
        "with",
        "you",
        "your",
        "title",
        "titles",
        "ideas",
        "idea",
        "show",
        "notes",
        "summary",
        "topics",
        "topic",
        "links",
        "resources",
        "mentioned",
        "none",
        "subject",
        "takeaways",
        "takeaway",
        "episode",
        "podcast",
        "listen",
        "listeners",
        "listener",
        "chapter",
        "chapters",
        "introduction",
        "intro",
        "outro",
        "conclusion",
        "welcome",
        "final",
        "thoughts",
        "wrap",
        "up",
        "key",
        "points",
        "part",
        "social",
        "linkedin",
        "bluesky",
        "x",
        "post",
        "posts",
        "quote",
        "quotes",
        "clip",
        "clips",
        "hook",
        "why",
        "fits",
        "fit",
        "blog",
        "newsletter",
        "join",
        "tune",
        "today",
        "this",
        "week",
        "new",
        "more",
        "learn",
        "about",
        "here",
        "read",
        "full",
        "check",
        "out",
        "discover",
        "dive",
        "deep",
        "explore",
        "get",
        "don't",
        "it's",
        "let's",
        "what's",
        "you're",
        "we're",
        "find",
        "stay",
    ]
)

MARKDOWN_SECTIONS: dict[str, tuple[str, ...]] = {
    "titles": ("# Title ideas",),
    "show-notes": ("# Show notes", "## Summary", "## Topics", "## Links"),
    "blog-post": ("# ", "## Takeaways"),
    "newsletter": ("**Subject:**",),
}


class Topic(BaseModel):
    """Ground truth of one topic of an eval-set episode."""

    model_config = ConfigDict(extra="ignore")
    start: float = Field(ge=0)
    title: str
    names: list[str] = Field(default_factory=list)
    numbers: list[str] = Field(default_factory=list)


@dataclass(frozen=True)
class EvalEpisode:
    episode_id: str
    transcript: Transcript
    metadata: EpisodeMetadata
    topics: tuple[Topic, ...] = ()

    @property
    def duration(self) -> float:
        return self.transcript.duration_seconds

    def corpus(self) -> str:
        """Everything the answer may legitimately name: transcript and metadata, lowercased."""
        meta = self.metadata
        parts = [s.text for s in self.transcript.segments]
        parts += [meta.title or "", meta.show or "", *meta.hosts, *meta.guests]
        return " ".join(parts).lower()


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    detail: str
    score: float = 1.0  # 0..1; a pass/fail check scores 1 or 0


@dataclass(frozen=True)
class Scorecard:
    prompt_id: str
    checks: tuple[Check, ...]

    @property
    def score(self) -> float:
        return sum(c.score for c in self.checks) / len(self.checks) if self.checks else 0.0

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    def check(self, name: str) -> Check:
        return next(c for c in self.checks if c.name == name)


# --------------------------------------------------------------------------- loading


def load_eval_set(paths: Sequence[Path]) -> list[EvalEpisode]:
    """Episodes from ``<name>.transcript.json`` files, with the sidecar ``<name>.json`` and
    ground truth ``<name>.topics.json`` beside them when present (samples/ is one)."""
    episodes: list[EvalEpisode] = []
    files: list[Path] = []
    for path in paths:
        files += sorted(path.glob("*.transcript.json")) if path.is_dir() else [path]
    for file in files:
        name = file.name.removesuffix(".transcript.json")
        transcript = Transcript.model_validate_json(file.read_text("utf-8"))
        sidecar = file.with_name(f"{name}.json")
        metadata = (
            EpisodeMetadata.model_validate_json(sidecar.read_text("utf-8"))
            if sidecar.exists()
            else EpisodeMetadata()
        )
        topics_file = file.with_name(f"{name}.topics.json")
        topics: tuple[Topic, ...] = ()
        if topics_file.exists():
            raw = json.loads(topics_file.read_text("utf-8"))
            topics = tuple(Topic.model_validate(t) for t in raw)
        episodes.append(EvalEpisode(name, transcript, metadata, topics))
    return episodes


# --------------------------------------------------------------------------- the checks


def score_answer(spec: PromptSpec, text: str, episode: EvalEpisode) -> Scorecard:
    checks = [
        _structure(spec, text, episode),
        _length(spec, text),
        _timestamps(spec, text, episode),
        _grounding(prose(spec, text), episode),
        _echo(spec, prose(spec, text), episode),
        _instructions(spec, text),
        _repetition(prose(spec, text)),
    ]
    return Scorecard(spec.id, tuple(c for c in checks if c is not None))


def _structure(spec: PromptSpec, text: str, episode: EvalEpisode) -> Check:
    if spec.output == "json":
        assert spec.output_schema is not None
        try:
            validate_json_output(spec.output_schema, text, episode.transcript)
        except OutputValidationError as exc:
            return Check("structure", False, "; ".join(exc.problems[:3]), 0.0)
        return Check("structure", True, f"valid {spec.output_schema} JSON")
    if not text.strip():
        return Check("structure", False, "empty answer", 0.0)
    needed = MARKDOWN_SECTIONS.get(spec.id, ())
    lines = [line.strip() for line in text.splitlines()]
    missing = [s for s in needed if not any(line.startswith(s) for line in lines)]
    if spec.id == "titles":
        items = _numbered(text)
        if len(items) != 5:
            missing.append(f"5 numbered titles (found {len(items)})")
    found = len(needed) + (1 if spec.id == "titles" else 0) - len(missing)
    total = len(needed) + (1 if spec.id == "titles" else 0)
    if missing:
        return Check("structure", False, "missing: " + ", ".join(missing), found / total)
    return Check("structure", True, "all sections present" if needed else "non-empty Markdown")


def _numbered(text: str) -> list[str]:
    return [m.group(1) for m in re.finditer(r"^\s*\d+[.)]\s+(.+)$", text, re.M)]


def _length(spec: PromptSpec, text: str) -> Check | None:
    if spec.id == "titles":
        titles = [re.sub(r"\*\*(.+?)\*\*.*", r"\1", t).strip() for t in _numbered(text)]
        long = [t for t in titles if len(t) > 70]
        if long:
            return Check("length", False, f"{len(long)} title(s) over 70 characters", 0.0)
        return Check("length", True, f"{len(titles)} titles within 70 characters")
    if spec.id == "newsletter":
        subject = re.search(r"\*\*Subject:\*\*\s*(.+)", text)
        words = len(word_list(re.sub(r"\*\*Subject:\*\*.*", "", text)))
        problems = []
        if subject and len(subject.group(1).strip()) > 60:
            problems.append(f"subject is {len(subject.group(1).strip())} characters (max 60)")
        if not 80 <= words <= 260:
            problems.append(f"blurb is {words} words (asked 120-200)")
        return Check("length", not problems, "; ".join(problems) or f"blurb {words} words")
    if spec.id == "blog-post":
        words = len(word_list(text))
        ok = words >= 400
        return Check("length", ok, f"{words} words (asked 900-1500; 400 is the floor here)")
    return None


def _timestamps(spec: PromptSpec, text: str, episode: EvalEpisode) -> Check | None:
    times = _times_in(spec, text)
    if not times:
        return None
    duration = episode.duration
    outside = [t for t in times if t > duration + 1]
    if outside:
        return Check(
            "timestamps",
            False,
            f"{len(outside)} of {len(times)} times after the end ({duration:.0f} s)",
            1 - len(outside) / len(times),
        )
    if spec.id in {"chapters", "show-notes"} and episode.topics:
        starts = [t.start for t in episode.topics]
        near = [t for t in times if min(abs(t - s) for s in starts) <= TOPIC_TOLERANCE_SECONDS]
        share = len(near) / len(times)
        return Check(
            "timestamps",
            share >= 0.5,
            f"{len(near)} of {len(times)} within {TOPIC_TOLERANCE_SECONDS:.0f} s of a topic change",
            share,
        )
    return Check("timestamps", True, f"{len(times)} times inside the episode")


def _times_in(spec: PromptSpec, text: str) -> list[float]:
    if spec.output == "json":
        try:
            data = json.loads(text)
        except ValueError:
            return []
        return [float(v) for v in _json_times(data)]
    times = []
    for m in _STAMP.finditer(text):
        if m.group(1) is not None:
            times.append(int(m.group(1)) * 3600 + int(m.group(2)) * 60 + int(m.group(3)))
        else:
            times.append(int(m.group(4)) * 60 + int(m.group(5)))
    return [float(t) for t in times]


def _json_leaves(data: Any, key: str = "") -> Iterator[tuple[str, Any]]:
    """Every scalar in a JSON answer with the key it sits under (list items take their list's)."""
    if isinstance(data, dict):
        for name, value in data.items():
            yield from _json_leaves(value, name)
    elif isinstance(data, list):
        for item in data:
            yield from _json_leaves(item, key)
    else:
        yield key, data


def _json_times(data: Any) -> list[float]:
    return [
        float(value)
        for key, value in _json_leaves(data)
        if key in {"startTime", "start", "end"}
        and isinstance(value, int | float)
        and not isinstance(value, bool)
    ]


def claims(text: str) -> list[str]:
    """Names and numbers an answer states: what grounding checks against the transcript."""
    plain = re.sub(r"\[\d{1,2}:\d{2}(:\d{2})?\]|\d{1,2}:\d{2}:\d{2}", " ", text)
    plain = re.sub(r"https?://\S+", " ", plain)
    plain = "\n".join(_untitled(line) for line in plain.splitlines())
    found: list[str] = []
    for match in _NAME.finditer(plain):
        words = re.split(r"[ -]", match.group(0))
        if _SENTENCE_START.search(plain[: match.start()]):
            words = words[1:]  # a capital that starts a sentence or list item names nothing
        words = [w for w in words if w.lower() not in _FORMAT_WORDS]
        found += [w for w in words if len(w) > 2]
    found += [n for n in _NUMBER.findall(plain) if len(n.replace(",", "").replace(".", "")) > 1]
    return found


def _untitled(line: str) -> str:
    """A Title Case line (a title, a heading) with its plain capitalised words lowercased.

    Its capitals say nothing about names: "Why Heat Pumps Beat Boilers" names nothing. Words
    whose shape is a name in any case stay (AWS, DynamoDB, re:Invent), and so do numbers.
    """
    long = [w for w in re.findall(r"[A-Za-z][\w']*", line) if len(w) > 3]
    capitalised = [w for w in long if w[0].isupper()]
    if len(long) < 3 or len(capitalised) < 0.75 * len(long):
        return line
    return re.sub(r"\b[A-Z][a-z']+\b", lambda m: m.group(0).lower(), line)


def prose(spec: PromptSpec, text: str) -> str:
    """The words an answer says: for JSON, its string values (times are checked apart)."""
    if spec.output != "json":
        return text
    try:
        data = json.loads(text)
    except ValueError:
        return text
    return "\n".join(
        value
        for key, value in _json_leaves(data)
        if isinstance(value, str) and key not in {"note", "version"}
    )


def _grounding(text: str, episode: EvalEpisode) -> Check:
    stated = claims(text)
    if not stated:
        return Check("grounding", True, "no names or numbers to check")
    corpus = episode.corpus()
    numbers = set(_NUMBER.findall(corpus))
    missing = [
        c
        for c in stated
        if not (c.lower() in corpus if not c[0].isdigit() else c in numbers or c in corpus)
    ]
    share = 1 - len(missing) / len(stated)
    examples = ", ".join(sorted(set(missing))[:5])
    return Check(
        "grounding",
        share >= GROUNDED_ENOUGH,
        f"{len(stated) - len(missing)} of {len(stated)} names/numbers in the transcript"
        + (f"; not found: {examples}" if missing else ""),
        share,
    )


def _echo(spec: PromptSpec, text: str, episode: EvalEpisode) -> Check | None:
    if spec.id == "pull-quotes":
        return None  # quoting the transcript word for word is the task
    answer = word_list(text)
    source = word_list(" ".join(s.text for s in episode.transcript.segments))
    longest, _ = longest_shared_run(answer, source, 6)
    ok = longest < ECHO_RUN_WORDS
    detail = f"longest run copied from the transcript: {longest} words"
    return Check("echo", ok, detail, 1.0 if ok else 0.0)


def _instructions(spec: PromptSpec, text: str) -> Check | None:
    if spec.output == "json":
        return None  # its strings are values the schema asks for
    copied = copied_instructions(spec.template, text)
    if copied is None:
        return Check("instructions", True, "writes content, not its instructions")
    return Check("instructions", False, f'copies its instructions: "{copied}"', 0.0)


def _repetition(text: str) -> Check:
    lines = [line.strip().lower() for line in text.splitlines() if len(line.strip()) > 20]
    repeated_lines = sum(c - 1 for c in Counter(lines).values() if c > 1)
    words = word_list(text)
    grams = Counter(tuple(words[i : i + 5]) for i in range(len(words) - 4))
    repeated = sum(c - 1 for c in grams.values() if c > 1)
    share = repeated / max(1, len(words) - 4)
    ok = repeated_lines == 0 and share <= 0.15
    return Check(
        "repetition",
        ok,
        f"{repeated_lines} repeated line(s), {share:.0%} repeated 5-word phrases",
        1.0 if ok else (0.0 if repeated_lines else max(0.0, 1 - share * 2)),
    )


# --------------------------------------------------------------------------- results


@dataclass
class EvalRow:
    episode_id: str
    prompt_id: str
    model: str
    text: str
    scorecard: Scorecard | None
    error: str = ""
    input_tokens: int = 0
    cached_input_tokens: int = 0
    output_tokens: int = 0
    latency_seconds: float = 0.0
    cost_usd: float = 0.0
    answers: int = 0
    output: str = "markdown"  # the prompt's output kind: "markdown" or "json"

    @property
    def score(self) -> float:
        return self.scorecard.score if self.scorecard else 0.0

    @property
    def valid_first_try(self) -> bool:
        return self.scorecard is not None and self.answers == 1


@dataclass
class ModelSummary:
    model: str
    rows: list[EvalRow] = field(default_factory=list)

    @property
    def score(self) -> float:
        return sum(r.score for r in self.rows) / len(self.rows) if self.rows else 0.0

    def share(self, predicate: Any, rows: list[EvalRow] | None = None) -> float:
        rows = self.rows if rows is None else rows
        return sum(1 for r in rows if predicate(r)) / len(rows) if rows else 0.0

    def total(self, attribute: str) -> float:
        return float(sum(getattr(r, attribute) for r in self.rows))

    @property
    def all_checks_pass(self) -> float:
        return self.share(lambda r: r.scorecard is not None and r.scorecard.passed)

    @property
    def valid_json_first_try(self) -> float | None:
        """The share of JSON answers valid at the first try; None without JSON prompts."""
        json_rows = [r for r in self.rows if r.output == "json"]
        return self.share(lambda r: r.valid_first_try, json_rows) if json_rows else None

    @property
    def failed(self) -> float:
        return self.share(lambda r: bool(r.error))


def summarise(rows: Sequence[EvalRow]) -> list[ModelSummary]:
    by_model: dict[str, ModelSummary] = {}
    for row in rows:
        by_model.setdefault(row.model, ModelSummary(row.model)).rows.append(row)
    return list(by_model.values())


def check_failures(summaries: Sequence[ModelSummary], minimum: float) -> list[str]:
    return [
        f"{s.model}: mean score {s.score:.2f} is below {minimum:.2f}"
        for s in summaries
        if s.score < minimum
    ]
