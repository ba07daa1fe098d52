"""The process supervisor of `podpipe local up` / `podpipe local down`: detached processes
whose pids and logs live under ``.podpipe/``, so `down` stops exactly what `up` started, and
the environment a local service process runs with (pointed at the emulator, never at the
user's own AWS credentials).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from podpipe.settings import CoreSettings

DEFAULT_ENDPOINT = "http://127.0.0.1:4566"
SERVICES = ("transcode", "clips", "transcribe", "llm", "notify", "promote")
# Started by `podpipe local up` next to the services: the loop that fires scheduled releases,
# and the bucket's public/ prefix over HTTP on 127.0.0.1 (PODPIPE_FEED_PORT, default 8765).
RELEASE_PROCESSES = {
    "release-scheduler": [sys.executable, "-m", "podpipe.release"],
    "feed-server": [sys.executable, "-m", "podpipe_cli", "feed", "serve"],
}
LOCAL_AWS_ENV = {
    "AWS_ENDPOINT_URL": DEFAULT_ENDPOINT,
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def local_endpoint() -> str:
    """The emulator's endpoint: AWS_ENDPOINT_URL when set (e.g. another port), else 4566."""
    return os.environ.get("AWS_ENDPOINT_URL") or DEFAULT_ENDPOINT


@dataclass
class StateDir:
    """``.podpipe/``: pid files and logs of what `podpipe local up` started."""

    root: Path = field(
        default_factory=lambda: Path(os.environ.get("PODPIPE_STATE_DIR", ".podpipe"))
    )

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def pids(self) -> Path:
        return self.root / "pids"

    def pid_file(self, name: str) -> Path:
        return self.pids / f"{name}.pid"

    def log_file(self, name: str) -> Path:
        return self.logs / f"{name}.log"

    def started(self) -> list[str]:
        return sorted(p.stem for p in self.pids.glob("*.pid")) if self.pids.exists() else []


def spawn(name: str, argv: list[str], env: Mapping[str, str], state: StateDir) -> int:
    """Start a detached process whose pid and log live under the state dir."""
    state.logs.mkdir(parents=True, exist_ok=True)
    state.pids.mkdir(parents=True, exist_ok=True)
    with state.log_file(name).open("ab") as log_file:
        process = subprocess.Popen(
            argv,
            env=dict(env),
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # survives the make/pytest process that started it
        )
    state.pid_file(name).write_text(str(process.pid))
    return process.pid


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of ours counts as gone.
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return waited == 0


def _terminate(name: str, state: StateDir) -> int | None:
    """SIGTERM what the pid file names (the file is removed); None if nothing was running."""
    pid_file = state.pid_file(name)
    if not pid_file.exists():
        return None
    pid = int(pid_file.read_text().strip() or 0)
    pid_file.unlink()
    if pid <= 0 or not _alive(pid):
        return None
    os.kill(pid, signal.SIGTERM)
    return pid


def stop_all(names: Sequence[str], state: StateDir, timeout: float = 30.0) -> dict[str, bool]:
    """SIGTERM every named process at once, then wait for them together; SIGKILL the process
    group of any still running at the deadline. Each service drains its in-flight work in
    parallel, so stopping them takes the slowest one's time, not the sum of all of theirs.
    A name maps to False if nothing was running under it."""
    pids = {name: _terminate(name, state) for name in names}
    running = {name: pid for name, pid in pids.items() if pid is not None}
    deadline = time.monotonic() + timeout
    while running and time.monotonic() < deadline:
        time.sleep(0.2)
        running = {name: pid for name, pid in running.items() if _alive(pid)}
    for pid in running.values():
        os.killpg(pid, signal.SIGKILL)
    return {name: pid is not None for name, pid in pids.items()}


def stop(name: str, state: StateDir, timeout: float = 30.0) -> bool:
    """SIGTERM what the pid file names, wait, SIGKILL if needed; False if nothing was running."""
    return stop_all([name], state, timeout)[name]


def service_argv(service: str) -> list[str]:
    return [sys.executable, "-m", f"podpipe_{service}"]


def local_env(settings: CoreSettings, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment a local service process runs with."""
    # Never the user's own AWS credentials; the endpoint the emulator was started on.
    env = {**os.environ, **LOCAL_AWS_ENV, "AWS_ENDPOINT_URL": local_endpoint()}
    env.update(
        {
            "PODPIPE_NAME_PREFIX": settings.name_prefix,
            "PODPIPE_BUCKET": settings.bucket,
            "PODPIPE_BUS_NAME": settings.event_bus,
            "PODPIPE_LOG_JSON": "true",
        }
    )
    env.update(extra or {})
    return env
