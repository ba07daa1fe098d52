"""`python -m podpipe_notify`: build settings, clients and the service, then run it."""

from __future__ import annotations

import boto3
import httpx

from podpipe.logging import configure_logging
from podpipe.runtime import run_service
from podpipe_notify.service import build_service
from podpipe_notify.settings import NotifySettings


def main() -> int:
    settings = NotifySettings()
    configure_logging(settings.log_level, settings.log_json)
    session = boto3.Session(region_name=settings.region)
    service = build_service(
        settings,
        s3=session.client("s3"),
        sns=(
            session.client("sns")
            if settings.notify_topic_arn or settings.notify_guests_topic_arn
            else None
        ),
        http=httpx.Client(timeout=settings.notify_http_timeout_seconds),
        # Factories: the webhook URL is resolved once, here, and only the source in use
        # needs a client (and IAM permission).
        secretsmanager=lambda: session.client("secretsmanager"),
        ssm=lambda: session.client("ssm"),
    )
    return run_service(service, settings)


if __name__ == "__main__":
    raise SystemExit(main())
