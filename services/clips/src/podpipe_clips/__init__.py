"""Clips and trailer: social-ready audio and audiogram video cut from an episode.

Once the clip-picks prompt's output and the episode's media both exist, each pick is repaired
or skipped, snapped to word boundaries, cut from the normalised episode MP3 with fades at the
episode's loudness target, rendered as an audiogram MP4 with burned-in captions (a video
episode: cut from its picture), and the best picks are joined into a trailer.
``clips_routes`` is what the clips service consumes its queue with.
"""

from podpipe_clips.handler import (
    MANIFEST_NAME,
    PROMPT_ID,
    ClipsConfig,
    ClipsHandler,
    ClipsManifest,
    clips_routes,
)
from podpipe_clips.render import EpisodeInput, RenderOptions, RenderResult, render_episode
from podpipe_clips.settings import ClipsSettings

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
    "clips_routes",
    "render_episode",
]
