"""The studio against a bootstrapped stack, and Debian's Chromium driven by Playwright.

An episode's artifacts are written straight into the stack's bucket (what transcode,
transcribe, the LLM and the clips renderer would have left: no Whisper, no model), with one
prompt that failed for good and whose message waits in the llm DLQ. The MP3 and the clip are
real media made once by the ffmpeg of the imageio-ffmpeg wheel, so the browser can play them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from podpipe.documents import Segment, Transcript
from podpipe.events import PromptRequested, S3Location, to_envelope
from podpipe.layout import EpisodeKeys, StageRecord
from podpipe.release.serve import serving
from podpipe_cli.context import aws_context
from podpipe_studio.backend import Studio
from podpipe_studio.cli import RunningStudio, running
from tests.support.localstack import Stack
from tests.support.release import ARTWORK, ARTWORK_KEY, SHOW_ID, episode_artifacts, show_config

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "docs" / "screenshots"
CHROMIUM = os.environ.get("PODPIPE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--no-first-run",
]
EPISODE = "2026-12-01-ep42"
HOSTILE_TITLE = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">Ep 42'
FAILED_PROMPT = "pull-quotes"
DONE_PROMPTS = ("titles", "show-notes", "chapters", "clip-picks")
AUDIO_SECONDS = 120
SECRETS = {
    "AWS_SECRET_ACCESS_KEY": "studio-test-secret-key-never-in-a-page",
    "PODPIPE_NOTIFY_SLACK_WEBHOOK_URL": "https://hooks.slack.example/services/T0/B0/never-in-a-page",
}


def assert_no_secrets(html: str) -> None:
    for key, value in SECRETS.items():
        assert value not in html, f"{key} leaked into a page"


def chromium_or_skip() -> str:
    if not Path(CHROMIUM).exists():
        pytest.skip(
            f"{CHROMIUM} is missing and could not be installed "
            "(`apt-get install chromium chromium-driver`, done by `make test` as root)"
        )
    return CHROMIUM


def ffmpeg() -> str:
    import imageio_ffmpeg

    return shutil.which("ffmpeg") or str(imageio_ffmpeg.get_ffmpeg_exe())


def make_media(folder: Path) -> tuple[Path, Path]:
    """A 2-minute MP3 (the episode) and a 4-second H.264/AAC MP4 (a clip)."""
    mp3, mp4 = folder / "episode.mp3", folder / "clip-01.mp4"
    quiet = [ffmpeg(), "-hide_banner", "-loglevel", "error", "-y"]
    tone = f"sine=frequency=220:duration={AUDIO_SECONDS}"
    audio = [*quiet, "-f", "lavfi", "-i", tone, "-ac", "1", "-b:a", "32k", str(mp3)]
    subprocess.run(audio, check=True, timeout=120)
    video = [
        *quiet,
        *("-f", "lavfi", "-i", "color=c=navy:s=320x320:d=4:r=10"),
        *("-f", "lavfi", "-i", "sine=frequency=440:duration=4"),
        *("-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"),
        *("-c:a", "aac", "-b:a", "64k", "-shortest", "-movflags", "+faststart", str(mp4)),
    ]
    subprocess.run(video, check=True, timeout=120)
    return mp3, mp4


def _put(stack: Stack, key: str, body: bytes | str, content_type: str) -> None:
    data = body.encode() if isinstance(body, str) else body
    stack.s3.put_object(Bucket=stack.bucket, Key=key, Body=data, ContentType=content_type)


def seed_episode(stack: Stack, media: tuple[Path, Path]) -> None:
    """Everything the pipeline would have stored for EPISODE, and the failed prompt's DLQ message."""
    keys = EpisodeKeys(EPISODE)
    for key, (body, content_type) in episode_artifacts(EPISODE).items():
        _put(stack, key, body, content_type)
    mp3, mp4 = media
    _put(stack, keys.audio, mp3.read_bytes(), "audio/mpeg")
    _put(
        stack, keys.audio_info, json.dumps({"duration_seconds": AUDIO_SECONDS}), "application/json"
    )
    _put(stack, keys.clips_prefix + "clip-01.mp4", mp4.read_bytes(), "video/mp4")
    _put(stack, keys.clips_prefix + "trailer.mp4", mp4.read_bytes(), "video/mp4")
    transcript = Transcript(
        episode_id=EPISODE,
        language="en",
        duration_seconds=AUDIO_SECONDS,
        backend="whisper",
        segments=[
            Segment(start=0.0, end=4.0, speaker="Maya", text="Welcome to the show."),
            Segment(start=4.0, end=8.0, speaker="Tom", text="Thanks for having me."),
            Segment(start=95.5, end=101.0, speaker="Maya", text="Now, queues <b>beat</b> sleeps."),
        ],
    )
    _put(stack, keys.transcript_json, transcript.model_dump_json(), "application/json")
    social = {
        "posts": [
            {"network": "linkedin", "text": "Queues, not sleeps."},
            {"network": "bluesky", "text": "<script>alert(1)</script> never runs"},
        ]
    }
    _put(stack, keys.prompt_output("social-posts", "json"), json.dumps(social), "application/json")
    prompts = [*DONE_PROMPTS, "social-posts", FAILED_PROMPT]
    _put(
        stack,
        keys.manifest,
        json.dumps({"prompts": [{"id": p, "model": "amazon.nova-lite-v1:0"} for p in prompts]}),
        "application/json",
    )
    now = time.time() - 600
    records = {
        "transcode": StageRecord(
            stage="transcode", status="done", started_at=now, finished_at=now + 15.2
        ),
        "transcribe": StageRecord(
            stage="transcribe", status="done", started_at=now, finished_at=now + 31.0
        ),
        "dispatch": StageRecord(
            stage="dispatch", status="done", started_at=now + 31, finished_at=now + 31.2
        ),
        f"prompt-{FAILED_PROMPT}": StageRecord(
            stage=f"prompt-{FAILED_PROMPT}",
            status="failed",
            started_at=now + 32,
            finished_at=now + 33,
            reason="ValidationException: The provided model identifier is invalid.",
        ),
    }
    for offset, prompt_id in enumerate([*DONE_PROMPTS, "social-posts"]):
        stage = f"prompt-{prompt_id}"
        records[stage] = StageRecord(
            stage=stage,
            status="done",
            started_at=now + 32 + offset,
            finished_at=now + 33.5 + offset,
        )
        meta = {
            "prompt_id": prompt_id,
            "model": "bedrock:us.anthropic.claude-3-5-haiku-20241022-v1:0",
            "input_tokens": 5120 + offset,
            "output_tokens": 410 + offset,
            "estimated_cost_usd": 0.00574,
            "latency_seconds": 3.2,
        }
        _put(stack, keys.prompt_metadata(prompt_id), json.dumps(meta), "application/json")
    for stage, record in records.items():
        _put(stack, keys.stage_record(stage), record.model_dump_json(), "application/json")
    _put(
        stack,
        f"uploads/{EPISODE}.json",
        json.dumps(
            {
                "title": HOSTILE_TITLE,
                "show": "The Weekly",
                "episode_number": 42,
                "hosts": ["Maya"],
                "guests": ["Tom"],
            }
        ),
        "application/json",
    )
    # The sidecar is an upload: its "Object Created" reaches the media queues; take it off.
    for queue in ("transcode", "transcribe"):
        stack.drain(stack.queue_url(queue), expect=1, timeout=20)
    dead_letter(stack, FAILED_PROMPT)


def dead_letter(stack: Stack, prompt_id: str) -> None:
    """The failed prompt's message in the llm DLQ, as the runtime dead-letters it."""
    event = PromptRequested(
        episode_id=EPISODE,
        prompt_id=prompt_id,
        model="amazon.nova-lite-v1:0",
        transcript_json=S3Location(bucket=stack.bucket, key=EpisodeKeys(EPISODE).transcript_json),
    )
    stack.sqs.send_message(
        QueueUrl=stack.dlq_url("llm"),
        MessageBody=json.dumps(to_envelope(event)),
        MessageAttributes={
            "podpipe-reason": {
                "DataType": "String",
                "StringValue": "ValidationException: The provided model identifier is invalid.",
            },
            "podpipe-error-type": {"DataType": "String", "StringValue": "PermanentError"},
        },
    )


@dataclass
class LiveStudio:
    stack: Stack
    studio: RunningStudio
    public_url: str

    @property
    def url(self) -> str:
        """The URL `podpipe studio` prints (with the launch token)."""
        return self.studio.url

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.studio.port}"

    @property
    def feed_url(self) -> str:
        return f"{self.public_url}/{SHOW_ID}/feed.xml"


@contextmanager
def live_studio(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[LiveStudio]:
    """The show's channel data and public server, then `podpipe studio` on a free port."""
    for key, value in stack.env().items():
        if key.startswith(("PODPIPE_", "AWS_")):
            monkeypatch.setenv(key, value)
    # Secrets the operator's environment may hold: no page may ever show them.
    for key, value in SECRETS.items():
        monkeypatch.setenv(key, value)
    with serving(stack.s3, stack.bucket) as public_url:
        _put(
            stack, f"shows/{SHOW_ID}.json", json.dumps(show_config(public_url)), "application/json"
        )
        stack.s3.put_object(Bucket=stack.bucket, Key=ARTWORK_KEY, Body=ARTWORK)
        studio = Studio.from_context(aws_context(None, None))
        with running(studio, 0) as live:
            yield LiveStudio(stack, live, public_url)


def screenshot(page: Any, name: str, **options: Any) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), **options)
    return path
