"""The transcription port: one Protocol both backends implement.

Whisper finishes inside ``submit`` (blocking work in the runtime's worker thread); Amazon
Transcribe only starts a job there and finishes later, when ``check`` sees the job done.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from podpipe.events import S3Location
from podpipe.layout import EpisodeMetadata
from podpipe_transcribe.core import RawTranscript


class NoSpeechError(ValueError):
    """The audio decoded fine but holds no speech (bad input, never worth retrying)."""


class JobFailedError(ValueError):
    """An asynchronous job ended in failure (the backend's reason is the message)."""


@dataclass(frozen=True)
class TranscriptionRequest:
    episode_id: str
    source: S3Location
    source_etag: str
    metadata: EpisodeMetadata


@dataclass(frozen=True)
class Finished:
    raw: RawTranscript


@dataclass(frozen=True)
class Started:
    """An asynchronous job is running (or was already running: a redelivery)."""

    job_name: str


class TranscriptionBackend(Protocol):
    name: str
    # False: submit() transcribes the downloaded upload (a local file) and finishes.
    # True: submit() starts a job on the S3 object itself and check() finishes it later.
    asynchronous: bool

    def submit(self, request: TranscriptionRequest, audio: Path | None) -> Finished | Started:
        """Transcribe (synchronous backend) or start a job (asynchronous backend)."""
        ...

    def check(self, job_name: str) -> Finished | Started:
        """An asynchronous job's outcome; raises JobFailedError if it failed."""
        ...
