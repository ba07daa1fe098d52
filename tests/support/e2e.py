"""The whole pipeline as the e2e tests drive it: the four services as real processes on a
bootstrapped stack, a Slack stand-in, the team's e-mail as an SQS queue, and a tap on the bus.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from podpipe.events import E, Envelope, Event, parse_envelope
from podpipe.layout import StageRecord
from podpipe.s3io import exists, read_stage
from podpipe_local.bootstrap import queue_arn
from podpipe_local.demo import (
    DEFAULT_SAMPLE,
    LocalPipeline,
    Notification,
    metadata_args,
    sample_metadata,
    wait_for_stage,
)
from podpipe_local.supervisor import StateDir
from tests.support.localstack import Stack, bootstrapped_stack
from tests.support.slack import SlackStandIn

REPO = Path(__file__).resolve().parents[2]
# The demo's recording, found from this checkout rather than the working directory.
SAMPLE = REPO / DEFAULT_SAMPLE
SAMPLE_METADATA = sample_metadata(SAMPLE)


@dataclass
class Run:
    """One pipeline for the module, plus everything it told the outside world."""

    stack: Stack
    pipeline: LocalPipeline
    slack: SlackStandIn
    tap_url: str
    events: list[Envelope[Event]] = field(default_factory=list)
    email: list[Notification] = field(default_factory=list)

    def collect(self) -> None:
        for message in self.stack.drain(self.tap_url, expect=10_000, timeout=2):
            self.events.append(parse_envelope(message["Body"]))
        self.email += self.pipeline.read_inbox()

    def events_for(self, episode_id: str, kind: type[E]) -> list[Envelope[E]]:
        """The events of one type about one episode, typed (``.detail`` is a ``kind``)."""
        self.collect()
        return [
            e.of(kind) for e in self.events if e.is_a(kind) and e.detail.episode_key() == episode_id
        ]

    def idle(self, queue: str, guard_seconds: float = 120.0) -> None:
        """Until ``queue`` holds no message, visible or in flight: whatever its service would
        publish about the work so far has been published (a positive signal, not a sleep)."""
        url = self.stack.queue_url(queue)
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        deadline = time.monotonic() + guard_seconds
        while True:
            reply = self.stack.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)
            if all(reply["Attributes"].get(n) == "0" for n in names):
                return
            assert time.monotonic() < deadline, f"{queue} never went idle: {reply['Attributes']}"
            time.sleep(0.5)

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


def tap(stack: Stack) -> str:
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


@contextmanager
def running_pipeline(
    state_dir: Path,
    extra_env: Mapping[str, str] | None = None,
    prepare: Callable[[Stack], None] | None = None,
) -> Iterator[Run]:
    """A fresh stack with the four services running on it; their logs are kept for CI.
    `prepare` runs on the bootstrapped stack before any service starts."""
    with bootstrapped_stack() as stack, SlackStandIn() as slack:
        tap_url = tap(stack)
        if prepare is not None:
            prepare(stack)
        pipeline = LocalPipeline(
            settings=stack.settings,
            state=StateDir(state_dir),
            service_env={
                "PODPIPE_WAIT_TIME_SECONDS": "1",
                "PODPIPE_NOTIFY_SLACK_WEBHOOK_URL": slack.url,
                # Full-size audiograms are checked by the clips tests; here they only have
                # to exist, so keep the render small to keep the suite fast.
                "PODPIPE_CLIPS_VIDEO_SIZE": "320x320",
                "PODPIPE_CLIPS_VIDEO_FPS": "10",
                "PODPIPE_CLIPS_X264_PRESET": "ultrafast",
                # Greedy decoding: a third less of Whisper's time on two cores. How well the
                # default beam transcribes is measured against the script by the transcribe
                # integration test; here the transcript only has to carry the episode.
                "PODPIPE_WHISPER_BEAM_SIZE": "1",
                **(extra_env or {}),
            },
        )
        pipeline.created = stack.created
        pipeline.subscribe_inbox()
        pipeline.start_services()
        try:
            yield Run(stack=stack, pipeline=pipeline, slack=slack, tap_url=tap_url)
        finally:
            pipeline.stop_services()
            # Keep the services' logs where a failing CI run can be read.
            kept = REPO / ".podpipe" / "e2e-logs" / state_dir.name
            kept.mkdir(parents=True, exist_ok=True)
            for log in pipeline.state.logs.glob("*.log"):
                shutil.copy(log, kept / log.name)
