"""youtube.md: chapters fitted to YouTube's rules (first at 0:00, at least three, each at least
10 s), a plain-text description and tags within YouTube's limits (pure)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from podpipe_transcode.youtube import (
    MIN_CHAPTER_SECONDS,
    Chapter,
    YoutubeChapters,
    first_title_idea,
    fit_youtube_chapters,
    plain_description,
    thumbnail_args,
    thumbnail_times,
    timestamp,
    youtube_markdown,
    youtube_tags,
)


def assert_youtube_accepts(fitted: YoutubeChapters, duration: float) -> None:
    starts = [c.start for c in fitted.chapters]
    assert starts[0] == 0.0
    assert len(starts) >= 3
    assert starts == sorted(starts)
    ends = [*starts[1:], duration]
    assert all(end - start >= MIN_CHAPTER_SECONDS for start, end in zip(starts, ends, strict=True))


def test_good_chapters_pass_unchanged() -> None:
    chapters = [Chapter(0, "Intro"), Chapter(65, "The guest"), Chapter(600, "Wrap-up")]
    fitted = fit_youtube_chapters(chapters, 900)
    assert fitted.chapters == tuple(chapters)
    assert fitted.notes == ()
    assert_youtube_accepts(fitted, 900)


def test_the_first_chapter_is_moved_to_zero_and_the_order_fixed() -> None:
    fitted = fit_youtube_chapters(
        [Chapter(300, "Later"), Chapter(4, "Hello"), Chapter(120, "Middle")], 600
    )
    assert [c.title for c in fitted.chapters] == ["Hello", "Middle", "Later"]
    assert fitted.chapters[0].start == 0.0
    assert any("to 0:00" in note for note in fitted.notes)
    assert_youtube_accepts(fitted, 600)


def test_short_chapters_are_merged_into_a_neighbour() -> None:
    chapters = [
        Chapter(0, "Cold open"),  # 5 s: absorbs the next, stays at 0:00
        Chapter(5, "Intro"),
        Chapter(60, "Aside"),  # 6 s: merged into the chapter before it
        Chapter(66, "Topic"),
        Chapter(200, "Outro"),
        Chapter(295, "Credits"),  # the last 5 s: merged into "Outro"
    ]
    fitted = fit_youtube_chapters(chapters, 300)
    assert [c.title for c in fitted.chapters] == ["Cold open", "Topic", "Outro"]
    assert len([n for n in fitted.notes if "merged" in n]) == 3
    assert_youtube_accepts(fitted, 300)


@pytest.mark.parametrize(
    "chapters",
    [
        [Chapter(0, "One"), Chapter(100, "Two")],
        [Chapter(0, "A"), Chapter(5, "B"), Chapter(12, "C"), Chapter(20, "D")],  # 25 s episode
        [],
    ],
)
def test_when_the_rules_cannot_be_met_there_are_no_chapters_and_a_note_says_so(
    chapters: list[Chapter],
) -> None:
    fitted = fit_youtube_chapters(chapters, 25 if len(chapters) == 4 else 400)
    assert not fitted.usable
    assert "at least 3" in fitted.notes[-1]


def test_chapters_outside_the_episode_or_duplicated_are_dropped() -> None:
    chapters = [Chapter(0, "A"), Chapter(0, "A again"), Chapter(50, "B"), Chapter(99, "C")]
    fitted = fit_youtube_chapters([*chapters, Chapter(500, "After the end")], 120)
    assert [c.title for c in fitted.chapters] == ["A", "B", "C"]
    assert len(fitted.notes) == 2


def test_timestamps_are_what_youtube_recognises() -> None:
    assert timestamp(0, hours=False) == "0:00"
    assert timestamp(754.9, hours=False) == "12:34"
    assert timestamp(3723, hours=True) == "1:02:03"
    assert timestamp(65, hours=True) == "0:01:05"


def test_the_description_is_plain_text_without_angle_brackets() -> None:
    notes = "## In this episode\n\n- **Bold** claim about <html>\n- [Link](https://x.test/a)\n"
    text = plain_description(notes)
    assert "<" not in text
    assert ">" not in text
    assert "• Bold claim" in text
    assert "Link: https://x.test/a" in text
    assert text.startswith("In this episode")
    assert len(plain_description("word " * 3000)) <= 5000


def test_tags_are_unique_and_fit_500_characters() -> None:
    tags = youtube_tags(
        ["podcast", "Podcast", "aws news", "a<b>", *[f"tag{i:03d}" for i in range(200)]]
    )
    assert tags[:3] == ["podcast", "aws news", "ab"]
    assert sum(len(t) + (2 if " " in t else 0) for t in tags) + len(tags) - 1 <= 500


def test_youtube_md_lists_the_chapters_after_the_description() -> None:
    chapters = [Chapter(0, "Intro"), Chapter(65, "Guest"), Chapter(3700, "Outro")]
    fitted = fit_youtube_chapters(chapters, 4000)
    text = youtube_markdown("Episode 42", "About it.", fitted, ["podcast"], 4000)
    description = text.split("## Description\n\n")[1].split("\n## ")[0]
    assert description.startswith("About it.\n\n0:00:00 Intro\n0:01:05 Guest\n1:01:40 Outro")
    assert re.search(r"## Tags\n\npodcast\n", text)
    assert "## Notes" not in text
    fallback = youtube_markdown("T", "D", fit_youtube_chapters(chapters[:2], 90), [], 90)
    assert "no chapters in the description" in fallback


def test_thumbnails_are_a_second_into_each_pick_else_spread_over_the_episode() -> None:
    assert thumbnail_times([60.0, 300.0, 60.0, 900.0, 1200.0], 1000.0) == [61.0, 301.0, 901.0]
    assert thumbnail_times([999.8], 1000.0) == [999.5]
    assert thumbnail_times([], 400.0) == [100.0, 200.0, 300.0]


def test_one_run_seeks_each_moment_and_writes_1280x720_jpegs() -> None:
    outputs = [Path("t1.jpg"), Path("t2.jpg")]
    args = thumbnail_args(Path("v.mp4"), [61.0, 301.0], outputs, Path("title.txt"), None)
    assert args[:4] == ["-ss", "61.000", "-i", "v.mp4"]
    assert args.count("-i") == 2
    assert args.count("-frames:v") == 2
    chain = args[args.index("-vf") + 1]
    assert "crop=1280:720" in chain
    assert "textfile=title.txt" in chain
    assert args[-1] == "t2.jpg"


def test_the_first_title_idea_is_read_from_the_titles_prompt() -> None:
    ideas = "# Title ideas\n\n1. **Boats, Explained** — because\n2. **Other** — no\n"
    assert first_title_idea(ideas) == "Boats, Explained"
    assert first_title_idea("nothing here") == ""
