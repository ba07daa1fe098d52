"""``python -m podpipe_clips``: run the clips service until SIGTERM."""

from __future__ import annotations

import boto3

from podpipe.logging import configure_logging
from podpipe.runtime import run_service
from podpipe_clips.service import build_service
from podpipe_clips.settings import ClipsSettings


def main() -> int:
    settings = ClipsSettings()
    configure_logging(settings.log_level, settings.log_json)
    s3 = boto3.client("s3", region_name=settings.region)
    return run_service(build_service(settings, s3=s3), settings)


if __name__ == "__main__":
    raise SystemExit(main())
