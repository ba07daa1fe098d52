"""`podpipe prep …`: the week's brief before the recording, and the episode's running order.

Contributed to the root CLI through the ``podpipe.cli`` entry point (``podpipe prep``).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from podpipe.layout import validate_episode_id
from podpipe_llm.cli import _clear_errors, _fail
from podpipe_llm.prep.service import ChoiceError, save_running_order
from podpipe_llm.prep.settings import PrepSettings
from podpipe_llm.prep.store import PrepConfigError, S3PrepStore, parse_config
from podpipe_llm.prep.wiring import prep_store, run_from_settings
from podpipe_llm.prep.writer import PrepPromptError

if TYPE_CHECKING:
    from podpipe_llm.prep.models import PrepConfig

prep_app = typer.Typer(
    help="Before the recording: the week's news from the configured feeds, read and briefed "
    "(prep/<date>/brief.md), and the items the episode covers.",
    invoke_without_command=True,
)


def _store(settings: PrepSettings) -> S3PrepStore:
    return prep_store(settings)


@prep_app.callback()
def prep_default(ctx: typer.Context) -> None:
    """`podpipe prep` alone makes this week's brief (the same as `podpipe prep run`)."""
    if ctx.invoked_subcommand is None:
        run(date=None, since=None, config_file=None)


@prep_app.command("run")
def run(
    date: Annotated[
        str | None, typer.Option(help="The brief's date (default: today, UTC).")
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(help="Items since this ISO time (default: the previous brief's time)."),
    ] = None,
    config_file: Annotated[
        Path | None,
        typer.Option(
            "--config", help="A local config file instead of the bucket's prep/config.yaml."
        ),
    ] = None,
) -> None:
    """Collect the feeds' items, read each article, rank and brief them, tell the team."""
    with _clear_errors():
        try:
            settings = PrepSettings()
            store = _store(settings)
            config: PrepConfig | None = None
            if config_file is not None:
                config = parse_config(config_file.read_bytes(), str(config_file))
            result = run_from_settings(
                settings,
                store=store,
                date=date,
                since=datetime.fromisoformat(since) if since else None,
                config=config,
            )
        except (PrepConfigError, PrepPromptError, OSError) as exc:
            _fail(str(exc), 2)
    brief = result.brief
    typer.echo(f"brief   s3://{store.bucket}/{result.event.brief_markdown.key}")
    for item in brief.items:
        typer.echo(f"{item.rank:>3}. {item.title}  {item.url}")
    for problem in brief.problems:
        typer.echo(f"  ! {problem.kind}: {problem.source}: {problem.reason}")


@prep_app.command("choose")
def choose_command(
    episode: Annotated[str, typer.Argument(help="The episode id the items are for.")],
    items: Annotated[
        list[int], typer.Argument(help="Item numbers of the brief, in running order.")
    ],
    date: Annotated[
        str | None, typer.Option(help="The brief's date (default: the latest).")
    ] = None,
) -> None:
    """Mark the brief's items the episode covers (its links go into the show notes)."""
    with _clear_errors():
        validate_episode_id(episode)
        try:
            saved = save_running_order(_store(PrepSettings()), episode, items, date=date)
        except ChoiceError as exc:
            _fail(str(exc), 2)
    typer.echo(f"running order  {saved.location.uri}")
    for item in saved.order.items:
        typer.echo(f"{item.rank:>3}. {item.title}  {item.url}")


@prep_app.command("show")
def show(
    date: Annotated[
        str | None, typer.Argument(help="The brief's date (default: the latest).")
    ] = None,
) -> None:
    """Print a brief (Markdown)."""
    with _clear_errors():
        store = _store(PrepSettings())
        dates = store.brief_dates()
        chosen = date or (dates[-1] if dates else None)
        if chosen is None:
            _fail("no brief yet: run `podpipe prep` first", 2)
        text = store.read_brief_markdown(chosen)
        if text is None:
            _fail(f"no brief for {chosen}", 2)
    typer.echo(text, nl=False)
