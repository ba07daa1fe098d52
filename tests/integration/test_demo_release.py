"""`make demo`'s release step on LocalStack: with no show file in the bucket it seeds the
sample's show, approves generated title 1, publishes, and reads the feed back over HTTP."""

from __future__ import annotations

import subprocess
from pathlib import Path

import podcastparser
import pytest
from typer.testing import CliRunner

from podpipe.layout import EpisodeMetadata
from podpipe.release.shows import parse_show
from podpipe_cli.main import app
from podpipe_local.demo import DEFAULT_SAMPLE, release_episode, sample_metadata, seed_show
from tests.support.localstack import Stack
from tests.support.release import episode_artifacts, sidecar

pytestmark = pytest.mark.integration


def test_the_demo_releases_its_episode_into_a_feed(
    stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in stack.env().items():
        if key.startswith(("PODPIPE_", "AWS_")):
            monkeypatch.setenv(key, value)
    episode = "demo-release"
    for key, (body, content_type) in episode_artifacts(episode).items():
        stack.s3.put_object(Bucket=stack.bucket, Key=key, Body=body, ContentType=content_type)
    # The metadata `make demo` uploads with the sample: the show it names is the one seeded.
    repo = Path(__file__).resolve().parents[2]
    metadata_file = sample_metadata(repo / DEFAULT_SAMPLE)
    metadata = EpisodeMetadata.model_validate_json(metadata_file.read_text())
    stack.put_sidecar(episode, {**sidecar(42), "show": metadata.show})
    runner = CliRunner()

    def cli(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = runner.invoke(app, list(args))
        return subprocess.CompletedProcess(args, result.exit_code, result.output, "")

    assert release_episode(cli, stack.s3, stack.bucket, episode, tmp_path, metadata) == 0

    show_key = "shows/small-steps.json"
    show = parse_show(
        stack.s3.get_object(Bucket=stack.bucket, Key=show_key)["Body"].read(), show_key
    )
    assert show.title == metadata.show == "Small Steps"
    assert show.hosts == metadata.hosts
    artwork = stack.s3.get_object(Bucket=stack.bucket, Key=show.artwork_key)["Body"].read()
    assert artwork.startswith(b"\x89PNG")
    feed = podcastparser.parse("feed.xml", (tmp_path / "feed.xml").open("rb"))
    [item] = feed["episodes"]
    generated_first = cli("release", episode).stdout
    assert f"1. {item['title']}" in generated_first
    assert item["enclosures"][0]["file_size"] == 48_000
    assert list(tmp_path.iterdir()) == [tmp_path / "feed.xml"]  # the artwork's workdir is gone


def test_a_teams_own_show_is_left_alone(stack: Stack, tmp_path: Path) -> None:
    stack.s3.put_object(Bucket=stack.bucket, Key="shows/ours.json", Body=b"{}")
    metadata = EpisodeMetadata(show="Small Steps")
    assert not seed_show(stack.s3, stack.bucket, "http://127.0.0.1:1", tmp_path, metadata)
    keys = [o["Key"] for o in stack.s3.list_objects_v2(Bucket=stack.bucket)["Contents"]]
    assert keys == ["shows/ours.json"]
