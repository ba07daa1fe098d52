"""Speaker turns for Whisper: synthetic voices in, who-speaks-when (or an honest "not sure") out.

A synthetic voice is a harmonic tone (a glottal-like buzz: every harmonic of F0, falling off
with frequency) with vibrato, a random drift of pitch and loudness from segment to segment,
syllable-rate amplitude pulses and background noise: what differs between two voices is
only the pitch (110 Hz and 220 Hz, say).
"""

from __future__ import annotations

from functools import cache

import numpy as np
import numpy.typing as npt
import pytest

from podpipe.layout import EpisodeMetadata
from podpipe_transcribe import core
from podpipe_transcribe.core import RawSegment, RawTranscript
from podpipe_transcribe.service import build_backend
from podpipe_transcribe.settings import TranscribeSettings
from podpipe_transcribe.turns import SAMPLE_RATE, VoicePrint, speaker_turns, voice_prints
from podpipe_transcribe.whisper import WhisperBackend, with_voice_prints

GAP_SECONDS = 0.5


def voiced(f0: float, seconds: float, rng: np.random.Generator) -> npt.NDArray[np.float64]:
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    drift = f0 * rng.uniform(0.96, 1.04)  # intonation differs from line to line
    pitch = drift * (1 + 0.02 * np.sin(2 * np.pi * 5 * t))  # vibrato
    phase = 2 * np.pi * np.cumsum(pitch) / SAMPLE_RATE
    tone = np.zeros_like(t)
    for harmonic in range(1, int(4000 // drift) + 1):
        tone += np.sin(harmonic * phase) / harmonic
    syllables = 0.3 + 0.7 * np.abs(np.sin(np.pi * rng.uniform(2.5, 4.0) * t))
    loudness = rng.uniform(0.1, 0.3)
    return np.asarray(loudness * tone * syllables / np.abs(tone).max(), dtype=np.float64)


def conversation(
    pitches: list[float], seed: int = 7, noise: float = 0.01
) -> tuple[npt.NDArray[np.float32], list[tuple[float, float]]]:
    """One segment per pitch (1.5-3 s of voice, 0.5 s gaps), with noise throughout."""
    samples, spans = _conversation(tuple(pitches), seed, noise)
    return samples, list(spans)


@cache  # several tests hear the same conversation; synthesizing it is the slow part
def _conversation(
    pitches: tuple[float, ...], seed: int, noise: float
) -> tuple[npt.NDArray[np.float32], tuple[tuple[float, float], ...]]:
    rng = np.random.default_rng(seed)
    parts: list[npt.NDArray[np.float64]] = []
    spans: list[tuple[float, float]] = []
    position = 0.0
    for f0 in pitches:
        parts.append(np.zeros(int(GAP_SECONDS * SAMPLE_RATE)))
        position += GAP_SECONDS
        segment = voiced(f0, float(rng.uniform(1.5, 3.0)), rng)
        spans.append((position, position + len(segment) / SAMPLE_RATE))
        parts.append(segment)
        position += len(segment) / SAMPLE_RATE
    signal = np.concatenate(parts)
    signal += noise * rng.standard_normal(len(signal))
    samples = signal.astype(np.float32)
    samples.flags.writeable = False
    return samples, tuple(spans)


# A host (220 Hz) opens, a guest (110 Hz) answers, and so on; the guest talks more.
DIALOGUE = [220.0, 110.0, 110.0, 220.0, 110.0, 220.0, 110.0, 110.0, 220.0, 110.0] * 2
EXPECTED = [0 if f0 == 220.0 else 1 for f0 in DIALOGUE]


def test_two_voices_an_octave_apart_are_told_apart_in_order_of_appearance() -> None:
    samples, spans = conversation(DIALOGUE)
    turns = speaker_turns(voice_prints(samples, spans), 2)
    assert turns is not None
    assert list(turns.voices) == EXPECTED
    assert turns.shares[1] > turns.shares[0]  # voice 1, the guest, holds more of the speech


def test_the_first_voice_heard_is_voice_zero_whichever_it_is() -> None:
    samples, spans = conversation([440.0 - f0 for f0 in DIALOGUE])  # the low voice opens
    turns = speaker_turns(voice_prints(samples, spans), 2)
    assert turns is not None
    assert list(turns.voices) == EXPECTED


def test_one_voice_is_not_split_in_two() -> None:
    samples, spans = conversation([150.0] * len(DIALOGUE))
    prints = voice_prints(samples, spans)
    assert all(p is not None for p in prints)
    assert speaker_turns(prints, 2) is None
    assert speaker_turns(prints, 3) is None


def test_two_voices_too_alike_to_tell_apart_fall_back() -> None:
    samples, spans = conversation([150.0 if e else 152.0 for e in EXPECTED])
    assert speaker_turns(voice_prints(samples, spans), 2) is None


def test_two_voices_are_not_forced_into_three() -> None:
    samples, spans = conversation(DIALOGUE)
    assert speaker_turns(voice_prints(samples, spans), 3) is None


def test_silence_and_tiny_spans_have_no_print_and_follow_the_voice_before() -> None:
    samples, spans = conversation(DIALOGUE)
    silent = (0.0, GAP_SECONDS - 0.05)  # the opening gap: noise only
    tiny = (spans[1][0], spans[1][0] + 0.1)
    extended = [spans[0], silent, *spans[1:3], tiny, *spans[3:]]
    prints = voice_prints(samples, extended)
    assert prints[1] is None
    assert prints[4] is None
    turns = speaker_turns(prints, 2)
    assert turns is not None
    assert list(turns.voices) == [
        EXPECTED[0],
        EXPECTED[0],
        *EXPECTED[1:3],
        EXPECTED[2],
        *EXPECTED[3:],
    ]


def test_too_few_segments_or_people_give_no_turns() -> None:
    samples, spans = conversation(DIALOGUE[:6])
    prints = voice_prints(samples, spans)
    assert speaker_turns(prints, 2) is None  # 6 segments cannot show two voices reliably
    samples, spans = conversation(DIALOGUE)
    assert speaker_turns(voice_prints(samples, spans), 1) is None


def test_a_voice_with_a_sliver_of_the_speech_is_not_trusted() -> None:
    one = VoicePrint((0.0,) * 19, 90.0, 2.0)
    other = VoicePrint((50.0,) + (0.0,) * 18, 80.0, 1.0)
    # 4 s of 36 s (11 %) is under 40 % of an even share (20 %): maybe a jingle, maybe noise.
    assert speaker_turns([one] * 8 + [other] * 4 + [one] * 8, 2) is None
    more = VoicePrint(other.cepstrum, other.pitch, 3.0)  # 12 s of 28 s
    found = speaker_turns([one] * 8 + [more] * 4, 2)
    assert found is not None
    assert found.voices == (0,) * 8 + (1,) * 4


# --------------------------------------------------------------------------- in the core

HOST_AND_GUEST = EpisodeMetadata(hosts=["Maya Patel"], guests=["Tom Becker"])


def whisper_raw() -> RawTranscript:
    """What the Whisper backend hands the core for the synthetic dialogue."""
    samples, spans = conversation(DIALOGUE)
    segments = tuple(
        RawSegment(start, end, f"Line {i}.", "speaker_0") for i, (start, end) in enumerate(spans)
    )
    raw = RawTranscript("en", spans[-1][1], segments, diarized=False, backend="whisper")
    return with_voice_prints(raw, samples)


def speakers(metadata: EpisodeMetadata, raw: RawTranscript | None = None) -> list[str]:
    return [s.speaker for s in core.normalise(raw or whisper_raw(), "ep", metadata).segments]


def test_the_core_names_each_voice_first_host_first() -> None:
    names = ["Maya Patel", "Tom Becker"]
    assert speakers(HOST_AND_GUEST) == [names[e] for e in EXPECTED]
    text = core.transcript_text(core.normalise(whisper_raw(), "ep", HOST_AND_GUEST), HOST_AND_GUEST)
    assert "Maya Patel & Tom Becker" not in text
    assert "] Maya Patel: Line 0." in text
    assert "] Tom Becker: Line 1. Line 2." in text


def test_an_explicit_mapping_wins() -> None:
    metadata = HOST_AND_GUEST.model_copy(update={"speaker_names": {"Speaker 2": "Dr. Tom"}})
    assert set(speakers(metadata)) == {"Maya Patel", "Dr. Tom"}
    # Naming Whisper's single label says "one label for everyone": no turns then.
    metadata = HOST_AND_GUEST.model_copy(update={"speaker_names": {"speaker_0": "The Team"}})
    assert set(speakers(metadata)) == {"The Team"}


@pytest.mark.parametrize(
    "metadata",
    [EpisodeMetadata(hosts=["Maya Patel"]), EpisodeMetadata()],
)
def test_one_known_person_or_none_keeps_one_label(metadata: EpisodeMetadata) -> None:
    assert len(set(speakers(metadata))) == 1


def test_unsure_turns_keep_the_joint_label() -> None:
    samples, spans = conversation([150.0] * len(DIALOGUE))
    segments = tuple(RawSegment(a, b, "Words.", "speaker_0") for a, b in spans)
    raw = RawTranscript("en", spans[-1][1], segments, diarized=False, backend="whisper")
    got = speakers(HOST_AND_GUEST, with_voice_prints(raw, samples))
    assert set(got) == {"Maya Patel & Tom Becker"}


def test_without_voice_prints_nothing_changes() -> None:
    raw = whisper_raw()
    bare = RawTranscript(
        raw.language,
        raw.duration_seconds,
        tuple(RawSegment(s.start, s.end, s.text, s.speaker_label) for s in raw.segments),
        diarized=False,
        backend="whisper",
    )
    assert set(speakers(HOST_AND_GUEST, bare)) == {"Maya Patel & Tom Becker"}


@pytest.mark.parametrize(("value", "expected"), [(None, True), ("off", False), ("on", True)])
def test_the_setting_switches_voice_prints_on_the_whisper_backend(
    monkeypatch: pytest.MonkeyPatch, value: str | None, expected: bool
) -> None:
    if value is not None:
        monkeypatch.setenv("PODPIPE_WHISPER_SPEAKER_TURNS", value)
    backend = build_backend(TranscribeSettings(), s3=object())  # type: ignore[arg-type]
    assert isinstance(backend, WhisperBackend)
    assert backend.speaker_turns is expected
