"""structlog setup: JSON to stdout when not on a TTY, key/value on a terminal.

Per-message context (episode id, message id, detail type, receive count) is bound with
``structlog.contextvars`` by the runtime; worker threads inherit it via asyncio.to_thread.
"""

from __future__ import annotations

import logging
import sys

import structlog


def configure_logging(level: str = "INFO", json: bool | None = None) -> None:
    use_json = (not sys.stdout.isatty()) if json is None else json
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        numeric = logging.INFO
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer() if use_json else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        # No file= here: each logger takes the sys.stdout of the moment it is made (loggers
        # are not cached), so a CLI command run in-process (typer's CliRunner) cannot leave
        # the logs writing to its closed capture stream.
        logger_factory=structlog.PrintLoggerFactory(),
        cache_logger_on_first_use=False,
    )
    # Quiet the AWS SDKs' own chatter; podpipe logs one summary line per message.
    for noisy in ("botocore", "aiobotocore", "boto3", "urllib3", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
