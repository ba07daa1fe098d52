"""``youtube.md``: title, description, chapters and tags as YouTube takes them (pure, no I/O).

YouTube only shows chapters when the description lists at least three timestamps, the first
at 0:00, each chapter at least 10 seconds long. The LLM's chapters (Podcasting 2.0, seconds)
are fitted to those rules here: sorted, the first moved to 0:00, short chapters merged into
their neighbour; when fewer than three survive the chapters are left out and the notes say so.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from podpipe.ffmpeg import escape_filter_value

MIN_CHAPTERS = 3
MIN_CHAPTER_SECONDS = 10.0
DESCRIPTION_MAX_CHARS = 5000
TAGS_MAX_CHARS = 500
TITLE_MAX_CHARS = 100


@dataclass(frozen=True)
class Chapter:
    start: float
    title: str


@dataclass(frozen=True)
class YoutubeChapters:
    chapters: tuple[Chapter, ...]
    """Empty when YouTube's rules cannot be met (see ``notes``)."""
    notes: tuple[str, ...]

    @property
    def usable(self) -> bool:
        return bool(self.chapters)


def timestamp(seconds: float, *, hours: bool) -> str:
    """``0:00`` / ``12:34`` / ``1:02:03``: what YouTube recognises in a description."""
    total = int(seconds)
    h, rest = divmod(total, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if hours else f"{m}:{s:02d}"


def fit_youtube_chapters(chapters: Sequence[Chapter], duration: float) -> YoutubeChapters:
    """The chapters YouTube will show, with a note for every change made to get there."""
    notes: list[str] = []
    inside = sorted(
        (c for c in chapters if 0 <= c.start < duration and c.title.strip()),
        key=lambda c: c.start,
    )
    if len(inside) < len(chapters):
        notes.append(f"dropped {len(chapters) - len(inside)} chapter(s) outside the episode")
    fitted: list[Chapter] = []
    for chapter in inside:
        if fitted and chapter.start == fitted[-1].start:
            notes.append(f"dropped {chapter.title!r}: same start as {fitted[-1].title!r}")
            continue
        fitted.append(Chapter(chapter.start, chapter.title.strip()))
    if fitted and fitted[0].start > 0:
        notes.append(f"moved {fitted[0].title!r} from {fitted[0].start:.0f} s to 0:00")
        fitted[0] = Chapter(0.0, fitted[0].title)
    fitted = _merge_short(fitted, duration, notes)
    if len(fitted) < MIN_CHAPTERS:
        notes.append(
            f"no chapters in the description: YouTube needs at least {MIN_CHAPTERS} of at "
            f"least {MIN_CHAPTER_SECONDS:.0f} s, and this episode has {len(fitted)}"
        )
        return YoutubeChapters((), tuple(notes))
    return YoutubeChapters(tuple(fitted), tuple(notes))


def _merge_short(chapters: list[Chapter], duration: float, notes: list[str]) -> list[Chapter]:
    """Merge every chapter shorter than the minimum into its neighbour until none is."""
    merged = list(chapters)
    while True:
        ends = [c.start for c in merged[1:]] + [duration]
        short = next(
            (i for i, c in enumerate(merged) if ends[i] - c.start < MIN_CHAPTER_SECONDS), None
        )
        if short is None or len(merged) == 1:
            return merged
        if short == 0:
            # The opening chapter must stay at 0:00: it absorbs the one after it.
            gone = merged.pop(1)
            notes.append(f"merged {gone.title!r} into {merged[0].title!r} (too short)")
        else:
            gone = merged.pop(short)
            notes.append(f"merged {gone.title!r} into {merged[short - 1].title!r} (too short)")


_LINK = re.compile(r"\[([^\]]+)\]\((https?://[^)\s]+)\)")
_EMPHASIS = re.compile(r"(\*\*|__|\*|_|`)(.+?)\1")


def plain_description(markdown: str) -> str:
    """Show notes (Markdown) as a YouTube description: plain text, links spelled out, no
    angle brackets (YouTube refuses them), at most 5000 characters."""
    lines = []
    for raw in markdown.strip().splitlines():
        line = _LINK.sub(r"\1: \2", raw)
        line = _EMPHASIS.sub(r"\2", line)
        line = re.sub(r"^#{1,6}\s*", "", line)
        line = re.sub(r"^\s*[-*+]\s+", "• ", line)
        lines.append(line.replace("<", "‹").replace(">", "›").rstrip())
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    if len(text) > DESCRIPTION_MAX_CHARS:
        text = text[: DESCRIPTION_MAX_CHARS - 1].rsplit(" ", 1)[0] + "…"
    return text


def youtube_tags(candidates: Sequence[str]) -> list[str]:
    """Unique tags, in order, within YouTube's 500 characters (a tag with a space counts its
    quotes; tags are separated by commas)."""
    tags: list[str] = []
    used = 0
    seen: set[str] = set()
    for raw in candidates:
        tag = re.sub(r"[<>,]", "", raw).strip()
        if not tag or tag.lower() in seen:
            continue
        cost = len(tag) + (2 if " " in tag else 0) + (1 if tags else 0)
        if used + cost > TAGS_MAX_CHARS:
            break
        tags.append(tag)
        seen.add(tag.lower())
        used += cost
    return tags


def youtube_markdown(
    title: str,
    description: str,
    fitted: YoutubeChapters,
    tags: Sequence[str],
    duration: float,
) -> str:
    """The ``youtube.md`` a host copies into YouTube Studio, field by field."""
    lines = ["# YouTube", "", "## Title", "", title[:TITLE_MAX_CHARS], ""]
    body = description
    if fitted.usable:
        hours = duration >= 3600
        listed = "\n".join(f"{timestamp(c.start, hours=hours)} {c.title}" for c in fitted.chapters)
        body = f"{description}\n\n{listed}" if description else listed
    lines += ["## Description", "", body, ""]
    lines += ["## Tags", "", ", ".join(tags), ""]
    if fitted.notes:
        lines += ["## Notes", "", *(f"- chapters: {note}" for note in fitted.notes), ""]
    return "\n".join(lines)


THUMBNAIL_WIDTH, THUMBNAIL_HEIGHT = 1280, 720
THUMBNAIL_LEAD_SECONDS = 1.0
"""A clip pick starts on a word boundary; a second in, the speaker is mid-sentence."""
_TITLE_IDEA = re.compile(r"^\s*1[.)]\s+\*\*(.+?)\*\*", re.MULTILINE)


def first_title_idea(titles_md: str) -> str:
    """The first of the titles prompt's ideas (``1. **Title** — why``), or ''."""
    match = _TITLE_IDEA.search(titles_md)
    return match.group(1).strip() if match else ""


def thumbnail_times(starts: Sequence[float], duration: float, count: int = 3) -> list[float]:
    """Strong moments: a second into each clip pick (best first), else evenly spread."""
    times = [min(s + THUMBNAIL_LEAD_SECONDS, max(0.0, duration - 0.5)) for s in starts]
    times = list(dict.fromkeys(round(t, 2) for t in times))[:count]
    if not times and duration > 0:
        times = [round(duration * (i + 1) / (count + 1), 2) for i in range(count)]
    return times


def thumbnail_args(
    video: Path,
    times: Sequence[float],
    outputs: Sequence[Path],
    title_file: Path | None,
    font_file: Path | None,
) -> list[str]:
    """One run for every candidate: an input seek per moment (only that moment decodes), each
    frame filled to 1280x720 and the title set over a dark band, as JPEG."""
    args: list[str] = []
    for at in times:
        args += ["-ss", f"{at:.3f}", "-i", str(video)]
    fill = (
        f"scale={THUMBNAIL_WIDTH}:{THUMBNAIL_HEIGHT}:force_original_aspect_ratio=increase,"
        f"crop={THUMBNAIL_WIDTH}:{THUMBNAIL_HEIGHT},setsar=1"
    )
    text = ""
    if title_file is not None:
        font = f"fontfile={escape_filter_value(str(font_file))}:" if font_file else ""
        text = (
            f",drawbox=y=ih*0.70:w=iw:h=ih*0.30:color=black@0.55:t=fill,"
            f"drawtext={font}expansion=none:textfile={escape_filter_value(str(title_file))}"
            ":fontcolor=white:fontsize=64:line_spacing=12:x=(w-tw)/2:y=h*0.85-th/2"
        )
    for index, output in enumerate(outputs):
        args += ["-map", f"{index}:v:0", "-vf", fill + text, "-frames:v", "1"]
        args += ["-q:v", "3", "-f", "image2", str(output)]
    return args
