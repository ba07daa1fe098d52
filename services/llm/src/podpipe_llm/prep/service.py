"""One prep run: config → brief → ``prep/<date>/`` → "Brief Prepared" (notify tells the team).

The CLI (and a weekly schedule running the same command) call :func:`run_prep`; everything it
touches comes in through ports, so the tests drive it with fakes or LocalStack.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from podpipe.events import (
    BriefGuest,
    BriefHeadline,
    BriefPrepared,
    BriefProblem,
    Event,
    S3Location,
)
from podpipe.layout import validate_episode_id
from podpipe_llm.prep.brief import prepare_brief, render_markdown
from podpipe_llm.prep.fetch import Fetcher
from podpipe_llm.prep.models import Brief, ChosenItem, PrepConfig, RunningOrder
from podpipe_llm.prep.store import S3PrepStore
from podpipe_llm.prep.writer import BriefWriter


class EventSink(Protocol):
    def publish(self, events: Sequence[Event]) -> None: ...


class ChoiceError(ValueError):
    """A running order that does not fit the brief (unknown item numbers, no brief)."""


@dataclass(frozen=True)
class PrepRun:
    brief: Brief
    event: BriefPrepared


def since_for(config: PrepConfig, previous: Brief | None, now: datetime) -> datetime:
    """Items since the last episode's brief; the first brief looks back ``lookback_days``."""
    if previous is not None:
        return previous.generated_at
    return now - timedelta(days=config.lookback_days)


def run_prep(
    *,
    store: S3PrepStore,
    fetcher: Fetcher,
    writer: BriefWriter,
    model: str,
    events: EventSink,
    now: datetime,
    date: str | None = None,
    since: datetime | None = None,
    config: PrepConfig | None = None,
    max_article_chars: int = 8000,
) -> PrepRun:
    config = config or store.read_config()
    date = date or now.strftime("%Y-%m-%d")
    if since is None:
        since = since_for(config, store.latest_brief_before(date), now)
    brief = prepare_brief(
        config,
        date=date,
        since=since,
        now=now,
        fetcher=fetcher,
        writer=writer,
        model=model,
        max_article_chars=max_article_chars,
    )
    markdown, json_location = store.write_brief(brief, render_markdown(brief))
    event = BriefPrepared(
        date=brief.date,
        show=brief.show,
        model=brief.model,
        brief_markdown=markdown,
        brief_json=json_location,
        items=[BriefHeadline(rank=i.rank, title=i.title, url=i.url) for i in brief.items],
        problems=[
            BriefProblem(kind=p.kind, source=p.source[:200], url=p.url, reason=p.reason[:300])
            for p in brief.problems[:100]
        ],
        guests=[BriefGuest(name=g.name, email=g.email) for g in config.guests],
    )
    events.publish([event])
    return PrepRun(brief=brief, event=event)


def choose(brief: Brief, episode_id: str, ranks: Sequence[int]) -> RunningOrder:
    """The running order: the brief's items by their numbers, in the order given."""
    by_rank = {item.rank: item for item in brief.items}
    unknown = [r for r in ranks if r not in by_rank]
    if unknown:
        raise ChoiceError(
            f"the brief of {brief.date} has items 1-{len(brief.items)}; not {unknown}"
        )
    if not ranks:
        raise ChoiceError("name at least one item number of the brief")
    return RunningOrder(
        episode_id=episode_id,
        brief_date=brief.date,
        items=[
            ChosenItem(
                rank=r,
                title=by_rank[r].title,
                url=by_rank[r].url,
                summary=f"{by_rank[r].summary} {by_rank[r].why_it_matters}",
            )
            for r in dict.fromkeys(ranks)
        ],
    )


@dataclass(frozen=True)
class SavedRunningOrder:
    order: RunningOrder
    location: S3Location


def save_running_order(
    store: S3PrepStore, episode_id: str, ranks: Sequence[int], *, date: str | None = None
) -> SavedRunningOrder:
    """The episode's running order from a brief (``date``, default the latest), stored
    where the llm worker's show notes read it: what `podpipe prep choose` and the studio's
    prep page both call."""
    validate_episode_id(episode_id)
    dates = store.brief_dates()
    chosen_date = date or (dates[-1] if dates else None)
    brief = store.read_brief(chosen_date) if chosen_date else None
    if brief is None:
        raise ChoiceError(f"no brief for {chosen_date or 'any date'}: run `podpipe prep` first")
    order = choose(brief, episode_id, ranks)
    return SavedRunningOrder(order, store.write_running_order(order))
