"""A private LocalStack for a `terraform apply`: its own port, process, volume and Python.

The shared LocalStack (127.0.0.1:4566) runs with SQS_ENDPOINT_STRATEGY=path, whose queue
URLs the AWS provider rejects, and on Python 3.11, where KMS CreateKey fails (uuid5 with
bytes) — and the root module encrypts the bucket, the topics and the logs with its own key.
So the apply gets a LocalStack of its own: the same pinned requirements, installed into a
Python 3.12 virtual environment, SQS_ENDPOINT_STRATEGY=off, KMS enabled, on a free port.
It reuses podpipe_local.supervisor's process handling (spawn/stop by pid file), so stopping it ends
exactly the process it started.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

from podpipe_local.localstack import (
    LOCALSTACK_ENV,
    LOCALSTACK_REQUIREMENTS,
    LocalStack,
    LocalStackError,
)
from podpipe_local.supervisor import StateDir, spawn, stop

PROCESS_NAME = "localstack-terraform"
SERVICES = "s3,sqs,sns,events,iam,sts,cloudwatch,kms,logs"
PREFERRED_PORT = 4599


def find_python312() -> Path | None:
    """A working python3.12: one pyenv installed (pyenv need not select it), else on PATH.

    A pyenv shim on PATH answers "command not found" unless 3.12 is selected, so every
    candidate is run once before it is trusted.
    """
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    candidates = sorted(glob.glob(str(root / "versions" / "3.12*" / "bin" / "python3.12")))[::-1]
    on_path = shutil.which("python3.12")
    for candidate in [*candidates, *([on_path] if on_path else [])]:
        probe = subprocess.run([candidate, "-c", "import sys"], capture_output=True, check=False)
        if probe.returncode == 0:
            return Path(candidate)
    return None


def free_port(preferred: int = PREFERRED_PORT) -> int:
    for port in (preferred, 0):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            bound: int = probe.getsockname()[1]
            return bound
    raise LocalStackError("no free port for a second LocalStack")


class TerraformLocalStack(LocalStack):
    """LocalStack on Python 3.12 and its own port, for the provider and KMS."""

    def __init__(self, state: StateDir, python: Path, port: int) -> None:
        super().__init__(state, endpoint=f"http://127.0.0.1:{port}")
        self.port = port
        self.interpreter = python
        self.venv = Path(
            os.environ.get(
                "PODPIPE_LOCALSTACK_PY312_VENV",
                str(Path.home() / ".cache/podpipe/localstack-py312"),
            )
        )
        self.volume = state.root / "volume"

    def install(self) -> None:
        if self.installed():
            return
        uv = os.environ.get("UV") or shutil.which("uv")
        if uv is None:
            raise LocalStackError("uv is not on PATH (make installs it: run `make setup`)")
        subprocess.run(
            [uv, "venv", "--quiet", "--clear", "--python", str(self.interpreter), str(self.venv)],
            check=True,
        )
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

    def environment(self) -> dict[str, str]:
        return {
            **os.environ,
            **LOCALSTACK_ENV,
            # Queue URLs as http://127.0.0.1:<port>/<account>/<name>: what the provider accepts.
            "SQS_ENDPOINT_STRATEGY": "off",
            "LOCALSTACK_HOST": f"127.0.0.1:{self.port}",
            "GATEWAY_LISTEN": f"127.0.0.1:{self.port}",
            "SERVICES": SERVICES,
            # CloudWatch (the alarms) needs its volume directory to exist.
            "LOCALSTACK_VOLUME_DIR": str(self.volume),
        }

    def start(self, timeout: float = 120.0) -> bool:
        if self.healthy():
            raise LocalStackError(f"something already answers on {self.endpoint}")
        self.install()
        self.volume.mkdir(parents=True, exist_ok=True)
        argv = [str(self.python), "-m", "localstack.runtime.main"]
        spawn(PROCESS_NAME, argv, self.environment(), self.state)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.healthy():
                return True
            time.sleep(0.5)
        self.stop()
        raise LocalStackError(
            f"LocalStack on {self.endpoint} did not become healthy in {timeout:.0f} s; "
            f"see {self.state.log_file(PROCESS_NAME)}"
        )

    def stop(self) -> bool:
        return stop(PROCESS_NAME, self.state)
