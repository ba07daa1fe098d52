"""LocalStack itself: the pinned emulator installed in its own virtual environment and run on
the host (no Docker), its pid and log kept by the supervisor under ``.podpipe/``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import structlog

from podpipe_local.supervisor import StateDir, local_endpoint, spawn, stop

log = structlog.get_logger()

LOCALSTACK_REQUIREMENTS = (
    # 4.14+ needs Python 3.12; the project was archived in March 2026, so it stays pinned.
    "localstack-core[runtime]==4.13.1",
    "cbor2<5.7",
    "cryptography<44",
    "pyopenssl<24.3",
    "joserfc<1.1",
    "service_identity<24.3",
)
LOCALSTACK_ENV = {
    "DISABLE_EVENTS": "1",  # else shutdown hangs on an unreachable analytics host
    "SQS_ENDPOINT_STRATEGY": "path",  # else queue URLs name a host with no DNS here
    "LOCALSTACK_HOST": "127.0.0.1:4566",
    "GATEWAY_LISTEN": "127.0.0.1:4566",
    # LocalStack's default gateway (twisted) drops the host of GATEWAY_LISTEN and binds
    # 0.0.0.0 (localstack/runtime/server/twisted.py: "TODO: interface = host?"); hypercorn
    # binds exactly what GATEWAY_LISTEN says, so the emulator answers on loopback only.
    "GATEWAY_SERVER": "hypercorn",
    "DNS_ADDRESS": "0",  # no DNS server (it would listen on 0.0.0.0:53)
    "SERVICES": "s3,sqs,sns,events,iam,sts,cloudwatch,logs",
}


class LocalStackError(RuntimeError):
    """LocalStack could not be installed or did not come up."""


class LocalStack:
    """The pinned LocalStack in its own virtual environment, run on the host."""

    def __init__(self, state: StateDir, endpoint: str | None = None) -> None:
        self.state = state
        # The endpoint the CLI and services use is the one LocalStack listens on.
        self.endpoint = endpoint or local_endpoint()
        self.venv = Path(
            os.environ.get(
                "PODPIPE_LOCALSTACK_VENV", str(Path.home() / ".cache/podpipe/localstack")
            )
        )

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    def installed(self) -> bool:
        marker = self.venv / ".podpipe-requirements"
        return (
            self.python.exists()
            and marker.exists()
            and marker.read_text() == "\n".join(LOCALSTACK_REQUIREMENTS)
        )

    def install(self) -> None:
        if self.installed():
            return
        uv = os.environ.get("UV") or shutil.which("uv")  # `uv run` exports UV
        if uv is None:
            raise LocalStackError("uv is not on PATH (make installs it: run `make setup`)")
        log.info("localstack.installing", venv=str(self.venv))
        subprocess.run([uv, "venv", "--quiet", "--python", "3.11", str(self.venv)], check=True)
        subprocess.run(
            [
                uv,
                "pip",
                "install",
                "--quiet",
                "--python",
                str(self.python),
                *LOCALSTACK_REQUIREMENTS,
            ],
            check=True,
        )
        (self.venv / ".podpipe-requirements").write_text("\n".join(LOCALSTACK_REQUIREMENTS))

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.endpoint}/_localstack/health", timeout=2) as reply:
                services = json.load(reply).get("services", {})
        except (urllib.error.URLError, OSError, ValueError):
            return False
        return all(
            services.get(s) in {"available", "running"} for s in ("s3", "sqs", "events", "sns")
        )

    def start(self, timeout: float = 120.0) -> bool:
        """Start LocalStack unless one already answers; True if this call started it."""
        if self.healthy():
            return False
        self.install()
        env = {**os.environ, **LOCALSTACK_ENV, **self.listen_env()}
        spawn("localstack", [str(self.python), "-m", "localstack.runtime.main"], env, self.state)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.healthy():
                return True
            time.sleep(0.5)
        raise LocalStackError(
            f"LocalStack did not become healthy in {timeout:.0f} s; see {self.state.log_file('localstack')}"
        )

    def listen_env(self) -> dict[str, str]:
        """Bind the gateway to loopback at the endpoint's port, whatever the endpoint says."""
        port = urllib.parse.urlsplit(self.endpoint).port or 4566
        return {"GATEWAY_LISTEN": f"127.0.0.1:{port}", "LOCALSTACK_HOST": f"127.0.0.1:{port}"}

    def stop(self) -> bool:
        return stop("localstack", self.state)
