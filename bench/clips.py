"""Clips benchmark: render time per minute of clip, against bare ffmpeg for the same graphs.

One 60 s clip of the sample episode is rendered at the production defaults (1080x1080,
25 fps, x264 veryfast, libass captions, two-pass loudnorm) three ways, interleaved:

* ``podpipe``: ``render_episode`` (planning, caption files, progress-following runner);
* ``same_commands``: the exact ffmpeg argument lists podpipe runs, via bare ``subprocess.run``
  (the ratio is podpipe's orchestration overhead);
* ``single_command``: what a person would type — one ffmpeg command with one filter graph
  (single-pass loudnorm on the MP3, fades, waveform, heading, captions; MP3 and MP4 outputs).
  The ratio is what the exact cuts and two-pass loudness cost on top.

Every figure is a ratio measured within one run (the machines are shared and noisy).
Writes bench/results/clips.json. ``BENCH_CLIPS_REPEAT`` (default 2) repeats each variant and
keeps the fastest; the order of the variants rotates from one repeat to the next (the first run
of a repeat pays for cold caches: before the rotation, podpipe always ran first).
"""

from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from podpipe.captions import CaptionStyle, build_cues, find_font, to_ass
from podpipe.documents import ClipPick, Transcript
from podpipe.ffmpeg import find_ffmpeg
from podpipe.layout import EpisodeMetadata
from podpipe.loudness import parse_ebur128_measurement
from podpipe_clips.graph import (
    AudiogramText,
    audiogram_args,
    clip_encode_args,
    clip_measure_args,
    decode_args,
    escape_filter_value,
    heading_font_size,
    wrap_heading,
)
from podpipe_clips.picks import plan_clips, speech_words
from podpipe_clips.render import EpisodeInput, RenderOptions, render_episode
from podpipe_clips.settings import ClipsSettings

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "clips.json"
SAMPLE = REPO / "samples" / "episode.m4a"
TRANSCRIPT = REPO / "tests" / "integration" / "test_clips_sample_transcript.json"
METADATA = REPO / "samples" / "episode.json"
PICK = ClipPick(start=60.0, end=120.0, title="Bench clip", hook="One minute")


def _ffmpeg(ffmpeg: str, args: list[str]) -> str:
    done = subprocess.run(
        [ffmpeg, "-hide_banner", "-nostdin", "-y", *args],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stderr


def _child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


CPU: dict[str, list[float]] = {}


def _timed(action: Callable[[int], None], run: int, name: str = "") -> float:
    """Wall seconds; the ffmpeg children's CPU seconds go to CPU[name] (steadier under load)."""
    started, cpu = time.monotonic(), _child_cpu()
    action(run)
    CPU.setdefault(name, []).append(_child_cpu() - cpu)
    return time.monotonic() - started


def main() -> dict[str, Any]:
    ffmpeg = find_ffmpeg()
    repeat = int(os.environ.get("BENCH_CLIPS_REPEAT", "2"))
    transcript = Transcript.model_validate_json(TRANSCRIPT.read_text())
    metadata = EpisodeMetadata.model_validate_json(METADATA.read_text())
    options: RenderOptions = replace(ClipsSettings().clips_render_options(), render_trailer=False)
    words = speech_words(transcript.words)
    font = find_font()
    with tempfile.TemporaryDirectory(prefix="bench-clips-") as tmp:
        work = Path(tmp)
        episode_mp3 = work / "episode.mp3"
        _ffmpeg(
            ffmpeg,
            ["-i", str(SAMPLE), "-ac", "2", "-ar", "44100", "-b:a", "128k", str(episode_mp3)],
        )
        episode = EpisodeInput(
            audio=episode_mp3, transcript=transcript, title=metadata.title, show=metadata.show
        )
        clip = plan_clips([PICK], words, transcript.duration_seconds).clips[0]
        minutes = clip.duration / 60

        def podpipe_render(run: int) -> None:
            render_episode(episode, [PICK], options, work / f"podpipe-{run}", ffmpeg=ffmpeg)

        # The same commands, prepared once (text files and the measured loudness).
        same = work / "same"
        same.mkdir()
        wav = same / "episode.wav"
        heading = same / "heading.txt"
        heading.write_text(wrap_heading(metadata.title, metadata.show, options.video))
        cues = build_cues(
            words[clip.first_word : clip.last_word + 1],
            offset=clip.start,
            clip_duration=clip.duration,
        )
        ass = same / "clip.ass"
        ass.write_text(to_ass(cues, CaptionStyle(options.video.width, options.video.height)))
        fonts = same / "fonts"
        fonts.mkdir()
        private_font = None
        if font is not None:
            private_font = fonts / "font.ttf"
            private_font.write_bytes(font.read_bytes())
        text = AudiogramText(font_file=private_font, heading_file=heading, captions_ass=ass)

        def same_commands(run: int) -> None:
            _ffmpeg(ffmpeg, decode_args(episode_mp3, wav, clip.end + 1.0))
            measured = parse_ebur128_measurement(
                _ffmpeg(ffmpeg, clip_measure_args(wav, clip.start, clip.duration, options.audio))
            )
            mp3 = same / f"clip-{run}.mp3"
            _ffmpeg(
                ffmpeg,
                clip_encode_args(wav, clip.start, clip.duration, measured, mp3, options.audio),
            )
            _ffmpeg(
                ffmpeg,
                audiogram_args(mp3, same / f"clip-{run}.mp4", clip.duration, options.video, text),
            )

        def single_command(run: int) -> None:
            video = options.video
            size = heading_font_size(video)
            wave_height = (round(video.height * 0.25) // 2) * 2
            font_arg = f"fontfile={escape_filter_value(str(private_font))}:" if private_font else ""
            graph = (
                "[0:a]loudnorm=I=-16:TP=-1.5:LRA=11,aresample=44100,"
                f"afade=t=in:d=0.1,afade=t=out:st={clip.duration - 0.4:.3f}:d=0.4,"
                "asplit=3[a1][a2][a3];"
                f"color=c=0x1d2233:s={video.width}x{video.height}:r={video.fps}[bg];"
                f"[a3]showwaves=s={video.width}x{wave_height}:mode=cline:scale=sqrt:draw=full"
                f":colors=white:r={video.fps},format=rgba[vis];"
                f"[bg][vis]overlay=x=0:y={(video.height - wave_height) // 2}:shortest=1,"
                f"drawtext={font_arg}expansion=none:textfile={escape_filter_value(str(heading))}"
                f":fontcolor=white:fontsize={size}:text_align=C:x=(w-tw)/2:y=75,"
                f"subtitles=filename={escape_filter_value(str(ass))}"
                f":fontsdir={escape_filter_value(str(fonts))},format=yuv420p[v]"
            )
            _ffmpeg(
                ffmpeg,
                [
                    "-ss", f"{clip.start:.3f}", "-t", f"{clip.duration:.3f}",
                    "-i", str(episode_mp3),
                    "-filter_complex", graph,
                    "-map", "[a1]", "-c:a", "libmp3lame", "-q:a", "2",
                    str(same / f"single-{run}.mp3"),
                    "-map", "[v]", "-map", "[a2]", "-c:v", "libx264", "-preset", video.preset,
                    "-crf", str(video.crf), "-pix_fmt", "yuv420p", "-r", str(video.fps),
                    "-c:a", "aac", "-b:a", "128k", "-shortest", "-movflags", "+faststart",
                    str(same / f"single-{run}.mp4"),
                ],
            )  # fmt: skip

        timings: dict[str, list[float]] = {"podpipe": [], "same_commands": [], "single_command": []}
        variants: list[tuple[str, Callable[[int], None]]] = [
            ("podpipe", podpipe_render),
            ("same_commands", same_commands),
            ("single_command", single_command),
        ]
        for run in range(repeat):
            shift = run % len(variants)
            for name, action in variants[shift:] + variants[:shift]:
                timings[name].append(_timed(action, run, name))

    best = {name: min(values) for name, values in timings.items()}
    result: dict[str, Any] = {
        "clip_seconds": round(clip.duration, 3),
        "video": f"{options.video.width}x{options.video.height}@{options.video.fps}fps "
        f"x264 {options.video.preset}",
        "repeat": repeat,
        "seconds": {name: round(value, 2) for name, value in best.items()},
        "seconds_per_clip_minute": {
            name: round(value / minutes, 2) for name, value in best.items()
        },
        "realtime_factor_podpipe": round(clip.duration / best["podpipe"], 2),
        "ratio_to_same_commands": round(best["podpipe"] / best["same_commands"], 3),
        "ratio_to_single_command": round(best["podpipe"] / best["single_command"], 3),
        "cpu_seconds": {name: round(min(CPU[name]), 2) for name in timings},
        "cpu_ratio_to_same_commands": round(min(CPU["podpipe"]) / min(CPU["same_commands"]), 3),
        "cpu_ratio_to_single_command": round(min(CPU["podpipe"]) / min(CPU["single_command"]), 3),
        "before": {
            # The same bench at d6aa9c1: loudnorm analysis and loudnorm's linear mode (192 kHz)
            # per clip, one repeat, podpipe always first.
            "ratio_to_same_commands": 1.376,
            "ratio_to_single_command": 1.332,
            "seconds_per_clip_minute_podpipe": 80.69,
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
