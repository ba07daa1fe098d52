"""Wiring: settings + injected clients → the clips Service the runtime runs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from podpipe.runtime.service import Consumer, Service
from podpipe_clips.handler import Renderer, clips_routes
from podpipe_clips.settings import ClipsSettings

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

SERVICE_NAME = "clips"
QUEUE = "clips"


def build_service(
    settings: ClipsSettings, *, s3: S3Client, renderer: Renderer | None = None
) -> Service:
    """The clips service: one consumer on the clips queue, joining the clip picks ("Prompt
    Completed") with the episode's media ("Audio Transcoded" / "Video Transcoded")."""
    return Service(
        name=SERVICE_NAME,
        consumers=[Consumer(queue=QUEUE, routes=clips_routes(settings, s3, renderer=renderer))],
    )
