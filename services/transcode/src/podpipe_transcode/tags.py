"""ID3v2 tags from the episode metadata (mapping is pure; writing/reading uses mutagen).

ID3v2.3 rather than 2.4: it is what podcast apps and older players read reliably.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mutagen.id3

from podpipe.layout import EpisodeMetadata

GENRE = "Podcast"

# mutagen's frame classes are untyped; go through Any once here instead of at every call.
_id3: Any = mutagen.id3


@dataclass(frozen=True)
class Id3Tags:
    """The tags an episode MP3 gets; empty fields are not written."""

    title: str
    album: str = ""
    track: str = ""
    artist: str = ""
    album_artist: str = ""
    year: str = ""
    comment: str = ""
    genre: str = GENRE


def tags_for(metadata: EpisodeMetadata, episode_id: str) -> Id3Tags:
    """Map what the host told podpipe onto ID3 fields.

    title → TIT2 (the episode id when no title is known, so a player never shows "Unknown"),
    show → album, episode number → track, hosts then guests → artist, hosts → album artist,
    year, comment.
    """
    return Id3Tags(
        title=metadata.title.strip() or episode_id,
        album=metadata.show.strip(),
        track="" if metadata.episode_number is None else str(metadata.episode_number),
        artist=", ".join(metadata.people),
        album_artist=", ".join(metadata.hosts),
        year="" if metadata.year is None else str(metadata.year),
        comment=metadata.comment.strip(),
    )


def write_tags(path: Path, tags: Id3Tags) -> None:
    """Replace whatever tags the encoder wrote with the episode's (ID3v2.3, UTF-16 text)."""
    id3 = _id3.ID3()
    id3.add(_id3.TIT2(encoding=1, text=tags.title))
    if tags.album:
        id3.add(_id3.TALB(encoding=1, text=tags.album))
    if tags.track:
        id3.add(_id3.TRCK(encoding=1, text=tags.track))
    if tags.artist:
        id3.add(_id3.TPE1(encoding=1, text=tags.artist))
    if tags.album_artist:
        id3.add(_id3.TPE2(encoding=1, text=tags.album_artist))
    if tags.year:
        id3.add(_id3.TDRC(encoding=1, text=tags.year))
    if tags.comment:
        id3.add(_id3.COMM(encoding=1, lang="eng", desc="", text=tags.comment))
    if tags.genre:
        id3.add(_id3.TCON(encoding=1, text=tags.genre))
    id3.save(str(path), v2_version=3, v1=0)


def read_tags(path: Path) -> Id3Tags:
    """Read an MP3's tags back (tests, and `podpipe status`-style checks)."""
    try:
        id3 = _id3.ID3(str(path))
    except mutagen.id3.ID3NoHeaderError:
        return Id3Tags(title="", genre="")

    def text(frame_id: str) -> str:
        frame = id3.get(frame_id)
        return "" if frame is None else str(frame.text[0]) if frame.text else ""

    comments = id3.getall("COMM")
    return Id3Tags(
        title=text("TIT2"),
        album=text("TALB"),
        track=text("TRCK"),
        artist=text("TPE1"),
        album_artist=text("TPE2"),
        # v2.3 stores TDRC as TYER on save; mutagen upgrades it back to TDRC on load.
        year=text("TDRC"),
        comment=str(comments[0].text[0]) if comments and comments[0].text else "",
        genre=text("TCON"),
    )
