"""The whole pipeline: the sample episode through the four real services on LocalStack.

The services run as real processes (`python -m podpipe_<name>`), exactly as `make demo` and
ECS run them; the host's side is the real `podpipe` CLI. A real open-weights model on the
local llama.cpp server writes every output (the small one, with tight output limits), and
each output is checked for structure and grounding, never for exact text. Slack is a local HTTP server, the
team's e-mail an SQS queue subscribed to the SNS topic, and a tap rule on the bus counts
every event, so "exactly one Episode Completed" is checked on the bus itself.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pysubs2
import pytest

from podpipe.artifacts import exists, get_json_or_none, read_stage
from podpipe.demo import (
    SAMPLE,
    SAMPLE_METADATA,
    LocalPipeline,
    Notification,
    metadata_args,
    wait_for_stage,
)
from podpipe.documents import Transcript
from podpipe.events import Envelope, EpisodeCompleted, parse_envelope
from podpipe.local import StateDir, queue_arn
from podpipe.storage import EpisodeKeys, EpisodeMetadata, StageRecord
from podpipe_llm.catalog import load_catalog
from podpipe_llm.evaluate import EvalEpisode, score_answer
from tests.support.local_llm import LocalLlm
from tests.support.localstack import Stack, bootstrapped_stack
from tests.support.slack import SlackStandIn

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[2]
FAULTY_PROMPT = "pull-quotes"


@dataclass
class Run:
    """One pipeline for the module, plus everything it told the outside world."""

    stack: Stack
    pipeline: LocalPipeline
    slack: SlackStandIn
    tap_url: str
    llm_model: str
    events: list[Envelope] = field(default_factory=list)
    email: list[Notification] = field(default_factory=list)

    def collect(self) -> None:
        for message in self.stack.drain(self.tap_url, expect=10_000, timeout=2):
            self.events.append(parse_envelope(message["Body"]))
        self.email += self.pipeline.read_inbox()

    def events_for(self, episode_id: str, detail_type: str) -> list[Envelope]:
        self.collect()
        return [
            e
            for e in self.events
            if e.detail_type == detail_type and e.detail.episode_key() == episode_id
        ]

    def upload(self, episode_id: str) -> None:
        self.pipeline.cli(
            "upload", str(SAMPLE), "--episode", episode_id, *metadata_args(SAMPLE_METADATA)
        )

    def wait(self, episode_id: str) -> int:
        return self.pipeline.cli(
            "wait", episode_id, "--timeout", "900", "--interval", "2", "--quiet", check=False
        ).returncode

    def stage(self, episode_id: str, stage: str) -> StageRecord | None:
        return read_stage(self.stack.s3, self.stack.bucket, episode_id, stage)

    def wait_for_stage(self, episode_id: str, stage: str, timeout: float = 900) -> StageRecord:
        record = wait_for_stage(self.stack.bucket, episode_id, stage, timeout)
        assert record is not None, f"stage {stage} of {episode_id} never started"
        assert record.status != "running", (
            f"stage {stage} of {episode_id} did not end in {timeout} s"
        )
        return record

    def exists(self, key: str) -> bool:
        return exists(self.stack.s3, self.stack.bucket, key)


def _tap(stack: Stack) -> str:
    """A queue that receives every podpipe event on the bus."""
    name = f"{stack.settings.name_prefix}-tap"
    url = stack.sqs.create_queue(QueueName=name)["QueueUrl"]
    stack.events.put_rule(
        Name=name,
        EventBusName=stack.settings.event_bus,
        EventPattern=json.dumps({"source": [{"prefix": "podpipe."}]}),
    )
    stack.events.put_targets(
        Rule=name,
        EventBusName=stack.settings.event_bus,
        Targets=[{"Id": "tap", "Arn": queue_arn(stack.sqs, url)}],
    )
    return url


@pytest.fixture(scope="module")
def run(
    localstack: str, local_llm: LocalLlm, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Run]:
    with bootstrapped_stack() as stack, SlackStandIn() as slack:
        tap_url = _tap(stack)
        pipeline = LocalPipeline(
            settings=stack.settings,
            state=StateDir(tmp_path_factory.mktemp("e2e-state")),
            service_env={
                "PODPIPE_WAIT_TIME_SECONDS": "1",
                "PODPIPE_NOTIFY_SLACK_WEBHOOK_URL": slack.url,
                # Full-size audiograms are checked by the clips tests; here they only have
                # to exist, so keep the render small to keep the suite fast.
                "PODPIPE_CLIPS_VIDEO_SIZE": "320x320",
                "PODPIPE_CLIPS_VIDEO_FPS": "10",
                "PODPIPE_CLIPS_X264_PRESET": "ultrafast",
                **local_llm.service_env(),
            },
        )
        pipeline.created = stack.created
        pipeline.subscribe_inbox()
        pipeline.start_services()
        try:
            yield Run(
                stack=stack,
                pipeline=pipeline,
                slack=slack,
                tap_url=tap_url,
                llm_model=local_llm.model,
            )
        finally:
            pipeline.stop_services()
            # Keep the services' logs where a failing CI run can be read.
            kept = REPO / ".podpipe" / "e2e-logs"
            kept.mkdir(parents=True, exist_ok=True)
            for log in pipeline.state.logs.glob("*.log"):
                shutil.copy(log, kept / log.name)


@pytest.mark.timeout(1200)  # Whisper and eight prompts on a real model, on two cores
def test_sample_episode_becomes_a_release(run: Run) -> None:
    episode = "e2e-happy"
    run.upload(episode)

    assert run.wait(episode) == 0, "podpipe wait should report the episode completed"
    keys = EpisodeKeys(episode)
    s3, bucket = run.stack.s3, run.stack.bucket

    # The publishable audio, at the loudness target.
    [transcoded] = run.events_for(episode, "Audio Transcoded")
    assert run.exists(keys.audio)
    assert abs(transcoded.detail.integrated_lufs + 16) <= 1  # type: ignore[attr-defined]
    assert transcoded.detail.true_peak_dbtp <= -1  # type: ignore[attr-defined]

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
    assert len(run.events_for(episode, "Prompt Completed")) == len(prompt_ids)

    # Written by the real local model, in the shape each prompt asks for, about this episode.
    catalog = load_catalog()
    sample = EvalEpisode(
        episode, transcript, EpisodeMetadata.model_validate_json(SAMPLE_METADATA.read_text())
    )
    cached_share: dict[str, float] = {}
    for prompt_id in prompt_ids:
        spec = catalog.get(prompt_id)
        meta = get_json_or_none(s3, bucket, keys.prompt_metadata(prompt_id))
        assert meta["model"] == f"openai:{run.llm_model}", prompt_id
        assert meta["prompt_layout"] == "shared-prefix", prompt_id
        text = s3.get_object(Bucket=bucket, Key=keys.prompt_output(prompt_id, spec.extension))
        card = score_answer(spec, text["Body"].read().decode(), sample)
        assert card.check("structure").score > 0, (prompt_id, card.checks)
        if spec.output == "json":
            assert card.check("structure").passed, (prompt_id, card.checks)
        if prompt_id in {"show-notes", "titles", "newsletter"}:
            assert card.check("grounding").score >= 0.5, (prompt_id, card.checks)
        cached_share[prompt_id] = meta["cached_input_tokens"] / meta["input_tokens"]
    # The transcript prefix was processed once for the episode, not once per prompt.
    assert sum(share >= 0.5 for share in cached_share.values()) >= len(prompt_ids) - 2, cached_share

    # Clips and the trailer, cut from the clip picks.
    clips = run.wait_for_stage(episode, "clips")
    assert clips.status == "done", clips.reason
    assert run.exists(keys.clips_prefix + "clip-01.mp3")
    assert run.exists(keys.clips_prefix + "clip-01.mp4")
    assert run.exists(keys.clips_prefix + "trailer.mp3")

    # Exactly one "Episode Completed" on the bus, and one digest on each channel.
    [completed] = run.events_for(episode, "Episode Completed")
    assert isinstance(completed.detail, EpisodeCompleted)
    assert not completed.detail.failed_prompts
    digests = [n for n in run.email if episode in n.subject and "ompleted" in n.subject]
    assert len(digests) == 1
    assert "audio.mp3" in digests[0].message
    slack_digests = [t for t in run.slack.texts() if episode in t and "ompleted" in t]
    assert len(slack_digests) == 1
    assert any("Audio ready" in n.subject or "audio" in n.subject.lower() for n in run.email)


@pytest.mark.timeout(1200)
def test_one_failed_prompt_is_replayed_alone(run: Run) -> None:
    """A prompt that cannot run fails alone; its replay command finishes the episode."""
    episode = "e2e-fault"
    s3, bucket = run.stack.s3, run.stack.bucket
    # The team edits one prompt in S3 to use a model this deployment cannot reach (the
    # local stack has no Bedrock: the call is refused, so the prompt fails at once).
    packaged = (REPO / "prompts" / f"{FAULTY_PROMPT}.md").read_text()
    broken = packaged.replace(
        "model: default", "model: bedrock:anthropic.claude-3-5-haiku-20241022-v1:0", 1
    )
    assert broken != packaged
    s3.put_object(Bucket=bucket, Key=f"prompts/{FAULTY_PROMPT}.md", Body=broken.encode())
    run.upload(episode)

    assert run.wait(episode) == 1, "a failed prompt makes the episode 'failed' until replayed"
    [failed] = run.events_for(episode, "Prompt Failed")
    assert failed.detail.prompt_id == FAULTY_PROMPT  # type: ignore[attr-defined]
    command: str = failed.detail.replay_command  # type: ignore[attr-defined]
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
    replay = run.pipeline.cli(*args, "--model", f"openai:{run.llm_model}", check=False)
    assert replay.returncode == 0, replay.stdout + replay.stderr

    assert run.wait(episode) == 0
    assert run.exists(keys.prompt_metadata(FAULTY_PROMPT))
    # No transcode or transcription work was redone.
    after = {stage: run.stage(episode, stage) for stage in ("transcode", "transcribe")}
    assert after == before
    assert len(run.events_for(episode, "Transcript Ready")) == 1
    assert len(run.events_for(episode, "Audio Transcoded")) == 1
    # "Episode Completed" went out once in the episode's whole life.
    time.sleep(5)
    assert len(run.events_for(episode, "Episode Completed")) == 1
