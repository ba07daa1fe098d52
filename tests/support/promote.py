"""Shared by the promote tests: an episode's generated posts and rendered clips, and a fake
Poster that remembers what it posted (or refuses / is down, on request)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from podpipe_promote.posting import (
    PostRefusedError,
    PostRequest,
    PostResult,
    PostUnavailableError,
)

LONG_BLUESKY = "Why our pipeline never sleeps: queues, retries and one rate-limited LLM. " * 6
SOCIAL_POSTS = {
    "linkedin": "A long LinkedIn post about event-driven pipelines. What would you queue?",
    "x": "Queues, not sleeps: this week on the show.",
    "bluesky": LONG_BLUESKY.strip(),
    "note": "",
}
CLIP_VIDEO = b"\x00\x00\x00\x18ftypmp42fake-clip-video-bytes"


def promotion_artifacts(episode_id: str, clips: int = 2) -> dict[str, tuple[bytes, str]]:
    """Key → (body, content type): outputs/social-posts.json and clips/clips.json + videos."""
    root = f"episodes/{episode_id}/"
    found: dict[str, tuple[bytes, str]] = {
        root + "outputs/social-posts.json": (json.dumps(SOCIAL_POSTS).encode(), "application/json")
    }
    manifest = []
    for index in range(1, clips + 1):
        video_key = f"{root}clips/clip-{index:02d}.mp4"
        found[video_key] = (CLIP_VIDEO + bytes([index]), "video/mp4")
        manifest.append(
            {
                "index": index,
                "title": f"Clip {index}",
                "hook": "hook",
                "start": 10.0 * index,
                "end": 10.0 * index + 30,
                "audio_key": f"{root}clips/clip-{index:02d}.mp3",
                "captions_key": f"{root}clips/clip-{index:02d}.vtt",
                "video_key": video_key,
            }
        )
    found[root + "clips/clips.json"] = (
        json.dumps({"picks_etag": "x", "settings_fingerprint": "y", "clips": manifest}).encode(),
        "application/json",
    )
    return found


@dataclass
class FakePoster:
    """A Poster that keeps its posts; ``refuse`` / ``down`` make the next posts fail."""

    network: str = "bluesky"
    posts: list[PostRequest] = field(default_factory=list)
    refuse: int = 0
    down: int = 0
    attempts: int = 0

    def post(self, request: PostRequest) -> PostResult:
        self.attempts += 1
        if self.refuse:
            self.refuse -= 1
            raise PostRefusedError(self.network, "text too long (fake)")
        if self.down:
            self.down -= 1
            raise PostUnavailableError(self.network, "503 (fake)")
        self.posts.append(request)
        return PostResult(
            uri=f"at://did:plc:fake/app.bsky.feed.post/{len(self.posts)}",
            with_video=request.video is not None,
        )
