"""Captions timed from the transcript's words, and the font they are drawn with.

Shared by the clips service (clip captions, audiogram text) and transcode (a video episode's
burned-in captions and thumbnails). Cues and scripts are pure (no I/O); :func:`find_font`
looks at the machine's font directories.

Words are grouped into short cues (a phone screen shows two short lines at most), breaking at
sentence ends and pauses so a cue reads as a phrase. Times are on the clip's own timeline.
The same cues become the published ``.srt`` and the ``.ass`` that libass burns into the video
(ASS carries the font, size and position an SRT cannot).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pysubs2

from podpipe.documents import Word

SENTENCE_END = (".", "?", "!", "…")
"""A word ending in one of these ends a sentence (a cue and a clip end there)."""


@dataclass(frozen=True)
class Cue:
    start: float
    end: float
    text: str


@dataclass(frozen=True)
class CueRules:
    max_chars: int = 32
    max_seconds: float = 3.5
    pause_seconds: float = 0.7
    """A silence this long between two words starts a new cue."""
    min_seconds: float = 0.6


def build_cues(
    words: Sequence[Word],
    *,
    offset: float,
    clip_duration: float,
    rules: CueRules | None = None,
) -> list[Cue]:
    """Cues for ``words`` shifted by ``-offset`` and kept within [0, clip_duration]."""
    rules = rules or CueRules()
    groups: list[list[Word]] = []
    current: list[Word] = []
    for word in words:
        if current:
            text = " ".join(w.text.strip() for w in [*current, word])
            too_long = len(text) > rules.max_chars
            too_slow = word.end - current[0].start > rules.max_seconds
            paused = word.start - current[-1].end >= rules.pause_seconds
            sentence_done = current[-1].text.strip().endswith(SENTENCE_END)
            if too_long or too_slow or paused or sentence_done:
                groups.append(current)
                current = []
        current.append(word)
    if current:
        groups.append(current)

    cues: list[Cue] = []
    for index, group in enumerate(groups):
        start = max(0.0, group[0].start - offset)
        end = min(clip_duration, group[-1].end - offset)
        # Keep a cue up until the next one (or at least min_seconds) so short words stay
        # readable, without ever overlapping the next cue.
        next_start = groups[index + 1][0].start - offset if index + 1 < len(groups) else None
        readable = start + rules.min_seconds
        if next_start is not None:
            end = max(end, min(readable, next_start))
        else:
            end = max(end, min(readable, clip_duration))
        if end <= start:
            continue
        text = " ".join(w.text.strip() for w in group)
        cues.append(Cue(start=round(start, 3), end=round(end, 3), text=text))
    return cues


def _ms(seconds: float) -> int:
    return round(seconds * 1000)


def _subs(cues: Sequence[Cue]) -> pysubs2.SSAFile:
    subs = pysubs2.SSAFile()
    for cue in cues:
        subs.append(pysubs2.SSAEvent(start=_ms(cue.start), end=_ms(cue.end), text=cue.text))
    return subs


def to_srt(cues: Sequence[Cue]) -> str:
    text: str = _subs(cues).to_string("srt")
    return text


@dataclass(frozen=True)
class CaptionStyle:
    width: int
    height: int
    font_name: str = "DejaVu Sans"

    @property
    def font_size(self) -> int:
        return max(12, round(min(self.width, self.height) * 0.055))

    @property
    def margin_v(self) -> int:
        return round(self.height * 0.12)


def to_ass(cues: Sequence[Cue], style: CaptionStyle) -> str:
    """An ASS script at the video's own resolution: white bold text, dark outline, bottom."""
    subs = _subs(cues)
    subs.info["PlayResX"] = str(style.width)
    subs.info["PlayResY"] = str(style.height)
    subs.info["WrapStyle"] = "0"
    subs.styles["Default"] = pysubs2.SSAStyle(
        fontname=style.font_name,
        fontsize=style.font_size,
        primarycolor=pysubs2.Color(255, 255, 255, 0),
        outlinecolor=pysubs2.Color(0, 0, 0, 0),
        backcolor=pysubs2.Color(0, 0, 0, 128),
        bold=True,
        outline=max(1, style.font_size // 14),
        shadow=0,
        alignment=pysubs2.Alignment.BOTTOM_CENTER,
        marginl=round(style.width * 0.08),
        marginr=round(style.width * 0.08),
        marginv=style.margin_v,
    )
    text: str = subs.to_string("ass")
    return text


def parse_srt(text: str) -> list[Cue]:
    """Read an SRT back (used to check what was published)."""
    subs = pysubs2.SSAFile.from_string(text, format_="srt")
    return [Cue(start=e.start / 1000, end=e.end / 1000, text=e.plaintext) for e in subs]


FONT_CANDIDATES = (
    # Debian/Ubuntu fonts-dejavu-core, Fedora, Arch, Alpine, then macOS.
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/TTF/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf",
    "/System/Library/Fonts/Supplemental/Arial Bold.ttf",
    "/Library/Fonts/Arial.ttf",
)


def find_font(configured: str = "") -> Path | None:
    """The font file to draw text with: the configured one, else a common system font."""
    if configured:
        path = Path(configured)
        return path if path.is_file() else None
    for candidate in FONT_CANDIDATES:
        path = Path(candidate)
        if path.is_file():
            return path
    for root in (Path("/usr/share/fonts"), Path("/usr/local/share/fonts")):
        if root.is_dir():
            found = sorted(root.rglob("*.ttf"))
            if found:
                return found[0]
    return None
