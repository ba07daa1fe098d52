"""`python -m podpipe.release`: what fires scheduled releases.

With ``PODPIPE_RELEASE_SCHEDULER=local`` (the default, started by `podpipe local up`) it is the
loop that scans ``release-schedule/`` in the bucket and publishes what is due. With
``eventbridge`` (AWS) it consumes the release queue, where EventBridge Scheduler's one-time
schedules deliver "Release Time Reached".
"""

from __future__ import annotations

import signal
import threading

import boto3

from podpipe.logging import configure_logging
from podpipe.release.consumer import ReleaseHandlers
from podpipe.release.scheduling import LocalScheduleIndex, run_loop
from podpipe.release.store import S3BlobStore
from podpipe.release.wiring import ReleaseSettings, build_desk
from podpipe.runtime import run_service


def main() -> int:
    settings = ReleaseSettings()
    configure_logging(settings.log_level, settings.log_json)
    session = boto3.Session(region_name=settings.region)
    s3 = session.client("s3")
    if settings.release_scheduler == "eventbridge":
        scheduler = session.client("scheduler")
        handlers = ReleaseHandlers(
            lambda sink: build_desk(settings, s3=s3, scheduler=scheduler, sink=sink)
        )
        return run_service(handlers.service(), settings)
    desk = build_desk(settings, s3=s3, events=session.client("events"))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    index = LocalScheduleIndex(S3BlobStore(s3, settings.bucket))
    run_loop(desk, index, interval_seconds=settings.release_poll_seconds, stop=stop)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
