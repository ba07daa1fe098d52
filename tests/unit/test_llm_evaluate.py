"""The evaluation's checks: what they count, what they refuse to count."""

from __future__ import annotations

from podpipe.storage import EpisodeMetadata
from podpipe_llm.catalog import load_catalog
from podpipe_llm.evaluate import EvalEpisode, claims, score_answer
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
