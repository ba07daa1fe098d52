"""The local stack answers on loopback only, and `podpipe local down` leaves nothing listening.

LocalStack takes the fixed test/test credentials, and the local LLM server takes none: on a
café's Wi-Fi anything bound beyond 127.0.0.1 / ::1 hands the episode's recordings, drafts
and queues to the whole network. This runs `podpipe local up` against the test run's
emulator (started by the same `LocalStack.start` that `up` uses; `up` reuses a running one),
under a prefix of its own: the local model server, every service, the release scheduler and
the feed server. It reads the listening sockets of the emulator, of every process `up`
started and of their children, and then checks that `podpipe local down` stopped exactly
what `up` started: all of it, and not the emulator it found running.
"""

from __future__ import annotations

import ipaddress
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import psutil
import pytest

from podpipe_local.llm import SMALL_MODEL
from podpipe_local.supervisor import LOCAL_AWS_ENV, StateDir

pytestmark = [pytest.mark.integration, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[2]
LLM_PORT = 8937
FEED_PORT = 8767


def podpipe(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "podpipe_cli", *args],
        env=env,
        text=True,
        capture_output=True,
        timeout=600,
        check=False,
    )


def started_processes(state: StateDir) -> list[psutil.Process]:
    processes: list[psutil.Process] = []
    for name in state.started():
        pid = int(state.pid_file(name).read_text())
        try:
            parent = psutil.Process(pid)
            processes += [parent, *parent.children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
    return processes


def listening(processes: list[psutil.Process]) -> list[tuple[str, int, str]]:
    found = []
    for process in processes:
        try:
            connections = process.net_connections(kind="inet")
        except psutil.NoSuchProcess:
            continue
        for conn in connections:
            if conn.status == psutil.CONN_LISTEN or (conn.type == 2 and not conn.raddr):
                found.append((conn.laddr.ip, conn.laddr.port, process.name()))
    return found


def emulator_processes(port: int) -> list[psutil.Process]:
    """The process listening on the emulator's port, and its children."""
    [pid] = {
        c.pid
        for c in psutil.net_connections(kind="inet")
        if c.status == psutil.CONN_LISTEN and c.laddr.port == port and c.pid
    }
    parent = psutil.Process(pid)
    return [parent, *parent.children(recursive=True)]


def test_every_server_of_the_local_stack_binds_loopback_and_down_stops_them(
    localstack: str, tmp_path: Path
) -> None:
    state = StateDir(tmp_path / "state")
    localstack_port = urlsplit(localstack).port or 4566
    env = {
        **os.environ,
        **LOCAL_AWS_ENV,
        "AWS_ENDPOINT_URL": localstack,
        "PODPIPE_STATE_DIR": str(state.root),
        "PODPIPE_NAME_PREFIX": f"lo{uuid.uuid4().hex[:8]}",
        "PODPIPE_BUCKET": f"lo-{uuid.uuid4().hex[:12]}",
        "PODPIPE_LOCAL_LLM_MODEL": SMALL_MODEL,
        "PODPIPE_LOCAL_LLM_PORT": str(LLM_PORT),
        "PODPIPE_FEED_PORT": str(FEED_PORT),
    }
    for key in ("PODPIPE_LLM_PROVIDER", "PODPIPE_LLM_OPENAI_BASE_URL", "PODPIPE_LLM_MODEL"):
        env.pop(key, None)
    try:
        up = podpipe("local", "up", env=env)
        assert up.returncode == 0, up.stdout + up.stderr
        assert "localstack already running" in up.stdout  # found the run's own, reused it
        processes = started_processes(state)
        names = set(state.started())
        assert {"local-llm", "llm", "notify", "feed-server", "release-scheduler"} <= names, names
        assert "localstack" not in names
        # Servers that come up after `up` returns (the feed server) get a moment to bind.
        deadline = time.monotonic() + 30
        while FEED_PORT not in {p for _, p, _ in listening(processes)}:
            assert time.monotonic() < deadline, (
                "the feed server never listened: " + state.log_file("feed-server").read_text()
            )
            time.sleep(0.5)
            processes = started_processes(state)

        emulator = emulator_processes(localstack_port)
        sockets = listening(processes) + listening(emulator)
        ports = {port for _, port, _ in sockets}
        assert {localstack_port, LLM_PORT, FEED_PORT} <= ports, sockets  # they really listen
        exposed = [s for s in sockets if not ipaddress.ip_address(s[0]).is_loopback]
        assert exposed == [], f"bound beyond loopback: {exposed}"
    finally:
        down = podpipe("local", "down", env=env)
    assert down.returncode == 0, down.stdout + down.stderr
    deadline = time.monotonic() + 30
    alive = [p for p in processes if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    while alive and time.monotonic() < deadline:
        time.sleep(0.5)
        alive = [p for p in alive if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert alive == [], f"still running after make down: {alive}"
    still = [
        c.laddr
        for c in psutil.net_connections(kind="inet")
        if c.status == psutil.CONN_LISTEN and c.laddr.port in {LLM_PORT, FEED_PORT}
    ]
    assert still == [], f"still listening after make down: {still}"
    assert all(p.is_running() for p in emulator[:1]), "down stopped an emulator it did not start"
