"""Episode metadata → ID3v2.3 tags, written and read back with mutagen."""

from __future__ import annotations

from pathlib import Path

from podpipe.layout import EpisodeMetadata
from podpipe_transcode.tags import Id3Tags, read_tags, tags_for, write_tags

METADATA = EpisodeMetadata(
    title="Ep. 42 — Café talk",
    show="The Weekly Pod",
    episode_number=42,
    hosts=["Ana", "Ben"],
    guests=["Chloé"],
    year=2026,
    comment="Recorded live.",
)


def test_mapping_follows_podcast_conventions() -> None:
    tags = tags_for(METADATA, "2026-ep42")
    assert tags == Id3Tags(
        title="Ep. 42 — Café talk",
        album="The Weekly Pod",
        track="42",
        artist="Ana, Ben, Chloé",
        album_artist="Ana, Ben",
        year="2026",
        comment="Recorded live.",
        genre="Podcast",
    )


def test_an_untitled_episode_is_titled_by_its_id() -> None:
    tags = tags_for(EpisodeMetadata(), "2026-ep42")
    assert tags.title == "2026-ep42"
    assert (tags.album, tags.track, tags.artist, tags.year) == ("", "", "", "")


def test_tags_survive_a_round_trip_as_id3v2_3(tmp_path: Path) -> None:
    mp3 = tmp_path / "audio.mp3"
    mp3.write_bytes(b"\xff\xfb\x90\x00" + bytes(400))  # one bare MPEG frame header
    write_tags(mp3, tags_for(METADATA, "2026-ep42"))
    assert mp3.read_bytes()[:4] == b"ID3\x03"  # version 2.3, which every podcast app reads
    assert read_tags(mp3) == tags_for(METADATA, "2026-ep42")
