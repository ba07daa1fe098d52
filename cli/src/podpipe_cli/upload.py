"""`podpipe upload FILE`: the sidecar metadata first, then the audio (which starts the pipeline)."""

from __future__ import annotations

import mimetypes
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from pydantic import ValidationError
from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

from podpipe.layout import (
    AUDIO_EXTENSIONS,
    EpisodeKeys,
    EpisodeMetadata,
    sidecar_key,
    slugify_episode_id,
    validate_episode_id,
)
from podpipe.s3io import exists, put_json
from podpipe_cli.context import (
    CliError,
    ProfileOption,
    RegionOption,
    aws_context,
    err_console,
    friendly_errors,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


def upload_key(episode_id: str, file: Path) -> str:
    return f"uploads/{episode_id}{file.suffix.lower()}"


def episode_metadata(
    title: str, show: str, number: int | None, hosts: str, guests: str
) -> EpisodeMetadata:
    try:
        return EpisodeMetadata(
            title=title, show=show, episode_number=number, hosts=hosts, guests=guests
        )
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise CliError(f"invalid episode metadata: {problems}") from None


def send_episode(
    s3: S3Client,
    bucket: str,
    file: Path,
    episode_id: str,
    metadata: EpisodeMetadata,
    on_progress: Callable[[int], None] | None = None,
) -> str:
    """Upload the sidecar, then the audio; returns the audio's key.

    The sidecar goes FIRST: the audio's "Object Created" event starts the pipeline, and
    transcode/transcribe read the sidecar when they start.
    """
    put_json(s3, bucket, sidecar_key(episode_id), metadata)
    key = upload_key(episode_id, file)
    content_type = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
    s3.upload_file(
        str(file),
        bucket,
        key,
        # Also as object metadata, so the upload alone still carries what the host said.
        ExtraArgs={"ContentType": content_type, "Metadata": metadata.to_s3_metadata()},
        Callback=on_progress,
    )
    return key


def upload(
    file: Annotated[
        Path, typer.Argument(help="The recording (m4a, mp3, wav, flac, ogg, opus, ...).")
    ],
    episode: str | None = typer.Option(
        None, "--episode", help="Episode id (default: derived from the file name)."
    ),
    title: str = typer.Option("", "--title", help="Episode title."),
    show: str = typer.Option("", "--show", help="Show name."),
    number: int | None = typer.Option(None, "--number", help="Episode number.", min=0),
    hosts: str = typer.Option("", "--hosts", help="Comma-separated host names."),
    guests: str = typer.Option("", "--guests", help="Comma-separated guest names."),
    profile: str | None = ProfileOption,
    region: str | None = RegionOption,
) -> None:
    """Upload a recording; prints the episode id (the pipeline starts on its own)."""
    with friendly_errors():
        if not file.is_file():
            raise CliError(f"no such file: {file}")
        if file.suffix.lower() not in AUDIO_EXTENSIONS:
            known = ", ".join(sorted(AUDIO_EXTENSIONS))
            raise CliError(f"{file.name}: not an audio file podpipe takes ({known})")
        episode_id = validate_episode_id(episode) if episode else slugify_episode_id(file.stem)
        metadata = episode_metadata(title, show, number, hosts, guests)
        aws = aws_context(profile, region)
        aws.require_bucket()
        if exists(aws.s3, aws.bucket, EpisodeKeys(episode_id).audio):
            err_console.print(
                f"note: episode {episode_id} was processed before; "
                "stages whose outputs exist will not run again"
            )
        size = file.stat().st_size
        with Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            console=err_console,
            transient=False,
        ) as progress:
            task = progress.add_task(f"uploading {file.name}", total=size)
            key = send_episode(
                aws.s3,
                aws.bucket,
                file,
                episode_id,
                metadata,
                on_progress=lambda sent: progress.update(task, advance=sent),
            )
        err_console.print(f"uploaded s3://{aws.bucket}/{key}")
    # stdout carries only the id, so scripts can do EP=$(podpipe upload file.m4a).
    typer.echo(episode_id)
