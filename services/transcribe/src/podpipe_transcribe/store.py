"""The storage and scheduling ports of the handler, and their S3 / SQS adapters."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import structlog

from podpipe import s3io, versions
from podpipe.events import S3Location, TranscribeJobStateChanged, to_envelope
from podpipe.layout import EpisodeMetadata
from podpipe.versions import VersionStart

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient

log = structlog.get_logger()


@dataclass(frozen=True)
class ObjectHead:
    etag: str
    size: int
    metadata: dict[str, str]


class EpisodeStore(Protocol):
    bucket: str

    def head(self, location: S3Location) -> ObjectHead | None: ...

    def download(self, location: S3Location, path: Path) -> None: ...

    def episode_metadata(self, episode_id: str, head: ObjectHead | None) -> EpisodeMetadata: ...

    def exists(self, key: str) -> bool: ...

    def put_text(self, key: str, text: str, content_type: str) -> None: ...

    def begin_version(self, episode_id: str, source_etag: str, owner: str) -> VersionStart: ...


class JobChecks(Protocol):
    def schedule(self, job_name: str, delay_seconds: int) -> None:
        """Look at the job again after ``delay_seconds`` (the lost-event fallback)."""
        ...


class S3EpisodeStore:
    def __init__(self, s3: S3Client, bucket: str) -> None:
        self.s3 = s3
        self.bucket = bucket

    def head(self, location: S3Location) -> ObjectHead | None:
        found = s3io.head_or_none(self.s3, location.bucket, location.key)
        if found is None:
            return None
        return ObjectHead(
            etag=str(found.get("ETag", "")).strip('"'),
            size=int(found.get("ContentLength", 0)),
            metadata=dict(found.get("Metadata", {})),
        )

    def download(self, location: S3Location, path: Path) -> None:
        self.s3.download_file(location.bucket, location.key, str(path))

    def episode_metadata(self, episode_id: str, head: ObjectHead | None) -> EpisodeMetadata:
        """The upload's ``x-amz-meta-podpipe-*`` overridden by the sidecar ``uploads/<id>.json``;
        broken parts are logged, not fatal (a transcript without names is still a transcript)."""
        return s3io.read_episode_metadata(
            self.s3, self.bucket, episode_id, object_metadata=head.metadata if head else {}
        )

    def exists(self, key: str) -> bool:
        return s3io.exists(self.s3, self.bucket, key)

    def put_text(self, key: str, text: str, content_type: str) -> None:
        s3io.put_text(self.s3, self.bucket, key, text, content_type)

    def begin_version(self, episode_id: str, source_etag: str, owner: str) -> VersionStart:
        return versions.begin_version(self.s3, self.bucket, episode_id, source_etag, owner)


# Marks podpipe's own delayed self-check (not an AWS event): when the transcript already
# exists, a self-check stays silent instead of announcing it a second time.
SELF_CHECK_STATUS = "PODPIPE_SELF_CHECK"


class SqsJobChecks:
    """The polling fallback: a delayed message to the transcribe queue itself.

    Transcribe's job events are best effort, so after starting a job podpipe also sends
    itself a "Transcribe Job State Change"-shaped message with SQS DelaySeconds; handling it
    means "look at the job now". Still running → send the next one; done → finish (or stay
    silent if the real event already did). No scheduler, no table: the queue is the timer.
    """

    def __init__(self, sqs: SQSClient, queue_name: str) -> None:
        self.sqs = sqs
        self.queue_name = queue_name
        self._url: str | None = None

    def schedule(self, job_name: str, delay_seconds: int) -> None:
        if self._url is None:
            self._url = self.sqs.get_queue_url(QueueName=self.queue_name)["QueueUrl"]
        event = TranscribeJobStateChanged.model_validate(
            {"TranscriptionJobName": job_name, "TranscriptionJobStatus": SELF_CHECK_STATUS}
        )
        self.sqs.send_message(
            QueueUrl=self._url,
            MessageBody=json.dumps(to_envelope(event)),
            DelaySeconds=min(max(delay_seconds, 0), 900),
        )
