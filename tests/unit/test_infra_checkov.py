"""checkov over infra/terraform: zero failed checks, and every skip says why.

Runs offline (`--skip-download`: no Prisma Cloud metadata) and only the Terraform framework,
which keeps it to about 10 s of CPU.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from typing import Any

import pytest

from tests.unit.infra_support import TF_ROOT, all_tf_files

SKIP = re.compile(r"#\s*checkov:skip=([A-Z0-9_]+)(:?)(.*)")


def _summaries(output: str) -> list[dict[str, Any]]:
    report = json.loads(output)
    return report if isinstance(report, list) else [report]


@pytest.mark.skipif(importlib.util.find_spec("checkov") is None, reason="checkov not installed")
def test_checkov_finds_no_failed_check() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "checkov.main",
            "--directory",
            str(TF_ROOT),
            "--framework",
            "terraform",
            "--skip-download",
            "--quiet",
            "--compact",
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.stdout.strip(), f"checkov printed nothing: {result.stderr[-2000:]}"
    reports = _summaries(result.stdout)
    failed = [
        f"{c['check_id']} {c['resource']} ({c['file_path']}:{c['file_line_range'][0]}): {c['check_name']}"
        for report in reports
        for c in report.get("results", {}).get("failed_checks", [])
    ]
    assert not failed, "checkov failed checks:\n" + "\n".join(failed)
    for report in reports:
        assert report["summary"]["parsing_errors"] == 0
        assert report["summary"]["resource_count"] > 50, "checkov did not read the modules"
    assert result.returncode == 0, result.stderr[-2000:]


def test_every_checkov_skip_is_inline_with_a_reason() -> None:
    skips = []
    for path in all_tf_files():
        for number, line in enumerate(path.read_text().splitlines(), 1):
            match = SKIP.search(line)
            if match:
                check, colon, reason = match.groups()
                where = f"{path.relative_to(TF_ROOT)}:{number}"
                assert re.fullmatch(r"CKV2?_AWS_\d+", check), where
                assert colon, f"{where}: skip without a reason"
                assert len(reason.strip()) >= 20, f"{where}: say why {check} does not apply"
                skips.append(check)
    # A growing list is a smell worth a look, not a failure: say how many there are.
    assert len(skips) < 15, f"{len(skips)} checkov skips: {sorted(skips)}"
