"""The top-level atoms (boxes) of an MP4 file, read from their headers — to tell a web-ready
file (``moov`` before ``mdat``, ffmpeg's +faststart) from one whose index is at the end.

A byte search for b"moov" in the file's head cannot: it returns -1 when the index is at the
end, and -1 compares as "before" anything.
"""

from __future__ import annotations

import struct
from pathlib import Path


def top_level_atoms(path: Path) -> list[str]:
    """The type of every top-level box, in file order (sizes: 32-bit, 64-bit when 1, to the
    end of the file when 0)."""
    names: list[str] = []
    total = path.stat().st_size
    with path.open("rb") as f:
        offset = 0
        while offset + 8 <= total:
            f.seek(offset)
            size, kind = struct.unpack(">I4s", f.read(8))
            if size == 1:
                (size,) = struct.unpack(">Q", f.read(8))
            elif size == 0:
                size = total - offset
            if size < 8:
                raise ValueError(f"{path.name}: a box of {size} bytes at {offset}")
            names.append(kind.decode("latin-1"))
            offset += size
    return names


def assert_moov_before_mdat(path: Path) -> None:
    """The file has its index (moov) and its media (mdat), the index first."""
    atoms = top_level_atoms(path)
    assert "moov" in atoms, f"{path.name}: no moov atom in {atoms}"
    assert "mdat" in atoms, f"{path.name}: no mdat atom in {atoms}"
    assert atoms.index("moov") < atoms.index("mdat"), f"{path.name}: moov after mdat: {atoms}"
