"""`podpipe wait EPISODE`: block until the episode is completed (exit 0) or failed (exit 1);
exit 2 when the timeout passes first."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Annotated

import typer

from podpipe.layout import validate_episode_id
from podpipe_cli.context import (
    ProfileOption,
    RegionOption,
    aws_context,
    err_console,
    friendly_errors,
)
from podpipe_cli.status import console, read_status, render_episode

EXIT_COMPLETED = 0
EXIT_FAILED = 1
EXIT_TIMEOUT = 2


def wait(
    episode: Annotated[str, typer.Argument(help="Episode id.")],
    timeout: float = typer.Option(7200.0, "--timeout", min=0, help="Give up after S seconds."),
    interval: float = typer.Option(5.0, "--interval", min=0.05, help="Seconds between checks."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only the exit code and one line."),
    profile: str | None = ProfileOption,
    region: str | None = RegionOption,
) -> None:
    """Wait for an episode: exit 0 completed, 1 failed, 2 timed out (3: could not check)."""
    code = run_wait(episode, timeout, interval, quiet, profile, region, sleep=time.sleep)
    raise typer.Exit(code)


def run_wait(
    episode: str,
    timeout: float,
    interval: float,
    quiet: bool,
    profile: str | None,
    region: str | None,
    *,
    sleep: Callable[[float], None],
) -> int:
    with friendly_errors():
        episode_id = validate_episode_id(episode)
        aws = aws_context(profile, region)
        aws.require_bucket()
        deadline = time.monotonic() + timeout
        last_line = ""
        while True:
            status = read_status(aws, episode_id, with_dlq="if-unsettled").status
            done = sum(1 for s in status.stages if s.state == "done")
            line = f"{episode_id}: {status.state} ({done}/{len(status.stages)} stages done)"
            if line != last_line and not quiet:
                err_console.print(line, highlight=False)
                last_line = line
            if status.state == "completed":
                if not quiet:
                    render_episode(status, console)
                # Say what happened: every output exists, but was the team told?
                if not status.completed_marker:
                    announced = " (digest not announced yet)"
                elif status.digest_undelivered:
                    announced = f" (digest not delivered to {', '.join(status.digest_undelivered)})"
                else:
                    announced = ""
                typer.echo(f"{episode_id} completed{announced}")
                return EXIT_COMPLETED
            if status.state == "failed":
                render_episode(status, console)
                failed = ", ".join(s.stage for s in status.failed_stages)
                typer.echo(f"{episode_id} failed: {failed}")
                return EXIT_FAILED
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                typer.echo(f"{episode_id} still {status.state} after {timeout:g}s (timed out)")
                return EXIT_TIMEOUT
            sleep(min(interval, remaining))
