"""Captions timed from the transcript's words, on the clip's own timeline."""

from __future__ import annotations

import itertools

import pysubs2

from podpipe.captions import (
    CaptionStyle,
    CueRules,
    build_cues,
    parse_srt,
    to_ass,
    to_srt,
)
from podpipe.documents import Word
from podpipe_clips.synthetic import synthetic_transcript

WORDS = synthetic_transcript("ep", 120.0).words


def clip_words(start: float, end: float) -> list[Word]:
    return [w for w in WORDS if w.start >= start and w.end <= end]


def test_cues_cover_every_word_in_order_on_the_clip_timeline() -> None:
    words = clip_words(30.0, 70.0)
    offset = words[0].start - 0.1
    duration = words[-1].end + 0.1 - offset
    cues = build_cues(words, offset=offset, clip_duration=duration)
    assert " ".join(c.text for c in cues) == " ".join(w.text for w in words)
    assert cues[0].start == round(words[0].start - offset, 3)
    for before, after in itertools.pairwise(cues):
        assert before.end <= after.start
    assert all(0 <= c.start < c.end <= duration for c in cues)


def test_cues_are_short_enough_to_read() -> None:
    rules = CueRules(max_chars=24, max_seconds=3.0)
    cues = build_cues(clip_words(0, 60), offset=0.0, clip_duration=60.0, rules=rules)
    assert all(len(c.text) <= 24 for c in cues)
    assert all(c.end - c.start <= 3.5 for c in cues)


def test_a_sentence_end_closes_a_cue() -> None:
    cues = build_cues(clip_words(0, 60), offset=0.0, clip_duration=60.0)
    enders = [c for c in cues if "." in c.text]
    assert enders
    assert all(c.text.endswith(".") for c in enders)


def test_srt_round_trips() -> None:
    cues = build_cues(clip_words(10, 50), offset=10.0, clip_duration=40.0)
    parsed = parse_srt(to_srt(cues))
    assert [c.text for c in parsed] == [c.text for c in cues]
    assert all(abs(a.start - b.start) < 0.002 for a, b in zip(parsed, cues, strict=True))


def test_ass_is_laid_out_for_the_video_size() -> None:
    cues = build_cues(clip_words(10, 50), offset=10.0, clip_duration=40.0)
    subs = pysubs2.SSAFile.from_string(to_ass(cues, CaptionStyle(1080, 1920)))
    assert subs.info["PlayResX"] == "1080"
    assert subs.info["PlayResY"] == "1920"
    assert len(subs.events) == len(cues)
    assert subs.styles["Default"].alignment == pysubs2.Alignment.BOTTOM_CENTER
