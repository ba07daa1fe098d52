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
import re
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import podcastparser
import pysubs2
import pytest

from podpipe.documents import Transcript
from podpipe.events import (
    AudioTranscoded,
    ClipsRendered,
    EpisodeCompleted,
    EpisodePublished,
    PromptCompleted,
    PromptFailed,
    TranscriptReady,
    VideoTranscoded,
)
from podpipe.ffmpeg import find_ffmpeg, probe, probe_streams, run_ffmpeg
from podpipe.layout import EpisodeKeys
from podpipe.release.model import parse_titles
from podpipe.release.serve import serving
from podpipe.s3io import get_json_or_none
from podpipe_clips.graph import BACKGROUND_COLOR
from podpipe_local.demo import metadata_args
from tests.support.e2e import SAMPLE, SAMPLE_METADATA, Run, running_pipeline
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


@pytest.fixture(scope="module")
def sample_episode(run: Run) -> str:
    """The sample uploaded once and processed to the end: the happy path checks its outputs
    and the release test approves and publishes it (one pipeline run serves both)."""
    episode = "e2e-sample"
    run.upload(episode)
    assert run.wait(episode) == 0, "podpipe wait should report the episode completed"
    return episode


def test_sample_episode_becomes_a_release(run: Run, sample_episode: str) -> None:
    episode = sample_episode
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


def test_the_episode_is_approved_published_and_in_the_feed(
    run: Run, sample_episode: str, tmp_path: Path
) -> None:
    """upload → outputs → approve with the second generated title and edited notes →
    publish → the feed, fetched over HTTP from the local public/ server, lists the episode
    with exactly that title and those notes (read by gPodder's podcastparser)."""
    episode = sample_episode
    s3, bucket = run.stack.s3, run.stack.bucket

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


# --------------------------------------------------------------------------- a video episode

VIDEO_WIDTH, VIDEO_HEIGHT, VIDEO_FPS = 320, 180, 10


def source_luma(at: float) -> float:
    """The synthetic picture's grey at ``at`` seconds: frame N is N*2 (mod 256)."""
    return (round(at * VIDEO_FPS) * 2) % 256


def grey_distance(a: float, b: float) -> float:
    return min(abs(a - b), 256 - abs(a - b))


def luma(path: Path, at: float, width: int, height: int) -> np.ndarray:
    """The Y plane of the frame at ``at`` seconds, as stored (no range conversion)."""
    raw = subprocess.run(
        [
            *(find_ffmpeg(), "-v", "error", "-ss", f"{at:.3f}", "-i", str(path), "-frames:v", "1"),
            *("-f", "rawvideo", "-pix_fmt", "yuv420p", "-"),  # Y plane first
        ],
        capture_output=True,
        check=True,
    ).stdout
    plane = np.frombuffer(raw[: width * height], dtype=np.uint8)
    return plane.reshape(height, width).astype(np.int16)


def patch(path: Path, at: float, width: int, height: int) -> float:
    """Mean grey at the left edge, half-way down (clear of captions and the title card)."""
    middle = height // 2
    return float(luma(path, at, width, height)[middle - 4 : middle + 4, 2:10].mean())


def test_a_video_episode_through_the_whole_pipeline(run: Run, tmp_path: Path) -> None:
    """A small synthetic video (the sample's sound under a picture whose grey counts its
    frames) through every service: the soft subtitle track, captions burned in, clips and the
    trailer cut from the picture in both shapes at the picks' times, youtube.md, and
    `podpipe status` listing the video stages."""
    episode = "e2e-video"
    keys = EpisodeKeys(episode)
    s3, bucket = run.stack.s3, run.stack.bucket
    video = tmp_path / f"{episode}.mp4"
    run_ffmpeg(
        [
            "-f", "lavfi", "-i",
            f"nullsrc=s={VIDEO_WIDTH}x{VIDEO_HEIGHT}:r={VIDEO_FPS},"
            "geq=lum='mod(N*2,256)':cb=128:cr=128",
            "-i", str(SAMPLE), "-map", "0:v", "-map", "1:a", "-shortest",
            "-c:v", "libx264", "-preset", "ultrafast", "-crf", "10", "-pix_fmt", "yuv420p",
            "-c:a", "aac", "-b:a", "96k", str(video),
        ],
        label="make-e2e-video",
    )  # fmt: skip
    run.pipeline.cli("upload", str(video), "--episode", episode, *metadata_args(SAMPLE_METADATA))
    assert run.wait(episode) == 0

    # The audio is the same publishable MP3 as for an audio upload; video.mp4 beside it.
    assert run.exists(keys.audio)
    [_transcoded] = run.events_for(episode, VideoTranscoded)

    # Soft subtitles: a mov_text track that parses back to the episode's subtitles.
    subtitled = run.wait_for_stage(episode, "video-subtitles")
    assert subtitled.status == "done", subtitled.reason
    soft, burned = tmp_path / "video.mp4", tmp_path / "video-captioned.mp4"
    s3.download_file(bucket, keys.video, str(soft))
    s3.download_file(bucket, keys.video_captioned, str(burned))
    header = subprocess.run(
        [find_ffmpeg(), "-hide_banner", "-i", str(soft)], capture_output=True, text=True
    ).stderr
    assert "Subtitle: mov_text" in header
    extracted = tmp_path / "track.srt"
    run_ffmpeg(["-i", str(soft), "-map", "0:s:0", str(extracted)], label="extract-subtitles")
    track = pysubs2.load(str(extracted))
    srt = s3.get_object(Bucket=bucket, Key=keys.subtitles_srt)["Body"].read().decode()
    subtitles = pysubs2.SSAFile.from_string(srt)
    assert len(track) > 20
    assert len(track) == len(subtitles)
    assert track[0].plaintext.split() == subtitles[0].plaintext.split()

    # Burned captions: at a caption's time the captioned frame differs from the soft one in
    # the lower band (the text), and hardly above it.
    cue = subtitles[1]
    at = (cue.start + cue.end) / 2000
    difference = np.abs(
        luma(burned, at, VIDEO_WIDTH, VIDEO_HEIGHT) - luma(soft, at, VIDEO_WIDTH, VIDEO_HEIGHT)
    )
    assert (difference[VIDEO_HEIGHT // 2 :] > 40).sum() > 200
    assert difference[: VIDEO_HEIGHT // 3].mean() < 3

    # Clips cut from the picture, vertical and square, at the picks' times (±0.1 s).
    clips = run.wait_for_stage(episode, "clips")
    assert clips.status == "done", clips.reason
    [rendered] = run.events_for(episode, ClipsRendered)
    assert isinstance(rendered.detail, ClipsRendered)
    assert rendered.detail.clips
    red, green, blue = (int(BACKGROUND_COLOR[i : i + 2], 16) for i in (2, 4, 6))
    background = 16 + (65.481 * red + 128.553 * green + 24.966 * blue) / 255
    for clip in rendered.detail.clips:
        assert clip.video is not None
        assert clip.video_vertical is not None
        for location, (width, height) in ((clip.video_vertical, (1080, 1920)),
                                          (clip.video, (1080, 1080))):  # fmt: skip
            local = tmp_path / Path(location.key).name
            s3.download_file(bucket, location.key, str(local))
            [picture] = [s for s in probe_streams(local) if s.kind == "Video"]
            assert (picture.width, picture.height) == (width, height)
            assert probe(local).duration_seconds == pytest.approx(clip.end - clip.start, abs=0.1)
            for offset in (0.0, 5.0):
                seen = patch(local, offset, width, height)
                assert grey_distance(seen, source_luma(clip.start + offset)) <= 4.5

    # The trailer is cut from the picture too (not the audiogram's background), both shapes.
    manifest = get_json_or_none(s3, bucket, keys.clips_prefix + "clips.json")
    assert manifest["trailer_seconds"]
    first_cut = min(clip.start for clip in rendered.detail.clips)
    for key, (width, height) in (
        (manifest["trailer_vertical_key"], (1080, 1920)),
        (manifest["trailer_video_key"], (1080, 1080)),
    ):
        local = tmp_path / Path(key).name
        s3.download_file(bucket, key, str(local))
        [picture] = [s for s in probe_streams(local) if s.kind == "Video"]
        assert (picture.width, picture.height) == (width, height)
        assert probe(local).duration_seconds == pytest.approx(manifest["trailer_seconds"], abs=0.1)
        for into in (1.0, 3.0):
            seen = patch(local, into, width, height)
            assert grey_distance(seen, source_luma(first_cut + into)) <= 4.5
            if abs(source_luma(first_cut + into) - background) > 20:
                assert abs(seen - background) > 15

    # youtube.md: chapters as YouTube takes them (0:00 first, at least 3, each at least 10 s;
    # the extractive writer gives an episode of 2.5 min or more the three YouTube needs).
    youtube = run.wait_for_stage(episode, "youtube")
    assert youtube.status == "done", youtube.reason
    text = s3.get_object(Bucket=bucket, Key=keys.prompt_output("youtube", "md"))["Body"].read()
    markdown = text.decode()
    assert "## Title" in markdown
    assert "## Tags" in markdown
    stamps = re.findall(r"^(\d+):(\d\d) (.+)$", markdown, re.MULTILINE)
    duration = probe(soft).duration_seconds or 0.0
    starts = [int(m) * 60 + int(sec) for m, sec, _title in stamps]
    assert starts[:1] == [0], markdown
    assert len(starts) >= 3, markdown
    assert all(b - a >= 10 for a, b in zip(starts, [*starts[1:], duration], strict=True))
    assert youtube.details["chapters"] == len(stamps)

    # `podpipe status` lists the video stages from the same ledger as the others.
    status = run.pipeline.cli("status", episode, "--json", check=False)
    assert status.returncode == 0, status.stdout + status.stderr
    stages = {s["stage"]: s["state"] for s in json.loads(status.stdout)["stages"]}
    assert {stages[s] for s in ("video", "video-subtitles", "youtube", "clips")} == {"done"}
