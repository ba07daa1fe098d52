"""What a host is told about an upload that is not usable audio (pure; shared by every stage
that opens the upload with ffmpeg, so transcode and transcribe say the same thing)."""

from __future__ import annotations

import re
from pathlib import Path

TRUNCATION_TOLERANCE_SECONDS = 1.0
TRUNCATION_TOLERANCE_FRACTION = 0.02
"""Decoding this much short of the header (the larger of the two) is encoder padding, not a cut."""

SNIFF_BYTES = 512
"""How much of an unreadable file is looked at to tell a text file from damaged media."""

_NOISE = re.compile(
    r"^(\s*(Input|Output|Stream|Metadata|Duration|Side data|Press)\b|\s{2,}\w+\s*:)"
)


_COMPONENT_TAG = re.compile(r"^\s*\[[^\]]*@ 0x[0-9a-f]+\]\s*")


def stderr_gist(stderr: str, max_lines: int = 3) -> str:
    """The last few lines of stderr that say what went wrong (not the media summary)."""
    lines: list[str] = []
    for raw in stderr.splitlines():
        if not raw.strip() or _NOISE.match(raw):
            continue
        # "[in#0 @ 0x55d...] message": the component tag and pointer mean nothing to a host.
        line = _COMPONENT_TAG.sub("", raw).strip()
        if line and line not in lines:
            lines.append(line)
    gist = " | ".join(lines[-max_lines:])
    return gist[-600:] if gist else "no error output"


def is_truncated(header_seconds: float | None, decoded_seconds: float) -> bool:
    """THE truncation rule of every stage: the file decodes clearly shorter than its header
    says (None: the header cannot be trusted for the audio alone, e.g. a video's container)."""
    if header_seconds is None:
        return False
    tolerance = max(TRUNCATION_TOLERANCE_SECONDS, TRUNCATION_TOLERANCE_FRACTION * header_seconds)
    return header_seconds - decoded_seconds > tolerance


def empty_upload_reason(name: str) -> str:
    return f"{name} is empty (0 bytes): the upload did not complete. Upload the recording again."


def looks_like_text(head: bytes) -> bool:
    """True when the first bytes are printable UTF-8 text (a document renamed to .m4a...)."""
    if not head or b"\x00" in head:
        return False
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        # A multi-byte character cut at the sniff boundary is still text.
        try:
            text = head[:-3].decode("utf-8")
        except UnicodeDecodeError:
            return False
    printable = sum(ch.isprintable() or ch in "\r\n\t" for ch in text)
    return printable >= 0.95 * max(1, len(text))


def unreadable_reason(name: str, size: int, head: bytes, ffmpeg_stderr: str) -> str:
    """Why ffmpeg could not open a file, in words a host can act on."""
    ffmpeg_gist = stderr_gist(ffmpeg_stderr)
    if size == 0:
        return empty_upload_reason(name)
    if looks_like_text(head):
        return (
            f"{name} is a text file, not audio (it starts with {head[:40].decode(errors='replace')!r}). "
            "Upload the recording itself (m4a, mp3, wav, flac, ogg, or an mp4/mov with sound)."
        )
    if "moov atom not found" in ffmpeg_stderr and "misdetection possible" not in ffmpeg_stderr:
        return (
            f"{name} is incomplete: its index (the MP4 'moov atom') is missing, so the upload was "
            "cut off or the recorder never finished writing it. Export or upload it again."
        )
    return (
        f"{name} is not an audio file ffmpeg can read ({ffmpeg_gist}). "
        "Upload m4a, mp3, wav, flac, ogg, or an mp4/mov with sound."
    )


def unreadable_file_reason(path: Path, ffmpeg_stderr: str) -> str:
    """:func:`unreadable_reason` for a local file (reads its size and first bytes)."""
    size = path.stat().st_size
    with path.open("rb") as handle:
        head = handle.read(SNIFF_BYTES)
    return unreadable_reason(path.name, size, head, ffmpeg_stderr)
