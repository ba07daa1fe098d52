"""An episode is a version of its source recording: a different recording under the same
upload key starts version n+1, and everything made from version n moves aside to
``episodes/<id>/versions/<n>/`` so every stage (transcript, prompts, clips, the digest) runs
again for the new one. An identical re-upload (same ETag) is the same version: nothing moves.
The release (``release.json`` and the host's edited notes under ``release/``) is not an output
of a recording: it stays where it is, so an approved or published release keeps its state.

Transcode and transcribe both see every upload, in parallel; whichever first meets a new
ETag claims the version in ``episodes/<id>/version.json`` with an S3 conditional write
(``If-Match`` on the record it read, ``If-None-Match: *`` for the first), archives, and marks
the version current. The other one sees the claim and retries (:class:`VersionBusyError`)
until it is current, so neither writes new outputs into a folder that is being archived. A
claimer that dies mid-archive has its message redelivered with the same id, and finishes.

The rule (:func:`next_step`) is pure; :func:`begin_version` is the S3 shell every stage shares.

The stages that begin a version stamp its number on what they announce (:func:`stamped`);
every later stage carries it on and checks it before writing (``podpipe.stages.superseded``),
so the late work of a replaced recording (a prompt still running when the new one arrived)
is dropped rather than mixed into the new version's outputs.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from botocore.exceptions import ClientError
from pydantic import ValidationError

from podpipe.episodes_s3 import list_objects
from podpipe.events import EpisodeVersionStarted, Event, S3Location
from podpipe.layout import EpisodeKeys, VersionRecord
from podpipe.runtime.errors import RetryableError
from podpipe.s3io import put_json, put_json_if_absent

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

_CONDITION_FAILED = {"PreconditionFailed", "412", "ConditionalRequestConflict", "409"}


class VersionBusyError(RetryableError):
    """Another stage is moving the previous version aside: try again in a moment."""


@dataclass(frozen=True)
class VersionStart:
    """What a stage learns about the upload it handles."""

    number: int
    started_here: bool = False
    """True when this call began a new version (n > 1): the caller tells the team."""
    previous: int | None = None


Step = Literal["same", "finish-archive", "busy", "claim-next"]


def next_step(record: VersionRecord, source_etag: str, owner: str) -> Step:
    """What a stage does with an upload, given the current version record."""
    if record.source_etag != source_etag:
        return "claim-next" if record.state == "current" else "busy"
    if record.state == "current":
        return "same"
    return "finish-archive" if record.claimed_by == owner else "busy"


def version_started(
    episode_id: str, source: S3Location, start: VersionStart
) -> list[EpisodeVersionStarted]:
    """The announcement of a version this stage began (none for the first or the same)."""
    if not start.started_here or start.previous is None:
        return []
    return [
        EpisodeVersionStarted(
            episode_id=episode_id,
            version=start.number,
            previous_version=start.previous,
            source=source,
            archived_prefix=EpisodeKeys(episode_id).version_prefix(start.previous),
        )
    ]


def stamped(events: Iterable[Event], number: int) -> list[Event]:
    """The events with version ``number`` on every one that carries a version and names none."""
    return [
        e.model_copy(update={"version": number})
        if "version" in type(e).model_fields and getattr(e, "version", None) is None
        else e
        for e in events
    ]


def normalize(etag: str) -> str:
    return etag.strip().strip('"')


def begin_version(
    s3: S3Client, bucket: str, episode_id: str, source_etag: str, owner: str
) -> VersionStart:
    """Make sure the episode's outputs belong to the recording with ``source_etag``.

    ``owner`` is the SQS message id (a redelivery of the claiming message finishes its work).
    Raises :class:`VersionBusyError` while another stage is archiving.
    """
    keys = EpisodeKeys(episode_id)
    etag = normalize(source_etag)
    now = time.time()
    found = _read(s3, bucket, keys.version_record)
    if found is None:
        first = VersionRecord(
            number=1, source_etag=etag, state="current", claimed_by=owner, claimed_at=now
        )
        if put_json_if_absent(s3, bucket, keys.version_record, first.model_dump()):
            return VersionStart(1)
        found = _read(s3, bucket, keys.version_record)
        if found is None:
            raise VersionBusyError("the version record changed while it was read")
    record, record_etag = found
    step = next_step(record, etag, owner)
    if step == "same":
        # The claiming message redelivered (it failed after archiving): announce again, so
        # the team still hears of the version; notify delivers "version n" once.
        again = record.claimed_by == owner and record.previous is not None
        return VersionStart(record.number, started_here=again, previous=record.previous)
    if step == "busy":
        raise VersionBusyError(
            f"version {record.number} of {episode_id} is being set up by another stage"
        )
    if step == "claim-next":
        claim = VersionRecord(
            number=record.number + 1,
            source_etag=etag,
            state="archiving",
            claimed_by=owner,
            claimed_at=now,
            previous=record.number,
        )
        try:
            s3.put_object(
                Bucket=bucket,
                Key=keys.version_record,
                Body=claim.model_dump_json().encode(),
                ContentType="application/json",
                IfMatch=record_etag,
            )
        except ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code")) in _CONDITION_FAILED:
                raise VersionBusyError("another stage claimed the new version first") from None
            raise
        record = claim
    # This stage holds the claim: move the previous version aside, then make it current.
    if record.previous is not None:
        archive(s3, bucket, keys, record.previous)
    put_json(
        s3,
        bucket,
        keys.version_record,
        record.model_copy(update={"state": "current"}).model_dump(),
    )
    return VersionStart(record.number, started_here=True, previous=record.previous)


def archive(s3: S3Client, bucket: str, keys: EpisodeKeys, number: int) -> int:
    """Move every output of the episode under ``versions/<number>/`` (idempotent: a second
    run finds nothing left to move); the release stays (EpisodeKeys.kept_across_versions).
    Returns how many objects moved."""
    destination = keys.version_prefix(number)
    moved = 0
    for obj in list(list_objects(s3, bucket, keys.root)):
        if keys.kept_across_versions(obj.key):
            continue
        relative = obj.key[len(keys.root) :]
        # boto3's managed copy: one CopyObject for a small object, a multipart copy (parts
        # of UploadPartCopy, content type and metadata kept) for a large one, where a single
        # CopyObject refuses anything above 5 GB (a long video episode's upload-sized files).
        s3.copy({"Bucket": bucket, "Key": obj.key}, bucket, destination + relative)
        s3.delete_object(Bucket=bucket, Key=obj.key)
        moved += 1
    return moved


def _read(s3: S3Client, bucket: str, key: str) -> tuple[VersionRecord, str] | None:
    try:
        reply = s3.get_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if str(exc.response.get("Error", {}).get("Code")) in {"404", "NoSuchKey", "NotFound"}:
            return None
        raise
    try:
        record = VersionRecord.model_validate(json.loads(reply["Body"].read()))
    except (ValueError, ValidationError):
        # Unreadable: whatever is there counts as an unknown recording, so the next upload
        # starts a new version (and moves the old outputs aside) instead of mixing them.
        record = VersionRecord(
            number=1, source_etag="", state="current", claimed_by="", claimed_at=0.0
        )
    return record, str(reply["ETag"])
