"""The episode's artifacts as the LLM service sees them: a small port and its S3 adapter."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Protocol

from podpipe import s3io
from podpipe.documents import Transcript
from podpipe.events import S3Location
from podpipe.layout import EpisodeKeys, EpisodeMetadata
from podpipe_llm.catalog import Catalog, load_catalog

if TYPE_CHECKING:
    from pathlib import Path

    from mypy_boto3_s3 import S3Client


class EpisodeStore(Protocol):
    bucket: str

    def read_transcript(self, episode_id: str) -> Transcript | None: ...
    def read_metadata(self, episode_id: str) -> EpisodeMetadata: ...
    def read_output(self, episode_id: str, prompt_id: str, extension: str) -> str | None: ...
    def read_output_metadata(self, episode_id: str, prompt_id: str) -> dict[str, Any] | None: ...
    def write_output(
        self, episode_id: str, prompt_id: str, extension: str, text: str, metadata: dict[str, Any]
    ) -> tuple[S3Location, S3Location]: ...
    def write_manifest(self, episode_id: str, manifest: dict[str, Any]) -> S3Location: ...


class CatalogSource(Protocol):
    def load(self) -> Catalog: ...


class S3EpisodeStore:
    def __init__(self, s3: S3Client, bucket: str) -> None:
        self._s3 = s3
        self.bucket = bucket

    def read_transcript(self, episode_id: str) -> Transcript | None:
        raw = s3io.get_json_or_none(self._s3, self.bucket, EpisodeKeys(episode_id).transcript_json)
        return None if raw is None else Transcript.model_validate(raw)

    def read_metadata(self, episode_id: str) -> EpisodeMetadata:
        return s3io.read_episode_metadata(self._s3, self.bucket, episode_id)

    def read_output(self, episode_id: str, prompt_id: str, extension: str) -> str | None:
        raw = s3io.get_bytes_or_none(
            self._s3, self.bucket, EpisodeKeys(episode_id).prompt_output(prompt_id, extension)
        )
        return None if raw is None else raw.decode("utf-8")

    def read_output_metadata(self, episode_id: str, prompt_id: str) -> dict[str, Any] | None:
        raw = s3io.get_json_or_none(
            self._s3, self.bucket, EpisodeKeys(episode_id).prompt_metadata(prompt_id)
        )
        return raw if isinstance(raw, dict) else None

    def write_output(
        self, episode_id: str, prompt_id: str, extension: str, text: str, metadata: dict[str, Any]
    ) -> tuple[S3Location, S3Location]:
        keys = EpisodeKeys(episode_id)
        output_key = keys.prompt_output(prompt_id, extension)
        content_type = "application/json" if extension == "json" else "text/markdown; charset=utf-8"
        s3io.put_text(self._s3, self.bucket, output_key, text, content_type)
        # The metadata file is written last: its presence means the output is complete.
        s3io.put_json(self._s3, self.bucket, keys.prompt_metadata(prompt_id), metadata)
        return (
            S3Location(bucket=self.bucket, key=output_key),
            S3Location(bucket=self.bucket, key=keys.prompt_metadata(prompt_id)),
        )

    def write_manifest(self, episode_id: str, manifest: dict[str, Any]) -> S3Location:
        key = EpisodeKeys(episode_id).manifest
        s3io.put_text(
            self._s3, self.bucket, key, json.dumps(manifest, indent=2), "application/json"
        )
        return S3Location(bucket=self.bucket, key=key)


class S3CatalogSource:
    """The packaged defaults (or a local directory) overlaid with the bucket's prompts/."""

    def __init__(self, s3: S3Client | None, bucket: str, directory: Path | None = None) -> None:
        self._s3 = s3
        self._bucket = bucket
        self._directory = directory

    def load(self) -> Catalog:
        return load_catalog(directory=self._directory, s3=self._s3, bucket=self._bucket)
