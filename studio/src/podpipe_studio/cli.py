"""`podpipe studio`: the web app on 127.0.0.1, against the account the CLI uses.

Contributed to the `podpipe` command through the ``podpipe.cli`` entry-point group, so the
core never imports the studio and no service image carries it.
"""

from __future__ import annotations

import socket
import threading
import webbrowser
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

import typer
import uvicorn
from pydantic import Field

from podpipe.logging import configure_logging
from podpipe.settings import CoreSettings
from podpipe_cli.context import (
    AwsContext,
    ProfileOption,
    RegionOption,
    aws_context,
    err_console,
    friendly_errors,
)
from podpipe_studio.app import create_app
from podpipe_studio.backend import Studio
from podpipe_studio.security import Guard

LOOPBACK = "127.0.0.1"


class StudioSettings(CoreSettings):
    studio_port: int = Field(
        default=8790,
        ge=0,
        le=65535,
        description="Port of `podpipe studio` on 127.0.0.1 (0: any free port).",
    )


studio_app = typer.Typer(
    help="The episodes, their outputs and their release in a browser (127.0.0.1 only).",
    invoke_without_command=True,
)


@dataclass
class RunningStudio:
    url: str
    port: int
    guard: Guard
    server: uvicorn.Server


def _server(studio: Studio, port: int) -> tuple[uvicorn.Server, Guard, socket.socket]:
    # Bind first (port 0 picks a free one), so the token's Host check knows the real port.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((LOOPBACK, port))
    except OSError:
        sock.close()
        raise
    bound = int(sock.getsockname()[1])
    guard = Guard(port=bound)
    config = uvicorn.Config(
        create_app(studio, guard),
        log_level="warning",
        access_log=False,
        lifespan="off",
        server_header=False,
    )
    return uvicorn.Server(config), guard, sock


@contextmanager
def running(studio: Studio, port: int = 0) -> Iterator[RunningStudio]:
    """The studio on a background thread (tests and `podpipe studio`); stopped on exit."""
    server, guard, sock = _server(studio, port)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started and thread.is_alive():
        threading.Event().wait(0.05)
    bound = guard.port
    try:
        yield RunningStudio(guard.url(LOOPBACK, bound), bound, guard, server)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def build_studio(aws: AwsContext) -> Studio:
    aws.require_bucket()
    return Studio.from_context(aws)


@studio_app.callback()
def studio(
    ctx: typer.Context,
    port: int | None = typer.Option(
        None, "--port", help="Port on 127.0.0.1 (default PODPIPE_STUDIO_PORT, 8790; 0: any)."
    ),
    open_browser: bool = typer.Option(
        False, "--open/--no-open", help="Open the URL in the default browser."
    ),
    profile: str | None = ProfileOption,
    region: str | None = RegionOption,
) -> None:
    """Start the studio on 127.0.0.1 and print its URL (with this launch's token)."""
    if ctx.invoked_subcommand is not None:
        return
    configure_logging("WARNING")
    with friendly_errors():
        aws = aws_context(profile, region)
        studio_ = build_studio(aws)
        chosen = StudioSettings().studio_port if port is None else port
    with ExitStack() as stack:
        try:
            live = stack.enter_context(running(studio_, chosen))
        except OSError as exc:
            err_console.print(
                f"[bold red]error:[/] cannot listen on {LOOPBACK}:{chosen} ({exc.strerror}): "
                "pass another --port, or --port 0 for any free one",
                highlight=False,
            )
            raise typer.Exit(3) from None
        err_console.print(
            f"podpipe studio on {aws.endpoint}, bucket {aws.bucket}\n"
            f"open  {live.url}\n(listens on {LOOPBACK}:{live.port} only; Ctrl-C stops it)",
            highlight=False,
            soft_wrap=True,
        )
        if open_browser:
            webbrowser.open(live.url)
        try:
            while live.server.started and not live.server.should_exit:
                threading.Event().wait(0.5)
        except KeyboardInterrupt:
            pass
