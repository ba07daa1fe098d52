"""``python -m podpipe_transcribe``: run the transcribe service until SIGTERM."""

from __future__ import annotations

import boto3

from podpipe.logging import configure_logging
from podpipe.runtime import run_service
from podpipe_transcribe.service import build_service
from podpipe_transcribe.settings import TranscribeSettings


def main() -> int:
    settings = TranscribeSettings()
    configure_logging(settings.log_level, settings.log_json)
    session = boto3.Session(region_name=settings.region)
    service = build_service(
        settings,
        s3=session.client("s3"),
        sqs=session.client("sqs"),
        transcribe=session.client("transcribe") if settings.transcribe_backend == "aws" else None,
    )
    return run_service(service, settings)


if __name__ == "__main__":
    raise SystemExit(main())
