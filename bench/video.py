"""Video episodes: podpipe's video jobs against the bare ffmpeg commands (`python -m bench video`).

A 60 s, 640x360, 25 fps H.264 video is made from the sample episode once (untimed), its MP3
transcoded once (untimed: that is bench/transcode.py's job). Then, interleaved with the order
rotating each round:

- video.mp4: ``FfmpegBackend.render_video`` (picture stream-copied, the AAC through the MP3's
  loudness filter; the optional in-run AAC meter is off by default) vs the one bare command that does the same
  copy + filter + AAC + faststart;
- picture clip: a 30 s clip cut from the picture as 1080x1920 and 1080x1080 with burned
  captions, podpipe's one run (one decode split to both shapes) vs one bare command per shape;
- picture trailer: a video episode's trailer, three cuts of the picture joined with 0.5 s
  crossfades (as the audio's), as 1080x1920 and 1080x1080 with burned captions: podpipe's one
  run (one decode of the joined cuts split to both shapes) vs one bare command per shape doing
  the same cuts, xfades, crop, captions and encode;
- subtitled: podpipe's step (probe, cues from the transcript, ASS, ONE ffmpeg run making the
  soft-subtitled and the burned-in file) vs the two bare commands a person would type
  (``-c copy -c:s mov_text`` and ``-vf subtitles=...``).

Wall and child-process CPU seconds; the ratio is taken per round, the median kept.
Writes bench/results/video.json.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog

from podpipe.captions import CaptionStyle, build_cues, to_ass, to_srt
from podpipe.documents import Transcript
from podpipe.ffmpeg import find_ffmpeg, run_ffmpeg
from podpipe.layout import EpisodeKeys
from podpipe.logging import configure_logging
from podpipe.loudness import LoudnessTargets
from podpipe_clips.graph import (
    SQUARE,
    VERTICAL,
    PictureText,
    picture_clip_args,
    picture_cut_args,
)
from podpipe_clips.graph import VideoOptions as ClipVideoOptions
from podpipe_clips.picks import TrailerPlan, TrailerSegment
from podpipe_clips.render import trailer_cues
from podpipe_transcode.backend import FfmpegBackend, TranscodeJob
from podpipe_transcode.commands import Mp3Encoding, encode_chain
from podpipe_transcode.subtitled import SubtitlesConfig, VideoSubtitlesHandler
from tests.support.stage_ledger import MemoryStageLedger

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "video.json"
SAMPLE = ROOT / "samples" / "episode.m4a"
TRANSCRIPT = ROOT / "tests" / "integration" / "test_clips_sample_transcript.json"
SECONDS = 60
ROUNDS = int(os.environ.get("BENCH_VIDEO_ROUNDS", "2"))
TRAILER_CUTS = ((2.0, 14.0), (20.0, 32.0), (40.0, 52.0))
"""Three cuts of the 60 s bench video (the trailer plan's shape: 35.0 s with its crossfades)."""


def child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def bare(ffmpeg: str, *args: str) -> None:
    done = subprocess.run(
        [ffmpeg, "-hide_banner", "-nostdin", "-y", *args], capture_output=True, check=False
    )
    if done.returncode != 0:
        tail = done.stderr.decode(errors="replace").strip().splitlines()[-5:]
        raise RuntimeError(f"bare ffmpeg exited {done.returncode}: " + " | ".join(tail))


class LocalStore:
    """The store port over a local directory (the bench times ffmpeg work, not S3)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def download(self, key: str, path: Path) -> bool:
        shutil.copyfile(self.root / key, path)
        return True

    def get_bytes(self, key: str) -> bytes | None:
        return (self.root / key).read_bytes()


def compare(
    variants: dict[str, Callable[[int], None]], rounds: int
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    wall: dict[str, list[float]] = {name: [] for name in variants}
    cpu: dict[str, list[float]] = {name: [] for name in variants}
    names = list(variants)
    for run in range(rounds):
        shift = run % len(names)
        for name in names[shift:] + names[:shift]:
            started, used = time.perf_counter(), child_cpu()
            variants[name](run)
            wall[name].append(time.perf_counter() - started)
            cpu[name].append(child_cpu() - used)
    return wall, cpu


def figures(wall: dict[str, list[float]], cpu: dict[str, list[float]]) -> dict[str, Any]:
    podpipe, plain = wall["podpipe"], wall["bare"]
    return {
        "podpipe_wall_s": round(min(podpipe), 2),
        "bare_wall_s": round(min(plain), 2),
        "podpipe_cpu_s": round(min(cpu["podpipe"]), 2),
        "bare_cpu_s": round(min(cpu["bare"]), 2),
        "ratio_wall": round(
            statistics.median(p / b for p, b in zip(podpipe, plain, strict=True)), 3
        ),
        "ratio_cpu": round(
            statistics.median(p / b for p, b in zip(cpu["podpipe"], cpu["bare"], strict=True)), 3
        ),
    }


def main() -> dict[str, Any]:
    configure_logging("WARNING", json=True)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(30))
    ffmpeg = find_ffmpeg()
    backend = FfmpegBackend(ffmpeg=ffmpeg, progress_log_seconds=3600)
    job = TranscodeJob(LoudnessTargets(), Mp3Encoding(), max_duration_seconds=4 * 3600)
    with tempfile.TemporaryDirectory(prefix="podpipe-bench-video-") as tmp:
        work = Path(tmp)
        source = work / "episode.mp4"
        run_ffmpeg(
            [
                *("-f", "lavfi", "-i", f"testsrc2=s=640x360:r=25:d={SECONDS}"),
                *("-t", str(SECONDS), "-i", str(SAMPLE), "-map", "0:v", "-map", "1:a"),
                *("-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p"),
                *("-c:a", "aac", "-b:a", "96k", "-shortest", str(source)),
            ]
        )
        audio = backend.transcode(source, work / "audio.mp3", job)

        def podpipe_video(run: int) -> None:
            backend.render_video(source, work / f"video-{run}.mp4", audio.for_video(), job)

        chain = encode_chain(
            f"{audio.loudness_filter},volume=-0.30dB", job.encoding, channel_map=audio.channel_map
        )

        def bare_video(run: int) -> None:
            bare(
                ffmpeg, "-i", str(source), "-map", "0:v:0", "-map", "0:a:0", "-c:v", "copy",
                "-af", chain, "-c:a", "aac", "-b:a", "160k", "-movflags", "+faststart",
                str(work / f"bare-video-{run}.mp4"),
            )  # fmt: skip

        video_wall, video_cpu = compare({"podpipe": podpipe_video, "bare": bare_video}, ROUNDS)

        # The subtitle step's inputs, laid out as the bucket would have them.
        keys = EpisodeKeys("bench-video")
        bucket = work / "bucket"
        (bucket / keys.root).mkdir(parents=True)
        shutil.copyfile(work / "video-0.mp4", bucket / keys.video)
        whole = Transcript.model_validate_json(TRANSCRIPT.read_text())
        transcript = whole.model_copy(
            update={
                "segments": [s for s in whole.segments if s.end <= SECONDS],
                "duration_seconds": SECONDS,
            }
        )
        (bucket / keys.transcript_json).write_text(transcript.model_dump_json())
        cues = build_cues(transcript.words, offset=0.0, clip_duration=SECONDS)
        srt = bucket / keys.subtitles_srt
        srt.write_text(to_srt(cues))
        step = VideoSubtitlesHandler(
            LocalStore(bucket),  # type: ignore[arg-type]
            SubtitlesConfig(bucket="bench"),
            ffmpeg,
            ledger=MemoryStageLedger(),
        )

        def podpipe_subtitles(run: int) -> None:
            out = work / f"subs-{run}"
            out.mkdir(exist_ok=True)
            step._render(out, keys)

        video = bucket / keys.video

        def bare_subtitles(run: int) -> None:
            bare(
                ffmpeg, "-i", str(video), "-i", str(srt), "-c", "copy", "-c:s", "mov_text",
                "-movflags", "+faststart", str(work / f"bare-soft-{run}.mp4"),
            )  # fmt: skip
            bare(
                ffmpeg, "-i", str(video), "-vf", f"subtitles={srt}", "-c:v", "libx264",
                "-preset", "veryfast", "-crf", "23", "-c:a", "copy", "-movflags", "+faststart",
                str(work / f"bare-captioned-{run}.mp4"),
            )  # fmt: skip

        subs_wall, subs_cpu = compare(
            {"podpipe": podpipe_subtitles, "bare": bare_subtitles}, ROUNDS
        )

        # A 30 s clip cut from the picture at the production shapes, captions burned in.
        clip_start, clip_seconds = 15.0, 30.0
        clip_cues = build_cues(
            [w for w in transcript.words if clip_start <= w.start and w.end <= clip_start + 30],
            offset=clip_start,
            clip_duration=clip_seconds,
        )
        clip_audio = work / "clip.mp3"
        run_ffmpeg(["-ss", "15", "-t", "30", "-i", str(work / "audio.mp3"), str(clip_audio)])
        asses = []
        for shape in (VERTICAL, SQUARE):
            ass = work / f"clip-{shape.height}.ass"
            ass.write_text(to_ass(clip_cues, CaptionStyle(shape.width, shape.height)))
            asses.append(ass)
        text = PictureText(font_file=None, captions=asses)

        def podpipe_picture(run: int) -> None:
            outputs = [work / f"pv-{run}.mp4", work / f"ps-{run}.mp4"]
            run_ffmpeg(
                picture_clip_args(
                    video, clip_audio, clip_start, clip_seconds, [VERTICAL, SQUARE],
                    outputs, text, ClipVideoOptions(),
                )
            )  # fmt: skip

        def bare_picture(run: int) -> None:
            for shape, ass, name in ((VERTICAL, asses[0], "v"), (SQUARE, asses[1], "s")):
                w, h = shape.width, shape.height
                bare(
                    ffmpeg, "-ss", "15", "-t", "30", "-i", str(video), "-i", str(clip_audio),
                    "-filter_complex",
                    f"[0:v]fps=25,crop='min(iw,ih*{w}/{h})':'min(ih,iw*{h}/{w})',scale={w}:{h},"
                    f"setsar=1,subtitles={ass},format=yuv420p[v]",
                    "-map", "[v]", "-map", "1:a", "-c:v", "libx264", "-preset", "veryfast",
                    "-crf", "23", "-c:a", "aac", "-b:a", "128k", "-t", "30",
                    "-movflags", "+faststart", str(work / f"bare-{name}-{run}.mp4"),
                )  # fmt: skip

        clip_wall, clip_cpu = compare({"podpipe": podpipe_picture, "bare": bare_picture}, ROUNDS)

        # The trailer of a video episode: three cuts of the picture, 0.5 s crossfades.
        plan = TrailerPlan(
            segments=tuple(TrailerSegment(a, b, None, None) for a, b in TRAILER_CUTS),
            crossfade_seconds=0.5,
        )
        trailer_seconds = plan.duration
        trailer_audio = work / "trailer.mp3"
        audio_inputs: list[str] = []
        for a, b in TRAILER_CUTS:
            audio_inputs += ["-ss", str(a), "-t", str(b - a), "-i", str(work / "audio.mp3")]
        run_ffmpeg(
            [
                *audio_inputs, "-filter_complex",
                "[0:a][1:a]acrossfade=d=0.5[x1];[x1][2:a]acrossfade=d=0.5[a]",
                "-map", "[a]", str(trailer_audio),
            ]
        )  # fmt: skip
        t_cues = trailer_cues(plan, transcript.words)
        trailer_asses = []
        for shape in (VERTICAL, SQUARE):
            ass = work / f"trailer-{shape.height}.ass"
            ass.write_text(to_ass(t_cues, CaptionStyle(shape.width, shape.height)))
            trailer_asses.append(ass)
        trailer_text = PictureText(font_file=None, captions=trailer_asses)
        segments = [(s.start, s.end) for s in plan.segments]

        def podpipe_trailer(run: int) -> None:
            outputs = [work / f"tv-{run}.mp4", work / f"ts-{run}.mp4"]
            run_ffmpeg(
                picture_cut_args(
                    video, trailer_audio, segments, 0.5, trailer_seconds, [VERTICAL, SQUARE],
                    outputs, trailer_text, ClipVideoOptions(),
                )
            )  # fmt: skip

        offsets = plan.offsets()

        def bare_trailer(run: int) -> None:
            inputs: list[str] = []
            for a, b in TRAILER_CUTS:
                inputs += ["-ss", str(a), "-t", str(b - a), "-i", str(video)]
            for shape, ass, name in (
                (VERTICAL, trailer_asses[0], "v"),
                (SQUARE, trailer_asses[1], "s"),
            ):
                w, h = shape.width, shape.height
                graph = (
                    "[0:v]fps=25[c0];[1:v]fps=25[c1];[2:v]fps=25[c2];"
                    f"[c0][c1]xfade=transition=fade:duration=0.5:offset={offsets[1]}[j1];"
                    f"[j1][c2]xfade=transition=fade:duration=0.5:offset={offsets[2]},"
                    f"crop='min(iw,ih*{w}/{h})':'min(ih,iw*{h}/{w})',scale={w}:{h},"
                    f"setsar=1,subtitles={ass},format=yuv420p[v]"
                )
                bare(
                    ffmpeg, *inputs, "-i", str(trailer_audio), "-filter_complex", graph,
                    "-map", "[v]", "-map", "3:a", "-c:v", "libx264", "-preset", "veryfast",
                    "-crf", "23", "-c:a", "aac", "-b:a", "128k", "-t", f"{trailer_seconds:.3f}",
                    "-movflags", "+faststart", str(work / f"bare-t{name}-{run}.mp4"),
                )  # fmt: skip

        trailer_wall, trailer_cpu = compare(
            {"podpipe": podpipe_trailer, "bare": bare_trailer}, ROUNDS
        )

    result: dict[str, Any] = {
        "what": (
            "podpipe's video jobs vs the bare ffmpeg commands for the same outputs, same run, "
            "interleaved (order rotating), on a 60 s 640x360 25 fps H.264 video of the sample"
        ),
        "video_seconds": SECONDS,
        "rounds": ROUNDS,
        "video_mp4": {
            **figures(video_wall, video_cpu),
            "note": "picture stream-copied; the in-run AAC meter (off by default) measured "
            "1.19x CPU in the previous run",
        },
        "subtitled": {
            **figures(subs_wall, subs_cpu),
            "note": "podpipe: one run, two outputs; bare: two commands",
        },
        "picture_clip": {
            **figures(clip_wall, clip_cpu),
            "note": "30 s clip, 1080x1920 + 1080x1080 with captions: podpipe one decode split "
            "to both shapes; bare: one command per shape",
        },
        "picture_trailer": {
            **figures(trailer_wall, trailer_cpu),
            "trailer_seconds": round(trailer_seconds, 2),
            "note": "a video episode's trailer: 3 cuts of the picture, 0.5 s crossfades, "
            "1080x1920 + 1080x1080 with captions; podpipe one run (one decode of the joined "
            "cuts split to both shapes); bare: one command per shape",
        },
        "machine": {
            "cpus": os.cpu_count(),
            "load_average_1m": round(os.getloadavg()[0], 2),
            "python": platform.python_version(),
        },
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
