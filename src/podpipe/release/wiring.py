"""Build a ReleaseDesk from settings and injected clients (the CLI, the loop and tests)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from podpipe.release.operations import ReleaseDesk, ScheduleTrigger
from podpipe.release.scheduling import EventBridgeScheduleTrigger, LocalScheduleIndex
from podpipe.release.store import EventSink, S3BlobStore
from podpipe.runtime.publisher import EventPublisher
from podpipe.s3io import read_episode_metadata
from podpipe.settings import CoreSettings

if TYPE_CHECKING:
    import boto3
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_s3 import S3Client


class ReleaseSettings(CoreSettings):
    """Release day: who fires scheduled releases, and where the local feed is served."""

    release_scheduler: Literal["local", "eventbridge"] = Field(
        default="local",
        description="local: the loop `podpipe local up` starts scans release-schedule/ in the "
        "bucket; eventbridge: one EventBridge Scheduler one-time schedule per release.",
    )
    release_schedule_group: str = Field(
        default="", description="EventBridge Scheduler group; default '<prefix>-releases'."
    )
    release_schedule_target_arn: str = Field(
        default="", description="ARN of the queue the schedules send 'Release Time Reached' to."
    )
    release_schedule_role_arn: str = Field(
        default="", description="Role EventBridge Scheduler assumes to send to the target."
    )
    release_poll_seconds: float = Field(
        default=15.0, gt=0, description="How often the local loop looks for due releases."
    )
    feed_port: int = Field(
        default=8765, ge=1, le=65535, description="Port of `podpipe feed serve` (127.0.0.1)."
    )

    @property
    def schedule_group(self) -> str:
        return self.release_schedule_group or f"{self.name_prefix}-releases"


def desk_for_session(
    session: boto3.Session, s3: S3Client, settings: ReleaseSettings | None = None
) -> ReleaseDesk:
    """The desk of an operator's session (the CLI and the studio): events to the bus, and a
    Scheduler client only when schedules go to EventBridge Scheduler."""
    settings = settings or ReleaseSettings()
    scheduler = session.client("scheduler") if settings.release_scheduler == "eventbridge" else None
    return build_desk(settings, s3=s3, events=session.client("events"), scheduler=scheduler)


def build_desk(
    settings: ReleaseSettings,
    *,
    s3: S3Client,
    events: EventBridgeClient | None = None,
    scheduler: Any | None = None,
    sink: EventSink | None = None,
) -> ReleaseDesk:
    """The desk; events go to the bus (``events``) or to ``sink`` (the queue consumer)."""
    store = S3BlobStore(s3, settings.bucket)
    trigger: ScheduleTrigger
    if settings.release_scheduler == "eventbridge":
        if scheduler is None or not settings.release_schedule_target_arn:
            raise ValueError(
                "PODPIPE_RELEASE_SCHEDULER=eventbridge needs a scheduler client and "
                "PODPIPE_RELEASE_SCHEDULE_TARGET_ARN / PODPIPE_RELEASE_SCHEDULE_ROLE_ARN"
            )
        trigger = EventBridgeScheduleTrigger(
            scheduler,
            group=settings.schedule_group,
            target_arn=settings.release_schedule_target_arn,
            role_arn=settings.release_schedule_role_arn,
            name_prefix=settings.name_prefix,
        )
    else:
        trigger = LocalScheduleIndex(store)
    if sink is None:
        if events is None:
            raise ValueError("build_desk needs an EventBridge client or an event sink")
        sink = EventPublisher(events, settings.event_bus)
    return ReleaseDesk(
        store,
        events=sink,
        trigger=trigger,
        metadata=lambda episode_id: read_episode_metadata(s3, settings.bucket, episode_id),
    )
