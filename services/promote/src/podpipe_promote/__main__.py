"""`python -m podpipe_promote`: the promote queue's consumer; with the local scheduler it also
runs the loop that sends due items to that queue (through the bus)."""

from __future__ import annotations

import threading

import boto3

from podpipe.logging import configure_logging
from podpipe.release.scheduling import LocalScheduleIndex
from podpipe.release.store import S3BlobStore
from podpipe.runtime import run_service
from podpipe.runtime.publisher import EventPublisher
from podpipe_promote.desk import PROMOTE_SCHEDULE_PREFIX
from podpipe_promote.handlers import PromoteHandlers
from podpipe_promote.posting import resolve_bluesky_credentials
from podpipe_promote.settings import PromoteSettings
from podpipe_promote.wiring import build_desk, build_posters, run_loop


def main() -> int:
    settings = PromoteSettings()
    configure_logging(settings.log_level, settings.log_json)
    session = boto3.Session(region_name=settings.region)
    s3 = session.client("s3")
    credentials = resolve_bluesky_credentials(
        handle=settings.bluesky_handle,
        app_password=settings.bluesky_app_password,
        secret_id=settings.bluesky_secret_id,
        ssm_parameter=settings.bluesky_ssm_parameter,
        secretsmanager=lambda: session.client("secretsmanager"),
        ssm=lambda: session.client("ssm"),
    )
    scheduler = session.client("scheduler") if settings.release_scheduler == "eventbridge" else None
    desk = build_desk(
        settings, s3=s3, scheduler=scheduler, posters=build_posters(credentials, settings)
    )
    stop = threading.Event()
    if settings.release_scheduler == "local":
        index = LocalScheduleIndex(S3BlobStore(s3, settings.bucket), prefix=PROMOTE_SCHEDULE_PREFIX)
        sink = EventPublisher(session.client("events"), settings.event_bus)
        loop = threading.Thread(
            target=run_loop,
            args=(index, sink),
            kwargs={"interval_seconds": settings.release_poll_seconds, "stop": stop},
            name="promote-scheduler",
            daemon=True,
        )
        loop.start()
    try:
        return run_service(PromoteHandlers(desk).service(), settings)
    finally:
        stop.set()


if __name__ == "__main__":
    raise SystemExit(main())
