"""Every environment variable a service reads is in the README, with its real default."""

from __future__ import annotations

from tests.support.config_reference import README, readme_block, render


def test_readme_configuration_block_is_current() -> None:
    assert readme_block(README.read_text()) == render(), (
        "README configuration is stale: run `uv run python -m tests.support.config_reference`"
    )


def test_every_setting_has_a_description() -> None:
    assert "|  |" not in render()
