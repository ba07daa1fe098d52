"""The ``whisper`` backend: faster-whisper on the CPU, in the handler's worker thread."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import structlog

from podpipe_transcribe import audio
from podpipe_transcribe.backend import Finished, NoSpeechError, Started, TranscriptionRequest
from podpipe_transcribe.core import RawSegment, RawTranscript, RawWord
from podpipe_transcribe.model import LazyWhisperModel
from podpipe_transcribe.turns import voice_prints

log = structlog.get_logger()


class WhisperBackend:
    """Voice-activity filtering on (silence and music are skipped, fewer hallucinations),
    word timestamps on (subtitles and clips snap to words).

    Whisper does no diarization, so the raw transcript has one speaker label and is marked
    not diarized. With ``speaker_turns`` on, each segment also carries a voice print taken
    from the decoded audio (cheap, numpy only); the core, once it has read the episode
    metadata, uses them to tell the listed people apart when the voices clearly differ, and
    otherwise names the one speaker from everyone the metadata knows.
    """

    name = "whisper"
    asynchronous = False

    def __init__(
        self,
        model: LazyWhisperModel,
        *,
        language: str = "",
        beam_size: int = 5,
        max_duration_seconds: float = 4 * 3600,
        speaker_turns: bool = True,
    ) -> None:
        self.model = model
        self.language = language or None
        self.beam_size = beam_size
        self.max_duration_seconds = max_duration_seconds
        self.speaker_turns = speaker_turns

    def submit(self, request: TranscriptionRequest, audio_path: Path | None) -> Finished | Started:
        if audio_path is None:
            raise ValueError("the whisper backend needs the audio file")
        found = audio.probe(audio_path)
        audio.check_duration(found, self.max_duration_seconds)
        samples = audio.decode(audio_path, found)
        raw = self.transcribe_samples(samples)
        return Finished(with_voice_prints(raw, samples) if self.speaker_turns else raw)

    def transcribe_samples(self, samples: Any) -> RawTranscript:
        model = self.model.get()
        segments_iter, info = model.transcribe(
            samples,
            language=self.language,
            beam_size=self.beam_size,
            vad_filter=True,
            word_timestamps=True,
        )
        segments: list[RawSegment] = []
        for seg in segments_iter:  # a generator: the decoding happens while iterating
            words = tuple(
                RawWord(start=w.start, end=w.end, text=w.word, confidence=w.probability)
                for w in (seg.words or [])
            )
            segments.append(RawSegment(seg.start, seg.end, seg.text, "speaker_0", words))
        if not any(s.text.strip() for s in segments):
            raise NoSpeechError("no speech was found in the audio")
        log.info(
            "whisper.transcribed",
            language=info.language,
            duration=round(info.duration, 1),
            segments=len(segments),
        )
        return RawTranscript(
            language=info.language,
            duration_seconds=float(info.duration),
            segments=tuple(segments),
            diarized=False,
            backend=self.name,
        )

    def check(self, job_name: str) -> Finished | Started:
        raise NotImplementedError("whisper runs synchronously; it has no jobs to check")


def with_voice_prints(raw: RawTranscript, samples: Any) -> RawTranscript:
    """Each segment with the voice print of its audio (``samples``: 16 kHz mono float32)."""
    started = time.perf_counter()
    prints = voice_prints(samples, [(s.start, s.end) for s in raw.segments])
    log.info(
        "whisper.voice_prints",
        measured=sum(p is not None for p in prints),
        segments=len(prints),
        elapsed_ms=round((time.perf_counter() - started) * 1000),
    )
    segments = tuple(replace(s, voice=p) for s, p in zip(raw.segments, prints, strict=True))
    return replace(raw, segments=segments)
