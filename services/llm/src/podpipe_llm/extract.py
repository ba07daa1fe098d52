"""Classic extractive text techniques over a transcript (no model, no downloads).

What the ``extractive`` provider builds every output from: sentences scored by the
frequency of their content words (Luhn-style) and picked with a redundancy check, key
phrases from runs of content words (RAKE-style degree/frequency), chapter boundaries at
the biggest lexical shifts between neighbouring blocks of speech (TextTiling-style) preferring
pauses, and clip windows made of whole segments lasting 30-90 seconds.
"""

from __future__ import annotations

import itertools
import math
import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

from podpipe.documents import CLIP_MAX_SECONDS, CLIP_MIN_SECONDS, Segment, Transcript

_STOPWORD_TEXT = """
a about above after again against all also am an and any are aren't as at be because
been before being below between both but by can can't could couldn't did didn't do does
doesn't doing don't down during each few for from further get gets getting got had
hadn't has hasn't have haven't having he he'd he'll he's her here here's hers herself
him himself his how how's i i'd i'll i'm i've if in into is isn't it it's its itself
just kind know let's like lot me more most mustn't my myself no nor not now of off on
once one only or other ought our ours ourselves out over own really right said same say
says see she she'd she'll she's should shouldn't so some such sort than that that's the
their theirs them themselves then there there's these they they'd they'll they're
they've thing things think this those through to too um uh under until up very was
wasn't we we'd we'll we're we've well were weren't what what's when when's where where's
which while who who's whom why why's will with won't would wouldn't yeah yes you you'd
you'll you're you've your yours yourself yourselves going want way actually basically
okay oh mean maybe gonna lots much many even still back make made go goes went come came
take took look good great since whenever every keep keeps telling tell told honestly
part point number thank thanks anyway anything something someone everyone everything
always never often sometimes probably definitely literally totally pretty quite already
though although however around across another able need needs new first last next bit
little big
"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())
_WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*[A-Za-z]|[A-Za-z]|\d+(?:[.,]\d+)?")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"“'])")
_URL = re.compile(
    r"\b(?:https?://)?(?:[a-z0-9-]+\.)+(?:com|org|net|io|dev|ai|fm|co|app)(?:/\S*)?\b", re.I
)


@dataclass(frozen=True)
class Sentence:
    text: str
    start: float
    speaker: str
    segment: int

    @property
    def words(self) -> list[str]:
        return [w.lower() for w in _WORD.findall(self.text)]


@lru_cache(maxsize=65_536)
def _words(text: str) -> tuple[str, ...]:
    return tuple(w.lower().replace("’", "'") for w in _WORD.findall(text))


def words_of(text: str) -> list[str]:
    return list(_words(text))


@lru_cache(maxsize=65_536)
def _content(text: str) -> tuple[str, ...]:
    return tuple(w for w in _words(text) if w not in STOPWORDS and len(w) > 2 and not w.isdigit())


def content_words(text: str) -> list[str]:
    return list(_content(text))


def sentences(transcript: Transcript) -> list[Sentence]:
    """Sentences across segment boundaries (ASR segments often cut mid-sentence): a part
    without final punctuation continues into the next segment of the same speaker."""
    found: list[Sentence] = []
    pending: tuple[str, float, str, int] | None = None  # text, start, speaker, segment
    for index, segment in enumerate(transcript.segments):
        parts = [p.strip() for p in _SENTENCE_END.split(segment.text.strip()) if p.strip()]
        span = max(segment.end - segment.start, 0.0)
        total = sum(len(p) for p in parts) or 1
        offset = 0
        for part in parts:
            # Without word timings, place a sentence proportionally inside its segment.
            start = segment.start + span * offset / total
            offset += len(part)
            if pending is not None and pending[2] == segment.speaker:
                text, start, speaker, first = (
                    pending[0] + " " + part,
                    pending[1],
                    pending[2],
                    pending[3],
                )
            else:
                if pending is not None:
                    found.append(Sentence(pending[0], round(pending[1], 2), pending[2], pending[3]))
                text, speaker, first = part, segment.speaker, index
            pending = None
            if text[-1:] in ".!?…\"”'" or len(text) > 600:
                found.append(Sentence(text, round(start, 2), speaker, first))
            else:
                pending = (text, start, speaker, first)
    if pending is not None:
        found.append(Sentence(pending[0], round(pending[1], 2), pending[2], pending[3]))
    return found


class Scorer:
    """Luhn-style sentence salience from content-word frequencies of the whole text."""

    def __init__(self, texts: list[str]) -> None:
        self.freq = Counter(w for t in texts for w in _content(t))
        self.top = max(self.freq.values(), default=1)
        self._scores: dict[str, float] = {}

    def score(self, text: str) -> float:
        cached = self._scores.get(text)
        if cached is not None:
            return cached
        n = len(_words(text))
        if n < 6 or n > 45:
            value = 0.0  # fragments and run-ons make poor summaries and quotes
        else:
            value = sum(self.freq[w] / self.top for w in set(_content(text))) / math.sqrt(n)
        self._scores[text] = value
        return value


def _similar(a: str, b: str) -> bool:
    wa, wb = set(_content(a)), set(_content(b))
    return bool(wa and wb) and len(wa & wb) / len(wa | wb) > 0.5


def key_sentences(
    items: list[Sentence], count: int, *, scorer: Scorer | None = None, max_chars: int = 400
) -> list[Sentence]:
    """The ``count`` most salient, mutually different sentences, in transcript order."""
    scorer = scorer or Scorer([s.text for s in items])
    ranked = sorted(items, key=lambda s: (-scorer.score(s.text), s.start))
    chosen: list[Sentence] = []
    for sentence in ranked:
        if len(chosen) >= count:
            break
        if len(sentence.text) > max_chars or scorer.score(sentence.text) <= 0:
            continue
        if any(_similar(sentence.text, c.text) for c in chosen):
            continue
        chosen.append(sentence)
    if not chosen:  # very short transcripts: fall back to whatever was said first
        chosen = [s for s in items if s.text][:count]
    return sorted(chosen, key=lambda s: s.start)


def _stem(word: str) -> str:
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


def key_phrases(text: str, count: int) -> list[str]:
    """RAKE-style: runs of content words between stopwords and punctuation; every 1-3 word
    n-gram of a run is a candidate, scored by how often it is said, with a bonus for longer
    phrases (plural and singular counted together, the most frequent form shown)."""
    counts: Counter[tuple[str, ...]] = Counter()
    forms: dict[tuple[str, ...], Counter[str]] = {}
    for chunk in re.split(r"[.,;:!?()\"“”\n]", text):
        runs: list[list[str]] = [[]]
        for word in words_of(chunk):
            if word in STOPWORDS or len(word) <= 2 or word.isdigit():
                runs.append([])
            else:
                runs[-1].append(word)
        for run in runs:
            for n in (1, 2, 3):
                for i in range(len(run) - n + 1):
                    gram = run[i : i + n]
                    key = tuple(_stem(w) for w in gram)
                    counts[key] += 1
                    forms.setdefault(key, Counter())[" ".join(gram)] += 1
    # A phrase said twice beats a word said four times: "heat pump" over "heat".
    weight = {1: 1.0, 2: 2.5, 3: 3.5}
    scored = {key: c * weight[len(key)] for key, c in counts.items() if len(key) == 1 or c >= 2}
    ranked = sorted(scored, key=lambda k: (-scored[k], -len(k), k))
    chosen: list[tuple[str, ...]] = []
    for key in ranked:
        if any(set(key) & set(c) for c in chosen):
            continue  # "heat pump" and "heat" are the same idea
        chosen.append(key)
        if len(chosen) >= count:
            break
    return [forms[k].most_common(1)[0][0] for k in chosen]


def titlecase(phrase: str) -> str:
    small = {"and", "or", "of", "the", "a", "an", "in", "on", "to", "for"}
    words = phrase.split()
    return " ".join(w if (i and w in small) else w[:1].upper() + w[1:] for i, w in enumerate(words))


def urls_and_names(text: str) -> tuple[list[str], list[str]]:
    """Domains/URLs mentioned, and capitalised names said more than once mid-sentence."""
    urls = list(dict.fromkeys(m.group(0).rstrip(".,") for m in _URL.finditer(text)))
    names: Counter[str] = Counter()
    for match in re.finditer(r"(?<=[a-z,;] )([A-Z][a-z]+(?: [A-Z][a-z]+){0,2})", text):
        name = match.group(1)
        if name.lower() not in STOPWORDS:
            names[name] += 1
    return urls, [n for n, c in names.most_common(12) if c >= 2]


# --------------------------------------------------------------------------- structure


@dataclass(frozen=True)
class Section:
    start: float
    end: float
    segments: list[Segment]

    @property
    def text(self) -> str:
        return " ".join(s.text.strip() for s in self.segments)


def _block_vector(segments: list[Segment]) -> Counter[str]:
    return Counter(w for s in segments for w in content_words(s.text))


def _cosine(a: Counter[str], b: Counter[str]) -> float:
    dot = sum(a[w] * b[w] for w in a.keys() & b.keys())
    norm = math.sqrt(sum(v * v for v in a.values())) * math.sqrt(sum(v * v for v in b.values()))
    return dot / norm if norm else 0.0


def chapter_sections(transcript: Transcript) -> list[Section]:
    """TextTiling-lite: cut where neighbouring blocks share the fewest words, preferring
    pauses, with a target of one chapter per ~8 minutes (between 1 and 12), and at least the
    three YouTube needs once an episode is long enough for three of 45 s (2.5 min)."""
    segments = [s for s in transcript.segments if s.text.strip()]
    if not segments:
        return []
    duration = transcript.duration_seconds or segments[-1].end
    target = max(3 if duration >= 150 else 1, min(12, round(duration / 480)))
    min_length = max(45.0, duration / (target * 2.5))
    if target == 1 or len(segments) < 4:
        return [Section(segments[0].start, duration, segments)]
    window = 4
    candidates: list[tuple[float, int]] = []
    for i in range(1, len(segments)):
        left = _block_vector(segments[max(0, i - window) : i])
        right = _block_vector(segments[i : i + window])
        pause = max(0.0, segments[i].start - segments[i - 1].end)
        depth = 1.0 - _cosine(left, right) + min(pause, 3.0) * 0.1
        candidates.append((depth, i))
    cuts: list[int] = []
    for _depth, i in sorted(candidates, key=lambda c: (-c[0], c[1])):
        if len(cuts) >= target - 1:
            break
        start = segments[i].start
        bounds = [segments[0].start, *[segments[c].start for c in cuts], duration]
        if all(abs(start - b) >= min_length for b in bounds):
            cuts.append(i)
    cuts.sort()
    sections: list[Section] = []
    edges = [0, *cuts, len(segments)]
    for a, b in itertools.pairwise(edges):
        end = segments[b].start if b < len(segments) else duration
        sections.append(Section(segments[a].start, end, segments[a:b]))
    return sections


def clip_windows(transcript: Transcript, count: int) -> list[tuple[float, float, str]]:
    """Up to ``count`` non-overlapping windows of whole segments lasting 30-90 s, best first
    (by the salience of what is said in them); returns (start, end, text)."""
    segments = [s for s in transcript.segments if s.text.strip()]
    duration = transcript.duration_seconds or (segments[-1].end if segments else 0.0)
    scorer = Scorer([s.text for s in segments])
    windows: list[tuple[float, float, float, str]] = []
    for i, first in enumerate(segments):
        text_parts: list[str] = []
        for last in segments[i:]:
            text_parts.append(last.text.strip())
            length = last.end - first.start
            if length > CLIP_MAX_SECONDS:
                break
            if length >= CLIP_MIN_SECONDS:
                text = " ".join(text_parts)
                sents = [p for p in _SENTENCE_END.split(text) if p]
                salience = sum(scorer.score(p) for p in sents) / math.sqrt(len(sents) or 1)
                # Prefer ~45-60 s: long enough for a thought, short enough to keep attention.
                fit = 1.0 - abs(length - 52.0) / 120.0
                windows.append((salience * fit, first.start, last.end, text))
    if not windows and duration >= CLIP_MIN_SECONDS:
        # Segments too long to combine: fall back to a window that ignores line boundaries.
        end = min(duration, 60.0)
        windows.append((0.0, 0.0, end, " ".join(s.text for s in segments)))
    chosen: list[tuple[float, float, str]] = []
    # Keep picks apart (a clip's length between them) so they show different moments.
    gap = CLIP_MAX_SECONDS if duration >= CLIP_MAX_SECONDS * count * 2 else 0.0
    for _score, start, end, text in sorted(windows, key=lambda w: (-w[0], w[1])):
        if all(end + gap <= s or start >= e + gap for s, e, _t in chosen):
            chosen.append((start, end, text))
        if len(chosen) >= count:
            break
    return chosen


def shorten(text: str, limit: int) -> str:
    """Cut at a word boundary so the result (with an ellipsis) fits ``limit`` characters."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: max(0, limit - 1)].rsplit(" ", 1)[0].rstrip(",;:")
    return cut + "…"
