"""The pure core: speaker names, the normalised transcript, text, subtitles, Podcasting 2.0."""

from __future__ import annotations

import itertools
import random

import pysubs2
import pytest

from podpipe.documents import Segment, Transcript, Word
from podpipe.layout import EpisodeMetadata
from podpipe_transcribe import core
from podpipe_transcribe.core import RawSegment, RawTranscript, RawWord

HOST_AND_GUEST = EpisodeMetadata(hosts=["Maya Patel"], guests=["Tom Becker"])


@pytest.mark.parametrize(
    ("metadata", "diarized", "expected"),
    [
        (HOST_AND_GUEST, True, ["Maya Patel", "Tom Becker", "Speaker 3"]),
        (EpisodeMetadata(), True, ["Speaker 1", "Speaker 2", "Speaker 3"]),
        (
            EpisodeMetadata(hosts=["Maya"], speaker_names={"spk_1": "Dr. Tom", "Speaker 3": "Ann"}),
            True,
            ["Maya", "Dr. Tom", "Ann"],
        ),
    ],
)
def test_diarized_labels_take_names_in_order_of_appearance(
    metadata: EpisodeMetadata, diarized: bool, expected: list[str]
) -> None:
    names = core.speaker_names(["spk_0", "spk_1", "spk_2"], metadata, diarized=diarized)
    assert list(names.values()) == expected


@pytest.mark.parametrize(
    ("metadata", "expected"),
    [
        (EpisodeMetadata(hosts=["Maya Patel"]), "Maya Patel"),
        (HOST_AND_GUEST, "Maya Patel & Tom Becker"),
        (EpisodeMetadata(), "Speaker 1"),
        (EpisodeMetadata(hosts=["A", "B"], speaker_names={"speaker_0": "The Hosts"}), "The Hosts"),
    ],
)
def test_undiarized_speaker_is_named_from_what_is_known(
    metadata: EpisodeMetadata, expected: str
) -> None:
    assert core.speaker_names(["speaker_0"], metadata, diarized=False) == {"speaker_0": expected}


def _raw(segments: list[RawSegment], diarized: bool = True) -> RawTranscript:
    return RawTranscript("en", 10.0, tuple(segments), diarized, "fake")


def test_normalise_cleans_words_and_drops_empty_segments() -> None:
    raw = _raw(
        [
            RawSegment(
                0.0,
                1.0,
                " Hello there. ",
                "spk_0",
                (RawWord(0.0, 0.4, " Hello", 0.9), RawWord(0.4, 1.0, " there.", 1.2)),
            ),
            RawSegment(1.0, 1.5, "   ", "spk_1"),
            RawSegment(2.0, 4.0, "no word times here", "spk_1"),
        ]
    )
    transcript = core.normalise(raw, "ep1", HOST_AND_GUEST)
    assert [s.speaker for s in transcript.segments] == ["Maya Patel", "Tom Becker"]
    first, second = transcript.segments
    assert [w.text for w in first.words] == ["Hello", "there."]
    assert first.words[1].confidence == 1.0  # clipped into [0, 1]
    # Words spread evenly when the backend gave none, so subtitles still have timing.
    assert next((w.start, w.end) for w in second.words) == (2.0, 2.5)
    assert transcript.word_count == 6


def _long_transcript(seed: int = 3) -> Transcript:
    """Two speakers, many sentences of random words, random pauses, long words included."""
    rng = random.Random(seed)
    vocabulary = [
        "a",
        "heat",
        "pump",
        "moves",
        "warmth",
        "insulation",
        "electricity",
        "extraordinarily",
        "the",
        "of",
        "winter",
        "conditioning",
        "and",
        "it",
    ]
    segments: list[Segment] = []
    t = 0.0
    for turn in range(12):
        words: list[Word] = []
        for _sentence in range(rng.randint(1, 4)):
            for i in range(rng.randint(3, 30)):
                token = rng.choice(vocabulary) + ("," if rng.random() < 0.08 else "")
                duration = rng.uniform(0.15, 0.6)
                words.append(Word(start=t, end=t + duration, text=token))
                t += duration + (rng.choice([0.0, 0.05, 0.9]) if i else 0.0)
            words[-1] = words[-1].model_copy(update={"text": words[-1].text.rstrip(",") + "."})
            t += 0.3
        segments.append(
            Segment(
                start=words[0].start,
                end=words[-1].end,
                speaker=["Maya", "Tom"][turn % 2],
                text=" ".join(w.text for w in words),
                words=words,
            )
        )
        t += 0.8
    return Transcript(
        episode_id="ep1", language="en", duration_seconds=t, backend="fake", segments=segments
    )


def test_cues_respect_line_and_duration_limits_and_split_on_sentences_and_pauses() -> None:
    transcript = _long_transcript()
    found = core.cues(transcript)
    words = transcript.words
    assert " ".join(c.text for c in found) == " ".join(w.text for w in words)  # nothing lost
    for cue in found:
        assert 1 <= len(cue.lines) <= core.MAX_LINES
        assert all(len(line) <= core.MAX_LINE_CHARS for line in cue.lines)
        assert cue.end - cue.start <= core.MAX_CUE_SECONDS
        # A sentence end only ever closes a cue, never sits inside one.
        assert not any(t.endswith(".") for t in cue.text.split()[:-1])
    # No cue spans a pause between two of its words.
    index = 0
    for cue in found:
        cue_words = words[index : index + len(cue.text.split())]
        index += len(cue_words)
        gaps = [b.start - a.end for a, b in itertools.pairwise(cue_words)]
        assert all(g < core.CUE_PAUSE_SECONDS for g in gaps)
    # Cues follow each other without overlapping.
    assert all(a.end <= b.start + 1e-9 for a, b in itertools.pairwise(found))


def test_subtitles_are_valid_srt_and_vtt() -> None:
    transcript = _long_transcript()
    srt, vtt = core.subtitles(transcript)
    assert vtt.startswith("WEBVTT")
    for text, fmt in ((srt, "srt"), (vtt, "vtt")):
        parsed = pysubs2.SSAFile.from_string(text, format_=fmt)
        assert len(parsed) == len(core.cues(transcript))
        for event in parsed:
            lines = event.plaintext.split("\n")
            assert len(lines) <= 2
            assert all(len(line) <= 42 for line in lines)
            assert event.end - event.start <= 7000


def test_wrap_balances_two_lines_or_refuses() -> None:
    assert core.wrap("short line") == ("short line",)
    first, second = core.wrap("one two three four five six seven eight nine ten eleven") or ()
    assert abs(len(first) - len(second)) <= 6
    assert core.wrap("x" * 30 + " " + "y" * 30 + " " + "z" * 30) is None


def test_transcript_text_is_speaker_labelled_timestamped_paragraphs() -> None:
    raw = _raw(
        [
            RawSegment(0.0, 2.0, "Welcome to the show.", "spk_0"),
            RawSegment(2.1, 3.0, "Today, heat pumps.", "spk_0"),
            RawSegment(65.0, 67.0, "Thanks for having me.", "spk_1"),
        ]
    )
    metadata = EpisodeMetadata(
        title="Heat Pumps", show="Small Steps", hosts=["Maya"], guests=["Tom"]
    )
    text = core.transcript_text(core.normalise(raw, "ep1", metadata), metadata)
    assert text == (
        "Small Steps - Heat Pumps\nHosts: Maya\nGuests: Tom\n\n"
        "[00:00:00] Maya: Welcome to the show. Today, heat pumps.\n\n"
        "[00:01:05] Tom: Thanks for having me.\n"
    )


def test_podcasting20_json_has_speakers_times_and_bodies() -> None:
    raw = _raw(
        [
            RawSegment(0.0, 2.0, "Welcome to the show.", "spk_0"),
            RawSegment(3.0, 5.0, "Thanks.", "spk_1"),
        ]
    )
    document = core.podcasting20(core.normalise(raw, "ep1", HOST_AND_GUEST))
    assert document["version"] == "1.0.0"
    assert document["segments"] == [
        {"speaker": "Maya Patel", "startTime": 0.0, "endTime": 2.0, "body": "Welcome to the show."},
        {"speaker": "Tom Becker", "startTime": 3.0, "endTime": 5.0, "body": "Thanks."},
    ]
