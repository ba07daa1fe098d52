"""The episode commands print one clear error line (exit code 3) instead of a traceback."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from podpipe_cli.main import app
from podpipe_cli.upload import episode_metadata, upload_key

runner = CliRunner()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def offline_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Credentials set, endpoint pointing at a port where nothing listens."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{closed_port()}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.delenv("AWS_PROFILE", raising=False)


def audio_file(tmp_path: Path, name: str = "My Episode #42.m4a") -> Path:
    path = tmp_path / name
    path.write_bytes(b"\x00" * 128)
    return path


def assert_clean_error(output: str, exit_code: int, needle: str) -> None:
    assert exit_code == 3, output
    assert "Traceback" not in output
    assert "error:" in output
    assert needle in output


@pytest.mark.usefixtures("offline_env")
@pytest.mark.parametrize(
    "args",
    [
        ["status"],
        ["status", "some-episode"],
        ["wait", "some-episode", "--timeout", "1"],
        ["outputs", "some-episode", "--to", "out"],
    ],
)
def test_unreachable_endpoint_is_a_clear_error(args: list[str]) -> None:
    result = runner.invoke(app, args)
    assert_clean_error(result.output, result.exit_code, "cannot reach http://127.0.0.1:")
    assert "make up" in result.output


@pytest.mark.usefixtures("offline_env")
def test_upload_to_unreachable_endpoint_is_a_clear_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["upload", str(audio_file(tmp_path))])
    assert_clean_error(result.output, result.exit_code, "cannot reach")


@pytest.mark.usefixtures("offline_env")
def test_no_credentials_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", raising=False)
    monkeypatch.delenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", raising=False)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    result = runner.invoke(app, ["status", "some-episode"])
    assert_clean_error(result.output, result.exit_code, "no AWS credentials found")


@pytest.mark.usefixtures("offline_env")
def test_unknown_profile_is_a_clear_error() -> None:
    result = runner.invoke(app, ["status", "--profile", "nosuchprofile"])
    assert_clean_error(result.output, result.exit_code, "nosuchprofile")


@pytest.mark.usefixtures("offline_env")
def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["upload", str(tmp_path / "nope.m4a")])
    assert_clean_error(result.output, result.exit_code, "no such file")


@pytest.mark.usefixtures("offline_env")
def test_non_audio_file_is_refused(tmp_path: Path) -> None:
    result = runner.invoke(app, ["upload", str(audio_file(tmp_path, "notes.txt"))])
    assert_clean_error(result.output, result.exit_code, "not an audio file")


@pytest.mark.usefixtures("offline_env")
@pytest.mark.parametrize("command", [["status"], ["wait"], ["outputs", "--to", "x"]])
def test_hostile_episode_id_is_refused(command: list[str]) -> None:
    result = runner.invoke(app, [command[0], "../etc", *command[1:]])
    assert_clean_error(result.output, result.exit_code, "invalid episode id")


@pytest.mark.usefixtures("offline_env")
def test_upload_with_hostile_episode_id_is_refused(tmp_path: Path) -> None:
    result = runner.invoke(app, ["upload", str(audio_file(tmp_path)), "--episode", "../x"])
    assert_clean_error(result.output, result.exit_code, "invalid episode id")


def test_upload_key_lowercases_the_extension() -> None:
    assert upload_key("ep-1", Path("Recording.M4A")) == "uploads/ep-1.m4a"


def test_episode_metadata_splits_names() -> None:
    meta = episode_metadata("Pilot", "Show", 3, "Ana, Bo", "Cy")
    assert (meta.hosts, meta.guests, meta.episode_number) == (["Ana", "Bo"], ["Cy"], 3)
