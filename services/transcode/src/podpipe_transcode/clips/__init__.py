"""Clips and trailer: social-ready audio and audiogram video cut from an episode.

When the clip-picks prompt's output is completed, each pick is repaired or skipped, snapped
to word boundaries, cut from the normalised episode MP3 with fades at the episode's loudness
target, rendered as an audiogram MP4 with burned-in captions, and the best picks are joined
into a trailer. ``clips_route`` is what the transcode service adds to its consumer.
"""

from podpipe_transcode.clips.handler import (
    MANIFEST_NAME,
    PROMPT_ID,
    ClipsConfig,
    ClipsHandler,
    ClipsManifest,
    clips_route,
)
from podpipe_transcode.clips.render import EpisodeInput, RenderOptions, RenderResult, render_episode
from podpipe_transcode.clips.settings import ClipsSettings

__all__ = [
    "MANIFEST_NAME",
    "PROMPT_ID",
    "ClipsConfig",
    "ClipsHandler",
    "ClipsManifest",
    "ClipsSettings",
    "EpisodeInput",
    "RenderOptions",
    "RenderResult",
    "clips_route",
    "render_episode",
]
