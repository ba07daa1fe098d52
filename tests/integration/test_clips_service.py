"""The clips route on LocalStack: the bus delivers "Prompt Completed" for clip-picks to the
clips queue, the route renders with real ffmpeg into S3 and announces "Clips Rendered";
a duplicate delivery re-announces without rendering, new picks render again."""

from __future__ import annotations

import urllib.request
from pathlib import Path
from typing import Any

import pytest

from podpipe.documents import ClipPick, ClipPicks
from podpipe.events import ClipsRendered, PromptCompleted, S3Location, put_events_entry
from podpipe.layout import EpisodeKeys, EpisodeMetadata, sidecar_key
from podpipe.runtime.service import MessageContext
from podpipe_clips import MANIFEST_NAME, ClipsSettings, clips_routes
from podpipe_clips.synthetic import synthetic_episode

pytestmark = pytest.mark.integration

EPISODE = "clips-ep"
KEYS = EpisodeKeys(EPISODE)


def prompt_completed(bucket: str, prompt_id: str = "clip-picks") -> PromptCompleted:
    return PromptCompleted(
        episode_id=EPISODE,
        prompt_id=prompt_id,
        model="stub",
        output=S3Location(bucket=bucket, key=KEYS.prompt_output(prompt_id, "json")),
        metadata=S3Location(bucket=bucket, key=KEYS.prompt_metadata(prompt_id)),
        output_format="json",
        preview="[...]",
        input_tokens=10,
        output_tokens=10,
        latency_seconds=0.1,
        attempts=1,
        estimated_cost_usd=0.0,
    )


def put_picks(s3: Any, bucket: str, *spans: tuple[float, float]) -> None:
    picks = ClipPicks(
        clips=[ClipPick(start=s, end=e, title=f"At {s:.0f} s", hook="Listen") for s, e in spans]
    )
    s3.put_object(
        Bucket=bucket,
        Key=KEYS.prompt_output("clip-picks", "json"),
        Body=picks.model_dump_json().encode(),
    )


def clip_keys(s3: Any, bucket: str) -> dict[str, str]:
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=KEYS.clips_prefix).get("Contents", [])
    return {item["Key"].rsplit("/", 1)[1]: item["ETag"] for item in listed}


def test_clip_picks_become_clips_in_s3_once_per_picks_version(stack: Any, tmp_path: Path) -> None:
    bucket = stack.bucket
    audio, transcript = synthetic_episode(tmp_path, 150.0, episode_id=EPISODE)
    stack.s3.upload_file(str(audio), bucket, KEYS.audio)
    stack.s3.put_object(
        Bucket=bucket, Key=KEYS.transcript_json, Body=transcript.model_dump_json().encode()
    )
    stack.s3.put_object(
        Bucket=bucket,
        Key=sidecar_key(EPISODE),
        Body=EpisodeMetadata(title="Synthetic", show="Test Show").model_dump_json().encode(),
    )
    # The sidecar is an upload too: its "Object Created" reaches the transcode queue (where
    # transcode skips it); take it off so the queue holds only what this test sends.
    (sidecar_event,) = stack.drain_events("transcode", expect=1, timeout=30)
    assert sidecar_event.detail_type == "Object Created"
    put_picks(stack.s3, bucket, (5, 40), (60, 95), (100, 130))

    settings = ClipsSettings(
        bucket=bucket, clips_video_size="160x160", clips_video_fps=5, clips_x264_preset="ultrafast"
    )
    route, *_ = clips_routes(settings, stack.s3)
    ctx = MessageContext(message_id="m", queue="clips", receive_count=1, max_receive_count=3)

    # The topology routes only the clip-picks prompt to the clips queue, not to transcode.
    stack.events.put_events(
        Entries=[
            put_events_entry(prompt_completed(bucket, "titles"), stack.settings.event_bus),
            put_events_entry(prompt_completed(bucket), stack.settings.event_bus),
        ]
    )
    (envelope,) = stack.drain_events("clips", expect=1, timeout=30)
    assert isinstance(envelope.detail, PromptCompleted)
    assert envelope.detail.prompt_id == "clip-picks"
    assert stack.drain_events("clips", expect=1, timeout=3) == []
    assert stack.drain_events("transcode", expect=1, timeout=3) == []

    (event,) = route.handle(envelope.detail, ctx)
    assert isinstance(event, ClipsRendered)
    assert len(event.clips) == 3
    assert event.trailer_audio is not None
    assert event.trailer_video is not None
    first = event.clips[0]
    assert first.title == "At 5 s"
    with urllib.request.urlopen(first.audio_url, timeout=30) as response:  # presigned GET
        assert response.read()[:3] in (b"ID3", b"\xff\xfb", b"\xff\xf3")
    rendered = clip_keys(stack.s3, bucket)
    for name in (
        "clip-01.mp3",
        "clip-01.mp4",
        "clip-01.srt",
        "clip-03.mp4",
        "trailer.mp3",
        "trailer.mp4",
        MANIFEST_NAME,
    ):
        assert name in rendered
    stage = stack.s3.get_object(Bucket=bucket, Key=KEYS.stage_record("clips"))["Body"].read()
    assert b'"done"' in stage

    # A duplicate delivery: same picks, nothing rendered or uploaded again.
    (again,) = route.handle(envelope.detail, ctx)
    assert isinstance(again, ClipsRendered)
    assert [c.audio for c in again.clips] == [c.audio for c in event.clips]
    assert clip_keys(stack.s3, bucket) == rendered

    # New picks (a replay, another model): rendered again; clip-03 is gone.
    put_picks(stack.s3, bucket, (20, 55), (70, 110))
    (replayed,) = route.handle(envelope.detail, ctx)
    assert isinstance(replayed, ClipsRendered)
    assert [c.title for c in replayed.clips] == ["At 20 s", "At 70 s"]
    after = clip_keys(stack.s3, bucket)
    assert "clip-03.mp3" not in after
    assert after["clip-01.mp3"] != rendered["clip-01.mp3"]
