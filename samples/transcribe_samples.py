"""Whisper transcripts of the samples, in podpipe's own Transcript format.

    uv run python samples/transcribe_samples.py                # episode and aws-news
    uv run python samples/transcribe_samples.py aws-news       # one of them

Writes ``samples/<name>.transcript.json``: exactly what the transcribe service stores as
``episodes/<id>/transcript.json`` (the episode id is the sample's name), made by the service's
own code with its default settings: WhisperBackend (faster-whisper base int8 from the
PyPI-packaged model, VAD and word timestamps on, beam 5, speaker turns on), then
``core.normalise`` with the sample's EpisodeMetadata sidecar, which names the voices.

It prints each transcript's word error rate against ``<name>.txt`` (lower case, punctuation
and hyphens dropped, like tests/integration/test_transcribe_service.py, and "%" read as
"percent") and the share of
aligned words attributed to the speaker who said them (the script's lines alternate
between the two people, the first host first).
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys
import time
from pathlib import Path

import jiwer

from podpipe.documents import Transcript
from podpipe.events import S3Location
from podpipe.layout import EpisodeMetadata
from podpipe_transcribe import core
from podpipe_transcribe.backend import Finished, TranscriptionRequest
from podpipe_transcribe.model import LazyWhisperModel
from podpipe_transcribe.settings import TranscribeSettings
from podpipe_transcribe.whisper import WhisperBackend

HERE = Path(__file__).resolve().parent
SAMPLES = ("episode", "aws-news")


def normalise_words(text: str) -> str:
    # Whisper writes "20 percent" as "20%": the same words, so "%" must not count as an error.
    text = text.lower().replace("-", " ").replace("%", " percent")
    return " ".join(re.sub(r"[^a-z0-9' ]", " ", text).split())


def script_lines(name: str, metadata: EpisodeMetadata) -> list[tuple[str, str]]:
    """(speaker, line) of the script: lines alternate between the first two people."""
    people = metadata.people[:2]
    lines = (HERE / f"{name}.txt").read_text().strip().splitlines()
    return [(people[i % 2], line) for i, line in enumerate(lines)]


def _words_by_speaker(lines: list[tuple[str, str]]) -> tuple[list[str], list[str]]:
    words: list[str] = []
    speakers: list[str] = []
    for speaker, text in lines:
        for word in normalise_words(text).split():
            words.append(word)
            speakers.append(speaker)
    return words, speakers


def attribution(script: list[tuple[str, str]], transcript: Transcript) -> tuple[float, float]:
    """(share of the transcript's words aligned to the script, share of those aligned words
    carrying the speaker who said them)."""
    said, said_by = _words_by_speaker(script)
    heard, heard_by = _words_by_speaker([(s.speaker, s.text) for s in transcript.segments])
    matcher = difflib.SequenceMatcher(None, said, heard, autojunk=False)
    pairs = [
        (said_by[block.a + i], heard_by[block.b + i])
        for block in matcher.get_matching_blocks()
        for i in range(block.size)
    ]
    aligned = len(pairs) / max(len(heard), 1)
    right = sum(truth == labelled for truth, labelled in pairs) / max(len(pairs), 1)
    return aligned, right


def transcribe(name: str, backend: WhisperBackend) -> Transcript:
    audio = HERE / f"{name}.m4a"
    metadata = EpisodeMetadata.model_validate_json((HERE / f"{name}.json").read_text())
    request = TranscriptionRequest(name, S3Location(bucket="local", key=audio.name), "", metadata)
    started = time.perf_counter()
    outcome = backend.submit(request, audio)
    assert isinstance(outcome, Finished)
    transcript = core.normalise(outcome.raw, name, metadata)
    elapsed = time.perf_counter() - started
    (HERE / f"{name}.transcript.json").write_text(transcript.model_dump_json(indent=1) + "\n")
    script = script_lines(name, metadata)
    heard = " ".join(w.text for w in transcript.words)
    wer = jiwer.wer(normalise_words("\n".join(line for _, line in script)), normalise_words(heard))
    aligned, right = attribution(script, transcript)
    print(
        f"{name}: {transcript.duration_seconds:.1f} s audio in {elapsed:.0f} s, "
        f"{len(transcript.segments)} segments, {transcript.word_count} words, "
        f"WER {wer:.1%}, speakers {transcript.speakers}, "
        f"{right:.1%} of aligned words on the right speaker ({aligned:.0%} aligned)",
        file=sys.stderr,
    )
    return transcript


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("names", nargs="*", metavar="name", help=f"default: {' '.join(SAMPLES)}")
    names = parser.parse_args(argv).names or list(SAMPLES)
    unknown = [n for n in names if n not in SAMPLES]
    if unknown:
        parser.error(f"unknown sample {unknown[0]!r} (known: {', '.join(SAMPLES)})")
    settings = TranscribeSettings()
    model = LazyWhisperModel(
        settings.whisper_model,
        settings.whisper_cache_dir,
        compute_type=settings.whisper_compute_type,
        cpu_threads=settings.whisper_cpu_threads,
    )
    backend = WhisperBackend(
        model,
        language=settings.transcribe_language,
        beam_size=settings.whisper_beam_size,
        max_duration_seconds=settings.transcribe_max_duration_seconds,
        speaker_turns=settings.whisper_speaker_turns,
    )
    for name in names:
        transcribe(name, backend)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
