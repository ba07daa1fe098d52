"""``python -m podpipe_llm``: the llm service (dispatcher + the single rate-limited worker)."""

from __future__ import annotations

import boto3
import structlog

from podpipe.logging import configure_logging
from podpipe.runtime import run_service
from podpipe_llm.service import build_service
from podpipe_llm.settings import LlmSettings


def main() -> None:
    settings = LlmSettings()
    configure_logging(settings.log_level, settings.log_json)
    structlog.get_logger().info(
        "llm.service_starting",
        provider=settings.provider(),
        model=settings.llm_model or "(none)",
        requests_per_minute=settings.llm_requests_per_minute,
    )
    s3 = boto3.client("s3", region_name=settings.region)
    service = build_service(settings, s3=s3)
    raise SystemExit(run_service(service, settings))


if __name__ == "__main__":
    main()
