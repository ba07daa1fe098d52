"""Transcription benchmark: Whisper base's real-time factor on this machine, and what one hour
of audio costs with each backend.

    uv run python -m bench transcribe            # writes bench/results/transcribe.json

Whisper transcribes the sample episode (samples/episode.m4a) with the service's own backend
(faster-whisper, int8, VAD and word timestamps on), after loading the model once (timed
separately: a long-running service pays it once). CPU time is the process's user+system
time, so it counts every CTranslate2 thread. Costs come from podpipe.pricing: Amazon
Transcribe per audio minute, Whisper as the Fargate task time the transcription would take
(vCPUs and memory as given below; this machine's core count by default).

Speaker turns (PODPIPE_WHISPER_SPEAKER_TURNS) are timed on their own: the voice prints of
Whisper's segments from the decoded audio, and the clustering that names the voices.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import time
from pathlib import Path
from typing import Any

import jiwer

from podpipe import pricing
from podpipe.events import S3Location
from podpipe.layout import EpisodeMetadata
from podpipe_transcribe import audio, core
from podpipe_transcribe.backend import Finished, TranscriptionRequest
from podpipe_transcribe.model import LazyWhisperModel
from podpipe_transcribe.settings import TranscribeSettings
from podpipe_transcribe.whisper import WhisperBackend, with_voice_prints

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "samples" / "episode.m4a"
SCRIPT = REPO / "samples" / "episode.txt"
SIDECAR = REPO / "samples" / "episode.json"
RESULTS = REPO / "bench" / "results" / "transcribe.json"
HOUR = 3600.0


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def normalise(text: str) -> str:
    import re

    return " ".join(re.sub(r"[^a-z0-9' ]", " ", text.lower().replace("-", " ")).split())


def speaker_turns_cost(raw: core.RawTranscript) -> dict[str, Any]:
    """Voice prints + clustering on the transcribed sample, timed apart from Whisper."""
    samples = audio.decode(SAMPLE, audio.probe(SAMPLE))
    metadata = EpisodeMetadata.model_validate_json(SIDECAR.read_text())
    bare = core.RawTranscript(
        raw.language,
        raw.duration_seconds,
        tuple(
            core.RawSegment(s.start, s.end, s.text, s.speaker_label, s.words) for s in raw.segments
        ),
        raw.diarized,
        raw.backend,
    )
    cpu_before, wall_before = cpu_seconds(), time.perf_counter()
    labelled = core.voice_turns(with_voice_prints(bare, samples), metadata)
    wall = time.perf_counter() - wall_before
    cpu = cpu_seconds() - cpu_before
    return {
        "segments": len(raw.segments),
        "voices_found": len({s.speaker_label for s in labelled.segments})
        if labelled.diarized
        else 0,
        "wall_seconds": round(wall, 3),
        "cpu_seconds": round(cpu, 3),
        "cpu_seconds_per_audio_hour": round(cpu / raw.duration_seconds * HOUR, 2),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--vcpu", type=float, default=float(os.cpu_count() or 2))
    parser.add_argument("--memory-gb", type=float, default=4.0)
    args = parser.parse_args(argv or [])

    settings = TranscribeSettings()
    model = LazyWhisperModel(
        settings.whisper_model,
        settings.whisper_cache_dir,
        compute_type=settings.whisper_compute_type,
        cpu_threads=settings.whisper_cpu_threads,
    )
    started = time.perf_counter()
    model.get()
    load_seconds = time.perf_counter() - started

    backend = WhisperBackend(model, beam_size=settings.whisper_beam_size)
    request = TranscriptionRequest(
        "bench", S3Location(bucket="local", key=str(SAMPLE)), "", EpisodeMetadata()
    )
    cpu_before, wall_before = cpu_seconds(), time.perf_counter()
    outcome = backend.submit(request, SAMPLE)
    wall = time.perf_counter() - wall_before
    cpu = cpu_seconds() - cpu_before
    assert isinstance(outcome, Finished)
    audio_seconds = outcome.raw.duration_seconds
    words = " ".join(s.text for s in outcome.raw.segments)
    wer = jiwer.wer(normalise(SCRIPT.read_text()), normalise(words))

    turns = speaker_turns_cost(outcome.raw)

    rtf = wall / audio_seconds
    task_seconds_per_hour = rtf * HOUR
    cpu_seconds_per_hour = cpu / audio_seconds * HOUR
    results = {
        "machine": {
            "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(),
        },
        "whisper": {
            "model": settings.whisper_model,
            "compute_type": settings.whisper_compute_type,
            "audio_seconds": round(audio_seconds, 2),
            "model_load_seconds": round(load_seconds, 2),
            "wall_seconds": round(wall, 2),
            "cpu_seconds": round(cpu, 2),
            "real_time_factor": round(rtf, 3),
            "speed_x_real_time": round(1 / rtf, 2),
            "word_error_rate": round(wer, 4),
        },
        "speaker_turns": {
            **turns,
            "share_of_whisper_wall": round(turns["wall_seconds"] / wall, 4),
        },
        "cost_per_audio_hour_usd": {
            "aws_transcribe": round(pricing.transcription_cost("aws", HOUR), 4),
            "whisper_fargate": round(
                pricing.compute_cost(args.vcpu, args.memory_gb, task_seconds_per_hour), 4
            ),
            "whisper_fargate_spot": round(
                pricing.compute_cost(args.vcpu, args.memory_gb, task_seconds_per_hour, spot=True),
                4,
            ),
            # What the CPU time itself costs at the Fargate vCPU price: the figure on a
            # machine nobody else is using (wall time here includes waiting for shared cores).
            "whisper_vcpu_time_only": round(
                pricing.compute_cost(1.0, 0.0, cpu_seconds_per_hour), 4
            ),
            "whisper_task": {
                "vcpu": args.vcpu,
                "memory_gb": args.memory_gb,
                "task_seconds": round(task_seconds_per_hour, 1),
                "cpu_seconds": round(cpu_seconds_per_hour, 1),
            },
        },
        "notes": (
            "Whisper cost = Fargate on-demand (and Spot) price of the task time one hour of "
            "audio takes at the measured real-time factor; Amazon Transcribe = "
            "podpipe.pricing.TRANSCRIBE_PER_MINUTE x 60. The sample is synthesized speech."
        ),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    return results


if __name__ == "__main__":
    import sys

    print(json.dumps(main(sys.argv[1:]), indent=2))
