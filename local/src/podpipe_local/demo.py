"""`make demo` (`podpipe demo --sample PATH`): the whole pipeline on this machine, on one recording.

LocalStack (started unless one runs), the topology, the real services as processes, the
sample uploaded with `podpipe upload`, `podpipe wait` until the episode completes, the digest
the team would get by e-mail printed (read from an SQS queue subscribed to the SNS topic), and
every artifact downloaded with `podpipe outputs`. It stops exactly what it started.

The e2e test drives the same `LocalPipeline`, so the demo and the test cannot drift apart.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import boto3

from podpipe.ffmpeg import find_ffmpeg
from podpipe.layout import EpisodeMetadata, StageRecord, slugify_episode_id
from podpipe.logging import configure_logging
from podpipe.release.serve import serving
from podpipe.s3io import read_stage
from podpipe.settings import CoreSettings
from podpipe.stages import prompt_stage
from podpipe_local.bootstrap import AwsClients, BootstrappedStack, bootstrap, subscribe_queue
from podpipe_local.llm import choose_writer
from podpipe_local.localstack import LocalStack
from podpipe_local.supervisor import (
    LOCAL_AWS_ENV,
    SERVICES,
    StateDir,
    local_env,
    service_argv,
    spawn,
    stop_all,
)

# Relative to the working directory: `make demo` runs from the repository root and passes it.
DEFAULT_SAMPLE = Path("samples") / "episode.m4a"


def sample_metadata(sample: Path) -> Path:
    """The sidecar next to a recording (``episode.m4a`` -> ``episode.json``): title, show,
    number, hosts and guests."""
    return sample.with_suffix(".json")


@dataclass
class Notification:
    subject: str
    message: str


@dataclass
class LocalPipeline:
    """The services as real processes against one bootstrapped topology."""

    settings: CoreSettings
    state: StateDir
    service_env: Mapping[str, str] = field(default_factory=dict)
    created: BootstrappedStack | None = None
    inbox_url: str | None = None
    started: list[str] = field(default_factory=list)

    def bootstrap(self) -> BootstrappedStack:
        self.created = bootstrap(self.settings, AwsClients.from_session())
        return self.created

    @property
    def topic_arn(self) -> str:
        assert self.created is not None, "bootstrap first"
        return self.created.topic_arns["notifications"]

    def env(self) -> dict[str, str]:
        extra = {"PODPIPE_NOTIFY_TOPIC_ARN": self.topic_arn, **self.service_env}
        return local_env(self.settings, extra)

    def start_services(self, services: tuple[str, ...] = SERVICES) -> None:
        env = self.env()
        for service in services:
            spawn(service, service_argv(service), env, self.state)
            self.started.append(service)

    def stop_services(self) -> None:
        stop_all(self.started, self.state)
        self.started.clear()

    def subscribe_inbox(self) -> str:
        """An SQS queue subscribed to the notifications topic: what the team's e-mail gets."""
        self.inbox_url = subscribe_queue(
            boto3.client("sqs"),
            boto3.client("sns"),
            self.topic_arn,
            f"{self.settings.name_prefix}-inbox",
        )
        return self.inbox_url

    def read_inbox(self, wait_seconds: int = 1) -> list[Notification]:
        assert self.inbox_url is not None, "subscribe_inbox first"
        sqs = boto3.client("sqs")
        found: list[Notification] = []
        while True:
            reply = sqs.receive_message(
                QueueUrl=self.inbox_url, MaxNumberOfMessages=10, WaitTimeSeconds=wait_seconds
            )
            messages = reply.get("Messages", [])
            if not messages:
                return found
            for message in messages:
                body = json.loads(message["Body"])
                found.append(Notification(body.get("Subject", ""), body.get("Message", "")))
                sqs.delete_message(QueueUrl=self.inbox_url, ReceiptHandle=message["ReceiptHandle"])

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run a `podpipe` command as a host would, against this pipeline."""
        return subprocess.run(
            [sys.executable, "-m", "podpipe_cli", *args],
            env=self.env(),
            check=check,
            text=True,
            capture_output=True,
        )


def metadata_args(path: Path) -> list[str]:
    meta: dict[str, Any] = json.loads(path.read_text())
    args = []
    for flag, key in (("--title", "title"), ("--show", "show"), ("--number", "episode_number")):
        if meta.get(key) not in (None, ""):
            args += [flag, str(meta[key])]
    for flag, key in (("--hosts", "hosts"), ("--guests", "guests")):
        if meta.get(key):
            args += [flag, ",".join(meta[key])]
    return args


def wait_for_stage(
    bucket: str, episode_id: str, stage: str, timeout: float, poll: float = 2.0
) -> StageRecord | None:
    """The stage's record once it has ended (done or failed); None if it never started."""
    s3 = boto3.client("s3")
    deadline = time.monotonic() + timeout
    record = None
    while time.monotonic() < deadline:
        record = read_stage(s3, bucket, episode_id, stage)
        if record is not None and record.status != "running":
            return record
        time.sleep(poll)
    return record


def llm_stage_seconds(s3: Any, bucket: str, episode_id: str, prompt_ids: list[str]) -> float:
    """Wall time of the LLM stage: first prompt started → last prompt finished."""
    records = [read_stage(s3, bucket, episode_id, prompt_stage(p)) for p in prompt_ids]
    ended = [r for r in records if r is not None and r.finished_at is not None]
    if not ended:
        return 0.0
    return max(r.finished_at or 0.0 for r in ended) - min(r.started_at for r in ended)


def print_written(out_dir: Path) -> list[str]:
    """The titles and show notes as the team reads them, with the model that wrote them."""
    outputs = out_dir / "outputs"
    prompt_ids = sorted(p.name.removesuffix(".meta.json") for p in outputs.glob("*.meta.json"))
    for name in ("titles", "show-notes"):
        text = outputs / f"{name}.md"
        meta_file = outputs / f"{name}.meta.json"
        if not text.exists() or not meta_file.exists():
            continue
        meta = json.loads(meta_file.read_text())
        print("-" * 72)
        print(
            f"{name}.md, written by {meta.get('model')} "
            f"({meta.get('input_tokens')} prompt tokens, {meta.get('cached_input_tokens', 0)} "
            f"from the cache; {meta.get('output_tokens')} written in "
            f"{meta.get('latency_seconds')} s)"
        )
        print("-" * 72)
        print(text.read_text().strip() + "\n")
    return prompt_ids


def demo_show_id(metadata: EpisodeMetadata) -> str:
    """The id of the show the sample's metadata names (its title's slug)."""
    return slugify_episode_id(metadata.show) if metadata.show.strip() else "demo-show"


def seed_show(
    s3: Any, bucket: str, base_url: str, workdir: Path, metadata: EpisodeMetadata
) -> bool:
    """A show file and cover art for the show the sample's metadata names, unless the bucket
    has a show already (then the team's own is used). True if this call wrote them."""
    if s3.list_objects_v2(Bucket=bucket, Prefix="shows/").get("KeyCount", 0):
        return False
    show_id = demo_show_id(metadata)
    hosts = list(metadata.hosts) or ["The podpipe demo"]
    artwork = workdir / "artwork.png"
    subprocess.run(
        [
            find_ffmpeg(),
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "color=c=0x1d3557:s=1400x1400",
            "-frames:v",
            "1",
            str(artwork),
        ],
        check=True,
    )
    artwork_key = f"shows/{show_id}/artwork.png"
    s3.put_object(
        Bucket=bucket, Key=artwork_key, Body=artwork.read_bytes(), ContentType="image/png"
    )
    show = {
        "title": metadata.show.strip() or "podpipe demo",
        "author": " & ".join(hosts),
        "owner": {"name": hosts[0], "email": "demo@example.org"},
        "description": "podpipe's demo show, made from the sample episode's metadata.",
        "artwork_key": artwork_key,
        "language": "en",
        "categories": [{"name": "Technology"}],
        "podcast_guid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"podpipe-demo:{show_id}")),
        "base_url": base_url,
        "hosts": hosts,
    }
    s3.put_object(Bucket=bucket, Key=f"shows/{show_id}.json", Body=json.dumps(show).encode())
    return True


def release_episode(
    cli: Callable[..., subprocess.CompletedProcess[str]],
    s3: Any,
    bucket: str,
    episode_id: str,
    out_dir: Path,
    metadata: EpisodeMetadata,
) -> int:
    """Approve generated title 1 with the generated notes, publish now, read the feed back
    over HTTP from the local public/ server (the laptop's CloudFront) into ``out_dir``."""
    with serving(s3, bucket) as base_url:
        with tempfile.TemporaryDirectory(prefix="podpipe-demo-") as workdir:
            seed_show(s3, bucket, base_url, Path(workdir), metadata)
        steps = (("release", episode_id, "--title", "1"), ("publish", episode_id))
        for args in steps:
            result = cli(*args, check=False)
            print(f"[demo] podpipe {' '.join(args)}: {(result.stdout or result.stderr).strip()}")
            if result.returncode != 0:
                return result.returncode
        feeds = s3.list_objects_v2(Bucket=bucket, Prefix="public/").get("Contents", [])
        newest = max(
            (o for o in feeds if o["Key"].endswith("/feed.xml")), key=lambda o: o["LastModified"]
        )
        feed_url = f"{base_url}/{newest['Key'].removeprefix('public/')}"
        with urllib.request.urlopen(feed_url, timeout=10) as reply:
            feed = reply.read()
    (out_dir / "feed.xml").write_bytes(feed)
    channel = ElementTree.fromstring(feed).find("channel")
    items = channel.findall("item") if channel is not None else []
    titles = [item.findtext("title") or "" for item in items]
    print(f"[demo] feed {feed_url}: {len(items)} item(s); newest: {titles[0] if titles else '-'}")
    return 0


def run_demo(
    out_root: Path,
    sample: Path = DEFAULT_SAMPLE,
    metadata: Path | None = None,
    timeout: float = 1800.0,
) -> int:
    metadata = metadata or sample_metadata(sample)
    for path in (sample, metadata):
        if not path.is_file():
            print(f"[demo] no such file: {path} (pass --sample / --metadata)", file=sys.stderr)
            return 2
    configure_logging("WARNING")
    for key, value in LOCAL_AWS_ENV.items():
        os.environ.setdefault(key, value)
    state = StateDir(Path(".podpipe") / "demo")
    emulator = LocalStack(state)
    print(f"[demo] LocalStack: starting (pinned 4.13.1, {emulator.venv})", flush=True)
    emulator_started = emulator.start()
    settings = CoreSettings()
    print("[demo] LLM: preparing the writer (the first run assembles the model once)...")
    writer = choose_writer(state)
    print(f"[demo] LLM: {writer.description}", flush=True)
    pipeline = LocalPipeline(settings=settings, state=state, service_env=writer.env)
    episode_id = "demo-" + datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    try:
        pipeline.bootstrap()
        pipeline.subscribe_inbox()
        pipeline.start_services()
        print(f"[demo] services: {', '.join(SERVICES)} (logs in {state.logs})", flush=True)
        started = time.monotonic()
        upload = pipeline.cli(
            "upload", str(sample), "--episode", episode_id, *metadata_args(metadata)
        )
        print(upload.stdout.strip(), flush=True)
        print(f"[demo] waiting for {episode_id} (Whisper on the CPU takes a minute or two)...")
        waited = pipeline.cli("wait", episode_id, "--timeout", str(timeout), "--quiet", check=False)
        print(f"[demo] {waited.stdout.strip() or waited.stderr.strip()}")
        print(f"[demo] episode settled in {time.monotonic() - started:.0f} s; rendering clips...")
        clips = wait_for_stage(settings.bucket, episode_id, "clips", timeout)
        print(f"[demo] clips {clips.status if clips else 'not rendered'}", flush=True)
        print(pipeline.cli("status", episode_id, check=False).stdout)
        out_dir = out_root / episode_id
        pipeline.cli("outputs", episode_id, "--to", str(out_dir))
        for note in pipeline.read_inbox():
            if "episode completed" in note.subject.lower():
                print("=" * 72 + f"\n{note.subject}\n" + "=" * 72 + f"\n{note.message}\n")
        prompt_ids = print_written(out_dir)
        seconds = llm_stage_seconds(boto3.client("s3"), settings.bucket, episode_id, prompt_ids)
        print(
            f"[demo] LLM stage: {len(prompt_ids)} prompts in {seconds:.0f} s by {writer.description}"
        )
        print("[demo] releasing: approve title 1, publish, read the feed back...", flush=True)
        released = release_episode(
            pipeline.cli,
            boto3.client("s3"),
            settings.bucket,
            episode_id,
            out_dir,
            EpisodeMetadata.model_validate_json(metadata.read_text()),
        )
        files = sorted(p.relative_to(out_dir) for p in out_dir.rglob("*") if p.is_file())
        print(f"[demo] {len(files)} files written to {out_dir}/")
        for path in files:
            print(f"  {path}")
        return waited.returncode or released
    finally:
        pipeline.stop_services()
        if writer.server is not None and writer.started:
            writer.server.stop()
        if emulator_started:
            emulator.stop()
