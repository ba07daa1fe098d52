"""Transcode: podpipe's conversion against the bare ffmpeg commands (`python -m bench transcode`).

For each input — the committed sample episode (synthesized speech with clipped peaks, which
needs the limiter path) and a generated 3-minute speech-like recording (the usual linear path)
— the same run times, interleaved round by round:

- bare: the two ffmpeg commands a person would type for a two-pass loudnorm MP3 (measure
  with print_format=json, then apply with linear=true and encode), nothing else;
- service: podpipe's FfmpegBackend (probe, ebur128 analysis, encode with the MP3 metered in
  the same run by a loopback decoder, correct with another encode if the result misses
  -16 LUFS by more than 0.4 LU) plus ID3 tags;
- handler (when LocalStack answers): the whole "Object Created" handler on LocalStack S3
  (download, convert, upload, audio.json, stage records, presigned URL).

Wall time is noisy on a shared machine, so child-process CPU seconds are reported too; the
ratio is taken per round and the median is kept. Writes bench/results/transcode.json.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import structlog

from podpipe.events import ObjectCreated
from podpipe.ffmpeg import find_ffmpeg, probe, run_ffmpeg
from podpipe.layout import EpisodeMetadata
from podpipe.logging import configure_logging
from podpipe.loudness import (
    LoudnessTargets,
    analysis_filter,
    normalize_filter,
    parse_loudnorm_report,
)
from podpipe.runtime.service import MessageContext
from podpipe_transcode.backend import FfmpegBackend, TranscodeJob
from podpipe_transcode.commands import Mp3Encoding
from podpipe_transcode.service import build_handler
from podpipe_transcode.settings import TranscodeSettings
from podpipe_transcode.tags import tags_for, write_tags

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "transcode.json"
SAMPLE = ROOT / "samples" / "episode.m4a"
ROUNDS = int(os.environ.get("BENCH_TRANSCODE_ROUNDS", "2"))
GENERATED_SECONDS = 180
TARGETS = LoudnessTargets()
BEFORE = {
    # The same bench at d6aa9c1, before the transcode speed work: loudnorm analysis of the
    # channel-mapped signal, loudnorm/limiter on stereo, and a separate ffmpeg run re-measuring
    # every MP3.
    "sample_episode": {"ratio_service_vs_bare_wall": 2.2, "ratio_service_vs_bare_cpu": 1.95},
    "generated_3min": {"ratio_service_vs_bare_wall": 1.17, "ratio_service_vs_bare_cpu": 1.13},
}
ENCODING = Mp3Encoding()


def child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(action: Callable[[], Any]) -> tuple[float, float, Any]:
    wall, cpu = time.perf_counter(), child_cpu()
    value = action()
    return time.perf_counter() - wall, child_cpu() - cpu, value


def generate_speechlike(path: Path) -> Path:
    source = (
        f"anoisesrc=c=pink:a=0.15:d={GENERATED_SECONDS}:r=44100:s=11,"
        "volume='0.1+0.9*abs(sin(2*PI*2.3*t))*abs(sin(2*PI*0.37*t+0.5))':eval=frame,"
        "bandpass=f=900:width_type=h:w=1600,aformat=channel_layouts=mono"
    )
    run_ffmpeg(["-f", "lavfi", "-i", source, "-c:a", "aac", "-b:a", "64k", str(path)])
    return path


def bare_ffmpeg(ffmpeg: str, source: Path, output: Path) -> None:
    """The two commands, run the plainest way: subprocess.run, no progress reading."""
    common = [ffmpeg, "-hide_banner", "-nostats", "-y", "-i", str(source)]
    measure = [*common, "-af", analysis_filter(TARGETS), "-f", "null", "-"]
    first = subprocess.run(measure, capture_output=True, text=True, check=True)
    measured = parse_loudnorm_report(first.stderr)
    encode = [*common, "-af", normalize_filter(TARGETS, measured), "-ar", "44100", "-ac", "2"]
    encode += ["-c:a", "libmp3lame", "-b:a", "128k", str(output)]
    subprocess.run(encode, capture_output=True, text=True, check=True)


def service_convert(backend: FfmpegBackend, source: Path, output: Path) -> dict[str, Any]:
    result = backend.transcode(
        source, output, TranscodeJob(TARGETS, ENCODING, max_duration_seconds=4 * 3600)
    )
    write_tags(output, tags_for(EpisodeMetadata(title="bench"), "bench"))
    return {
        "method": result.normalization_type,
        "encodes": result.encodes,
        "integrated_lufs": result.output_loudness.integrated_lufs,
        "true_peak_dbtp": result.output_loudness.true_peak_dbtp,
    }


def loudness_of(backend: FfmpegBackend, mp3: Path) -> dict[str, float]:
    measured, _ = backend.measure(mp3)
    return {"integrated_lufs": measured.integrated_lufs, "true_peak_dbtp": measured.true_peak_dbtp}


def localstack_s3() -> Any | None:
    os.environ.setdefault("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
    for key, value in {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        os.environ.setdefault(key, value)
    s3 = boto3.client("s3")
    try:
        s3.list_buckets()
    except Exception:
        return None
    return s3


def bench_input(
    label: str, source: Path, ffmpeg: str, backend: FfmpegBackend, scratch: Path, s3: Any | None
) -> dict[str, Any]:
    seconds = probe(source, ffmpeg=ffmpeg).duration_seconds or 0.0
    bare_out, service_out = scratch / f"{label}-bare.mp3", scratch / f"{label}-service.mp3"
    rounds: list[dict[str, float]] = []
    service_info: dict[str, Any] = {}
    for _ in range(ROUNDS):
        bare_wall, bare_cpu, _unused = timed(lambda: bare_ffmpeg(ffmpeg, source, bare_out))
        svc_wall, svc_cpu, service_info = timed(
            lambda: service_convert(backend, source, service_out)
        )
        rounds.append(
            {
                "bare_wall_s": bare_wall,
                "bare_cpu_s": bare_cpu,
                "service_wall_s": svc_wall,
                "service_cpu_s": svc_cpu,
            }
        )
    figures: dict[str, Any] = {
        "input": str(source.relative_to(ROOT)) if source.is_relative_to(ROOT) else label,
        "audio_seconds": round(seconds, 1),
        "rounds": ROUNDS,
        "bare_ffmpeg_wall_s": round(min(r["bare_wall_s"] for r in rounds), 2),
        "service_wall_s": round(min(r["service_wall_s"] for r in rounds), 2),
        "bare_ffmpeg_cpu_s": round(min(r["bare_cpu_s"] for r in rounds), 2),
        "service_cpu_s": round(min(r["service_cpu_s"] for r in rounds), 2),
        "ratio_service_vs_bare_wall": round(
            statistics.median(r["service_wall_s"] / r["bare_wall_s"] for r in rounds), 2
        ),
        "ratio_service_vs_bare_cpu": round(
            statistics.median(r["service_cpu_s"] / r["bare_cpu_s"] for r in rounds), 2
        ),
        "service_realtime_factor": round(seconds / min(r["service_wall_s"] for r in rounds), 1),
        "service_result": service_info,
        "bare_result": loudness_of(backend, bare_out),
    }
    if s3 is not None:
        figures["handler_on_localstack_wall_s"] = round(handler_round(s3, source, label), 2)
        figures["ratio_handler_vs_bare_wall"] = round(
            figures["handler_on_localstack_wall_s"] / figures["bare_ffmpeg_wall_s"], 2
        )
    return figures


def handler_round(s3: Any, source: Path, label: str) -> float:
    bucket = "bench-transcode-" + uuid.uuid4().hex[:8]
    s3.create_bucket(Bucket=bucket)
    try:
        key = f"uploads/bench-{label}{source.suffix}"
        s3.upload_file(str(source), bucket, key)
        handler = build_handler(TranscodeSettings(bucket=bucket), s3=s3)
        event = ObjectCreated.model_validate({"bucket": {"name": bucket}, "object": {"key": key}})
        ctx = MessageContext("bench", "transcode", 1, 3)
        started = time.perf_counter()
        handler.handle(event, ctx)
        return time.perf_counter() - started
    finally:
        listed = s3.list_objects_v2(Bucket=bucket).get("Contents", [])
        for item in listed:
            s3.delete_object(Bucket=bucket, Key=item["Key"])
        s3.delete_bucket(Bucket=bucket)


def main() -> dict[str, Any]:
    configure_logging("WARNING", json=True)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(30))
    ffmpeg = find_ffmpeg()
    backend = FfmpegBackend(ffmpeg=ffmpeg, progress_log_seconds=3600)
    s3 = localstack_s3()
    inputs: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="podpipe-bench-transcode-") as tmp:
        scratch = Path(tmp)
        generated = generate_speechlike(scratch / "generated.m4a")
        if SAMPLE.exists():
            inputs["sample_episode"] = bench_input("sample", SAMPLE, ffmpeg, backend, scratch, s3)
        inputs["generated_3min"] = bench_input("generated", generated, ffmpeg, backend, scratch, s3)
    for name, figures in inputs.items():
        figures["before"] = BEFORE.get(name, {})
    result: dict[str, Any] = {
        "what": (
            "podpipe transcode (probe + ebur128 analysis + gain/limiter + MP3 metered in-run + tags) "
            "vs the bare two ffmpeg commands for a two-pass loudnorm MP3, same run, interleaved"
        ),
        "ffmpeg": ffmpeg,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "inputs": inputs,
        "note": (
            "The service measures the finished MP3 (decoded again inside the encode run: the "
            "loudness in the event is the MP3's, not the filter's estimate), and re-encodes "
            "when the result misses the target by more than 0.4 LU: bare_result shows what the "
            "bare commands deliver on the same input. before: the same bench at d6aa9c1."
        ),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
