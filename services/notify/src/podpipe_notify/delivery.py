"""Each notification reaches each channel once: a durable marker per (episode, notification,
channel), claimed with an S3 conditional write before sending.

The marker ``episodes/<id>/notifications/<delivery-id>.<channel>.json`` moves through
``sending`` (claimed by one SQS message) → ``sent``, or → ``failed`` (with the reason, so a
retry or a replay may claim it again and ``podpipe status`` can say what went wrong). Because
the marker lives in S3 and not in a worker's memory, a duplicate EventBridge delivery, a
second notify task, a restart and a DLQ replay all see it.

A webhook cannot take part in a transaction, so one gap is left on purpose: a worker that
dies after the channel accepted the message but before it wrote ``sent`` leaves a
``sending`` claim; after ``STALE_CLAIM_SECONDS`` another delivery takes it over and the team
may see that one message twice. Nothing is ever silently dropped.

The rule (:func:`decide`) is pure; :class:`DeliveryLedger` is the port and
:class:`S3DeliveryLedger` its adapter over an injected boto3 client.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

from botocore.exceptions import ClientError

from podpipe.episodes_s3 import undelivered_notifications
from podpipe.layout import EpisodeKeys, prep_notification_marker, rejected_notification_marker
from podpipe.s3io import is_missing, put_json, put_json_if_absent

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

STALE_CLAIM_SECONDS = 300.0

Decision = Literal["send", "already-sent", "busy"]


def decide(marker: Mapping[str, Any] | None, owner: str, now: float) -> Decision:
    """Whether ``owner`` (an SQS message id) may send, given the marker found in S3.

    * no marker, or a ``failed`` one: send (the caller claims first);
    * ``sent``: never again;
    * ``sending`` by this same message (its earlier attempt died) or a claim older than
      :data:`STALE_CLAIM_SECONDS`: send; by another message, recently: that one is on it.
    """
    if marker is None:
        return "send"
    state = marker.get("state")
    if state == "sent":
        return "already-sent"
    if state == "sending":
        claimed_at = marker.get("claimed_at")
        stale = not isinstance(claimed_at, int | float) or now - claimed_at > STALE_CLAIM_SECONDS
        return "send" if marker.get("owner") == owner or stale else "busy"
    return "send"


@dataclass(frozen=True)
class DeliveryRef:
    episode_id: str
    delivery_id: str
    channel: str
    # A brief's messages have no episode folder: their markers live under prep/<date>/.
    brief_date: str = ""
    # Nor has a rejected upload: its markers live beside its record, under rejected/.
    rejected_upload: str = ""


class DeliveryLedger(Protocol):
    """Where delivery markers live (S3 in production, a dict in unit tests)."""

    def claim(self, ref: DeliveryRef, owner: str) -> Decision:
        """``send`` when this owner now holds the claim; else why not."""
        ...

    def mark_sent(self, ref: DeliveryRef, owner: str) -> None: ...

    def mark_failed(self, ref: DeliveryRef, owner: str, reason: str) -> None: ...

    def undelivered(self, episode_id: str) -> list[dict[str, Any]]:
        """The ``failed`` markers of an episode (for status and the digest)."""
        ...


def marker_key(ref: DeliveryRef) -> str:
    if ref.brief_date:
        return prep_notification_marker(ref.brief_date, ref.delivery_id, ref.channel)
    if ref.rejected_upload:
        return rejected_notification_marker(ref.rejected_upload, ref.delivery_id, ref.channel)
    return EpisodeKeys(ref.episode_id).notification_marker(ref.delivery_id, ref.channel)


class S3DeliveryLedger:
    """Markers in the bucket; the claim is ``If-None-Match: *`` (create) or ``If-Match``
    on the ETag of the marker it takes over, so two workers never both win."""

    def __init__(self, s3: S3Client, bucket: str, *, clock: Any = time.time) -> None:
        self._s3 = s3
        self._bucket = bucket
        self._clock = clock

    def claim(self, ref: DeliveryRef, owner: str) -> Decision:
        key = marker_key(ref)
        now = float(self._clock())
        body = {"state": "sending", "owner": owner, "claimed_at": now, **_ref_fields(ref)}
        if put_json_if_absent(self._s3, self._bucket, key, body):
            return "send"
        try:
            found = self._s3.get_object(Bucket=self._bucket, Key=key)
        except ClientError as exc:
            if is_missing(exc):  # released between our create and our read: try once more
                return "send" if put_json_if_absent(self._s3, self._bucket, key, body) else "busy"
            raise
        marker = json.loads(found["Body"].read())
        decision = decide(marker if isinstance(marker, dict) else None, owner, now)
        if decision != "send":
            return decision
        try:
            self._s3.put_object(
                Bucket=self._bucket,
                Key=key,
                Body=json.dumps(body).encode(),
                ContentType="application/json",
                IfMatch=found["ETag"],
            )
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code"))
            if code in {"PreconditionFailed", "412", "ConditionalRequestConflict", "409"}:
                return "busy"  # another worker took it over a moment before us
            raise
        return "send"

    def mark_sent(self, ref: DeliveryRef, owner: str) -> None:
        marker = {"state": "sent", "owner": owner, "sent_at": self._clock(), **_ref_fields(ref)}
        put_json(self._s3, self._bucket, marker_key(ref), marker)

    def mark_failed(self, ref: DeliveryRef, owner: str, reason: str) -> None:
        marker = {
            "state": "failed",
            "owner": owner,
            "failed_at": self._clock(),
            "reason": reason,
            **_ref_fields(ref),
        }
        put_json(self._s3, self._bucket, marker_key(ref), marker)

    def undelivered(self, episode_id: str) -> list[dict[str, Any]]:
        return undelivered_notifications(self._s3, self._bucket, episode_id)


def _ref_fields(ref: DeliveryRef) -> dict[str, str]:
    fields = {"episode_id": ref.episode_id, "notification": ref.delivery_id, "channel": ref.channel}
    if ref.brief_date:
        fields["brief_date"] = ref.brief_date
    if ref.rejected_upload:
        fields["rejected_upload"] = ref.rejected_upload
    return fields
