"""``python -m podpipe_llm.prep``: this week's brief, once, then exit — the weekly ECS task.

EventBridge Scheduler starts it from the llm image with the command overridden
(infra/terraform/prep.tf); it does exactly what `podpipe prep` does, with every setting from
the environment (PODPIPE_*) and the feeds from the bucket's ``prep/config.yaml``. Exit code 0
when the brief was written (problems with single feeds or articles are in the brief), 2 when
the configuration or a prompt override is unusable.
"""

from __future__ import annotations

import structlog

from podpipe.logging import configure_logging
from podpipe_llm.prep.settings import PrepSettings
from podpipe_llm.prep.store import PrepConfigError
from podpipe_llm.prep.wiring import run_from_settings
from podpipe_llm.prep.writer import PrepPromptError


def main() -> int:
    settings = PrepSettings()
    configure_logging(settings.log_level, settings.log_json)
    log = structlog.get_logger()
    try:
        result = run_from_settings(settings)
    except (PrepConfigError, PrepPromptError) as exc:
        log.error("prep.failed", reason=str(exc))
        return 2
    log.info(
        "prep.brief_prepared",
        date=result.brief.date,
        items=len(result.brief.items),
        problems=len(result.brief.problems),
        brief=result.event.brief_markdown.key,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
