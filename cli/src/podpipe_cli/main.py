"""The `podpipe` command. Service packages contribute sub-commands through the
``podpipe.cli`` entry-point group (e.g. `podpipe prompts` from podpipe-llm), so the core never
imports a service."""

from __future__ import annotations

import os
from importlib.metadata import entry_points
from pathlib import Path
from typing import Annotated

import typer

from podpipe.events import events_markdown
from podpipe.logging import configure_logging
from podpipe.settings import CoreSettings
from podpipe_cli.dlq import dlq_app
from podpipe_cli.outputs import outputs
from podpipe_cli.release import feed_app, publish, release, unpublish
from podpipe_cli.status import status
from podpipe_cli.upload import upload
from podpipe_cli.wait import wait
from podpipe_local.bootstrap import AwsClients, bootstrap
from podpipe_local.demo import DEFAULT_SAMPLE, run_demo
from podpipe_local.llm import choose_writer
from podpipe_local.localstack import LocalStack
from podpipe_local.supervisor import (
    LOCAL_AWS_ENV,
    RELEASE_PROCESSES,
    SERVICES,
    StateDir,
    local_env,
    service_argv,
    spawn,
    stop_all,
)

app = typer.Typer(
    name="podpipe",
    help="Podcast post-production on AWS: upload a recording, get an MP3, a transcript, "
    "subtitles, show notes, chapters, clips and a blog post.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
local_app = typer.Typer(
    help="Run podpipe on this machine against LocalStack.", no_args_is_help=True
)
app.add_typer(local_app, name="local")
app.add_typer(dlq_app, name="dlq")
app.command("upload")(upload)
app.command("status")(status)
app.command("wait")(wait)
app.command("outputs")(outputs)
app.command("release")(release)
app.command("publish")(publish)
app.command("unpublish")(unpublish)
app.add_typer(feed_app, name="feed")


@app.command("events")
def events_command(
    markdown: bool = typer.Option(True, "--markdown/--names", help="Full reference or names only."),
) -> None:
    """Print the reference of every event on the podpipe bus."""
    if markdown:
        typer.echo(events_markdown(), nl=False)
    else:
        from podpipe.events import EVENT_TYPES

        for event_type in EVENT_TYPES:
            typer.echo(f"{event_type.SOURCE}\t{event_type.DETAIL_TYPE}")


def _local_settings() -> CoreSettings:
    for key, value in LOCAL_AWS_ENV.items():
        os.environ.setdefault(key, value)
    return CoreSettings()


@local_app.command("install")
def local_install() -> None:
    """Install the pinned LocalStack into its own virtual environment (idempotent)."""
    emulator = LocalStack(StateDir())
    emulator.install()
    typer.echo(f"localstack installed in {emulator.venv}")


@local_app.command("bootstrap")
def local_bootstrap() -> None:
    """Create the bucket, bus, queues, DLQs, rules and topics on the endpoint (idempotent)."""
    configure_logging("WARNING")
    settings = _local_settings()
    created = bootstrap(settings, AwsClients.from_session())
    typer.echo(f"bucket  {created.bucket}\nbus     {created.bus_name}")
    for name, url in created.queue_urls.items():
        typer.echo(f"queue   {name:<13} {url}")


@local_app.command("up")
def local_up(
    services: str = typer.Option(",".join(SERVICES), help="Comma-separated services to start."),
) -> None:
    """Start LocalStack (unless one runs), bootstrap the topology, start the services."""
    configure_logging("WARNING")
    state = StateDir()
    emulator = LocalStack(state)
    started = emulator.start()
    typer.echo(
        "localstack " + ("started" if started else "already running") + f" at {emulator.endpoint}"
    )
    settings = _local_settings()
    created = bootstrap(settings, AwsClients.from_session())
    extra = {
        "PODPIPE_NOTIFY_TOPIC_ARN": created.topic_arns.get("notifications", ""),
        "PODPIPE_NOTIFY_GUESTS_TOPIC_ARN": created.topic_arns.get("guests", ""),
    }
    chosen = [s for s in services.split(",") if s]
    if "llm" in chosen:
        writer = choose_writer(state)
        extra.update(writer.env)
        typer.echo(f"{'llm writer':<10} {writer.description}")
    for service in chosen:
        if state.pid_file(service).exists():
            typer.echo(f"{service:<10} already started (pid file {state.pid_file(service)})")
            continue
        pid = spawn(service, service_argv(service), local_env(settings, extra), state)
        typer.echo(f"{service:<10} pid {pid}, log {state.log_file(service)}")
    # Release day on the laptop: the loop that fires scheduled releases, and public/ on HTTP.
    for name, argv in RELEASE_PROCESSES.items():
        if state.pid_file(name).exists():
            typer.echo(f"{name:<10} already started (pid file {state.pid_file(name)})")
            continue
        pid = spawn(name, argv, local_env(settings, extra), state)
        typer.echo(f"{name:<10} pid {pid}, log {state.log_file(name)}")
    typer.echo("point the podpipe CLI at it with:  eval $(uv run podpipe local env)")


@local_app.command("env")
def local_env_command() -> None:
    """Print the exports that point the podpipe CLI (and the AWS CLI) at LocalStack."""
    for key, value in LOCAL_AWS_ENV.items():
        typer.echo(f"export {key}={value}")


@local_app.command("down")
def local_down() -> None:
    """Stop exactly what `podpipe local up` started (services, the local LLM, LocalStack)."""
    state = StateDir()
    stopped = stop_all([s for s in state.started() if s != "localstack"], state)
    for name, was_running in stopped.items():
        typer.echo(f"{name:<10} {'stopped' if was_running else 'was not running'}")
    if state.pid_file("localstack").exists():
        typer.echo(f"localstack {'stopped' if LocalStack(state).stop() else 'was not running'}")


@app.command("demo")
def demo_command(
    sample: Annotated[
        Path, typer.Option(help="The recording to upload (relative to the working directory).")
    ] = DEFAULT_SAMPLE,
    metadata: Annotated[
        Path | None,
        typer.Option(help="Its title/show/hosts sidecar (default: the sample's path with .json)."),
    ] = None,
    out: Annotated[
        Path, typer.Option(envvar="PODPIPE_DEMO_OUTPUT", help="Where the outputs land.")
    ] = Path("demo-output"),
) -> None:
    """The whole pipeline on this machine on one recording (`make demo`), then release it."""
    raise typer.Exit(run_demo(out, sample=sample, metadata=metadata))


@local_app.command("logs")
def local_logs(
    service: str = typer.Argument(
        ..., help="transcode, clips, transcribe, llm, notify, promote or localstack"
    ),
) -> None:
    """Print the log file of a local process."""
    path: Path = StateDir().log_file(service)
    if not path.exists():
        raise typer.BadParameter(f"no log at {path}")
    typer.echo(path.read_text(), nl=False)


def _load_plugins() -> None:
    """Add the sub-commands that installed service packages contribute."""
    for entry in entry_points(group="podpipe.cli"):
        try:
            plugin = entry.load()
        except (ImportError, AttributeError) as exc:  # one broken plugin must not break the CLI
            typer.echo(f"podpipe: skipping plugin {entry.name!r}: {exc}", err=True)
            continue
        if isinstance(plugin, typer.Typer):
            app.add_typer(plugin, name=entry.name)


_load_plugins()


def main() -> None:
    app()
