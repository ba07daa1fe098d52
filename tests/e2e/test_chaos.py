"""Chaos: every service killed once mid-stage, the emulator frozen, and still every output
exactly once.

The sample episode runs through the real service processes (as in test_pipeline.py) on
an emulator of its own (so freezing it disturbs nothing else). A watcher polls the stage
records and, the first time it sees each stage running, SIGKILLs the process group that runs
it (ffmpeg and Whisper with it, as an ECS task stop would) and starts a fresh process: transcode,
transcribe, llm (mid-prompt), clips (mid-render, not while it waits for the MP3) and notify (right
after its first delivery). While the LLM works through the episode's prompts the emulator
itself is frozen with SIGSTOP for longer than a heartbeat interval, then thawed.

Queues get a 15 s visibility timeout so a killed task's message comes back within seconds
(the runtime's heartbeat keeps live work invisible). The episode must still complete with
every prompt's output, the clips and the trailer, one "Episode Completed" on the bus, every
notification delivered once per channel and one digest per channel, and nothing in a DLQ.
"""

from __future__ import annotations

import os
import signal
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.exceptions import BotoCoreError

from podpipe.events import EpisodeCompleted
from podpipe.layout import EpisodeKeys
from podpipe.s3io import get_json_or_none, read_stage
from podpipe.stages import PROMPT_STAGE_PREFIX
from podpipe_local.localstack import LocalStack
from podpipe_local.supervisor import LOCAL_AWS_ENV, StateDir, service_argv, spawn
from tests.support.e2e import Run, running_pipeline
from tests.support.localstack import Stack

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.chaos]
EPISODE = "chaos-episode"
ENDPOINT = "http://127.0.0.1:4597"
VISIBILITY_SECONDS = 15
FREEZE_SECONDS = 8  # longer than a heartbeat interval (a third of the visibility timeout)


@pytest.fixture(scope="module")
def emulator() -> Iterator[LocalStack]:
    """A LocalStack of this module's own, on its own port."""
    saved = {k: os.environ.get(k) for k in (*LOCAL_AWS_ENV, "AWS_ENDPOINT_URL")}
    os.environ.update({**LOCAL_AWS_ENV, "AWS_ENDPOINT_URL": ENDPOINT})
    state = StateDir(Path(tempfile.mkdtemp(prefix="podpipe-chaos-ls-")))
    stack = LocalStack(state, endpoint=ENDPOINT)
    started = stack.start()
    try:
        yield stack
    finally:
        if started:
            stack.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def short_visibility(stack: Stack) -> None:
    for url in stack.created.queue_urls.values():
        stack.sqs.set_queue_attributes(
            QueueUrl=url, Attributes={"VisibilityTimeout": str(VISIBILITY_SECONDS)}
        )


def kill_and_restart(run: Run, service: str) -> None:
    state = run.pipeline.state
    pid = int(state.pid_file(service).read_text())
    os.killpg(pid, signal.SIGKILL)
    os.waitpid(pid, 0)  # reap it: the services are our children
    spawn(service, service_argv(service), run.pipeline.env(), state)


def freeze(emulator: LocalStack, seconds: float) -> None:
    pid = int(emulator.state.pid_file("localstack").read_text())
    os.killpg(pid, signal.SIGSTOP)
    try:
        time.sleep(seconds)
    finally:
        os.killpg(pid, signal.SIGCONT)


def running(run: Run, stage: str, *, working: bool = False) -> bool:
    """``working``: not merely waiting (the clips' picks recorded before the MP3 exists)."""
    try:
        record = read_stage(run.stack.s3, run.stack.bucket, EPISODE, stage)
    except BotoCoreError:  # the watcher's own read, cut by a freeze: look again next round
        return False
    if record is None or record.status != "running":
        return False
    return not (working and record.details.get("waiting_for"))


def prompts_running(run: Run) -> list[str]:
    prefix = EpisodeKeys(EPISODE).stages_prefix + PROMPT_STAGE_PREFIX
    try:
        listing = run.stack.s3.list_objects_v2(Bucket=run.stack.bucket, Prefix=prefix)
    except BotoCoreError:
        return []
    stages = [Path(o["Key"]).stem for o in listing.get("Contents", [])]
    return [s for s in stages if running(run, s)]


def wait_until_idle(run: Run, timeout: float = 300) -> None:
    """Until every queue of the pipeline is empty, nothing in flight, three reads in a row."""
    quiet, deadline = 0, time.monotonic() + timeout
    while quiet < 3:
        assert time.monotonic() < deadline, "the queues never drained"
        busy = any(
            int(value)
            for url in run.stack.created.queue_urls.values()
            for value in run.stack.sqs.get_queue_attributes(
                QueueUrl=url,
                AttributeNames=[
                    "ApproximateNumberOfMessages",
                    "ApproximateNumberOfMessagesNotVisible",
                    "ApproximateNumberOfMessagesDelayed",
                ],
            )["Attributes"].values()
        )
        quiet = 0 if busy else quiet + 1
        time.sleep(1)


def test_every_service_killed_once_and_the_emulator_frozen_still_delivers_once(
    emulator: LocalStack, tmp_path: Path
) -> None:
    extra = {
        "PODPIPE_LLM_PROVIDER": "extractive",
        # Pace the prompts (one every 4 s) so the LLM stage lasts long enough to be hit.
        "PODPIPE_LLM_REQUESTS_PER_MINUTE": "15",
    }
    with running_pipeline(tmp_path / "state", extra, prepare=short_visibility) as run:
        run.upload(EPISODE)
        hit: list[str] = []
        froze = False
        deadline = time.monotonic() + 900
        while time.monotonic() < deadline and not (froze and len(hit) == 5):
            for stage, service in (
                ("transcode", "transcode"),
                ("transcribe", "transcribe"),
                ("clips", "clips"),
            ):
                if stage not in hit and running(run, stage, working=True):
                    kill_and_restart(run, service)
                    hit.append(stage)
            if "llm" not in hit and prompts_running(run):
                kill_and_restart(run, "llm")
                hit.append("llm")
            elif "llm" in hit and not froze and prompts_running(run):
                freeze(emulator, FREEZE_SECONDS)
                froze = True
            if "notify" not in hit and run.slack.delivered:
                kill_and_restart(run, "notify")
                hit.append("notify")
            time.sleep(0.2)
        assert sorted(hit) == ["clips", "llm", "notify", "transcode", "transcribe"], hit
        assert froze, "the emulator was never frozen while prompts ran"

        assert run.wait(EPISODE) == 0, "the episode should still complete"
        clips = run.wait_for_stage(EPISODE, "clips")
        assert clips.status == "done", clips.reason

        keys = EpisodeKeys(EPISODE)
        s3, bucket = run.stack.s3, run.stack.bucket
        assert run.exists(keys.audio)
        assert run.exists(keys.transcript_json)
        manifest = get_json_or_none(s3, bucket, keys.manifest)
        prompt_ids = [p["id"] for p in manifest["prompts"]]
        for prompt_id in prompt_ids:
            assert get_json_or_none(s3, bucket, keys.prompt_metadata(prompt_id)), prompt_id
        for name in ("clip-01.mp3", "clip-01.mp4", "trailer.mp3"):
            assert run.exists(keys.clips_prefix + name), name

        # Let every redelivered message run its course before counting what went out.
        wait_until_idle(run)
        for url in run.stack.created.dlq_urls.values():
            attributes = run.stack.sqs.get_queue_attributes(
                QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
            )["Attributes"]
            assert attributes["ApproximateNumberOfMessages"] == "0", url

        [completed] = run.events_for(EPISODE, EpisodeCompleted)
        assert not completed.detail.failed_prompts

        mails = Counter(n.subject for n in run.email if EPISODE in n.subject)
        assert mails, "no e-mail reached the team"
        assert all(count == 1 for count in mails.values()), mails
        assert sum(1 for s in mails if "ompleted" in s) == 1
        texts = Counter(run.slack.texts())
        assert all(count == 1 for count in texts.values()), texts
        assert sum(1 for t in texts if EPISODE in t and "ompleted" in t) == 1
