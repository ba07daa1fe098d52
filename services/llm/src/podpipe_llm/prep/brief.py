"""The brief: gather → read → rank → write (pure over its ports), and its Markdown."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime

import structlog

from podpipe_llm.prep.articles import Article, read_article
from podpipe_llm.prep.contain import contained
from podpipe_llm.prep.feeds import collect
from podpipe_llm.prep.fetch import Fetcher
from podpipe_llm.prep.models import Brief, BriefItem, FeedItem, PrepConfig, Problem
from podpipe_llm.prep.writer import BriefWriter
from podpipe_llm.providers.base import ProviderError
from podpipe_llm.runner import InvalidOutputError

log = structlog.get_logger()
MAX_CANDIDATES = 40
WRITER_ERRORS = (ProviderError, InvalidOutputError, ValueError)


def prepare_brief(
    config: PrepConfig,
    *,
    date: str,
    since: datetime,
    now: datetime,
    fetcher: Fetcher,
    writer: BriefWriter,
    model: str,
    max_article_chars: int = 8000,
) -> Brief:
    items, problems = collect(fetcher, config.feeds, since)
    articles: list[Article] = []
    for item in items:
        read = contained(
            functools.partial(read_article, fetcher, item, max_chars=max_article_chars),
            kind="article",
            source=item.title,
            url=item.url,
        )
        if isinstance(read, Problem):
            log.info("prep.article_unreadable", url=item.url, reason=read.reason)
            problems.append(read)
        else:
            articles.append(read)
    candidates = articles[:MAX_CANDIDATES]
    order = list(range(len(candidates)))
    if len(candidates) > 1:
        try:
            order = _valid_order(
                writer.rank(candidates, audience=config.audience, show=config.show)
            )
        except WRITER_ERRORS as exc:
            problems.append(
                Problem(kind="writer", source="ranking", url="", reason=f"feed order kept: {exc}")
            )
    ranked = [candidates[i] for i in order if i < len(candidates)]
    briefed: list[BriefItem] = []
    below: list[FeedItem] = [a.item for a in articles[MAX_CANDIDATES:]]
    for article in ranked:
        if len(briefed) >= config.max_items:
            below.append(article.item)
            continue
        try:
            answer = writer.write(article, audience=config.audience, show=config.show)
        except WRITER_ERRORS as exc:
            problems.append(
                Problem(
                    kind="writer",
                    source=article.item.title,
                    url=article.item.url,
                    reason=f"could not be written up: {exc}"[:500],
                )
            )
            continue
        briefed.append(
            BriefItem(
                rank=len(briefed) + 1,
                title=article.item.title,
                url=article.item.url,
                feed=article.item.feed,
                also_in=article.item.also_in,
                published=article.item.published,
                summary=answer.summary.strip(),
                why_it_matters=answer.why_it_matters.strip(),
                questions=[q.strip() for q in answer.questions],
            )
        )
    return Brief(
        date=date,
        show=config.show,
        audience=config.audience,
        since=since,
        generated_at=now,
        model=model,
        items=briefed,
        below_the_cut=below,
        problems=problems,
    )


def _valid_order(order: Sequence[int]) -> list[int]:
    return list(dict.fromkeys(i for i in order if i >= 0))


_PROBLEM_LABEL = {
    "feed": "Feed down or broken",
    "article": "Article could not be read",
    "paywall": "Behind a paywall",
    "writer": "Could not be written up",
}


def render_markdown(brief: Brief) -> str:
    lines = [
        f"# {brief.show}: the brief for {brief.date}",
        "",
        f"News since {brief.since:%Y-%m-%d %H:%M} UTC, ranked for: {brief.audience}",
        f"Written by `{brief.model}`. Mark what the episode covers with "
        f"`podpipe prep choose EPISODE --date {brief.date} 1 2 …`.",
    ]
    for item in brief.items:
        lines += ["", f"## {item.rank}. {item.title}", "", f"<{item.url}>"]
        source = item.feed + (f" (also in {', '.join(item.also_in)})" if item.also_in else "")
        when = f", {item.published:%Y-%m-%d}" if item.published else ""
        lines += [
            f"_{source}{when}_",
            "",
            item.summary,
            "",
            f"**Why it matters:** {item.why_it_matters}",
        ]
        lines += ["", "**Questions the guest might ask:**", ""]
        lines += [f"- {q}" for q in item.questions]
    if not brief.items:
        lines += ["", "_No item could be briefed this week (see below)._"]
    if brief.below_the_cut:
        lines += ["", "## Also this week (not briefed)", ""]
        lines += [f"- [{i.title}]({i.url}) — {i.feed}" for i in brief.below_the_cut]
    if brief.problems:
        lines += ["", "## Could not be read", ""]
        lines += [
            f"- **{_PROBLEM_LABEL[p.kind]}:** {p.source}"
            + (f" <{p.url}>" if p.url else "")
            + f" — {p.reason}"
            for p in brief.problems
        ]
    return "\n".join(lines) + "\n"
