"""The YouTube step on LocalStack with real ffmpeg: youtube.md whose chapters pass YouTube's
rules, and 1280x720 JPEG thumbnail candidates at the clip picks (title set over them); once
the episode is published, both again with the title and notes the host approved."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from podpipe.bucket import S3BucketStore
from podpipe.events import (
    AudioTranscoded,
    EpisodeCompleted,
    EpisodePublished,
    ObjectCreated,
    YoutubePrepared,
)
from podpipe.ffmpeg import probe_streams, run_ffmpeg
from podpipe.layout import EpisodeKeys
from podpipe.release.model import NotesVersion, TitleChoice, approve, new_release, release_key
from podpipe.runtime.service import MessageContext
from podpipe.stages import S3StageLedger
from podpipe_transcode.backend import FfmpegBackend
from podpipe_transcode.handler import TranscodeConfig, TranscodeHandler
from podpipe_transcode.settings import TranscodeSettings
from podpipe_transcode.store import S3ObjectStore
from podpipe_transcode.youtube_handler import YoutubeConfig, YoutubeHandler
from tests.support.localstack import Stack

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "samples" / "episode.m4a"
SECONDS = 40
CTX = MessageContext(message_id="m1", queue="transcode", receive_count=1, max_receive_count=3)
CHAPTERS = {
    "version": "1.2.0",
    "chapters": [
        {"startTime": 2, "title": "Welcome"},  # moved to 0:00
        {"startTime": 5, "title": "Too short to keep"},  # merged into Welcome
        {"startTime": 12, "title": "The main story"},
        {"startTime": 25, "title": "Deep dive"},
        {"startTime": 36, "title": "Wrap-up"},  # 4 s to the end: merged
    ],
}


def completed(episode_id: str) -> EpisodeCompleted:
    return EpisodeCompleted(episode_id=episode_id, outputs=[])


def put(stack: Stack, key: str, body: str) -> None:
    stack.s3.put_object(Bucket=stack.bucket, Key=key, Body=body.encode())


def test_a_video_episode_gets_youtube_md_and_thumbnails(stack: Stack, tmp_path: Path) -> None:
    episode_id = "vid-youtube"
    keys = EpisodeKeys(episode_id)
    source = tmp_path / "episode.mp4"
    run_ffmpeg(
        [
            *("-f", "lavfi", "-i", f"testsrc=s=320x180:r=10:d={SECONDS}"),
            *("-t", str(SECONDS), "-i", str(SAMPLE), "-map", "0:v", "-map", "1:a"),
            *("-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"),
            *("-c:a", "aac", "-b:a", "64k", "-shortest", str(source)),
        ],
        label="make-test-video",
    )
    key = f"uploads/{episode_id}.mp4"
    stack.s3.upload_file(
        str(source), stack.bucket, key, ExtraArgs={"Metadata": {"podpipe-title": "Ep 7: Boats"}}
    )
    settings = TranscodeSettings(name_prefix=stack.settings.name_prefix, bucket=stack.bucket)
    backend = FfmpegBackend(progress_log_seconds=3600)
    transcode = TranscodeHandler(
        S3ObjectStore(stack.s3),
        backend,
        TranscodeConfig(stack.bucket, settings.loudness_targets(), settings.mp3_encoding()),
        video=backend,
        ledger=S3StageLedger(stack.s3, stack.bucket),
    )
    [*_, audio] = transcode.handle(
        ObjectCreated.model_validate({"bucket": {"name": stack.bucket}, "object": {"key": key}}),
        CTX,
    )
    assert isinstance(audio, AudioTranscoded)
    transcode.make_video(audio, CTX)  # video.mp4, on the MP3's "Audio Transcoded"
    put(stack, keys.prompt_output("show-notes", "md"), "## About\n\n- **Boats** <3\n")
    put(stack, keys.prompt_output("chapters", "json"), json.dumps(CHAPTERS))
    picks = {"clips": [{"start": 3.0, "end": 15.0, "title": "Boats", "hook": "Why boats"}]}
    put(stack, keys.prompt_output("clip-picks", "json"), json.dumps(picks))

    store = S3BucketStore(stack.s3, stack.bucket)
    handler = YoutubeHandler(
        store, YoutubeConfig(bucket=stack.bucket), ledger=S3StageLedger(stack.s3, stack.bucket)
    )
    [prepared] = handler.handle(completed(episode_id), CTX)
    assert isinstance(prepared, YoutubePrepared)
    body = stack.s3.get_object(Bucket=stack.bucket, Key=prepared.youtube_md.key)["Body"].read()
    text = body.decode()
    assert "## Title\n\nEp 7: Boats\n" in text
    assert "• Boats ‹3" in text
    stamps = re.findall(r"^(\d+):(\d\d) (.+)$", text, re.MULTILINE)
    starts = [int(m) * 60 + int(s) for m, s, _title in stamps]
    assert starts[0] == 0
    assert len(starts) >= 3
    assert all(b - a >= 10 for a, b in zip(starts, [*starts[1:], SECONDS], strict=True))
    assert [title for _m, _s, title in stamps] == ["Welcome", "The main story", "Deep dive"]
    assert prepared.chapters == len(starts)
    assert "## Notes" in text  # what was merged and moved, for the host

    [thumb_key] = [t.key for t in prepared.thumbnails]
    thumb = tmp_path / "thumb.jpg"
    stack.s3.download_file(stack.bucket, thumb_key, str(thumb))
    [stream] = probe_streams(thumb)
    assert (stream.codec, stream.width, stream.height) == ("mjpeg", 1280, 720)

    # The host approves a title and edited notes and publishes: youtube.md says what the
    # host approved, not what was generated, and the thumbnails carry that title.
    now = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    notes_key = f"episodes/{episode_id}/release/notes-host.md"
    put(stack, notes_key, "## What we covered\n\nThe approved notes, by **Priya**.\n")
    release = approve(
        new_release(episode_id, "the-show", "8d1f5e3c-2b6a-4c1e-9f0d-3a7b5c9e1d24", now),
        TitleChoice(text="Boats, the approved title", source="host", at=now),
        NotesVersion(key=notes_key, source="host", at=now),
        now,
    )
    put(stack, release_key(episode_id), release.model_dump_json())
    published = EpisodePublished(
        episode_id=episode_id,
        show_id="the-show",
        show_title="The Show",
        title="Boats, the approved title",
        guid=release.guid,
        feed_url="http://127.0.0.1/the-show/feed.xml",
        episode_url="http://127.0.0.1/the-show/vid-youtube.mp3",
        published_at=now,
    )
    [again] = handler.handle(published, CTX)
    assert isinstance(again, YoutubePrepared)
    text = stack.s3.get_object(Bucket=stack.bucket, Key=again.youtube_md.key)["Body"].read()
    approved_md = text.decode()
    assert "## Title\n\nBoats, the approved title\n" in approved_md
    assert "The approved notes, by Priya." in approved_md
    assert "Boats ‹3" not in approved_md  # the generated notes are no longer the description
    assert [t.key for t in again.thumbnails] == [thumb_key]


def test_an_audio_only_episode_is_left_alone(stack: Stack) -> None:
    store = S3BucketStore(stack.s3, stack.bucket)
    handler = YoutubeHandler(
        store, YoutubeConfig(bucket=stack.bucket), ledger=S3StageLedger(stack.s3, stack.bucket)
    )
    assert handler.handle(completed("audio-only"), CTX) == []
