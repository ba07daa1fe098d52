"""Release day on LocalStack: stored outputs → approve with a chosen title → publish → the
feed, fetched over HTTP from the local public/ server, read by podcastparser and feedparser;
S3 conditional writes; many publishes at once; a scheduled publish firing exactly once.

The artifacts are written straight into the stack's bucket (no Whisper, no LLM).
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import feedparser
import podcastparser
import pysubs2
import pytest
from lxml import etree
from typer.testing import CliRunner

from podpipe.events import EpisodePublished, parse_envelope
from podpipe.release.feed import PODCAST_NS
from podpipe.release.model import feed_key
from podpipe.release.operations import ReleaseDesk
from podpipe.release.scheduling import LocalScheduleIndex, run_loop
from podpipe.release.serve import NotLoopbackError, make_server, serving
from podpipe.release.store import PreconditionFailedError, S3BlobStore
from podpipe.release.wiring import ReleaseSettings, build_desk
from podpipe_cli.main import app
from tests.support.localstack import Stack
from tests.support.release import (
    ARTWORK,
    ARTWORK_KEY,
    SHOW_ID,
    episode_artifacts,
    show_config,
    sidecar,
)

pytestmark = pytest.mark.integration


@dataclass
class Release:
    stack: Stack
    base_url: str
    desk: ReleaseDesk
    runner: CliRunner

    def add_episode(self, episode_id: str, number: int) -> None:
        for key, (body, content_type) in episode_artifacts(episode_id).items():
            self.stack.s3.put_object(
                Bucket=self.stack.bucket, Key=key, Body=body, ContentType=content_type
            )
        self.stack.put_sidecar(episode_id, sidecar(number))

    def cli(self, *args: str) -> str:
        result = self.runner.invoke(app, list(args))
        assert result.exit_code == 0, result.output
        return result.output

    @property
    def feed_url(self) -> str:
        return f"{self.base_url}/{SHOW_ID}/feed.xml"

    def feed_bytes(self) -> bytes:
        with urllib.request.urlopen(self.feed_url, timeout=10) as reply:
            assert reply.headers["Content-Type"].startswith("application/rss+xml")
            body: bytes = reply.read()
        return body

    def published_events(self, expect: int, timeout: float) -> list[EpisodePublished]:
        # Only the release emits events in these tests: `expect` of them ends the wait early;
        # asking for one more than should come proves no duplicate within `timeout`.
        messages = self.stack.drain(self.stack.queue_url("notify"), expect=expect, timeout=timeout)
        events = [parse_envelope(m["Body"]).detail for m in messages]
        return [e for e in events if isinstance(e, EpisodePublished)]


@pytest.fixture
def release(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[Release]:
    for key, value in stack.env().items():
        if key.startswith(("PODPIPE_", "AWS_")):
            monkeypatch.setenv(key, value)
    with serving(stack.s3, stack.bucket) as base_url:
        stack.s3.put_object(
            Bucket=stack.bucket,
            Key=f"shows/{SHOW_ID}.json",
            Body=json.dumps(show_config(base_url)).encode(),
        )
        stack.s3.put_object(Bucket=stack.bucket, Key=ARTWORK_KEY, Body=ARTWORK)
        settings = ReleaseSettings()
        desk = build_desk(settings, s3=stack.s3, events=stack.events)
        yield Release(stack, base_url, desk, CliRunner())


def test_conditional_writes_work_on_localstack(stack: Stack) -> None:
    store = S3BlobStore(stack.s3, stack.bucket)
    first = store.put("cas/x", b"1", content_type="text/plain", if_absent=True)
    with pytest.raises(PreconditionFailedError):
        store.put("cas/x", b"2", content_type="text/plain", if_absent=True)
    second = store.put("cas/x", b"2", content_type="text/plain", if_match=first)
    with pytest.raises(PreconditionFailedError):
        store.put("cas/x", b"3", content_type="text/plain", if_match=first)  # stale ETag
    blob = store.get("cas/x")
    assert blob is not None
    assert (blob.body, blob.etag) == (b"2", second)


def test_the_public_files_are_served_on_loopback_only(stack: Stack) -> None:
    with pytest.raises(NotLoopbackError):
        make_server(stack.s3, stack.bucket, host="0.0.0.0")
    stack.s3.put_object(Bucket=stack.bucket, Key="episodes/x/secret.txt", Body=b"private")
    with serving(stack.s3, stack.bucket) as base_url:
        for path in ("/../episodes/x/secret.txt", "/%2e%2e/episodes/x/secret.txt"):
            with pytest.raises(urllib.error.HTTPError) as caught:
                urllib.request.urlopen(base_url + path, timeout=5)
            assert caught.value.code == 404


def test_stored_outputs_to_a_feed_podcast_apps_read(release: Release, tmp_path: Path) -> None:
    episode = "2026-12-01-ep42"
    release.add_episode(episode, number=42)

    draft = release.cli("release", episode)
    assert "1. Shipping on Fridays" in draft
    assert "2. Why Our Pipeline Never Sleeps" in draft
    assert "Queues" in draft
    assert "The Friday rule" in draft

    hostile = release.runner.invoke(app, ["release", episode, "--title-text", "x\x00" * 5_000])
    assert hostile.exit_code == 3
    assert "control characters" in hostile.output

    notes = tmp_path / "notes.md"
    notes.write_text("# Approved notes\n\nEdited by **Maya**. <script>alert(1)</script>\n")
    approved = release.cli("release", episode, "--title", "2", "--notes", str(notes))
    assert "approved — Why Our Pipeline Never Sleeps" in approved
    assert "published" in release.cli("publish", episode)
    assert "already published" in release.cli("publish", episode)  # idempotent

    body = release.feed_bytes()
    root = etree.fromstring(body)
    assert len(root.findall(f"channel/item/{{{PODCAST_NS}}}transcript")) == 3
    assert root.findtext(f"channel/{{{PODCAST_NS}}}guid") == show_config("x")["podcast_guid"]

    parsed = podcastparser.parse(release.feed_url, urllib.request.urlopen(release.feed_url))
    assert parsed["title"] == "The Weekly"
    (item,) = parsed["episodes"]
    assert item["title"] == "Why Our Pipeline Never Sleeps"
    assert "Edited by <strong>Maya</strong>" in item["description_html"]
    assert "<script" not in item["description_html"]
    assert item["total_time"] == 3725
    assert item["number"] == 42
    assert item["season"] == 2
    (enclosure,) = item["enclosures"]
    assert enclosure["mime_type"] == "audio/mpeg"
    with urllib.request.urlopen(enclosure["url"], timeout=10) as mp3:
        assert len(mp3.read()) == enclosure["file_size"] == 48_000
    seek = urllib.request.Request(enclosure["url"], headers={"Range": "bytes=100-199"})
    with urllib.request.urlopen(seek, timeout=10) as part:  # apps seek with Range requests
        assert part.status == 206
        assert part.headers["Content-Range"] == "bytes 100-199/48000"
        assert len(part.read()) == 100

    feed = feedparser.parse(release.feed_url)  # feedparser fetches it itself, over HTTP
    assert not feed.bozo
    (entry,) = feed.entries
    assert entry.id == item["guid"]
    assert entry.itunes_duration == "01:02:05"
    chapters_url = entry.podcast_chapters["url"]
    assert entry.podcast_chapters["type"] == "application/json+chapters"
    persons = [(p.get("role"), p.text) for p in root.iter(f"{{{PODCAST_NS}}}person")]
    assert persons == [("host", "Maya"), ("guest", "Tom")]
    assert entry.podcast_person == {"role": "guest"}  # feedparser keeps the last of a kind
    assert entry.podcast_soundbite["duration"] == "40.5"

    with urllib.request.urlopen(chapters_url, timeout=10) as reply:
        chapters = json.load(reply)
    assert chapters["version"] == "1.2.0"
    assert chapters["chapters"][1]["title"] == "Queues"
    transcripts = {t.get("type"): t.get("url") for t in root.iter(f"{{{PODCAST_NS}}}transcript")}
    with urllib.request.urlopen(transcripts["text/vtt"], timeout=10) as reply:
        vtt = reply.read().decode()
    assert vtt.startswith("WEBVTT")
    assert len(pysubs2.SSAFile.from_string(vtt)) == 2
    with urllib.request.urlopen(transcripts["application/x-subrip"], timeout=10) as reply:
        assert len(pysubs2.SSAFile.from_string(reply.read().decode(), format_="srt")) == 2
    with urllib.request.urlopen(transcripts["application/json"], timeout=10) as reply:
        assert json.load(reply)["segments"][0]["speaker"] == "Maya"

    (event,) = release.published_events(expect=1, timeout=10)
    assert event.episode_id == episode
    assert event.feed_url == release.feed_url

    # The team edits the show file in the bucket (no redeploy) and rebuilds the feed: the
    # podcast: tags under the namespace's older URI, which gPodder's parser reads too.
    release.stack.s3.put_object(
        Bucket=release.stack.bucket,
        Key=f"shows/{SHOW_ID}.json",
        Body=json.dumps(
            show_config(release.base_url, podcast_namespace="legacy", title="The Weekly Show")
        ).encode(),
    )
    assert "1 episode(s), written" in release.cli("feed", "rebuild", SHOW_ID)
    parsed = podcastparser.parse(release.feed_url, urllib.request.urlopen(release.feed_url))
    assert parsed["title"] == "The Weekly Show"
    (item,) = parsed["episodes"]
    assert item["chapters_json_url"] == chapters_url
    assert item["transcript_url"] in transcripts.values()
    assert [(p["name"], p["role"]) for p in item["persons"]] == [("Maya", "host"), ("Tom", "guest")]

    assert "unpublished" in release.cli("unpublish", episode)
    assert (
        podcastparser.parse(release.feed_url, urllib.request.urlopen(release.feed_url))["episodes"]
        == []
    )


def test_many_threads_publishing_at_once_all_land_in_the_feed(release: Release) -> None:
    episodes = [f"2026-12-01-ep{n:02d}" for n in range(1, 11)]
    for number, episode in enumerate(episodes, 1):
        release.add_episode(episode, number)
        release.desk.approve(episode, title_number=1 + number % 3)
    barrier = threading.Barrier(len(episodes))

    def publish(episode: str) -> bool:
        barrier.wait()
        return release.desk.publish(episode).published_now

    with ThreadPoolExecutor(max_workers=len(episodes)) as pool:
        assert all(pool.map(publish, episodes))
    parsed = podcastparser.parse(release.feed_url, urllib.request.urlopen(release.feed_url))
    guids = [e["guid"] for e in parsed["episodes"]]
    assert sorted(guids) == sorted(release.desk.release(e).guid for e in episodes)
    assert len(set(guids)) == len(episodes)
    assert len(release.published_events(expect=len(episodes) + 1, timeout=3)) == len(episodes)


def test_a_scheduled_publish_fires_exactly_once(release: Release) -> None:
    episode = "2026-12-01-ep43"
    release.add_episode(episode, number=43)
    release.cli("release", episode, "--title-text", "Scheduled <b>bold</b> & friends")
    assert "scheduled for" in release.cli("publish", episode, "--at", "+3s")
    index = LocalScheduleIndex(S3BlobStore(release.stack.s3, release.stack.bucket))
    assert [e.episode_id for e in index.entries()] == [episode]
    assert (
        release.stack.s3.list_objects_v2(Bucket=release.stack.bucket, Prefix=feed_key(SHOW_ID)).get(
            "KeyCount"
        )
        == 0
    )

    stop = threading.Event()
    loops = [  # two loops on one bucket (a restarted laptop, a second `local up`)
        threading.Thread(
            target=run_loop,
            args=(release.desk, index),
            kwargs={"interval_seconds": 0.3, "stop": stop},
        )
        for _ in range(2)
    ]
    for loop in loops:
        loop.start()
    try:
        deadline = time.monotonic() + 30
        while release.desk.release(episode).state != "published":
            assert time.monotonic() < deadline, "the scheduled release never fired"
            time.sleep(0.3)
        time.sleep(1.5)  # several more rounds of both loops
    finally:
        stop.set()
        for loop in loops:
            loop.join(10)
    events = release.published_events(expect=2, timeout=5)
    assert [(e.episode_id, e.scheduled) for e in events] == [(episode, True)]
    assert index.entries() == []
    (item,) = podcastparser.parse(release.feed_url, urllib.request.urlopen(release.feed_url))[
        "episodes"
    ]
    assert item["title"] == "Scheduled <b>bold</b> & friends"
