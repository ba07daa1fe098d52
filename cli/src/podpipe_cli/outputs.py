"""`podpipe outputs EPISODE --to DIR`: download every artifact under episodes/<id>/."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, DownloadColumn, Progress

from podpipe.episodes_s3 import list_objects
from podpipe.layout import EpisodeKeys, validate_episode_id
from podpipe_cli.context import (
    CliError,
    ProfileOption,
    RegionOption,
    aws_context,
    err_console,
    friendly_errors,
)


def outputs(
    episode: Annotated[str, typer.Argument(help="Episode id.")],
    to: Annotated[Path, typer.Option("--to", help="Directory to write into (created if missing).")],
    profile: str | None = ProfileOption,
    region: str | None = RegionOption,
) -> None:
    """Download every artifact of an episode (MP3, transcript, subtitles, outputs, clips)."""
    with friendly_errors():
        keys = EpisodeKeys(validate_episode_id(episode))
        aws = aws_context(profile, region)
        aws.require_bucket()
        objects = list(list_objects(aws.s3, aws.bucket, keys.root))
        if not objects:
            raise CliError(
                f"no such episode {episode!r}: nothing under s3://{aws.bucket}/{keys.root} "
                "(`podpipe status` lists recent episodes)"
            )
        target = to.expanduser().resolve()
        target.mkdir(parents=True, exist_ok=True)
        total = sum(o.size for o in objects)
        with Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            DownloadColumn(),
            console=err_console,
        ) as progress:
            task = progress.add_task(f"{len(objects)} files", total=total)
            for obj in objects:
                relative = obj.key[len(keys.root) :]
                path = (target / relative).resolve()
                if not path.is_relative_to(target):  # keys are validated, but never write outside
                    continue
                path.parent.mkdir(parents=True, exist_ok=True)
                aws.s3.download_file(
                    aws.bucket,
                    obj.key,
                    str(path),
                    Callback=lambda n: progress.update(task, advance=n),
                )
        err_console.print(f"{len(objects)} files, {total / 1_000_000:.1f} MB")
    typer.echo(str(target))
