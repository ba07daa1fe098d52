"""`podpipe release`, `publish`, `unpublish` and `feed`: argument mapping onto ReleaseDesk.

Every decision lives in podpipe.release.operations (the studio will call the same methods);
these commands only turn options into calls and results into lines.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markdown import Markdown

from podpipe.logging import configure_logging
from podpipe.release.model import parse_when
from podpipe.release.operations import Draft, ReleaseDesk, utc_now
from podpipe.release.serve import LOOPBACK, make_server
from podpipe.release.wiring import ReleaseSettings, desk_for_session
from podpipe_cli.context import (
    AwsContext,
    ProfileOption,
    RegionOption,
    aws_context,
    err_console,
    friendly_errors,
)

console = Console()


class EpisodeTypeChoice(StrEnum):
    full = "full"
    trailer = "trailer"
    bonus = "bonus"


feed_app = typer.Typer(help="The shows' public feeds.", no_args_is_help=True)


def _desk(aws: AwsContext) -> ReleaseDesk:
    return desk_for_session(aws.session, aws.s3)


def _clock(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _print_draft(draft: Draft) -> None:
    release = draft.release
    state = release.state if draft.saved else "draft (not saved yet)"
    console.print(f"[bold]{release.episode_id}[/] · show {draft.show.title} · {state}")
    if release.title:
        console.print(
            f"Approved title: {release.title.text}  ({release.title.source})", markup=False
        )
    console.print("\n[bold]Titles[/] (choose with --title N, or write one with --title-text)")
    for number, title in enumerate(draft.titles, 1):
        console.print(f"  {number}. {title}", markup=False)
    if not draft.titles:
        console.print("  (no outputs/titles.md yet)")
    console.print("\n[bold]Show notes[/]" + (f" ({release.notes.source})" if release.notes else ""))
    console.print(Markdown(draft.notes) if draft.notes else "  (no outputs/show-notes.md yet)")
    console.print("\n[bold]Chapters[/]")
    for start, title in draft.chapters:
        console.print(f"  {_clock(start):>8}  {title}", markup=False)
    console.print("\n[bold]Clips[/]")
    for pick in draft.clips.clips if draft.clips else []:
        console.print(
            f"  {_clock(pick.start)}-{_clock(pick.end)}  {pick.title} — {pick.hook}", markup=False
        )


def release(
    episode: Annotated[str, typer.Argument(help="Episode id.")],
    title: Annotated[
        int | None, typer.Option("--title", help="Approve with generated title number N.")
    ] = None,
    title_text: Annotated[
        str | None, typer.Option("--title-text", help="Approve with this title instead.")
    ] = None,
    notes: Annotated[
        Path | None,
        typer.Option("--notes", help="Edited show notes (Markdown); default: the generated ones."),
    ] = None,
    episode_type: Annotated[
        EpisodeTypeChoice | None,
        typer.Option("--episode-type", help="itunes:episodeType (default: full)."),
    ] = None,
    season: Annotated[
        int | None, typer.Option("--season", help="itunes:season (default: the show's).")
    ] = None,
    profile: str | None = ProfileOption,
    region: str | None = RegionOption,
) -> None:
    """Review an episode's release (titles, notes, chapters, clips), or approve it."""
    configure_logging("WARNING")
    with friendly_errors():
        aws = aws_context(profile, region)
        aws.require_bucket()
        desk = _desk(aws)
        if (title, title_text, notes, episode_type, season) == (None,) * 5:
            _print_draft(desk.draft(episode))
            return
        text = notes.read_text(encoding="utf-8") if notes else None
        approved = desk.approve(
            episode,
            title_number=title,
            title_text=title_text,
            notes_markdown=text,
            episode_type=episode_type.value if episode_type else None,
            season=season,
        )
    assert approved.title is not None
    typer.echo(f"{episode}: {approved.state} — {approved.title.text}")


def publish(
    episode: Annotated[str, typer.Argument(help="Episode id.")],
    at: Annotated[
        str | None,
        typer.Option("--at", help="Publish later: 2026-12-04T06:00Z, or +30m / +2h."),
    ] = None,
    profile: str | None = ProfileOption,
    region: str | None = RegionOption,
) -> None:
    """Publish an approved episode to its show's feed now, or at a time."""
    configure_logging("WARNING")
    with friendly_errors():
        aws = aws_context(profile, region)
        aws.require_bucket()
        when = parse_when(at, utc_now()) if at else None
        outcome = _desk(aws).publish(episode, at=when)
    if outcome.release.state == "scheduled" and outcome.release.scheduled_for:
        typer.echo(f"{episode}: scheduled for {outcome.release.scheduled_for.isoformat()}")
    elif outcome.published_now:
        typer.echo(f"{episode}: published — {outcome.feed_url}")
    else:
        typer.echo(f"{episode}: already published — {outcome.feed_url}")


def unpublish(
    episode: Annotated[str, typer.Argument(help="Episode id.")],
    profile: str | None = ProfileOption,
    region: str | None = RegionOption,
) -> None:
    """Take an episode out of its feed (or cancel its schedule)."""
    configure_logging("WARNING")
    with friendly_errors():
        aws = aws_context(profile, region)
        aws.require_bucket()
        after = _desk(aws).unpublish(episode)
    typer.echo(f"{episode}: {after.state}")


@feed_app.command("rebuild")
def feed_rebuild(
    show: Annotated[str, typer.Argument(help="Show id (shows/<id>.json).")],
    profile: str | None = ProfileOption,
    region: str | None = RegionOption,
) -> None:
    """Regenerate a show's feed from its published releases (after editing shows/<id>.json)."""
    configure_logging("WARNING")
    with friendly_errors():
        aws = aws_context(profile, region)
        aws.require_bucket()
        outcome = _desk(aws).rebuild_feed(show)
    typer.echo(
        f"{outcome.feed_url}: {outcome.items} episode(s), {'written' if outcome.written else 'unchanged'}"
    )


@feed_app.command("serve")
def feed_serve(
    port: Annotated[
        int | None, typer.Option("--port", help="Port on 127.0.0.1 (default PODPIPE_FEED_PORT).")
    ] = None,
    profile: str | None = ProfileOption,
    region: str | None = RegionOption,
) -> None:
    """Serve the bucket's public/ prefix on 127.0.0.1 (the laptop's CloudFront)."""
    configure_logging("WARNING")
    with friendly_errors():
        aws = aws_context(profile, region)
        aws.require_bucket()
        server = make_server(aws.s3, aws.bucket, port=port or ReleaseSettings().feed_port)
    err_console.print(
        f"serving s3://{aws.bucket}/public/ on http://{LOOPBACK}:{server.server_port}/"
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
