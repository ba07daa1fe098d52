"""The evaluation's checks: what they count, what they refuse to count."""

from __future__ import annotations

from podpipe.layout import EpisodeMetadata
from podpipe_llm.catalog import load_catalog
from podpipe_llm.evaluate import EvalEpisode, claims, prose, score_answer
from tests.support.scripted_llm import synthetic_transcript


def test_claims_are_names_and_numbers_not_sentence_capitals() -> None:
    text = "Plain and concrete. Write about Tom Becker and 25 heat pumps.\n- Insulation first"
    assert claims(text) == ["Tom", "Becker", "25"]


def test_an_answer_that_invents_names_is_less_grounded_than_one_that_does_not() -> None:
    transcript = synthetic_transcript("ep-1", 600)
    episode = EvalEpisode("ep-1", transcript, EpisodeMetadata(title="T", show="S"))
    spec = load_catalog().get("newsletter")
    words = " ".join(s.text for s in transcript.segments).split()
    real = [w.strip(".,") for w in words if w[:1].isupper() and len(w) > 3][:3]
    grounded = score_answer(spec, f"**Subject:** x\n\nWe talk about {' and '.join(real)}.", episode)
    invented = score_answer(
        spec, "**Subject:** x\n\nWe talk about Zorblax and Quuxington.", episode
    )
    assert grounded.check("grounding").score > invented.check("grounding").score
    assert not invented.check("grounding").passed


def test_copying_the_transcript_is_an_echo_and_repeating_lines_is_repetition() -> None:
    transcript = synthetic_transcript("ep-1", 600)
    episode = EvalEpisode("ep-1", transcript, EpisodeMetadata())
    spec = load_catalog().get("blog-post")
    copied = " ".join(s.text for s in transcript.segments[:6])
    assert not score_answer(spec, f"# H\n\n{copied}", episode).check("echo").passed
    looped = "# H\n\n" + "This line is said again and again here.\n" * 4
    assert not score_answer(spec, looped, episode).check("repetition").passed


def test_a_title_case_line_names_nothing_by_its_capitals() -> None:
    titles = "1. Why Heat Pumps Beat Boilers Every Winter\n2. Tom Becker Explains DynamoDB Costs"
    assert claims(titles) == ["DynamoDB"]
    # In a sentence the capitals still mark the names it states.
    assert claims("We met Tom Becker, who sells heat pumps.") == ["Tom", "Becker"]


def test_an_answer_that_copies_its_instructions_fails_the_instructions_check() -> None:
    transcript = synthetic_transcript("ep-1", 600)
    episode = EvalEpisode("ep-1", transcript, EpisodeMetadata(title="T", show="S"))
    spec = load_catalog().get("show-notes")
    echoed = (
        "# Show notes\n## Summary\nTwo short paragraphs a listener reads before pressing play.\n"
        "## Topics\n- Heat pumps [00:01:00]\n## Links and resources mentioned\nNone mentioned."
    )
    written = echoed.replace(
        "Two short paragraphs a listener reads before pressing play.",
        "The hosts compare heat pumps with boilers and say which wins in a cold winter.",
    )
    check = score_answer(spec, echoed, episode).check("instructions")
    assert not check.passed
    assert "two short paragraphs a listener reads before pressing play" in check.detail
    assert score_answer(spec, written, episode).check("instructions").passed


def test_a_json_answer_is_judged_on_its_values_and_its_times() -> None:
    transcript = synthetic_transcript("ep-1", 600)
    episode = EvalEpisode("ep-1", transcript, EpisodeMetadata())
    spec = load_catalog().get("chapters")
    answer = (
        '{"version": "1.2.0", "note": "Zorblax wrote this", '
        '"chapters": [{"startTime": 0, "title": "Intro"}, {"startTime": 9000, "title": "Late"}]}'
    )
    assert prose(spec, answer) == "Intro\nLate"  # not the version, not the note
    timestamps = score_answer(spec, answer, episode).check("timestamps")
    assert not timestamps.passed  # 9000 s is past the end of a 600 s episode
