"""Build the promotion desk from settings and injected clients, and the local loop that
fires due items (on AWS, EventBridge Scheduler's one-time schedules do that)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import structlog
from botocore.exceptions import ClientError

from podpipe.events import PromotionItemDue
from podpipe.release.operations import ScheduleTrigger
from podpipe.release.scheduling import EventBridgeScheduleTrigger, LocalScheduleIndex
from podpipe.release.store import EventSink, S3BlobStore
from podpipe_promote.desk import PROMOTE_SCHEDULE_PREFIX, PromotionDesk
from podpipe_promote.plan import job_id, split_job_id
from podpipe_promote.posting import BlueskyCredentials, BlueskyPoster, Poster
from podpipe_promote.settings import PromoteSettings

if TYPE_CHECKING:
    import boto3
    from mypy_boto3_s3 import S3Client

log = structlog.get_logger()


def item_due(job: str, at: datetime) -> PromotionItemDue:
    episode_id, item_id = split_job_id(job)
    return PromotionItemDue(episode_id=episode_id, item_id=item_id, scheduled_for=at)


def build_trigger(
    settings: PromoteSettings, s3: S3Client, scheduler: Any | None
) -> ScheduleTrigger:
    """The release's scheduler, for a second kind of job: promotion items."""
    if settings.release_scheduler == "eventbridge":
        if scheduler is None or not settings.promote_schedule_target_arn:
            raise ValueError(
                "PODPIPE_RELEASE_SCHEDULER=eventbridge needs a scheduler client and "
                "PODPIPE_PROMOTE_SCHEDULE_TARGET_ARN / PODPIPE_RELEASE_SCHEDULE_ROLE_ARN"
            )
        return EventBridgeScheduleTrigger(
            scheduler,
            group=settings.schedule_group,
            target_arn=settings.promote_schedule_target_arn,
            role_arn=settings.release_schedule_role_arn,
            name_prefix=settings.name_prefix,
            kind="promote",
            message=item_due,
        )
    return LocalScheduleIndex(S3BlobStore(s3, settings.bucket), prefix=PROMOTE_SCHEDULE_PREFIX)


def build_posters(
    credentials: BlueskyCredentials | None, settings: PromoteSettings
) -> dict[str, Poster]:
    posters: dict[str, Poster] = {}
    if credentials is not None:
        posters["bluesky"] = BlueskyPoster(credentials, service_url=settings.bluesky_service_url)
    return posters


def build_desk(
    settings: PromoteSettings,
    *,
    s3: S3Client,
    scheduler: Any | None = None,
    posters: Mapping[str, Poster] | None = None,
    trigger: ScheduleTrigger | None = None,
) -> PromotionDesk:
    def clip_url(key: str) -> str:
        return s3.generate_presigned_url(
            "get_object",
            Params={"Bucket": settings.bucket, "Key": key},
            ExpiresIn=settings.presign_expiry_seconds,
        )

    return PromotionDesk(
        S3BlobStore(s3, settings.bucket),
        trigger=trigger or build_trigger(settings, s3, scheduler),
        posters=posters or {},
        clip_url=clip_url,
        default_cadence=settings.promote_cadence_days,
        default_networks=settings.promote_networks,
        post_attempts=settings.promote_post_attempts,
        retry_max_seconds=settings.promote_retry_max_seconds,
    )


def desk_for_session(
    session: boto3.Session, s3: S3Client, settings: PromoteSettings | None = None
) -> PromotionDesk:
    """The desk of an operator's session (`podpipe promote` and the studio): it edits plans
    and (re)schedules items, and never posts (no posters: delivery is the service's)."""
    settings = settings or PromoteSettings()
    scheduler = session.client("scheduler") if settings.release_scheduler == "eventbridge" else None
    return build_desk(settings, s3=s3, scheduler=scheduler)


def run_due(index: LocalScheduleIndex, sink: EventSink, now: datetime) -> list[str]:
    """Send "Promotion Item Due" for every item whose time came, then drop its entry.

    The entry goes only after the event was published: a crash in between sends it again,
    and the item's marker makes the second delivery post nothing.
    """
    fired: list[str] = []
    for entry in index.entries():
        if entry.at > now:
            continue
        sink.publish([item_due(entry.episode_id, entry.at)])
        index.cancel(entry.episode_id)
        fired.append(entry.episode_id)
    return fired


def run_loop(
    index: LocalScheduleIndex,
    sink: EventSink,
    *,
    interval_seconds: float,
    stop: threading.Event,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> None:
    while not stop.is_set():
        try:
            for job in run_due(index, sink, clock()):
                log.info("promote.fired", job=job)
        except ClientError as exc:
            log.warning("promote.scan_failed", error=str(exc))
        stop.wait(interval_seconds)


__all__ = [
    "build_desk",
    "build_posters",
    "build_trigger",
    "desk_for_session",
    "job_id",
    "run_due",
    "run_loop",
]
