"""The Terraform CLI for the infra tests: find it and the AWS provider, stage the root module.

No provider registry is reachable here, so `terraform init` installs hashicorp/aws from a
local plugin directory (``-plugin-dir``). The tests skip with the reason when the binary or
the provider is missing, unless PODPIPE_REQUIRE_TERRAFORM=1 (set by .ci/run on machines that
have both): then a missing tool is a failure, so a broken lookup cannot turn the Terraform
tests into silent skips.

Every command runs on a copy of infra/terraform (with topology.yaml at the same relative
path), so no init data, lock file or state ever lands in the working tree.
"""

from __future__ import annotations

import glob
import json
import os
import platform
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import pytest

REPO = Path(__file__).resolve().parents[2]
TF_SOURCE = REPO / "infra" / "terraform"
TOPOLOGY = Path("src") / "podpipe" / "topology.yaml"
REQUIRE_ENV = "PODPIPE_REQUIRE_TERRAFORM"
PLUGIN_DIR_ENV = "PODPIPE_TF_PLUGIN_DIR"
PROVIDER = Path("registry.terraform.io") / "hashicorp" / "aws"


def _platform() -> str:
    machine = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    return f"{platform.system().lower()}_{machine}"


def _plugin_dir_candidates() -> list[Path]:
    """PODPIPE_TF_PLUGIN_DIR, Terraform's implied local mirrors, then /opt/* (this machine's)."""
    home = Path.home()
    candidates = [
        home / ".terraform.d" / "plugins",
        Path(os.environ.get("XDG_DATA_HOME", home / ".local" / "share")) / "terraform" / "plugins",
        Path("/usr/local/share/terraform/plugins"),
        Path("/usr/share/terraform/plugins"),
        *(Path(p) for p in sorted(glob.glob("/opt/*"))),
    ]
    override = os.environ.get(PLUGIN_DIR_ENV)
    return [Path(override)] if override else candidates


def find_plugin_dir() -> Path | None:
    """A directory holding registry.terraform.io/hashicorp/aws/<5.x>/<os_arch>/the provider."""
    for directory in _plugin_dir_candidates():
        pattern = str(directory / PROVIDER / "5.*" / _platform() / "terraform-provider-aws_*")
        if glob.glob(pattern):
            return directory
    return None


def unavailable(reason: str) -> NoReturn:
    """Skip, or fail when the environment says Terraform must run here."""
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{REQUIRE_ENV}=1 but {reason}", pytrace=False)
    pytest.skip(reason)


@dataclass
class Terraform:
    """`terraform` in one staged working directory."""

    binary: str
    plugin_dir: Path
    workdir: Path
    env: dict[str, str] = field(default_factory=dict)

    def run(
        self, *args: str, timeout: float = 600, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [self.binary, *args],
            cwd=self.workdir,
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"terraform {' '.join(args)} exited {result.returncode}:\n"
                f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
            )
        return result

    def init(self) -> None:
        self.run("init", "-backend=false", f"-plugin-dir={self.plugin_dir}", "-no-color")

    def output(self) -> dict[str, Any]:
        values = json.loads(self.run("output", "-json").stdout)
        return {name: value["value"] for name, value in values.items()}


def terraform_env(scratch: Path) -> dict[str, str]:
    env = {
        "TF_IN_AUTOMATION": "1",
        "TF_INPUT": "0",
        "CHECKPOINT_DISABLE": "1",  # no upgrade check against checkpoint-api.hashicorp.com
    }
    configured = os.environ.get("TF_CLI_CONFIG_FILE")
    if configured and not Path(configured).exists():
        # A CLI config that names a missing file only produces a warning on every command.
        empty = scratch / "terraformrc"
        empty.write_text("")
        env["TF_CLI_CONFIG_FILE"] = str(empty)
    return env


def stage_root_module(target: Path) -> Path:
    """Copy infra/terraform (and the topology.yaml it reads) under ``target``; the copy's root."""
    root = target / "infra" / "terraform"
    shutil.copytree(
        TF_SOURCE,
        root,
        ignore=shutil.ignore_patterns(
            ".terraform", ".terraform.lock.hcl", "*.tfstate*", "*.tfvars"
        ),
    )
    (target / TOPOLOGY).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(REPO / TOPOLOGY, target / TOPOLOGY)
    return root


def terraform_in(target: Path) -> Terraform:
    """An initialised Terraform on a fresh copy of the root module, or skip/fail with why."""
    binary = os.environ.get("PODPIPE_TERRAFORM") or shutil.which("terraform")
    if binary is None:
        unavailable("no terraform binary on PATH (or PODPIPE_TERRAFORM)")
    plugin_dir = find_plugin_dir()
    if plugin_dir is None:
        unavailable(
            f"no hashicorp/aws 5.x provider for {_platform()} in a plugin dir "
            f"(set {PLUGIN_DIR_ENV} to the directory above registry.terraform.io)"
        )
    target.mkdir(parents=True, exist_ok=True)
    terraform = Terraform(binary, plugin_dir, stage_root_module(target), terraform_env(target))
    terraform.init()
    return terraform
