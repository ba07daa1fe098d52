"""The media library: find ffmpeg, run it as a subprocess, follow its progress, probe media,
measure loudness.

Shared by every stage that opens media (transcode, clips, transcribe). Everything here is synchronous:
handlers run in a worker thread, so a long conversion never blocks the runtime's event loop
(the heartbeat keeps the message invisible meanwhile).

There is no ffprobe in the ``imageio-ffmpeg`` wheel, so :func:`probe` parses the header
summary ``ffmpeg -i <file>`` prints on stderr, and :func:`decode_duration` measures what
really decodes (a full decode pass, e.g. to catch a truncated file whose header lies).
"""

from __future__ import annotations

import atexit
import collections
import functools
import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import structlog

from podpipe.loudness import (
    LoudnessMeasurement,
    LoudnessTargets,
    analysis_filter,
    parse_loudnorm_report,
)
from podpipe.media import stderr_gist as stderr_gist  # shared with transcribe

log = structlog.get_logger()

STDERR_MAX_LINES = 5000
"""Lines of stderr kept (the tail): enough for loudnorm's JSON, bounded for a noisy decode."""


class FfmpegError(Exception):
    """ffmpeg could not run or exited non-zero; ``reason`` is the gist of its stderr."""

    def __init__(self, reason: str, *, returncode: int | None = None, stderr: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.returncode = returncode
        self.stderr = stderr


class FfmpegNotFoundError(FfmpegError):
    """No ffmpeg on PATH and no imageio-ffmpeg wheel to fall back on."""


def find_ffmpeg() -> str:
    """ffmpeg from PATH, else the static binary shipped by the ``imageio-ffmpeg`` wheel."""
    on_path = shutil.which("ffmpeg")
    if on_path:
        return on_path
    try:
        import imageio_ffmpeg
    except ImportError as exc:  # pragma: no cover - the wheel is a dependency
        raise FfmpegNotFoundError(
            "ffmpeg not found: install ffmpeg (apt-get install ffmpeg) or the imageio-ffmpeg wheel"
        ) from exc
    try:
        return str(imageio_ffmpeg.get_ffmpeg_exe())
    except RuntimeError as exc:
        raise FfmpegNotFoundError(f"ffmpeg not found: {exc}") from exc


# --------------------------------------------------------------------------- progress


@dataclass(frozen=True)
class FfmpegProgress:
    """One ``-progress`` block: how far the output has got and how fast."""

    out_time_seconds: float
    speed: float | None
    total_seconds: float | None
    done: bool

    @property
    def fraction(self) -> float | None:
        if not self.total_seconds or self.total_seconds <= 0:
            return None
        return max(0.0, min(1.0, self.out_time_seconds / self.total_seconds))


def parse_progress_block(
    values: dict[str, str], total_seconds: float | None = None
) -> FfmpegProgress:
    """Turn one block of ``key=value`` lines from ``-progress`` into an FfmpegProgress.

    ``out_time_us`` is microseconds; ``out_time_ms`` is (despite its name) microseconds too;
    both are ``N/A`` before the first frame, so fall back to the ``out_time`` clock string.
    """
    seconds = 0.0
    for key in ("out_time_us", "out_time_ms"):
        raw = values.get(key, "")
        if raw.lstrip("-").isdigit():
            seconds = max(0.0, int(raw) / 1_000_000)
            break
    else:
        clock = parse_clock(values.get("out_time", ""))
        seconds = clock if clock is not None else 0.0
    speed_raw = values.get("speed", "").strip().rstrip("x")
    try:
        speed: float | None = float(speed_raw)
    except ValueError:
        speed = None
    return FfmpegProgress(
        out_time_seconds=seconds,
        speed=speed,
        total_seconds=total_seconds,
        done=values.get("progress") == "end",
    )


_CLOCK = re.compile(r"^(-?)(\d+):(\d{2}):(\d{2}(?:\.\d+)?)$")


def parse_clock(text: str) -> float | None:
    """``HH:MM:SS.ss`` → seconds (None for ``N/A`` or anything else)."""
    match = _CLOCK.match(text.strip())
    if not match:
        return None
    sign, hours, minutes, seconds = match.groups()
    value = int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    return -value if sign else value


ProgressCallback = Callable[[FfmpegProgress], None]


@dataclass(frozen=True)
class FfmpegResult:
    """A finished ffmpeg run: its stderr (logs, loudnorm JSON), timing and last progress."""

    stderr: str
    elapsed_seconds: float
    last_progress: FfmpegProgress | None = None


@dataclass
class _ProgressLogger:
    """Logs progress at most every ``every_seconds`` (one line per block would flood logs)."""

    label: str
    every_seconds: float
    callback: ProgressCallback | None
    _last_logged: float = field(default_factory=time.monotonic)

    def __call__(self, progress: FfmpegProgress) -> None:
        if self.callback is not None:
            self.callback(progress)
        now = time.monotonic()
        if progress.done or now - self._last_logged >= self.every_seconds:
            self._last_logged = now
            fraction = progress.fraction
            log.info(
                "ffmpeg.progress",
                step=self.label,
                out_time_seconds=round(progress.out_time_seconds, 1),
                total_seconds=progress.total_seconds,
                percent=None if fraction is None else round(100 * fraction, 1),
                speed=progress.speed,
                done=progress.done,
            )


def h264_video(preset: str, crf: int) -> list[str]:
    """The output options of every H.264 encode podpipe makes: web-playable 4:2:0 at a
    constant quality (``crf``) for the encoder speed ``preset``."""
    return ["-c:v", "libx264", "-preset", preset, "-crf", str(crf), "-pix_fmt", "yuv420p"]


def run_ffmpeg(
    args: Sequence[str],
    *,
    ffmpeg: str | None = None,
    total_seconds: float | None = None,
    on_progress: ProgressCallback | None = None,
    label: str = "ffmpeg",
    log_every_seconds: float = 10.0,
    timeout_seconds: float | None = None,
    niceness: int = 0,
) -> FfmpegResult:
    """Run ``ffmpeg <args>`` (inputs, filters and outputs), following ``-progress pipe:1``.

    ``niceness`` > 0 runs ffmpeg that much below this process's CPU priority: background media
    work (clips, the trailer) then takes only the cores that more urgent work (transcription
    on the same machine) leaves idle, instead of slowing it down. Where lowering it is refused,
    ffmpeg runs at normal priority (logged), never fails for it.

    ``-hide_banner -nostdin -y -nostats -progress pipe:1`` are added here, so ``args`` must not
    write to stdout (use ``-f null -`` for analysis passes). stderr is drained on a thread so a
    chatty ffmpeg can never deadlock on a full pipe. Returns stderr; raises FfmpegError with the
    gist of stderr on a non-zero exit or a timeout.
    """
    binary = ffmpeg or find_ffmpeg()
    command = [binary, "-hide_banner", "-nostdin", "-y", "-nostats", "-progress", "pipe:1", *args]
    report = _ProgressLogger(label, log_every_seconds, on_progress)
    started = time.monotonic()
    log.debug("ffmpeg.start", step=label, command=_shell_preview(command))
    try:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            errors="replace",
            start_new_session=niceness > 0,  # its own scheduling group: see lower_priority
        )
    except OSError as exc:
        raise FfmpegNotFoundError(f"cannot run ffmpeg at {binary}: {exc}") from exc
    if niceness > 0:
        _background.add(process)
        lower_priority(process.pid, niceness)

    stderr_lines: collections.deque[str] = collections.deque(maxlen=STDERR_MAX_LINES)
    drain = threading.Thread(
        target=_drain, args=(process.stderr, stderr_lines), name="ffmpeg-stderr", daemon=True
    )
    drain.start()
    timer: threading.Timer | None = None
    timed_out = threading.Event()
    if timeout_seconds is not None:

        def _kill() -> None:
            timed_out.set()
            process.kill()

        timer = threading.Timer(timeout_seconds, _kill)
        timer.daemon = True
        timer.start()

    last: FfmpegProgress | None = None
    block: dict[str, str] = {}
    try:
        assert process.stdout is not None
        for line in process.stdout:
            key, sep, value = line.strip().partition("=")
            if not sep:
                continue
            block[key] = value
            if key == "progress":
                last = parse_progress_block(block, total_seconds)
                block = {}
                report(last)
        returncode = process.wait()
    finally:
        if timer is not None:
            timer.cancel()
        if process.poll() is None:  # an exception (e.g. from a callback) left it running
            process.kill()
            process.wait()
        _background.discard(process)
        drain.join(timeout=5)
    stderr = "".join(stderr_lines)
    elapsed = time.monotonic() - started
    if timed_out.is_set():
        raise FfmpegError(
            f"ffmpeg ({label}) did not finish within {timeout_seconds:.0f} s",
            returncode=returncode,
            stderr=stderr,
        )
    if returncode != 0:
        raise FfmpegError(
            f"ffmpeg ({label}) failed (exit {returncode}): {stderr_gist(stderr)}",
            returncode=returncode,
            stderr=stderr,
        )
    log.debug("ffmpeg.done", step=label, elapsed_seconds=round(elapsed, 2))
    return FfmpegResult(stderr=stderr, elapsed_seconds=elapsed, last_progress=last)


def lower_priority(pid: int, niceness: int) -> None:
    """Run process ``pid`` ``niceness`` steps below the caller (capped at 19, the lowest).

    Two knobs, because Linux has two schedulers' worth of priority: the process's nice value,
    and, where the kernel groups processes by session (``sched_autogroup``, on by default on
    desktop distributions), the nice value of its session's group — across sessions only the
    group's counts. ``pid`` must lead its own session (``start_new_session``) so the group
    holds nothing else; the service that started it keeps its own priority.
    """
    try:
        target = min(19, os.getpriority(os.PRIO_PROCESS, 0) + niceness)
        os.setpriority(os.PRIO_PROCESS, pid, target)
    except OSError as exc:  # the process already ended, or a sandbox forbids it
        log.warning("ffmpeg.priority_unchanged", pid=pid, reason=str(exc))
        return
    autogroup = Path(f"/proc/{pid}/autogroup")
    try:
        if not autogroup.read_text().strip():
            return  # reads empty in the kernel's default group (init's session): nothing to lower
        autogroup.write_text(str(target))
    except FileNotFoundError:
        pass  # no autogroup scheduling in this kernel: the nice value alone decides
    except OSError as exc:
        log.warning("ffmpeg.autogroup_priority_unchanged", pid=pid, reason=str(exc))


_background: set[subprocess.Popen[str]] = set()
"""ffmpeg processes in their own session: a service that exits ends them (no orphans)."""


@atexit.register
def _end_background() -> None:
    for process in list(_background):
        if process.poll() is None:
            process.kill()


def _drain(stream: object, sink: collections.deque[str]) -> None:
    for line in stream:  # type: ignore[attr-defined]
        sink.append(line)


def _shell_preview(command: Sequence[str]) -> str:
    return " ".join(command)


# --------------------------------------------------------------------------- probing


@dataclass(frozen=True)
class AudioStreamInfo:
    codec: str
    sample_rate: int | None
    channels: int | None
    channel_layout: str


@dataclass(frozen=True)
class VideoStreamInfo:
    """A picture track (not cover art): what deciding between a stream copy and a re-encode
    needs to know."""

    codec: str
    pixel_format: str
    width: int | None
    height: int | None
    fps: float | None
    """The average frame rate (``fps``); None when the container does not say."""
    tbr: float | None
    """ffmpeg's guess of the base frame rate; differs from ``fps`` on variable-rate video."""
    rotation: float = 0.0
    """Degrees of the display matrix (phones record sideways and say so here)."""


@dataclass(frozen=True)
class MediaInfo:
    """What ``ffmpeg -i`` says about a file (the header: a truncated file may still lie)."""

    format_name: str
    duration_seconds: float | None
    audio_streams: tuple[AudioStreamInfo, ...]
    has_video: bool
    video_streams: tuple[VideoStreamInfo, ...] = ()

    @property
    def has_audio(self) -> bool:
        return bool(self.audio_streams)

    @property
    def audio_header_seconds(self) -> float | None:
        """What the header says about the audio's length, for the truncation rule
        (``podpipe.media.is_truncated``): None for a video, whose container duration covers
        its longest track, not the sound."""
        return None if self.has_video else self.duration_seconds


class ProbeError(FfmpegError):
    """ffmpeg cannot open or recognise the file (not media, empty, or damaged)."""


_INPUT = re.compile(r"^Input #0, (?P<format>[^ ]+?), from ", re.MULTILINE)
_DURATION = re.compile(r"^\s*Duration: (?P<duration>N/A|[\d:.]+)", re.MULTILINE)
_STREAM = re.compile(
    r"^\s*Stream #0:(?P<index>\d+)(?:\[[^\]]*\])?(?:\([^)]*\))?: (?P<kind>\w+): (?P<rest>.*)$"
)
_RATE = re.compile(r"(\d+) Hz")
_SIZE = re.compile(r",\s*(\d{1,5})x(\d{1,5})[\s,\[]")
_FPS = re.compile(r"([\d.]+k?) fps")
_TBR = re.compile(r"([\d.]+k?) tbr")
_ROTATION = re.compile(r"rotation of (-?[\d.]+) degrees")
_CHANNEL_COUNT = re.compile(r"(\d+) channels")
_LAYOUT_CHANNELS = {"mono": 1, "stereo": 2, "2.1": 3, "quad": 4, "5.0": 5, "5.1": 6, "7.1": 8}


def parse_probe_output(stderr: str) -> MediaInfo | None:
    """Parse the header summary ``ffmpeg -i`` prints; None when there is no ``Input #0``."""
    input_match = _INPUT.search(stderr)
    if input_match is None:
        return None
    duration: float | None = None
    duration_match = _DURATION.search(stderr)
    if duration_match is not None:
        duration = parse_clock(duration_match.group("duration"))
    audio: list[AudioStreamInfo] = []
    video: list[VideoStreamInfo] = []
    for line in stderr.splitlines():
        match = _STREAM.match(line)
        if match is None:
            rotation = _ROTATION.search(line)
            if rotation is not None and video:  # side data of the stream just read
                video[-1] = replace(video[-1], rotation=float(rotation.group(1)))
            continue
        kind, rest = match.group("kind"), match.group("rest")
        if kind == "Video":
            # Cover art in an mp3/m4a is a "video" stream too; it is not a video track.
            if "attached pic" not in rest:
                video.append(_parse_video_stream(rest))
        elif kind == "Audio":
            audio.append(_parse_audio_stream(rest))
    return MediaInfo(
        format_name=input_match.group("format"),
        duration_seconds=duration,
        audio_streams=tuple(audio),
        has_video=bool(video),
        video_streams=tuple(video),
    )


def _rate(pattern: re.Pattern[str], rest: str) -> float | None:
    match = pattern.search(rest)
    if match is None:
        return None
    raw = match.group(1)
    return float(raw[:-1]) * 1000 if raw.endswith("k") else float(raw)


def _parse_video_stream(rest: str) -> VideoStreamInfo:
    codec = rest.split(",")[0].split(" ")[0]
    # "yuv420p(tv, bt709, progressive)": the pixel format is the word before the bracket.
    after_codec = re.sub(r"\([^)]*\)", "", rest).split(",")
    pixel_format = after_codec[1].strip().split(" ")[0] if len(after_codec) > 1 else ""
    size = _SIZE.search(rest + " ")
    return VideoStreamInfo(
        codec=codec,
        pixel_format=pixel_format,
        width=int(size.group(1)) if size else None,
        height=int(size.group(2)) if size else None,
        fps=_rate(_FPS, rest),
        tbr=_rate(_TBR, rest),
    )


def _parse_audio_stream(rest: str) -> AudioStreamInfo:
    parts = [p.strip() for p in rest.split(",")]
    codec = parts[0].split(" ")[0] if parts else "unknown"
    rate_match = _RATE.search(rest)
    layout = parts[2].split(" ")[0] if len(parts) > 2 else ""
    channels: int | None = _LAYOUT_CHANNELS.get(layout)
    count_match = _CHANNEL_COUNT.search(rest)
    if count_match is not None:
        channels = int(count_match.group(1))
    elif channels is None and "(" in layout:
        channels = _LAYOUT_CHANNELS.get(layout.split("(")[0])
    return AudioStreamInfo(
        codec=codec,
        sample_rate=int(rate_match.group(1)) if rate_match else None,
        channels=channels,
        channel_layout=layout,
    )


def read_header(path: str | Path, *, ffmpeg: str | None = None) -> subprocess.CompletedProcess[str]:
    """``ffmpeg -i <path>``: the header summary on stderr (no decoding, no output file).

    ``ffmpeg -i`` without an output always exits non-zero ("At least one output file must be
    specified"), so what it says is judged by parsing stderr, never by the exit code.
    """
    binary = ffmpeg or find_ffmpeg()
    try:
        return subprocess.run(
            [binary, "-hide_banner", "-nostdin", "-i", str(path)],
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="replace",
            timeout=120,
            check=False,
        )
    except OSError as exc:
        raise FfmpegNotFoundError(f"cannot run ffmpeg at {binary}: {exc}") from exc
    except subprocess.TimeoutExpired as exc:
        raise ProbeError(f"ffmpeg took too long to read the header of {path}") from exc


def probe(path: str | Path, *, ffmpeg: str | None = None) -> MediaInfo:
    """Read a file's header with ``ffmpeg -i`` (no ffprobe in the wheel). Fast: no decode.

    Raises ProbeError (with the gist of ffmpeg's stderr) when the file is not media ffmpeg
    can open.
    """
    completed = read_header(path, ffmpeg=ffmpeg)
    info = parse_probe_output(completed.stderr)
    if info is None:
        raise ProbeError(
            stderr_gist(completed.stderr), returncode=completed.returncode, stderr=completed.stderr
        )
    return info


@dataclass(frozen=True)
class StreamInfo:
    """One stream of a file, whatever its kind (rendered clips are checked stream by stream)."""

    index: int
    kind: str  # "Audio", "Video", "Subtitle", "Data"
    codec: str
    width: int | None = None
    height: int | None = None
    attached_picture: bool = False


def parse_streams(stderr: str) -> list[StreamInfo]:
    """Every stream of input #0 in ``ffmpeg -i`` output, with the size of video streams."""
    streams = []
    for line in stderr.splitlines():
        match = _STREAM.match(line)
        if match is None:
            continue
        kind, rest = match.group("kind"), match.group("rest")
        size = _SIZE.search(rest + " ") if kind == "Video" else None
        streams.append(
            StreamInfo(
                index=int(match.group("index")),
                kind=kind,
                codec=rest.split(" ")[0].rstrip(","),
                width=int(size.group(1)) if size else None,
                height=int(size.group(2)) if size else None,
                attached_picture="attached pic" in rest,
            )
        )
    return streams


def probe_streams(path: str | Path, *, ffmpeg: str | None = None) -> list[StreamInfo]:
    """Every stream of a file (empty when ffmpeg cannot open it)."""
    return parse_streams(read_header(path, ffmpeg=ffmpeg).stderr)


def measure_loudness(
    path: str | Path, *, targets: LoudnessTargets | None = None, ffmpeg: str | None = None
) -> LoudnessMeasurement:
    """Integrated loudness and true peak of a file's first audio stream (loudnorm, pass one)."""
    result = run_ffmpeg(
        [
            "-i",
            str(path),
            "-map",
            "0:a:0",
            "-af",
            analysis_filter(targets or LoudnessTargets()),
            "-f",
            "null",
            "-",
        ],
        ffmpeg=ffmpeg,
        label="measure",
    )
    return parse_loudnorm_report(result.stderr)


def decode_duration(
    path: str | Path,
    *,
    ffmpeg: str | None = None,
    stream: str = "0:a:0",
    total_seconds: float | None = None,
    on_progress: ProgressCallback | None = None,
) -> float:
    """Decode a stream completely and return how many seconds of it really decode."""
    result = run_ffmpeg(
        ["-i", str(path), "-map", stream, "-f", "null", "-"],
        ffmpeg=ffmpeg,
        total_seconds=total_seconds,
        on_progress=on_progress,
        label="decode",
    )
    return result.last_progress.out_time_seconds if result.last_progress else 0.0


def escape_filter_value(value: str) -> str:
    """Escape a value for one filter option *and* the filter graph around it (two levels,
    as the ffmpeg-filters "Notes on filtergraph escaping" describe)."""
    for char in "\\':":
        value = value.replace(char, "\\" + char)
    for char in "\\'[],;":
        value = value.replace(char, "\\" + char)
    return value


@functools.cache
def filters_available(ffmpeg: str) -> frozenset[str]:
    """Names of the filters this ffmpeg build has (``subtitles`` needs libass)."""
    completed = subprocess.run(
        [ffmpeg, "-hide_banner", "-nostdin", "-filters"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    names = set()
    for line in completed.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 3 and "->" in parts[2]:
            names.add(parts[1])
    return frozenset(names)
