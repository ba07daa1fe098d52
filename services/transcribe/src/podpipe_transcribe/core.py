"""The pure core: backend output → the normalised transcript → text, subtitles, Podcasting 2.0.

No I/O here. Backends produce a :class:`RawTranscript` (their own speaker labels, or none);
everything after that is the same whatever the backend.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import pysubs2
import structlog

from podpipe.documents import Segment, Transcript, Word
from podpipe.layout import EpisodeMetadata
from podpipe_transcribe.turns import VoicePrint, speaker_turns

log = structlog.get_logger()

MAX_LINE_CHARS = 42
MAX_LINES = 2
MAX_CUE_SECONDS = 7.0
MIN_CUE_SECONDS = 1.0
CUE_PAUSE_SECONDS = 0.5  # a silence this long between words ends a cue
PARAGRAPH_PAUSE_SECONDS = 0.6
MAX_PARAGRAPH_SECONDS = 60.0
SENTENCE_END = (".", "?", "!", "…")
CLAUSE_END = (",", ";", ":", "—")
PODCASTING20_VERSION = "1.0.0"


@dataclass(frozen=True)
class RawWord:
    start: float
    end: float
    text: str
    confidence: float | None = None


@dataclass(frozen=True)
class RawSegment:
    start: float
    end: float
    text: str
    speaker_label: str | None = None
    words: tuple[RawWord, ...] = ()
    # What the segment's voice sounds like (Whisper only): lets the core tell speakers apart.
    voice: VoicePrint | None = None


@dataclass(frozen=True)
class RawTranscript:
    """What a backend heard. ``diarized``: whether speaker labels tell real speakers apart."""

    language: str
    duration_seconds: float
    segments: tuple[RawSegment, ...]
    diarized: bool
    backend: str


# --------------------------------------------------------------------------- speakers


def speaker_names(
    labels_in_order: Sequence[str], metadata: EpisodeMetadata, *, diarized: bool
) -> dict[str, str]:
    """Backend speaker labels (first appearance order) → the names a reader sees.

    An explicit ``speaker_names`` mapping wins (keyed by the backend label, e.g. ``spk_0``, or
    by ``Speaker N``). A diarizing backend's labels otherwise take the listed people in order
    of first appearance, hosts first (the host usually opens the show); a non-diarizing
    backend (Whisper) cannot tell voices apart, so its one label names everyone known to be
    in the conversation ("Maya Patel & Tom Becker") rather than pinning every line on one of
    them. "Speaker N" is used only when nothing is known.
    """
    people = metadata.people
    names: dict[str, str] = {}
    for index, label in enumerate(labels_in_order):
        generic = f"Speaker {index + 1}"
        explicit = metadata.speaker_names.get(label) or metadata.speaker_names.get(generic)
        if explicit:
            names[label] = explicit
        elif not diarized and people:
            names[label] = " & ".join(people)
        elif diarized and index < len(people):
            names[label] = people[index]
        else:
            names[label] = generic
    return names


def voice_turns(raw: RawTranscript, metadata: EpisodeMetadata) -> RawTranscript:
    """A non-diarizing backend's one label split into voices, when its segments carry voice
    prints, the metadata names two or more people, and the voices are confidently apart.

    The voices become ``spk_0``, ``spk_1``, ... in order of first appearance and the
    transcript counts as diarized, so :func:`speaker_names` names them like a diarizing
    backend's: the first voice heard is the first host, an explicit mapping wins. Otherwise
    (or when the host explicitly named Whisper's single ``speaker_0`` label) it is unchanged.
    """
    people = metadata.people
    prints = [s.voice for s in raw.segments]
    if (
        raw.diarized
        or len(people) < 2
        or "speaker_0" in metadata.speaker_names
        or not any(p is not None for p in prints)
    ):
        return raw
    found = speaker_turns(prints, len(people))
    if found is None:
        log.info("transcribe.speaker_turns_unsure", people=len(people), segments=len(prints))
        return raw
    log.info(
        "transcribe.speaker_turns",
        voices=len(found.shares),
        separation=found.separation,
        silhouette=found.silhouette,
        shares=found.shares,
    )
    segments = tuple(
        replace(seg, speaker_label=f"spk_{voice}")
        for seg, voice in zip(raw.segments, found.voices, strict=True)
    )
    return replace(raw, segments=segments, diarized=True)


# --------------------------------------------------------------------------- normalising


def _clean(text: str) -> str:
    return " ".join(text.split())


def _confidence(value: float | None) -> float | None:
    if value is None or math.isnan(value):
        return None
    return min(max(value, 0.0), 1.0)


def _even_words(segment: RawSegment) -> list[Word]:
    """Words spread evenly over the segment, for a backend that gave none (keeps cues timed)."""
    tokens = segment.text.split()
    if not tokens:
        return []
    step = max(segment.end - segment.start, 0.0) / len(tokens)
    return [
        Word(start=segment.start + i * step, end=segment.start + (i + 1) * step, text=token)
        for i, token in enumerate(tokens)
    ]


def normalise(raw: RawTranscript, episode_id: str, metadata: EpisodeMetadata) -> Transcript:
    """The one transcript shape: named speakers, clean words, empty segments dropped."""
    raw = voice_turns(raw, metadata)
    labels = list(dict.fromkeys(s.speaker_label or "speaker_0" for s in raw.segments))
    names = speaker_names(labels, metadata, diarized=raw.diarized)
    segments: list[Segment] = []
    for seg in raw.segments:
        words = [
            Word(
                start=max(w.start, 0.0),
                end=max(w.end, w.start, 0.0),
                text=_clean(w.text),
                confidence=_confidence(w.confidence),
            )
            for w in seg.words
            if _clean(w.text)
        ] or _even_words(seg)
        text = _clean(seg.text) or " ".join(w.text for w in words)
        if not text:
            continue
        segments.append(
            Segment(
                start=max(seg.start, 0.0),
                end=max(seg.end, seg.start, 0.0),
                speaker=names[seg.speaker_label or "speaker_0"],
                text=text,
                words=words,
            )
        )
    return Transcript(
        episode_id=episode_id,
        language=raw.language,
        duration_seconds=max(raw.duration_seconds, 0.0),
        backend=raw.backend,
        segments=segments,
    )


# --------------------------------------------------------------------------- plain text


def timestamp(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole // 3600:02d}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


@dataclass
class Paragraph:
    speaker: str
    start: float
    end: float
    texts: list[str] = field(default_factory=list)


def paragraphs(transcript: Transcript) -> list[Paragraph]:
    """Segments joined into paragraphs: a new one on a speaker change, a pause, or at 60 s."""
    result: list[Paragraph] = []
    for seg in transcript.segments:
        last = result[-1] if result else None
        if (
            last is None
            or last.speaker != seg.speaker
            or seg.start - last.end >= PARAGRAPH_PAUSE_SECONDS
            or seg.end - last.start > MAX_PARAGRAPH_SECONDS
        ):
            result.append(Paragraph(seg.speaker, seg.start, seg.end, [seg.text]))
        else:
            last.texts.append(seg.text)
            last.end = seg.end
    return result


def transcript_text(transcript: Transcript, metadata: EpisodeMetadata) -> str:
    """``transcript.txt``: speaker-labelled, timestamped paragraphs (for people and the LLM)."""
    header: list[str] = []
    if metadata.title or metadata.show:
        header.append(" - ".join(p for p in (metadata.show, metadata.title) if p))
    if metadata.hosts:
        header.append("Hosts: " + ", ".join(metadata.hosts))
    if metadata.guests:
        header.append("Guests: " + ", ".join(metadata.guests))
    body = [
        f"[{timestamp(p.start)}] {p.speaker}: {' '.join(p.texts)}" for p in paragraphs(transcript)
    ]
    blocks = (["\n".join(header)] if header else []) + body
    return "\n\n".join(blocks) + "\n"


# --------------------------------------------------------------------------- subtitles


@dataclass(frozen=True)
class Cue:
    start: float
    end: float
    speaker: str
    lines: tuple[str, ...]

    @property
    def text(self) -> str:
        return " ".join(self.lines)


def wrap(text: str, width: int = MAX_LINE_CHARS) -> tuple[str, ...] | None:
    """One line if it fits, else the most balanced two lines that fit, else None."""
    if len(text) <= width:
        return (text,)
    tokens = text.split(" ")
    best: tuple[str, str] | None = None
    for cut in range(1, len(tokens)):
        first, second = " ".join(tokens[:cut]), " ".join(tokens[cut:])
        if (
            len(first) <= width
            and len(second) <= width
            and (best is None or abs(len(first) - len(second)) < abs(len(best[0]) - len(best[1])))
        ):
            best = (first, second)
    return best


def _cue_from(words: Sequence[Word], speaker: str) -> Cue:
    text = " ".join(w.text for w in words)
    # A single word longer than two lines cannot be wrapped; keep it rather than lose it.
    lines = wrap(text) or (text,)
    start = words[0].start
    return Cue(start, min(max(words[-1].end, start), start + MAX_CUE_SECONDS), speaker, lines)


def cues(transcript: Transcript) -> list[Cue]:
    """Subtitle cues: ≤ 2 lines of ≤ 42 characters, ≤ 7 s, split on sentences and pauses.

    Words flow into a cue (across the backend's own segment boundaries, which can fall
    mid-sentence) until the next word would break a limit, follows a pause, or is another
    speaker's; a sentence end always closes the cue. When a cue is full, it is cut after its
    last clause (comma, semicolon, colon) if there is one, so lines end where a reader
    pauses. Short cues are then held on screen for up to a second when there is room.
    """
    result: list[Cue] = []
    current: list[Word] = []
    speaker = ""
    for seg in transcript.segments:
        if current and seg.speaker != speaker:
            result.append(_cue_from(current, speaker))
            current = []
        speaker = seg.speaker
        for word in seg.words:
            if current:
                over_time = word.end - current[0].start > MAX_CUE_SECONDS
                paused = word.start - current[-1].end >= CUE_PAUSE_SECONDS
                too_wide = wrap(" ".join(w.text for w in [*current, word])) is None
                if paused:
                    result.append(_cue_from(current, speaker))
                    current = []
                elif over_time or too_wide:
                    cut = _clause_cut(current)
                    result.append(_cue_from(current[:cut], speaker))
                    current = current[cut:]
                    if current and word.end - current[0].start > MAX_CUE_SECONDS:
                        result.append(_cue_from(current, speaker))
                        current = []
            current.append(word)
            if word.text.endswith(SENTENCE_END):
                result.append(_cue_from(current, speaker))
                current = []
    if current:
        result.append(_cue_from(current, speaker))
    return _hold_short_cues(result)


def _clause_cut(words: Sequence[Word]) -> int:
    """How many words to put in a full cue: up to its last clause end, when that keeps at
    least half of the words (a tiny cue would flash by), else all of them."""
    for index in range(len(words) - 1, 0, -1):
        if words[index - 1].text.endswith(CLAUSE_END) and index >= len(words) / 2:
            return index
    return len(words)


def _hold_short_cues(found: list[Cue]) -> list[Cue]:
    held: list[Cue] = []
    for index, cue in enumerate(found):
        next_start = found[index + 1].start if index + 1 < len(found) else math.inf
        end = cue.end
        if end - cue.start < MIN_CUE_SECONDS:
            end = max(end, min(cue.start + MIN_CUE_SECONDS, next_start))
        held.append(Cue(cue.start, end, cue.speaker, cue.lines))
    return held


def subtitle_file(found: Iterable[Cue]) -> pysubs2.SSAFile:
    subs = pysubs2.SSAFile()
    for cue in found:
        subs.append(
            pysubs2.SSAEvent(
                start=pysubs2.make_time(s=cue.start),
                end=pysubs2.make_time(s=cue.end),
                text=r"\N".join(cue.lines),
            )
        )
    return subs


def subtitles(transcript: Transcript) -> tuple[str, str]:
    """(SRT, WebVTT) texts, written by pysubs2."""
    subs = subtitle_file(cues(transcript))
    return subs.to_string("srt"), subs.to_string("vtt")


# --------------------------------------------------------------------------- Podcasting 2.0


def podcasting20(transcript: Transcript) -> dict[str, Any]:
    """The Podcasting 2.0 JSON transcript (``<podcast:transcript type="application/json">``)."""
    return {
        "version": PODCASTING20_VERSION,
        "segments": [
            {
                "speaker": cue.speaker,
                "startTime": round(cue.start, 3),
                "endTime": round(cue.end, 3),
                "body": cue.text,
            }
            for cue in cues(transcript)
        ],
    }
