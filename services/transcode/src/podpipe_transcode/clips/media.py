"""What the video stages need to know about the machine beyond the media library
(``podpipe.ffmpeg``, which probes, runs and measures): whether this ffmpeg build has libass,
and which font to draw text with."""

from __future__ import annotations

import functools
import subprocess
from pathlib import Path

FONT_CANDIDATES = (
    # Debian/Ubuntu fonts-dejavu-core, Fedora, Arch, Alpine, then macOS.
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/TTF/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf",
    "/System/Library/Fonts/Supplemental/Arial Bold.ttf",
    "/Library/Fonts/Arial.ttf",
)


def find_font(configured: str = "") -> Path | None:
    """The font file to draw text with: the configured one, else a common system font."""
    if configured:
        path = Path(configured)
        return path if path.is_file() else None
    for candidate in FONT_CANDIDATES:
        path = Path(candidate)
        if path.is_file():
            return path
    for root in (Path("/usr/share/fonts"), Path("/usr/local/share/fonts")):
        if root.is_dir():
            found = sorted(root.rglob("*.ttf"))
            if found:
                return found[0]
    return None


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
