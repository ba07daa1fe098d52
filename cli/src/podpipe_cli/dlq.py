"""`podpipe dlq list` and `podpipe dlq replay`: what failed, and replaying exactly that.

Core commands (every queue has a DLQ); they only need SQS. Settings come from the PODPIPE_
environment (CoreSettings) and the client from boto3's default chain, so AWS_ENDPOINT_URL
points them at LocalStack with no special case.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from podpipe.dlq import DeadLetters, DlqError, DlqMessage, Selection
from podpipe.settings import CoreSettings
from podpipe_cli.context import fail, friendly_errors

dlq_app = typer.Typer(
    help="Dead-letter queues: list what failed, replay exactly the messages you choose.",
    no_args_is_help=True,
)


def _dead_letters() -> DeadLetters:
    import boto3

    settings = CoreSettings()
    return DeadLetters(boto3.client("sqs", region_name=settings.region), settings)


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    if seconds < 172800:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"


@dlq_app.command("list")
def list_command(
    queue: str | None = typer.Option(None, "--queue", "-q", help="One queue (default: all)."),
    as_json: bool = typer.Option(
        False, "--json", help="One JSON list instead of a table ([] when empty)."
    ),
    limit: int = typer.Option(100, help="At most this many messages per DLQ."),
) -> None:
    """Show every dead-lettered message, decoded: episode, prompt, reason, receives, age."""
    with friendly_errors(json_output=as_json):
        dead = _dead_letters()
        found: list[DlqMessage] = []
        for name in dead.queues(queue):
            found += dead.list(name, limit=limit)
    if as_json:
        typer.echo(json.dumps([message.summary() for message in found], indent=2))
        return
    if not found:
        typer.echo("No dead-lettered messages.")
        return
    table = Table(title=f"{len(found)} dead-lettered message(s)")
    for column in ("queue", "episode", "prompt", "type", "reason", "receives", "age"):
        table.add_column(column, overflow="fold")
    for m in found:
        table.add_row(
            m.queue,
            m.episode_id or "-",
            m.prompt_id or "-",
            m.detail_type or "?",
            m.reason,
            str(m.receive_count) if m.receive_count_exact else f"~{m.receive_count}",
            _age(m.age_seconds),
        )
    Console().print(table)
    if not all(m.receive_count_exact for m in found):
        # SQS counts the receives a listing makes too; the runtime's own count is exact.
        typer.echo(
            "~N receives: moved by SQS itself, so the count includes earlier listings "
            "of the DLQ (each listing receives the messages)."
        )


@dlq_app.command("replay")
def replay_command(
    queue: str = typer.Option(..., "--queue", "-q", help="The queue whose DLQ to replay."),
    episode: str | None = typer.Option(None, "--episode", "-e", help="Only this episode."),
    prompt: str | None = typer.Option(None, "--prompt", "-p", help="Only this prompt (llm)."),
    model: str | None = typer.Option(
        None, "--model", "-m", help="Run the replayed prompts with this model instead."
    ),
    replay_all: bool = typer.Option(
        False, "--all", help="Move the whole DLQ back (StartMessageMoveTask; no filters)."
    ),
) -> None:
    """Send the selected messages back to their queue (receive → filter → send → delete)."""
    echo: Callable[[Any], None] = typer.echo
    with friendly_errors():
        dead = _dead_letters()
        dead.queues(queue)  # validates the name before touching AWS
        if replay_all:
            if episode or prompt or model:
                raise DlqError(
                    "--all moves the whole DLQ: it cannot be combined with filters or --model"
                )
            report = dead.replay_all(queue)
            echo(f"Moving every message of {queue}'s DLQ back (task {report.move_task_handle}).")
            return
        if not (episode or prompt):
            raise DlqError("choose messages with --episode and/or --prompt, or use --all")
        if prompt and queue != "llm":
            raise DlqError("--prompt only applies to the llm queue")
        report = dead.replay(
            queue,
            Selection(episode_id=episode, prompt_id=prompt),
            model=model,
            on_replayed=lambda m: echo(
                f"replayed {m.detail_type or 'message'} episode={m.episode_id or '-'}"
                + (f" prompt={m.prompt_id}" if m.prompt_id else "")
                + (f" model={model}" if model else "")
            ),
        )
    if not report.replayed:
        fail(f"no dead-lettered message matched ({report.kept} left untouched in the DLQ)", 1)
    echo(f"{len(report.replayed)} message(s) sent back to {queue}; {report.kept} left in the DLQ.")
