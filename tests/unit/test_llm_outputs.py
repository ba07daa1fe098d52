"""Output validation against the transcript, and the extractive stand-in's outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from podpipe.documents import ClipPicks, Transcript
from podpipe_llm import extract
from podpipe_llm.schemas import SCHEMAS as SCHEMAS_FOR_TEST
from podpipe_llm.schemas import OutputValidationError, validate_json_output
from tests.support.scripted_llm import Harness, synthetic_transcript

TRANSCRIPT = synthetic_transcript("ep-1", 1800)  # segments start every 15 s


def chapters(*starts: float) -> str:
    return json.dumps(
        {"chapters": [{"startTime": s, "title": f"C{i}"} for i, s in enumerate(starts)]}
    )


def test_chapters_are_snapped_to_the_start_of_a_transcript_line() -> None:
    result = json.loads(validate_json_output("chapters", chapters(0, 301.0, 617.9), TRANSCRIPT))

    assert [c["startTime"] for c in result["chapters"]] == [0.0, 300.0, 615.0]
    assert result["version"] == "1.2.0"


def test_chapters_listed_out_of_order_are_put_in_time_order_each_with_its_title() -> None:
    result = json.loads(validate_json_output("chapters", chapters(0, 601, 301), TRANSCRIPT))

    assert [(c["startTime"], c["title"]) for c in result["chapters"]] == [
        (0.0, "C0"),
        (300.0, "C2"),
        (600.0, "C1"),
    ]


@pytest.mark.parametrize(
    ("starts", "problem"),
    [
        ((0, 2000), "after the end of the episode"),
        ((0, 301, 302), "same transcript line"),
    ],
)
def test_bad_chapters_are_refused_with_a_reason_the_model_can_act_on(
    starts: tuple[float, ...], problem: str
) -> None:
    with pytest.raises(OutputValidationError, match=problem):
        validate_json_output("chapters", chapters(*starts), TRANSCRIPT)


def test_clip_picks_must_last_30_to_90_seconds_inside_the_episode() -> None:
    def picks(start: float, end: float) -> str:
        return json.dumps({"clips": [{"start": start, "end": end, "title": "t", "hook": "h"}]})

    ok = ClipPicks.model_validate_json(
        validate_json_output("clip-picks", picks(61, 119), TRANSCRIPT)
    )
    assert (ok.clips[0].start, ok.clips[0].end) == (60.0, 119.4)  # snapped to line edges
    # A pick of the wrong length keeps its moment and gets a 30-90 s window at line edges.
    for start, end in ((60, 75), (60, 400), (60, 20)):  # (60, 20): an end before its start
        fitted = ClipPicks.model_validate_json(
            validate_json_output("clip-picks", picks(start, end), TRANSCRIPT)
        )
        clip = fitted.clips[0]
        assert clip.start == 60.0
        assert 30 <= clip.end - clip.start <= 90
    with pytest.raises(OutputValidationError, match="must last between 30 and 90"):
        validate_json_output("clip-picks", picks(1790, 1799), TRANSCRIPT)  # no room left
    with pytest.raises(OutputValidationError, match="after the end of the episode"):
        validate_json_output("clip-picks", picks(1790, 1850), TRANSCRIPT)


def test_social_posts_respect_each_network_limit() -> None:
    post = {"linkedin": "L" * 2000, "x": "x" * 281, "bluesky": "b" * 300}
    with pytest.raises(OutputValidationError, match="x: String should have at most 280"):
        validate_json_output("social-posts", json.dumps(post), TRANSCRIPT)


def test_json_in_a_code_fence_or_with_a_sentence_around_it_is_accepted() -> None:
    fenced = "```json\n" + chapters(0, 300) + "\n```"
    chatty = "Here are the chapters:\n" + chapters(0, 300) + "\nHope this helps!"
    for answer in (fenced, chatty):
        assert json.loads(validate_json_output("chapters", answer, TRANSCRIPT))["chapters"]


def test_extractive_writes_every_shipped_output_valid_and_says_it_used_no_llm() -> None:
    harness = Harness.build()
    transcript = harness.add_episode("ep-1", 1800)
    for event in harness.dispatch("ep-1")[1:]:
        harness.drain([event.model_copy(update={"model": "extractive"})])

    assert set(harness.completed()) == {
        "titles", "show-notes", "chapters", "blog-post", "social-posts", "clip-picks",
        "newsletter", "pull-quotes",
    }  # fmt: skip
    assert harness.provider.requests == []  # the scripted model was never called
    for (_episode, prompt_id), text in harness.store.outputs.items():
        assert "without an LLM" in text, prompt_id
    out = harness.store.outputs
    picks = ClipPicks.model_validate_json(out[("ep-1", "clip-picks")])
    assert all(30 <= c.end - c.start <= 90 for c in picks.clips)
    starts = [c["startTime"] for c in json.loads(out[("ep-1", "chapters")])["chapters"]]
    assert starts == sorted(set(starts))
    assert starts[0] == 0.0
    assert set(starts) <= {s.start for s in transcript.segments}
    social = json.loads(out[("ep-1", "social-posts")])
    assert len(social["x"]) <= 280
    assert len(social["bluesky"]) <= 300
    for heading in ("# Show notes", "## Summary", "## Topics", "## Links and resources mentioned"):
        assert heading in out[("ep-1", "show-notes")]
    assert out[("ep-1", "titles")].count("\n1. ") + out[("ep-1", "titles")].count("\n5. ") == 2
    # The blog post is structured by the chapters it depends on.
    first_chapter = json.loads(out[("ep-1", "chapters")])["chapters"][1]["title"]
    assert f"## {first_chapter}" in out[("ep-1", "blog-post")]


def test_extractive_on_a_real_asr_transcript_joins_sentences_cut_across_segments() -> None:
    sample = (
        Path(__file__).resolve().parents[1] / "integration" / "test_clips_sample_transcript.json"
    )
    transcript = Transcript.model_validate_json(sample.read_text())
    cut = [s.text for s in transcript.segments if not s.text.rstrip().endswith((".", "?", "!"))]
    assert cut, "the sample has segments that end mid-sentence"

    sentences = [s.text for s in extract.sentences(transcript)]

    assert all(s.rstrip()[-1] in ".?!" for s in sentences[:-1])
    assert any(cut[0].strip() in s and len(s) > len(cut[0].strip()) for s in sentences)
    assert "heat pump" in extract.key_phrases(" ".join(sentences), 3)


def test_constrained_decoding_bounds_each_list_for_the_episode() -> None:
    from podpipe_llm.schemas import decoding_schema

    three_minutes = synthetic_transcript("ep-short", 184)
    assert decoding_schema("chapters", three_minutes)["properties"]["chapters"]["maxItems"] == 4
    assert decoding_schema("chapters", TRANSCRIPT)["properties"]["chapters"]["maxItems"] == 30
    assert decoding_schema("clip-picks", TRANSCRIPT)["properties"]["clips"]["maxItems"] == 5
    # Every string is bounded too: an unbounded "note" is where a small model loops.
    assert decoding_schema("clip-picks", TRANSCRIPT)["properties"]["note"]["maxLength"] == 300
    # Validation keeps the wider bound: an answer with more is still accepted.
    assert SCHEMAS_FOR_TEST["clip-picks"].schema()["properties"]["clips"]["maxItems"] == 10
    # Times end inside the episode: the 0.5B model otherwise spaced chapters past its end.
    chapter = decoding_schema("chapters", three_minutes)["$defs"]["Chapter"]["properties"]
    assert chapter["startTime"] | {"description": ""} == {
        "description": "",
        "title": "Starttime",
        "type": "integer",
        "minimum": 0,
        "maximum": 183,
    }
    pick = decoding_schema("clip-picks", three_minutes)["$defs"]["ClipMoment"]["properties"]
    assert pick["start"]["maximum"] == pick["end"]["maximum"] == 183


def test_a_pick_or_quote_that_cannot_be_used_is_dropped_when_good_ones_remain() -> None:
    good = {"start": 60, "end": 119, "title": "t", "hook": "h"}
    late = {"start": 1790, "end": 1850, "title": "late", "hook": "h"}
    kept = ClipPicks.model_validate_json(
        validate_json_output("clip-picks", json.dumps({"clips": [good, late]}), TRANSCRIPT)
    )
    assert [c.title for c in kept.clips] == ["t"]
    quotes = {"quotes": [{"text": "q", "speaker": "A", "start": 30},
                         {"text": "late", "speaker": "A", "start": 5000}]}  # fmt: skip
    answer = json.loads(validate_json_output("pull-quotes", json.dumps(quotes), TRANSCRIPT))
    assert [q["text"] for q in answer["quotes"]] == ["q"]
    with pytest.raises(OutputValidationError, match="after the end of the episode"):
        validate_json_output(
            "pull-quotes", json.dumps({"quotes": quotes["quotes"][1:]}), TRANSCRIPT
        )
