"""`python -m podpipe.release`: the local scheduler loop `podpipe local up` starts.

It scans ``release-schedule/`` in the bucket and publishes what is due; on AWS, EventBridge
Scheduler does this instead (PODPIPE_RELEASE_SCHEDULER=eventbridge).
"""

from __future__ import annotations

import signal
import threading

import boto3

from podpipe.logging import configure_logging
from podpipe.release.scheduling import LocalScheduleIndex, run_loop
from podpipe.release.store import S3BlobStore
from podpipe.release.wiring import ReleaseSettings, build_desk


def main() -> int:
    settings = ReleaseSettings(release_scheduler="local")
    configure_logging(settings.log_level, settings.log_json)
    session = boto3.Session(region_name=settings.region)
    s3 = session.client("s3")
    desk = build_desk(settings, s3=s3, events=session.client("events"))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    index = LocalScheduleIndex(S3BlobStore(s3, settings.bucket))
    run_loop(desk, index, interval_seconds=settings.release_poll_seconds, stop=stop)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
