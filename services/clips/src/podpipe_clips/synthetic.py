"""A synthetic, speech-shaped episode with exact word timings, for tests and the benchmark.

Each "word" is a short tone burst with an envelope, separated by short gaps, with a longer
pause after each sentence; the matching Transcript says exactly where every word starts and
ends, so tests can check that cuts land between words. Pure Python (no numpy) and fast: a
16 kHz mono WAV, encoded to MP3 like the transcode service's output.
"""

from __future__ import annotations

import array
import math
import wave
from dataclasses import dataclass
from pathlib import Path

from podpipe.documents import Segment, Transcript, Word
from podpipe.ffmpeg import run_ffmpeg

VOCABULARY = [
    "podcasts",
    "are",
    "a",
    "lot",
    "more",
    "fun",
    "when",
    "somebody",
    "else",
    "cuts",
    "the",
    "clips",
    "for",
    "you",
    "and",
    "the",
    "trailer",
    "writes",
    "itself",
    "while",
    "you",
    "sleep",
    "every",
    "single",
    "week",
]


@dataclass(frozen=True)
class SyntheticSpeech:
    word_seconds: float = 0.42
    gap_seconds: float = 0.14
    sentence_words: int = 11
    sentence_pause_seconds: float = 0.6
    sample_rate: int = 16000
    amplitude: float = 0.35


def synthetic_transcript(
    episode_id: str, duration: float, speech: SyntheticSpeech | None = None
) -> Transcript:
    """Words laid out over ``duration`` seconds (starting 0.5 s in), one segment a sentence."""
    speech = speech or SyntheticSpeech()
    segments: list[Segment] = []
    at, index = 0.5, 0
    while True:
        words: list[Word] = []
        for position in range(speech.sentence_words):
            if at + speech.word_seconds > duration - 0.5:
                break
            text = VOCABULARY[index % len(VOCABULARY)]
            if position == 0:
                text = text.capitalize()
            if position == speech.sentence_words - 1:
                text += "."
            words.append(
                Word(start=round(at, 3), end=round(at + speech.word_seconds, 3), text=text)
            )
            at += speech.word_seconds + speech.gap_seconds
            index += 1
        if not words:
            break
        segments.append(
            Segment(
                start=words[0].start,
                end=words[-1].end,
                speaker=f"spk_{len(segments) % 2}",
                text=" ".join(w.text for w in words),
                words=words,
            )
        )
        at += speech.sentence_pause_seconds - speech.gap_seconds
        if len(words) < speech.sentence_words:
            break
    return Transcript(
        episode_id=episode_id,
        language="en",
        duration_seconds=duration,
        backend="synthetic",
        segments=segments,
    )


def synthetic_wav(
    path: Path, transcript: Transcript, speech: SyntheticSpeech | None = None
) -> Path:
    """Tone bursts exactly where the transcript's words are; silence elsewhere."""
    speech = speech or SyntheticSpeech()
    rate = speech.sample_rate
    samples = array.array("h", bytes(2 * int(transcript.duration_seconds * rate)))
    for number, word in enumerate(transcript.words):
        first, last = int(word.start * rate), min(len(samples), int(word.end * rate))
        pitch = 140.0 + 35.0 * (number % 7)
        length = max(1, last - first)
        for offset in range(length):
            # A sine envelope: loud in the middle of the word, silent at its edges.
            envelope = math.sin(math.pi * offset / length)
            t = offset / rate
            value = math.sin(2 * math.pi * pitch * t) + 0.4 * math.sin(4 * math.pi * pitch * t)
            samples[first + offset] = int(32767 * speech.amplitude * envelope * value / 1.4)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.tobytes())
    return path


def synthetic_episode(
    directory: Path,
    duration: float,
    *,
    episode_id: str = "synthetic",
    ffmpeg: str | None = None,
    speech: SyntheticSpeech | None = None,
) -> tuple[Path, Transcript]:
    """``audio.mp3`` (stereo 44.1 kHz, like transcode's output) and its exact transcript."""
    directory.mkdir(parents=True, exist_ok=True)
    transcript = synthetic_transcript(episode_id, duration, speech)
    wav = synthetic_wav(directory / "synthetic.wav", transcript, speech)
    mp3 = directory / "audio.mp3"
    run_ffmpeg(
        [
            "-i",
            str(wav),
            "-ac",
            "2",
            "-ar",
            "44100",
            "-c:a",
            "libmp3lame",
            "-b:a",
            "128k",
            str(mp3),
        ],
        ffmpeg=ffmpeg,
        label="synthetic-episode",
    )
    wav.unlink()
    return mp3, transcript
