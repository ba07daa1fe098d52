"""``python -m podpipe_llm.prep``: this week's brief, once, then exit — the weekly ECS task.

EventBridge Scheduler starts it from the llm image with the command overridden
(infra/terraform/prep.tf); it does exactly what `podpipe prep` does, with every setting from
the environment (PODPIPE_*) and the feeds from the bucket's ``prep/config.yaml``. Exit code 0
when the brief was written (problems with single feeds or articles are in the brief), 2 when
the configuration, a prompt override or a PODPIPE_* setting is unusable.
"""

from __future__ import annotations

from collections.abc import Callable

import structlog
from pydantic import ValidationError

from podpipe.logging import configure_logging
from podpipe_llm.prep.service import PrepRun
from podpipe_llm.prep.settings import PrepSettings
from podpipe_llm.prep.store import PrepConfigError
from podpipe_llm.prep.wiring import run_from_settings
from podpipe_llm.prep.writer import PrepPromptError

EXIT_OK = 0
EXIT_BAD_CONFIG = 2


def main(run: Callable[[PrepSettings], PrepRun] = run_from_settings) -> int:
    try:
        settings = PrepSettings()
    except ValidationError as exc:  # a PODPIPE_* variable of the task is unusable
        structlog.get_logger().error("prep.failed", reason=f"settings: {exc}")
        return EXIT_BAD_CONFIG
    configure_logging(settings.log_level, settings.log_json)
    log = structlog.get_logger()
    try:
        result = run(settings)
    except (PrepConfigError, PrepPromptError) as exc:
        log.error("prep.failed", reason=str(exc))
        return EXIT_BAD_CONFIG
    log.info(
        "prep.brief_prepared",
        date=result.brief.date,
        items=len(result.brief.items),
        problems=len(result.brief.problems),
        brief=result.event.brief_markdown.key,
    )
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
