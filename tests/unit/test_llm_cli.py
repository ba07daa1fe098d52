"""`podpipe prompts` without AWS: a local transcript file and the packaged catalog."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from podpipe_llm.cli import prompts_app
from tests.support.scripted_llm import synthetic_transcript

NO_LLM = {"PODPIPE_LLM_MODEL": "", "PODPIPE_LLM_OPENAI_BASE_URL": "", "PODPIPE_LLM_PROVIDER": ""}


@pytest.fixture
def transcript_file(tmp_path: Path) -> Path:
    path = tmp_path / "transcript.json"
    path.write_text(synthetic_transcript("ep-cli", 900).model_dump_json())
    return path


def test_prompts_list_shows_the_catalog_and_the_model_each_prompt_gets() -> None:
    result = CliRunner().invoke(prompts_app, ["list", "--local", "--json"], env=NO_LLM)

    assert result.exit_code == 0, result.output
    assert '"id": "clip-picks"' in result.output
    assert '"model": "extractive"' in result.output


def test_prompts_test_prints_the_output(transcript_file: Path) -> None:
    result = CliRunner().invoke(
        prompts_app,
        [
            "test",
            "chapters",
            "--episode",
            "ep-cli",
            "--transcript",
            str(transcript_file),
            "--local",
        ],
        env=NO_LLM,
    )

    assert result.exit_code == 0, result.output
    assert '"startTime": 0.0' in result.output


def test_prompts_compare_shows_models_side_by_side_and_reports_failures(
    transcript_file: Path,
) -> None:
    result = CliRunner().invoke(
        prompts_app,
        [
            "compare",
            "titles",
            "--episode",
            "ep-cli",
            "--transcript",
            str(transcript_file),
            "--local",
            "--models",
            "extractive,openai:llama3.1",
        ],
        env={**NO_LLM, "COLUMNS": "200"},
    )

    assert result.exit_code == 0, result.output
    assert "Title ideas" in result.output
    assert "PODPIPE_LLM_OPENAI_BASE_URL" in result.output  # why openai:llama3.1 failed
    assert "tokens in" in result.output


def test_an_unknown_prompt_is_a_clear_error(transcript_file: Path) -> None:
    result = CliRunner().invoke(
        prompts_app,
        ["test", "faq", "--episode", "ep-cli", "--transcript", str(transcript_file), "--local"],
        env=NO_LLM,
    )

    assert result.exit_code == 2
    assert "no prompt 'faq' in the catalog" in result.output
    assert "Traceback" not in result.output


def test_prompts_list_json_prints_one_json_document_when_it_fails() -> None:
    """Issue #16: every `--json` mode prints one JSON document on stdout, errors included
    (like `podpipe status --json` and `dlq list --json`); the red line stays on stderr."""
    env = {**NO_LLM, "PODPIPE_LLM_PROVIDER": "bogus"}

    result = CliRunner().invoke(prompts_app, ["list", "--local", "--json"], env=env)

    assert result.exit_code == 2
    document = json.loads(result.stdout)
    assert document["exit_code"] == 2
    assert "PODPIPE_LLM_PROVIDER" in document["error"]
    assert "PODPIPE_LLM_PROVIDER" in result.stderr
    plain = CliRunner().invoke(prompts_app, ["list", "--local"], env=env)
    assert (plain.exit_code, plain.stdout) == (2, "")
