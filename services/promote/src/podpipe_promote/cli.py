"""`podpipe promote EP`: print an episode's promotion plan (making it when there is none), and
the host's moves on it: --skip N, --move N --at TIME, --now N, --replan, --cancel.

Contributed to the root CLI through the ``podpipe.cli`` entry point. Every decision lives in
:class:`~podpipe_promote.desk.PromotionDesk`; this only maps arguments onto it.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from podpipe.layout import validate_episode_id
from podpipe.release.model import ReleaseError, parse_when
from podpipe.release.operations import utc_now
from podpipe_cli.context import CliError, aws_context, friendly_errors
from podpipe_promote.desk import PromotionDesk
from podpipe_promote.plan import PlanError, PromotionPlan
from podpipe_promote.wiring import desk_for_session

console = Console()
promote_app = typer.Typer(
    help="An episode's promotion plan: print it, skip, move or post an item now.",
    invoke_without_command=True,
    # One command with options after the episode (`promote EP --skip 3`): a group would take
    # what follows EP for a sub-command.
    context_settings={"allow_interspersed_args": True},
)


def print_plan(plan: PromotionPlan, out: Console = console) -> None:
    cadence = ",".join(str(d) for d in plan.cadence_days)
    out.print(
        f"[bold]{plan.episode_id}[/] · show {plan.show_id} · plan {plan.state} · "
        f"cadence days {cadence}"
    )
    table = Table(show_lines=True)
    for column in ("#", "when (UTC)", "network", "state", "text", "clip"):
        table.add_column(column, overflow="fold")
    for item in plan.items:
        state = item.state + (f"\n{item.post_uri}" if item.post_uri else "")
        state += f"\n{item.note}" if item.note else ""
        table.add_row(
            str(item.number),
            item.at.strftime("%a %Y-%m-%d %H:%M"),
            item.network,
            state,
            item.text,
            (item.clip_key or "-").rsplit("/", 1)[-1],
        )
    out.print(table)


def _desk(profile: str | None, region: str | None) -> PromotionDesk:
    aws = aws_context(profile, region)
    aws.require_bucket()
    return desk_for_session(aws.session, aws.s3)


@promote_app.callback()
def promote(
    episode: Annotated[str, typer.Argument(help="Episode id (published).")],
    skip: Annotated[int | None, typer.Option("--skip", help="Skip item N.")] = None,
    move: Annotated[int | None, typer.Option("--move", help="Move item N (with --at).")] = None,
    at: Annotated[
        str | None, typer.Option("--at", help="New time: ISO 8601 with a zone, or +30m/+2h/+1d.")
    ] = None,
    now: Annotated[int | None, typer.Option("--now", help="Post item N now.")] = None,
    replan: Annotated[
        bool, typer.Option("--replan", help="Make the plan again from the current posts.")
    ] = False,
    cancel: Annotated[
        bool, typer.Option("--cancel", help="Cancel what is still scheduled.")
    ] = False,
    profile: Annotated[str | None, typer.Option("--profile", envvar="AWS_PROFILE")] = None,
    region: Annotated[str | None, typer.Option("--region")] = None,
) -> None:
    chosen = [x for x in (skip, move, now) if x is not None]
    if len(chosen) + replan + cancel > 1:
        raise typer.BadParameter("use one of --skip, --move, --now, --replan, --cancel")
    if (move is None) != (at is None):
        raise typer.BadParameter("--move N needs --at TIME (and --at goes with --move)")
    with friendly_errors():
        try:
            validate_episode_id(episode)
            desk = _desk(profile, region)
            if skip is not None:
                plan = desk.skip(episode, skip)
            elif move is not None and at is not None:
                plan = desk.move(episode, move, parse_when(at, utc_now()))
            elif now is not None:
                plan = desk.now(episode, now)
            elif cancel:
                found = desk.cancel(episode)
                if found is None:
                    raise CliError(f"{episode} has no promotion plan")
                plan = found
            else:
                existing = None if replan else desk.plan(episode)
                plan = existing or desk.make_plan(episode, replace=replan)
        except (PlanError, ReleaseError) as exc:
            raise CliError(str(exc)) from None
    print_plan(plan)
