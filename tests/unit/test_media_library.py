"""The media library: one truncation rule, the header's streams, background priority."""

from __future__ import annotations

import os
from pathlib import Path

from podpipe.ffmpeg import parse_probe_output, parse_streams, run_ffmpeg
from podpipe.media import is_truncated

VIDEO_HEADER = """Input #0, mov,mp4,m4a,3gp,3g2,mj2, from 'ep.mp4':
  Duration: 00:00:10.00, start: 0.000000, bitrate: 1000 kb/s
  Stream #0:0[0x1](und): Video: h264 (High) (avc1 / 0x31637661), yuv420p(progressive), 1280x720 [SAR 1:1 DAR 16:9], 900 kb/s, 30 fps, 30 tbr, 15360 tbn (default)
  Stream #0:1[0x2](und): Audio: aac (LC) (mp4a / 0x6134706D), 48000 Hz, stereo, fltp, 128 kb/s (default)
"""


def test_padding_is_not_truncation_a_clear_shortfall_is() -> None:
    assert not is_truncated(6.0, 5.98)  # encoder padding
    assert not is_truncated(100.0, 98.5)  # within 2 %
    assert is_truncated(6.0, 3.0)
    assert is_truncated(3600.0, 3500.0)


def test_a_header_that_cannot_be_trusted_never_says_truncated() -> None:
    assert not is_truncated(None, 0.5)


def test_a_videos_container_duration_is_not_the_audios() -> None:
    info = parse_probe_output(VIDEO_HEADER)
    assert info is not None
    assert (info.duration_seconds, info.audio_header_seconds) == (10.0, None)
    audio_only = parse_probe_output(VIDEO_HEADER.replace("Video: h264", "Data: bin_data"))
    assert audio_only is not None
    assert audio_only.audio_header_seconds == 10.0


def test_every_stream_is_listed_with_the_videos_size() -> None:
    streams = parse_streams(VIDEO_HEADER)
    assert [(s.index, s.kind, s.codec) for s in streams] == [
        (0, "Video", "h264"),
        (1, "Audio", "aac"),
    ]
    assert (streams[0].width, streams[0].height) == (1280, 720)
    assert streams[1].width is None


def _group_nice(autogroup_text: str) -> int | None:
    """The nice of a process's session group, or None where it has none of its own.

    ``/proc/<pid>/autogroup`` reads ``/autogroup-N nice K`` for a process in a session group
    and reads empty for one still in the kernel's default group (init's session: a CI runner
    that never called setsid), where only the nice value counts.
    """
    _, found, nice = autogroup_text.partition(" nice ")
    return int(nice) if found else None


def _priority_of_process_writing(marker: str) -> tuple[int, int | None] | None:
    """(nice, its scheduling group's nice or None) of the running process naming ``marker``."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if marker not in (proc / "cmdline").read_bytes().decode(errors="replace"):
                continue
            nice = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[16])  # field 19
            group = (proc / "autogroup").read_text() if AUTOGROUP_FILE else ""
        except OSError:
            continue
        return nice, _group_nice(group)
    return None


AUTOGROUP_FILE = Path("/proc/self/autogroup").exists()


def test_background_media_work_runs_below_the_services_priority(tmp_path: Path) -> None:
    """Below in both Linux knobs: the process's nice value and, where the kernel schedules by
    session group (autogroup), its own group's: else the service's group would share fairly."""
    seen: list[tuple[int, int | None]] = []
    for niceness in (0, 7):
        output = tmp_path / f"tone-{niceness}.wav"
        marker = str(output)
        observed: list[tuple[int, int | None] | None] = []
        run_ffmpeg(
            ["-re", "-f", "lavfi", "-i", "sine=d=1.5", str(output)],
            niceness=niceness,
            on_progress=lambda _p, m=marker, o=observed: o.append(_priority_of_process_writing(m)),
        )
        seen.append(next(n for n in observed if n is not None))
    base = os.getpriority(os.PRIO_PROCESS, 0)
    lowered = min(19, base + 7)
    # ffmpeg leads its own session, so it has its own group whatever the caller's (the test
    # runner may sit in init's default group, whose file reads empty): a fresh group starts
    # at nice 0, and lowering the work lowers that group too.
    assert seen[0] in ((base, 0), (base, None))
    assert seen[1] in ((lowered, lowered), (lowered, None))
    if AUTOGROUP_FILE and Path("/proc/self/autogroup").read_text().strip():
        assert seen[1] == (lowered, lowered)  # where autogroup shows here, it shows for ffmpeg


def test_an_empty_autogroup_file_means_only_the_nice_value_counts() -> None:
    assert _group_nice("/autogroup-42 nice 7\n") == 7
    assert _group_nice("") is None
