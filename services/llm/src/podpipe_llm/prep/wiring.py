"""One prep run from settings: the S3 store, the feeds' HTTP client, the runner-backed writer
and the bus — what both `podpipe prep run` and ``python -m podpipe_llm.prep`` (the weekly ECS
task) call, so the two never drift apart."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from podpipe_llm.prep.fetch import HttpFetcher
from podpipe_llm.prep.service import PrepRun, run_prep
from podpipe_llm.prep.settings import PrepSettings
from podpipe_llm.prep.store import S3PrepStore
from podpipe_llm.prep.writer import RunnerBriefWriter, with_overrides
from podpipe_llm.service import build_providers, build_runner

if TYPE_CHECKING:
    from podpipe_llm.prep.models import PrepConfig


def prep_store(settings: PrepSettings) -> S3PrepStore:
    import boto3

    return S3PrepStore(boto3.client("s3", region_name=settings.region), settings.bucket)


def run_from_settings(
    settings: PrepSettings,
    *,
    store: S3PrepStore | None = None,
    date: str | None = None,
    since: datetime | None = None,
    config: PrepConfig | None = None,
    now: datetime | None = None,
) -> PrepRun:
    """This week's brief (or ``date``'s), with the team's config and prompt overrides from
    the bucket, told to the team through "Brief Prepared"."""
    import boto3

    from podpipe.runtime.publisher import EventPublisher

    store = store or prep_store(settings)
    runner = build_runner(settings, build_providers(settings))
    writer = RunnerBriefWriter(runner, specs=with_overrides(store.read_prompt_overrides()))
    events = EventPublisher(boto3.client("events", region_name=settings.region), settings.event_bus)
    return run_prep(
        store=store,
        fetcher=HttpFetcher.create(settings.prep_fetch_timeout_seconds),
        writer=writer,
        model=writer.model,
        events=events,
        now=now or datetime.now(UTC),
        date=date,
        since=since,
        config=config,
        max_article_chars=settings.prep_max_article_chars,
    )
