"""The moov-first check the video tests use reads the top-level atoms, so a file with its
index at the end fails it (the byte search it replaces passed such a file)."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from tests.support.mp4 import assert_moov_before_mdat, top_level_atoms


def box(kind: bytes, payload: bytes = b"", *, large: bool = False) -> bytes:
    if large:
        return struct.pack(">I4sQ", 1, kind, 16 + len(payload)) + payload
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def write(tmp_path: Path, *boxes: bytes) -> Path:
    path = tmp_path / "file.mp4"
    path.write_bytes(b"".join(boxes))
    return path


def test_a_faststart_file_has_moov_before_mdat(tmp_path: Path) -> None:
    # "mdat" also appears inside moov's payload, as bytes: only the headers count.
    path = write(
        tmp_path,
        box(b"ftyp", b"isom"),
        box(b"moov", b"..mdat.."),
        box(b"free"),
        box(b"mdat", b"\0" * 9000, large=True),
    )
    assert top_level_atoms(path) == ["ftyp", "moov", "free", "mdat"]
    assert_moov_before_mdat(path)


@pytest.mark.parametrize(
    ("boxes", "message"),
    [
        ((box(b"ftyp"), box(b"mdat", b"\0" * 9000), box(b"moov")), "moov after mdat"),
        ((box(b"ftyp"), box(b"mdat", b"\0" * 100)), "no moov atom"),
        ((box(b"ftyp"), box(b"moov")), "no mdat atom"),
    ],
)
def test_an_index_at_the_end_or_missing_fails_the_check(
    tmp_path: Path, boxes: tuple[bytes, ...], message: str
) -> None:
    path = write(tmp_path, *boxes)
    head = path.read_bytes()[:4096]
    if message == "moov after mdat":
        # What the video tests asserted before: it passed a file with moov at the end.
        assert head.find(b"moov") < head.find(b"mdat") or b"mdat" not in head
    with pytest.raises(AssertionError, match=message):
        assert_moov_before_mdat(path)
