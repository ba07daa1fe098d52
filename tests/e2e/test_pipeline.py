"""The whole pipeline: the sample episode through the four real services on LocalStack.

The services run as real processes (`python -m podpipe_<name>`), exactly as `make demo` and
ECS run them; the host's side is the real `podpipe` CLI. Slack is a local HTTP server, the
team's e-mail an SQS queue subscribed to the SNS topic, and a tap rule on the bus counts
every event, so "exactly one Episode Completed" is checked on the bus itself. The LLM here is
the deterministic extractive stand-in, so these tests pin the pipeline's mechanics;
test_local_llm.py runs the same pipeline with a real model writing.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import podcastparser
import pysubs2
import pytest

from podpipe.artifacts import get_json_or_none
from podpipe.demo import SAMPLE_METADATA
from podpipe.documents import Transcript
from podpipe.events import (
    AudioTranscoded,
    EpisodeCompleted,
    EpisodePublished,
    PromptCompleted,
    PromptFailed,
    TranscriptReady,
)
from podpipe.release.model import parse_titles
from podpipe.release.serve import serving
from podpipe.storage import EpisodeKeys
from tests.support.e2e import Run, running_pipeline
from tests.support.release import ARTWORK, ARTWORK_KEY, show_config

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[2]
FAULTY_PROMPT = "pull-quotes"
# The release finds an episode's show by the title its metadata names.
SHOW_ID = "the-show"
SHOW_TITLE: str = json.loads(SAMPLE_METADATA.read_text())["show"]


@pytest.fixture(scope="module")
def run(localstack: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    with running_pipeline(
        tmp_path_factory.mktemp("e2e-state"), {"PODPIPE_LLM_PROVIDER": "extractive"}
    ) as pipeline_run:
        yield pipeline_run


def test_sample_episode_becomes_a_release(run: Run) -> None:
    episode = "e2e-happy"
    run.upload(episode)

    assert run.wait(episode) == 0, "podpipe wait should report the episode completed"
    keys = EpisodeKeys(episode)
    s3, bucket = run.stack.s3, run.stack.bucket

    # The publishable audio, at the loudness target.
    [transcoded] = run.events_for(episode, AudioTranscoded)
    assert run.exists(keys.audio)
    assert abs(transcoded.detail.integrated_lufs + 16) <= 1
    assert transcoded.detail.true_peak_dbtp <= -1

    # The transcript and subtitles a listener and a search engine get.
    transcript = Transcript.model_validate(get_json_or_none(s3, bucket, keys.transcript_json))
    assert transcript.word_count > 300
    for key in (keys.subtitles_srt, keys.subtitles_vtt):
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
        subtitles = pysubs2.SSAFile.from_string(body)
        assert len(subtitles) > 20
        assert all(len(line) <= 42 for cue in subtitles for line in cue.plaintext.splitlines())

    # Every prompt of the catalog wrote its output.
    manifest = get_json_or_none(s3, bucket, keys.manifest)
    prompt_ids = [p["id"] for p in manifest["prompts"]]
    assert {"titles", "show-notes", "chapters", "blog-post", "clip-picks"} <= set(prompt_ids)
    for prompt_id in prompt_ids:
        meta = get_json_or_none(s3, bucket, keys.prompt_metadata(prompt_id))
        assert meta is not None, f"no output for {prompt_id}"
    assert len(run.events_for(episode, PromptCompleted)) == len(prompt_ids)

    # Clips and the trailer, cut from the clip picks.
    clips = run.wait_for_stage(episode, "clips")
    assert clips.status == "done", clips.reason
    assert run.exists(keys.clips_prefix + "clip-01.mp3")
    assert run.exists(keys.clips_prefix + "clip-01.mp4")
    assert run.exists(keys.clips_prefix + "trailer.mp3")

    # Exactly one "Episode Completed" on the bus, and one digest on each channel.
    [completed] = run.events_for(episode, EpisodeCompleted)
    assert isinstance(completed.detail, EpisodeCompleted)
    assert not completed.detail.failed_prompts
    digests = [n for n in run.email if episode in n.subject and "ompleted" in n.subject]
    assert len(digests) == 1
    assert "audio.mp3" in digests[0].message
    slack_digests = [t for t in run.slack.texts() if episode in t and "ompleted" in t]
    assert len(slack_digests) == 1
    assert any("Audio ready" in n.subject or "audio" in n.subject.lower() for n in run.email)


def test_the_episode_is_approved_published_and_in_the_feed(run: Run, tmp_path: Path) -> None:
    """upload → outputs → approve with the second generated title and edited notes →
    publish → the feed, fetched over HTTP from the local public/ server, lists the episode
    with exactly that title and those notes (read by gPodder's podcastparser)."""
    episode = "e2e-release"
    s3, bucket = run.stack.s3, run.stack.bucket
    run.upload(episode)
    assert run.wait(episode) == 0

    with serving(s3, bucket) as base_url:
        show = show_config(base_url, title=SHOW_TITLE)
        s3.put_object(Bucket=bucket, Key=f"shows/{SHOW_ID}.json", Body=json.dumps(show).encode())
        s3.put_object(Bucket=bucket, Key=ARTWORK_KEY, Body=ARTWORK)

        # The titles the model wrote, read straight from the episode's outputs.
        written = s3.get_object(
            Bucket=bucket, Key=EpisodeKeys(episode).prompt_output("titles", "md")
        )
        generated = parse_titles(written["Body"].read().decode())
        assert len(generated) >= 2, generated
        chosen = generated[1]

        def podpipe(*args: str) -> str:
            result = run.pipeline.cli(*args, check=False)
            assert result.returncode == 0, result.stdout + result.stderr
            return result.stdout

        draft = podpipe("release", episode)
        assert f"2. {chosen}" in draft, draft

        notes = tmp_path / "notes.md"
        notes.write_text(
            "# What we covered\n\nEdited by **Priya** before release: the e2e-approved notes.\n"
        )
        approved = podpipe("release", episode, "--title", "2", "--notes", str(notes))
        assert f"approved — {chosen}" in approved, approved
        published = podpipe("publish", episode)
        assert "published" in published, published

        feed_url = f"{base_url}/{SHOW_ID}/feed.xml"
        with urllib.request.urlopen(feed_url, timeout=10) as reply:
            parsed = podcastparser.parse(feed_url, reply)
        assert parsed["title"] == SHOW_TITLE
        [item] = [e for e in parsed["episodes"] if e["title"] == chosen]
        assert item["title"] == chosen
        assert "Edited by <strong>Priya</strong> before release" in item["description_html"]
        assert "the e2e-approved notes" in item["description_html"]
        [enclosure] = item["enclosures"]
        audio = s3.head_object(Bucket=bucket, Key=EpisodeKeys(episode).audio)
        assert enclosure["file_size"] == audio["ContentLength"]
        with urllib.request.urlopen(enclosure["url"], timeout=10) as mp3:
            assert len(mp3.read()) == audio["ContentLength"]

    # One "Episode Published" on the bus, naming the same title and feed.
    [event] = run.events_for(episode, EpisodePublished)
    assert isinstance(event.detail, EpisodePublished)
    assert event.detail.title == chosen
    assert event.detail.feed_url == feed_url


def test_one_failed_prompt_is_replayed_alone(run: Run) -> None:
    """A prompt that cannot run fails alone; its replay command finishes the episode."""
    episode = "e2e-fault"
    s3, bucket = run.stack.s3, run.stack.bucket
    # The team edits one prompt in S3 to use a model this deployment cannot reach.
    packaged = (REPO / "prompts" / f"{FAULTY_PROMPT}.md").read_text()
    broken = packaged.replace("model: default", "model: openai:gpt-4o-mini", 1)
    assert broken != packaged
    s3.put_object(Bucket=bucket, Key=f"prompts/{FAULTY_PROMPT}.md", Body=broken.encode())
    run.upload(episode)

    assert run.wait(episode) == 1, "a failed prompt makes the episode 'failed' until replayed"
    [failed] = run.events_for(episode, PromptFailed)
    assert failed.detail.prompt_id == FAULTY_PROMPT
    command: str = failed.detail.replay_command
    assert command.startswith("podpipe dlq replay --queue llm")
    notices = [n for n in run.email if FAULTY_PROMPT in n.message and command in n.message]
    assert notices, "the team is told the exact replay command"
    assert any(command in t for t in run.slack.texts())
    # Every other prompt still completed.
    keys = EpisodeKeys(episode)
    manifest = get_json_or_none(s3, bucket, keys.manifest)
    others = [p["id"] for p in manifest["prompts"] if p["id"] != FAULTY_PROMPT]
    assert all(run.exists(keys.prompt_metadata(p)) for p in others)
    before = {stage: run.stage(episode, stage) for stage in ("transcode", "transcribe")}

    # The fix: put the prompt back and replay exactly the command we were sent, choosing a
    # model that works here.
    s3.delete_object(Bucket=bucket, Key=f"prompts/{FAULTY_PROMPT}.md")
    args = command.split()[1:]
    replay = run.pipeline.cli(*args, "--model", "extractive", check=False)
    assert replay.returncode == 0, replay.stdout + replay.stderr

    assert run.wait(episode) == 0
    assert run.exists(keys.prompt_metadata(FAULTY_PROMPT))
    # No transcode or transcription work was redone.
    after = {stage: run.stage(episode, stage) for stage in ("transcode", "transcribe")}
    assert after == before
    assert len(run.events_for(episode, TranscriptReady)) == 1
    assert len(run.events_for(episode, AudioTranscoded)) == 1
    # "Episode Completed" went out once in the episode's whole life: counted once notify has
    # handled everything the replay caused (its queue empty, nothing in flight).
    run.idle("notify")
    assert len(run.events_for(episode, EpisodeCompleted)) == 1
