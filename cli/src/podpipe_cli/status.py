"""`podpipe status [EPISODE] [--json]`: where an episode stands, per stage, with timings."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal

import typer
from rich.console import Console
from rich.table import Table

from podpipe.dlq import DeadLetters
from podpipe.episodes import DlqEntry, EpisodeStatus, StageStatus
from podpipe.episodes_s3 import EpisodeSnapshot, list_objects, read_episode
from podpipe.layout import (
    EPISODES_PREFIX,
    UPLOADS_PREFIX,
    InvalidEpisodeKeyError,
    episode_id_from_upload_key,
    is_audio_upload,
    validate_episode_id,
)
from podpipe.stages import replay_command
from podpipe_cli.context import (
    AwsContext,
    CliError,
    ProfileOption,
    RegionOption,
    aws_context,
    friendly_errors,
)

console = Console()

STATE_STYLE = {
    "pending": "dim",
    "running": "yellow",
    "done": "green",
    "completed": "bold green",
    "failed": "bold red",
    "in DLQ": "bold red",
}


def dlq_entries(aws: AwsContext, episode_id: str | None = None) -> list[DlqEntry]:
    """Messages in podpipe's DLQs that name an episode (decoded by podpipe.dlq).

    Only non-empty DLQs are read (a depth check is one cheap call; a listing long-polls).
    """
    dead_letters = DeadLetters(aws.sqs, aws.settings)
    entries: list[DlqEntry] = []
    for queue in DeadLetters.queues():
        if dead_letters.depth(queue) == 0:
            continue
        for message in dead_letters.list(queue):
            if not message.episode_id or (episode_id and message.episode_id != episode_id):
                continue
            entries.append(
                DlqEntry(
                    queue=queue,
                    episode_id=message.episode_id,
                    prompt_id=message.prompt_id,
                    reason=message.reason,
                )
            )
    return entries


def read_status(
    aws: AwsContext, episode_id: str, *, with_dlq: bool | Literal["if-unsettled"] = True
) -> EpisodeSnapshot:
    """Read an episode. ``"if-unsettled"`` looks into the DLQs only when S3 alone does not
    settle it (listing a DLQ briefly hides its messages from a concurrent replay)."""
    entries = dlq_entries(aws, episode_id) if with_dlq is True else []
    snapshot = read_episode(
        aws.s3, aws.bucket, episode_id, dlq_entries=entries, with_notifications=True
    )
    if with_dlq == "if-unsettled" and not snapshot.status.is_settled:
        entries = dlq_entries(aws, episode_id)
        if entries:
            snapshot = read_episode(
                aws.s3, aws.bucket, episode_id, dlq_entries=entries, with_notifications=True
            )
    if not snapshot.status.exists:
        raise CliError(
            f"no such episode {episode_id!r} in bucket {aws.bucket!r} "
            "(nothing under uploads/ or episodes/; `podpipe status` lists recent episodes)"
        )
    return snapshot


def _clock(ts: float | None) -> str:
    return "" if ts is None else datetime.fromtimestamp(ts).strftime("%H:%M:%S")


def _seconds(stage: StageStatus) -> str:
    if stage.seconds is not None:
        return f"{stage.seconds:.1f}s"
    if stage.state == "running" and stage.started_at is not None:
        return f"{datetime.now().timestamp() - stage.started_at:.0f}s so far"
    return ""


def render_episode(status: EpisodeStatus, out: Console) -> None:
    style = STATE_STYLE.get(status.state, "")
    wall = f" · {status.wall_seconds:.1f}s wall" if status.wall_seconds is not None else ""
    out.print(f"[bold]{status.episode_id}[/]  [{style}]{status.state}[/]{wall}", highlight=False)
    table = Table(show_edge=False, pad_edge=False)
    for column in ("stage", "state", "started", "took", "attempts", "reason"):
        table.add_column(column, overflow="fold")
    for stage in status.stages:
        table.add_row(
            stage.stage,
            f"[{STATE_STYLE.get(stage.state, '')}]{stage.label}[/]",
            _clock(stage.started_at),
            _seconds(stage),
            str(stage.attempts or ""),
            (stage.reason or "")[:200],
        )
    out.print(table)
    if status.manifest_prompts is None:
        out.print("[dim]prompts: not dispatched yet (waiting for the transcript)[/]")
    for note in status.notes:
        out.print(f"[yellow]note:[/] {note}")
    failed_prompts = [s.prompt_id for s in status.prompt_stages if s.failed and s.prompt_id]
    for prompt_id in failed_prompts:
        out.print(
            f"replay: {replay_command(status.episode_id, prompt_id)}",
            highlight=False,
        )


def recent_episode_ids(aws: AwsContext, limit: int) -> list[str]:
    """Episodes (started or only uploaded), most recently touched first."""
    latest: dict[str, datetime] = {}
    for obj in list_objects(aws.s3, aws.bucket, EPISODES_PREFIX):
        episode_id = obj.key[len(EPISODES_PREFIX) :].split("/", 1)[0]
        latest[episode_id] = max(latest.get(episode_id, obj.last_modified), obj.last_modified)
    for obj in list_objects(aws.s3, aws.bucket, UPLOADS_PREFIX):
        if not is_audio_upload(obj.key):
            continue
        try:
            episode_id = episode_id_from_upload_key(obj.key)
        except InvalidEpisodeKeyError:
            continue
        latest[episode_id] = max(latest.get(episode_id, obj.last_modified), obj.last_modified)
    ordered = sorted(latest, key=lambda e: latest[e], reverse=True)
    return ordered[:limit]


def status(
    episode: Annotated[
        str | None, typer.Argument(help="Episode id (omit: recent episodes).")
    ] = None,
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    limit: int = typer.Option(10, "--limit", min=1, help="How many recent episodes to list."),
    profile: str | None = ProfileOption,
    region: str | None = RegionOption,
) -> None:
    """Per stage (transcode, transcribe, each prompt, clips; a video's video, video-subtitles,
    youtube): pending / running / done / failed / in DLQ."""
    with friendly_errors(json_output=as_json):
        episode_id = validate_episode_id(episode) if episode is not None else None
        aws = aws_context(profile, region)
        aws.require_bucket()
        if episode_id is not None:
            snapshot = read_status(aws, episode_id)
            if as_json:
                typer.echo(json.dumps(snapshot.status.as_dict(), indent=2))
            else:
                render_episode(snapshot.status, console)
            return
        entries = dlq_entries(aws)
        rows: list[dict[str, Any]] = []
        for episode_id in recent_episode_ids(aws, limit):
            snap = read_episode(
                aws.s3,
                aws.bucket,
                episode_id,
                dlq_entries=[e for e in entries if e.episode_id == episode_id],
            )
            rows.append(_summary(snap))
        if as_json:
            typer.echo(json.dumps(rows, indent=2))
            return
        if not rows:
            console.print(f"no episodes in bucket {aws.bucket} yet (`podpipe upload FILE`)")
            return
        table = Table(show_edge=False, pad_edge=False)
        for column in ("episode", "state", "stages done", "failed", "wall", "last change"):
            table.add_column(column)
        for row in rows:
            table.add_row(
                row["episode_id"],
                f"[{STATE_STYLE.get(row['state'], '')}]{row['state']}[/]",
                f"{row['done']}/{row['stages']}",
                ", ".join(row["failed"]),
                "" if row["wall_seconds"] is None else f"{row['wall_seconds']:.0f}s",
                row["last_modified"] or "",
            )
        console.print(table)


def _summary(snapshot: EpisodeSnapshot) -> dict[str, Any]:
    status = snapshot.status
    last = snapshot.last_modified
    return {
        "episode_id": status.episode_id,
        "state": status.state,
        "stages": len(status.stages),
        "done": sum(1 for s in status.stages if s.state == "done"),
        "failed": [s.stage for s in status.failed_stages],
        "wall_seconds": status.wall_seconds,
        "last_modified": last.isoformat(timespec="seconds") if last else None,
    }
