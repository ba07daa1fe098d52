"""A publishable episode's stored outputs and a show's channel data, for release tests.

What transcode, transcribe and the LLM would have written (no Whisper, no model): the MP3
bytes, audio.json with the duration, subtitles, the Podcasting 2.0 transcript, titles,
show notes, chapters and clip picks.
"""

from __future__ import annotations

import json
from typing import Any

SHOW_ID = "the-weekly"
PODCAST_GUID = "917393e3-1b1e-5cef-ace4-edaa54e1f810"
ARTWORK_KEY = "shows/the-weekly-cover.jpg"
# A tiny but real JPEG header is enough: nothing decodes the artwork here.
ARTWORK = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9"

TITLES_MD = """# Title ideas

1. **Shipping on Fridays** — the hosts argue about release day
2. **Why Our Pipeline Never Sleeps** — it is what the episode is about
3. **Queues, Not Sleeps** — the one-line lesson
"""
NOTES_MD = """# Show notes

Maya and Tom talk about **event-driven pipelines**.

- Why queues beat fixed sleeps
- [The design doc](https://example.org/design)
"""
VTT = "WEBVTT\n\n00:00:00.000 --> 00:00:04.000\nMaya: Welcome to the show.\n\n00:00:04.000 --> 00:00:08.000\nTom: Thanks for having me.\n"
SRT = "1\n00:00:00,000 --> 00:00:04,000\nMaya: Welcome to the show.\n\n2\n00:00:04,000 --> 00:00:08,000\nTom: Thanks for having me.\n"


def show_config(base_url: str, **overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "title": "The Weekly",
        "author": "Maya & Tom",
        "owner": {"name": "Maya", "email": "maya@example.org"},
        "description": "A weekly show about building things.",
        "artwork_key": ARTWORK_KEY,
        "language": "en",
        "categories": [{"name": "Technology"}],
        "explicit": False,
        "podcast_guid": PODCAST_GUID,
        "base_url": base_url,
        "season": 2,
    }
    config.update(overrides)
    return config


def sidecar(number: int, title: str = "Working title") -> dict[str, Any]:
    return {
        "title": title,
        "show": "The Weekly",
        "episode_number": number,
        "hosts": ["Maya"],
        "guests": ["Tom"],
    }


def episode_artifacts(
    episode_id: str, *, audio_bytes: int = 48_000
) -> dict[str, tuple[bytes, str]]:
    """key → (body, content type) of everything the release reads for one episode."""
    root = f"episodes/{episode_id}/"
    chapters = {
        "version": "1.2.0",
        "chapters": [{"startTime": 0, "title": "Welcome"}, {"startTime": 95.5, "title": "Queues"}],
    }
    picks = {
        "clips": [
            {
                "start": 12.0,
                "end": 52.5,
                "title": "The Friday rule",
                "hook": "Never ship on Friday?",
            },
        ]
    }
    transcript20 = {
        "version": "1.0.0",
        "segments": [
            {"speaker": "Maya", "startTime": 0.0, "endTime": 4.0, "body": "Welcome to the show."}
        ],
    }
    audio = (b"ID3" + bytes(range(256)) * (audio_bytes // 256 + 1))[:audio_bytes]
    return {
        root + "audio.mp3": (audio, "audio/mpeg"),
        root + "audio.json": (
            json.dumps({"duration_seconds": 3725.4}).encode(),
            "application/json",
        ),
        root + "subtitles.vtt": (VTT.encode(), "text/vtt"),
        root + "subtitles.srt": (SRT.encode(), "application/x-subrip"),
        root + "transcript.podcasting20.json": (
            json.dumps(transcript20).encode(),
            "application/json",
        ),
        root + "outputs/titles.md": (TITLES_MD.encode(), "text/markdown"),
        root + "outputs/show-notes.md": (NOTES_MD.encode(), "text/markdown"),
        root + "outputs/chapters.json": (json.dumps(chapters).encode(), "application/json"),
        root + "outputs/clip-picks.json": (json.dumps(picks).encode(), "application/json"),
    }
