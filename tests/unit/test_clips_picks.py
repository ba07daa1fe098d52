"""Clip picks → clips that can be cut: repair, skip, snap to words, and the trailer plan."""

from __future__ import annotations

import itertools

import pytest

from podpipe.documents import ClipPick, Word
from podpipe_clips.picks import (
    ClipRules,
    PlannedClip,
    TrailerRules,
    plan_clips,
    plan_trailer,
    speech_words,
)
from podpipe_clips.synthetic import synthetic_transcript

DURATION = 300.0
WORDS = speech_words(synthetic_transcript("ep", DURATION).words)


def pick(start: float, end: float, title: str = "A clip") -> ClipPick:
    return ClipPick(start=start, end=end, title=title, hook="Listen to this")


def assert_on_word_boundaries(clip: PlannedClip, words: list[Word]) -> None:
    """No word is cut: each word is wholly inside or wholly outside the clip."""
    for word in words:
        inside = word.start >= clip.start and word.end <= clip.end
        outside = word.end <= clip.start or word.start >= clip.end
        assert inside or outside, f"{word} is cut by clip {clip.start}-{clip.end}"
    assert words[clip.first_word].start >= clip.start
    assert words[clip.last_word].end <= clip.end


def test_a_good_pick_is_kept_and_snapped_to_word_boundaries() -> None:
    plan = plan_clips([pick(20.0, 60.0)], WORDS, DURATION)
    assert plan.skipped == ()
    assert plan.repaired == ()
    (clip,) = plan.clips
    assert_on_word_boundaries(clip, WORDS)
    assert abs(clip.start - 20.0) < 0.7
    assert abs(clip.end - 60.0) < 0.7
    assert 30.0 <= clip.duration <= 90.0


def test_a_pick_starting_mid_word_keeps_that_whole_word() -> None:
    word = WORDS[40]
    middle = (word.start + word.end) / 2
    (clip,) = plan_clips([pick(middle, middle + 40)], WORDS, DURATION).clips
    assert clip.first_word == 40
    assert clip.start <= word.start
    assert clip.start >= WORDS[39].end
    assert_on_word_boundaries(clip, WORDS)


def test_boundaries_sit_in_the_silence_between_words() -> None:
    (clip,) = plan_clips([pick(33.3, 77.7)], WORDS, DURATION).clips
    assert WORDS[clip.first_word - 1].end <= clip.start <= WORDS[clip.first_word].start
    assert WORDS[clip.last_word].end <= clip.end <= WORDS[clip.last_word + 1].start


def test_a_pick_after_the_end_of_the_episode_is_skipped_with_a_reason() -> None:
    plan = plan_clips([pick(400.0, 440.0, "Too late")], WORDS, DURATION)
    assert plan.clips == ()
    (reason,) = plan.skipped
    assert "Too late" in reason
    assert "after the episode ends" in reason


def test_a_pick_running_past_the_end_is_cut_at_the_end() -> None:
    plan = plan_clips([pick(250.0, 330.0)], WORDS, DURATION)
    (clip,) = plan.clips
    assert clip.end <= DURATION
    assert_on_word_boundaries(clip, WORDS)
    assert any("after the episode" in note for note in plan.repaired)


def test_a_short_pick_is_lengthened_to_the_minimum() -> None:
    plan = plan_clips([pick(100.0, 110.0)], WORDS, DURATION)
    (clip,) = plan.clips
    assert clip.duration >= 30.0
    assert clip.start <= 100.5
    assert_on_word_boundaries(clip, WORDS)
    assert any("lengthened" in note for note in plan.repaired)


def test_a_long_pick_is_shortened_to_the_maximum() -> None:
    plan = plan_clips([pick(10.0, 200.0)], WORDS, DURATION)
    (clip,) = plan.clips
    assert 85.0 <= clip.duration <= 90.0
    assert_on_word_boundaries(clip, WORDS)
    assert any("shortened" in note for note in plan.repaired)


def test_an_overlapping_pick_is_trimmed_when_enough_remains() -> None:
    plan = plan_clips([pick(20.0, 60.0, "Best"), pick(50.0, 110.0, "Second")], WORDS, DURATION)
    best, second = plan.clips
    assert second.start >= best.end
    assert second.duration >= 30.0
    assert_on_word_boundaries(second, WORDS)
    assert any("Second" in note and "overlap" in note for note in plan.repaired)


def test_an_overlapping_pick_is_skipped_when_too_little_remains() -> None:
    plan = plan_clips([pick(20.0, 80.0, "Best"), pick(30.0, 95.0, "Echo")], WORDS, DURATION)
    assert len(plan.clips) == 1
    (reason,) = plan.skipped
    assert "Echo" in reason
    assert "overlap" in reason


def test_a_pick_inside_a_better_one_is_skipped() -> None:
    plan = plan_clips([pick(20.0, 80.0), pick(30.0, 60.0, "Inside")], WORDS, DURATION)
    assert len(plan.clips) == 1
    assert "Inside" in plan.skipped[0]


def test_a_pick_over_silence_is_skipped() -> None:
    words = [w for w in WORDS if not 100.0 <= w.start <= 200.0]
    plan = plan_clips([pick(120.0, 170.0, "Quiet")], words, DURATION)
    assert plan.clips == ()
    assert "no transcribed speech" in plan.skipped[0]


def test_no_clips_overlap_and_ranks_follow_the_picks() -> None:
    picks = [pick(float(s), float(s) + 45) for s in (10, 40, 70, 100, 130, 160, 190, 220)]
    plan = plan_clips(picks, WORDS, DURATION)
    ordered = sorted(plan.clips, key=lambda c: c.start)
    for before, after in itertools.pairwise(ordered):
        assert before.end <= after.start
    assert [c.rank for c in plan.clips] == list(range(1, len(plan.clips) + 1))
    assert len(plan.clips) + len(plan.skipped) == len(picks)


@pytest.mark.parametrize("count", [1, 3, 4, 5, 7])
def test_the_trailer_is_45_to_90_seconds_of_the_best_picks_in_episode_order(count: int) -> None:
    starts = [200.0, 20.0, 120.0, 70.0, 160.0, 250.0, 100.0][:count]
    plan = plan_clips([pick(s, s + 35) for s in starts], WORDS, DURATION)
    trailer = plan_trailer(plan.clips, WORDS, DURATION)
    assert trailer is not None
    assert 45.0 <= trailer.duration <= 90.0
    assert len(trailer.segments) == min(count, 5)
    segment_starts = [s.start for s in trailer.segments]
    assert segment_starts == sorted(segment_starts)
    best = {c.start for c in plan.clips[:5]}
    assert set(segment_starts) == best
    for segment in trailer.segments:
        assert segment.last_word is not None
        assert WORDS[segment.last_word].end <= segment.end
        assert segment.duration > 2 * trailer.crossfade_seconds


def test_a_short_episode_is_its_own_trailer() -> None:
    words = speech_words(synthetic_transcript("ep", 40.0).words)
    trailer = plan_trailer((), words, 40.0, TrailerRules())
    assert trailer is not None
    assert trailer.duration == pytest.approx(40.0)


def test_no_trailer_without_clips_in_a_long_episode() -> None:
    assert plan_trailer((), WORDS, DURATION) is None


def test_trailer_offsets_account_for_crossfades() -> None:
    plan = plan_clips([pick(20, 60), pick(120, 160), pick(200, 240)], WORDS, DURATION)
    trailer = plan_trailer(plan.clips, WORDS, DURATION)
    assert trailer is not None
    offsets = trailer.offsets()
    assert offsets[0] == 0.0
    first = trailer.segments[0]
    assert offsets[1] == pytest.approx(first.duration - trailer.crossfade_seconds)


def test_custom_rules_are_honoured() -> None:
    rules = ClipRules(min_seconds=10.0, max_seconds=20.0)
    (clip,) = plan_clips([pick(30.0, 80.0)], WORDS, DURATION, rules).clips
    assert 10.0 <= clip.duration <= 20.0
