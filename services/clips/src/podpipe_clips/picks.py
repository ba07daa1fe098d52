"""Turning an LLM's clip picks into clips that can be cut (pure: no I/O).

A model's timestamps are approximate: a pick may start mid-word, run past the end of the
episode, be 12 s or 3 minutes long, or overlap a better pick. Each pick is repaired when a
usable clip is still inside it and skipped otherwise, and every change is explained in words
a host can read (they travel in the "Clips Rendered" event). Nothing here raises on a bad pick.

Boundaries are snapped to the transcript's words: a clip starts just before a word starts and
ends just after a word ends, inside the silence between words (never mid-word), padded by at
most half of that gap so the neighbouring word is never clipped in either.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass

from podpipe.captions import SENTENCE_END
from podpipe.documents import CLIP_MAX_SECONDS, CLIP_MIN_SECONDS, ClipPick, Word


@dataclass(frozen=True)
class ClipRules:
    min_seconds: float = CLIP_MIN_SECONDS
    max_seconds: float = CLIP_MAX_SECONDS
    pad_seconds: float = 0.15
    """Silence kept around the first and last word (at most half the gap to a neighbour)."""


@dataclass(frozen=True)
class PlannedClip:
    """A pick that will be cut: its rank (1 = best), snapped bounds and the words inside."""

    rank: int
    title: str
    hook: str
    start: float
    end: float
    first_word: int
    last_word: int
    """Indices into the transcript's word list (inclusive)."""

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class ClipPlan:
    clips: tuple[PlannedClip, ...]
    skipped: tuple[str, ...]
    repaired: tuple[str, ...]


@dataclass(frozen=True)
class TrailerSegment:
    start: float
    end: float
    first_word: int | None
    last_word: int | None

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class TrailerPlan:
    segments: tuple[TrailerSegment, ...]
    crossfade_seconds: float

    @property
    def duration(self) -> float:
        if not self.segments:
            return 0.0
        total = sum(s.duration for s in self.segments)
        return total - self.crossfade_seconds * (len(self.segments) - 1)

    def offsets(self) -> list[float]:
        """Where each segment starts on the trailer's own timeline (crossfades overlap)."""
        offsets, at = [], 0.0
        for segment in self.segments:
            offsets.append(at)
            at += segment.duration - self.crossfade_seconds
        return offsets


def speech_words(words: Sequence[Word]) -> list[Word]:
    """Words usable as boundaries: with text and a non-negative length, in time order."""
    usable = [w for w in words if w.text.strip() and w.end >= w.start]
    return sorted(usable, key=lambda w: (w.start, w.end))


def _label(rank: int, pick: ClipPick) -> str:
    return f"pick {rank} ({pick.title!r})"


def _fmt(seconds: float) -> str:
    return f"{seconds:.1f} s"


class _Snapper:
    """Word-boundary arithmetic over one transcript's words."""

    def __init__(self, words: Sequence[Word], duration: float, rules: ClipRules) -> None:
        self.words = list(words)
        self.starts = [w.start for w in self.words]
        self.duration = duration
        self.rules = rules

    def lead_in(self, index: int, floor: float) -> float:
        """Where a clip starting with word ``index`` begins: a little before the word."""
        word = self.words[index]
        previous_end = self.words[index - 1].end if index > 0 else 0.0
        room = max(0.0, word.start - max(previous_end, floor))
        pad = min(self.rules.pad_seconds, room / 2 if index > 0 else room)
        return max(floor, word.start - pad)

    def tail_out(self, index: int, ceiling: float) -> float:
        """Where a clip ending with word ``index`` ends: a little after the word."""
        word = self.words[index]
        last = index == len(self.words) - 1
        next_start = self.duration if last else self.words[index + 1].start
        room = max(0.0, min(next_start, ceiling) - word.end)
        pad = min(self.rules.pad_seconds, room if last else room / 2)
        return min(ceiling, word.end + pad)

    def inside(self, lo: float, hi: float) -> tuple[int, int] | None:
        """Indices of the first and last word lying wholly within [lo, hi]."""
        first = bisect.bisect_left(self.starts, lo)
        while first < len(self.words) and self.words[first].end > hi:
            first += 1
        last = bisect.bisect_right(self.starts, hi) - 1
        while last >= first and self.words[last].end > hi:
            last -= 1
        if first >= len(self.words) or last < first:
            return None
        return first, last

    def snap(self, start: float, end: float, lo: float, hi: float) -> tuple[int, int] | None:
        """Words for a clip wanted at [start, end] that must stay within [lo, hi].

        A word the wanted start or end falls inside is kept whole; the clip then grows or
        shrinks a word at a time to the allowed length, within [lo, hi].
        """
        span = self.inside(lo, hi)
        if span is None:
            return None
        lo_word, hi_word = span
        first = next((i for i in range(lo_word, hi_word + 1) if self.words[i].end > start), hi_word)
        last = next((i for i in range(hi_word, first - 1, -1) if self.words[i].start < end), first)
        length = self._length_of(first, last, lo, hi)
        while length > self.rules.max_seconds and last > first:
            last -= 1
            length = self._length_of(first, last, lo, hi)
        while length < self.rules.min_seconds and last < hi_word:
            last += 1
            if self._length_of(first, last, lo, hi) > self.rules.max_seconds:
                last -= 1
                break
            length = self._length_of(first, last, lo, hi)
        while length < self.rules.min_seconds and first > lo_word:
            first -= 1
            if self._length_of(first, last, lo, hi) > self.rules.max_seconds:
                first += 1
                break
            length = self._length_of(first, last, lo, hi)
        if not self.rules.min_seconds <= length <= self.rules.max_seconds:
            return None
        return first, last

    def _length_of(self, first: int, last: int, lo: float, hi: float) -> float:
        return self.tail_out(last, hi) - self.lead_in(first, lo)


def _free_intervals(
    taken: Sequence[tuple[float, float]], duration: float
) -> list[tuple[float, float]]:
    free, at = [], 0.0
    for start, end in sorted(taken):
        if start > at:
            free.append((at, start))
        at = max(at, end)
    if at < duration:
        free.append((at, duration))
    return free


def plan_clips(
    picks: Sequence[ClipPick],
    words: Sequence[Word],
    duration: float,
    rules: ClipRules | None = None,
) -> ClipPlan:
    """Repair or skip each pick (best first: a better pick keeps the contested time)."""
    rules = rules or ClipRules()
    snapper = _Snapper(speech_words(words), duration, rules)
    clips: list[PlannedClip] = []
    skipped: list[str] = []
    repaired: list[str] = []
    for rank, pick in enumerate(picks, start=1):
        label = _label(rank, pick)
        if pick.start >= duration:
            skipped.append(
                f"{label}: starts at {_fmt(pick.start)}, after the episode ends ({_fmt(duration)})"
            )
            continue
        notes: list[str] = []
        start, end = pick.start, pick.end
        if end > duration:
            notes.append(f"ended at {_fmt(end)}, after the episode; cut at its end")
            end = duration
        taken = [(c.start, c.end) for c in clips]
        candidates = [
            (min(end, hi) - max(start, lo), lo, hi)
            for lo, hi in _free_intervals(taken, duration)
            if min(end, hi) > max(start, lo)
        ]
        if not candidates:
            overlapped = [c.rank for c in clips if c.start < end and c.end > start]
            skipped.append(f"{label}: lies entirely inside better pick(s) {overlapped}")
            continue
        _, lo, hi = max(candidates)
        clipped_by_neighbour = lo > start or hi < end
        span = snapper.snap(max(start, lo), min(end, hi), lo, hi)
        if span is not None:
            # A repair may move a boundary, but the clip must still be mostly what was picked:
            # at least half of the pick (or of the longest allowed clip) has to survive.
            kept = min(snapper.tail_out(span[1], hi), end) - max(
                snapper.lead_in(span[0], lo), start
            )
            if kept < 0.5 * min(end - start, rules.max_seconds):
                span = None
        if span is None:
            if snapper.inside(start, end) is None:
                reason = f"no transcribed speech between {_fmt(start)} and {_fmt(end)}"
            elif clipped_by_neighbour:
                reason = (
                    "overlaps a better pick, and too little of it is left to make a "
                    f"{_fmt(rules.min_seconds)} clip"
                )
            else:
                reason = (
                    f"cannot be made {_fmt(rules.min_seconds)}–{_fmt(rules.max_seconds)} "
                    "long on word boundaries"
                )
            skipped.append(f"{label}: {reason}")
            continue
        first, last = span
        clip_start = snapper.lead_in(first, lo)
        clip_end = snapper.tail_out(last, hi)
        if clipped_by_neighbour:
            notes.append("trimmed so it does not overlap a better pick")
        wanted = pick.end - pick.start
        if wanted < rules.min_seconds:
            notes.append(f"was {_fmt(wanted)}; lengthened to {_fmt(clip_end - clip_start)}")
        elif wanted > rules.max_seconds:
            notes.append(f"was {_fmt(wanted)}; shortened to {_fmt(clip_end - clip_start)}")
        if notes:
            repaired.append(f"{label}: " + "; ".join(notes))
        clips.append(
            PlannedClip(
                rank=len(clips) + 1,
                title=pick.title,
                hook=pick.hook,
                start=round(clip_start, 3),
                end=round(clip_end, 3),
                first_word=first,
                last_word=last,
            )
        )
    return ClipPlan(clips=tuple(clips), skipped=tuple(skipped), repaired=tuple(repaired))


@dataclass(frozen=True)
class TrailerRules:
    min_seconds: float = 45.0
    max_seconds: float = 90.0
    target_seconds: float = 60.0
    min_picks: int = 3
    max_picks: int = 5
    crossfade_seconds: float = 0.5
    pad_seconds: float = 0.15


def plan_trailer(
    clips: Sequence[PlannedClip],
    words: Sequence[Word],
    duration: float,
    rules: TrailerRules | None = None,
) -> TrailerPlan | None:
    """The best picks (up to ``max_picks``), in episode order, each cut to its share of the
    trailer's target length at a word boundary (a sentence end where one is close).

    An episode no longer than ``min_seconds`` is its own trailer. None when there is nothing
    to make a trailer from.
    """
    rules = rules or TrailerRules()
    usable = speech_words(words)
    if duration <= rules.min_seconds:
        return TrailerPlan(
            segments=(TrailerSegment(0.0, duration, None, None),), crossfade_seconds=0.0
        )
    chosen = sorted(clips[: rules.max_picks], key=lambda c: c.start)
    if not chosen:
        return None
    snapper = _Snapper(usable, duration, ClipRules(pad_seconds=rules.pad_seconds))
    bounds = [c.start for c in chosen[1:]] + [duration]
    capacities = [bound - clip.start for clip, bound in zip(chosen, bounds, strict=True)]
    allocation = _water_fill(
        capacities, rules.target_seconds + rules.crossfade_seconds * (len(chosen) - 1)
    )
    segments = []
    for clip, share, bound in zip(chosen, allocation, bounds, strict=True):
        segments.append(_trailer_segment(snapper, clip, share, bound))
    return TrailerPlan(segments=tuple(segments), crossfade_seconds=rules.crossfade_seconds)


def _water_fill(capacities: Sequence[float], total: float) -> list[float]:
    """Share ``total`` equally, giving what a small segment cannot hold to the others."""
    shares = [0.0] * len(capacities)
    remaining = total
    order = sorted(range(len(capacities)), key=lambda i: capacities[i])
    for position, index in enumerate(order):
        fair = remaining / (len(order) - position)
        shares[index] = min(capacities[index], fair)
        remaining -= shares[index]
    return shares


def _trailer_segment(
    snapper: _Snapper, clip: PlannedClip, share: float, bound: float
) -> TrailerSegment:
    wanted_end = clip.start + share
    candidates = [
        i
        for i in range(clip.first_word, len(snapper.words))
        if snapper.words[i].end <= min(wanted_end, bound)
    ]
    if not candidates:
        return TrailerSegment(clip.start, min(wanted_end, bound), None, None)
    last = candidates[-1]
    # A sentence end in the last 30 % of the share sounds like an ending; prefer it.
    for i in reversed(candidates):
        if snapper.words[i].end < clip.start + 0.7 * share:
            break
        if snapper.words[i].text.strip().endswith(SENTENCE_END):
            last = i
            break
    end = snapper.tail_out(last, bound)
    return TrailerSegment(clip.start, round(end, 3), clip.first_word, last)
