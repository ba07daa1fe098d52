"""infra/terraform through the real Terraform CLI and hashicorp/aws provider.

`fmt -check`, `validate`, and `terraform test` (infra/terraform/tests/*.tftest.hcl, a mocked
provider: no credentials, no network) on a staged copy of the root module. Skips when the
binary or provider is missing; fails instead under PODPIPE_REQUIRE_TERRAFORM=1 (.ci/run).
"""

from __future__ import annotations

import json
import re

import pytest

from tests.infra.terraform_cli import TF_SOURCE, Terraform, terraform_in

TFTEST_FILES = sorted((TF_SOURCE / "tests").glob("*.tftest.hcl"))
RUN_BLOCK = re.compile(r'^run\s+"([\w-]+)"', re.MULTILINE)


@pytest.fixture(scope="module")
def terraform(tmp_path_factory: pytest.TempPathFactory) -> Terraform:
    return terraform_in(tmp_path_factory.mktemp("terraform-cli"))


def test_every_file_is_formatted(terraform: Terraform) -> None:
    result = terraform.run("fmt", "-check", "-recursive", "-diff", "-no-color", check=False)
    assert result.returncode == 0, (
        f"run `terraform fmt -recursive infra/terraform`:\n{result.stdout}"
    )


def test_the_configuration_is_valid(terraform: Terraform) -> None:
    report = json.loads(terraform.run("validate", "-json", "-no-color", check=False).stdout)
    problems = [
        f"{d['severity']}: {d['summary']} {d.get('detail', '')}" for d in report["diagnostics"]
    ]
    assert report["valid"], "\n".join(problems)
    assert report["error_count"] == 0
    assert report["warning_count"] == 0, "\n".join(problems)


def test_terraform_test_passes_every_run(terraform: Terraform) -> None:
    runs = [name for path in TFTEST_FILES for name in RUN_BLOCK.findall(path.read_text())]
    assert len(runs) >= 6, f"expected the mocked-provider runs in {TF_SOURCE / 'tests'}"

    result = terraform.run("test", "-no-color", check=False, timeout=900)

    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    assert f"Success! {len(runs)} passed, 0 failed." in output, output[-3000:]
    for name in runs:
        assert re.search(rf'run "{name}"\.\.\. pass', output), f"{name} did not pass:\n{output}"
