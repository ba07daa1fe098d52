"""Shared pytest plugins: LocalStack, local LLM and local PDS fixtures for integration and e2e
tests, and how `make test` spreads the files over pytest-xdist workers."""

from __future__ import annotations

import pytest

pytest_plugins = ["tests.support.localstack", "tests.support.local_llm", "tests.support.pds"]

# The whole-pipeline runs keep two cores busy with Whisper, ffmpeg and the model: one worker
# takes them one after the other while the other worker runs the rest, which mostly waits on
# the emulator.
CPU_BOUND_GROUP = "tests/e2e"


@pytest.hookimpl(tryfirst=True)  # before xdist's worker reads the groups
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under `--dist loadgroup` a file's tests run on one worker, so a module fixture (a
    terraform apply, a running pipeline) is set up once; the e2e files share one worker."""
    for item in items:
        path = item.nodeid.split("::", 1)[0]
        group = CPU_BOUND_GROUP if path.startswith(CPU_BOUND_GROUP + "/") else path
        item.add_marker(pytest.mark.xdist_group(group))
