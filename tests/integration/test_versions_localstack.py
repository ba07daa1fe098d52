"""Episode versions on LocalStack S3: what a new recording moves aside and what it leaves."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from podpipe.events import (
    AudioTranscoded,
    ClipsRendered,
    EpisodeVersionStarted,
    Event,
    ObjectCreated,
    PromptCompleted,
    PromptRequested,
    PromptsDispatched,
    TranscriptReady,
)
from podpipe.ffmpeg import probe, run_ffmpeg
from podpipe.layout import EpisodeKeys
from podpipe.release.model import ReleaseKeys
from podpipe.runtime.service import MessageContext
from podpipe.stages import S3StageLedger
from podpipe.versions import begin_version
from podpipe_clips import ClipsSettings, clips_routes
from podpipe_llm.providers.base import Completion, CompletionRequest
from podpipe_llm.providers.extractive import ExtractiveProvider
from podpipe_llm.providers.registry import Providers
from podpipe_llm.ratelimit import RateLimiters
from podpipe_llm.runner import PromptRunner
from podpipe_llm.service import build_service as build_llm
from podpipe_llm.settings import LlmSettings, RateLimit
from podpipe_transcode.service import build_handler as build_transcode
from podpipe_transcode.settings import TranscodeSettings
from podpipe_transcribe.backend import Finished, TranscriptionRequest
from podpipe_transcribe.core import RawSegment, RawTranscript, RawWord
from podpipe_transcribe.handler import TranscribeHandler
from podpipe_transcribe.store import S3EpisodeStore as TranscribeStore
from tests.support.localstack import Stack
from tests.support.scripted_llm import synthetic_transcript

pytestmark = pytest.mark.integration


def _names(stack: Stack, prefix: str) -> set[str]:
    listed = stack.s3.list_objects_v2(Bucket=stack.bucket, Prefix=prefix)
    return {o["Key"][len(prefix) :] for o in listed.get("Contents", [])}


def test_a_new_recording_leaves_the_release_where_it_is(stack: Stack) -> None:
    """An approved or published release must not be moved aside with the old outputs: it
    would lose its state (the next `podpipe release` would start from a draft)."""
    keys = EpisodeKeys("ep-rel")
    release = ReleaseKeys("ep-rel", "show")
    assert begin_version(stack.s3, stack.bucket, "ep-rel", "etag-1", "m-1").number == 1
    for key in (keys.audio, keys.prompt_output("titles", "md"), release.notes_version(1)):
        stack.s3.put_object(Bucket=stack.bucket, Key=key, Body=b"take 1")
    stack.s3.put_object(Bucket=stack.bucket, Key=release.release, Body=b'{"state": "approved"}')

    assert begin_version(stack.s3, stack.bucket, "ep-rel", "etag-2", "m-2").number == 2

    current = {n for n in _names(stack, keys.root) if not n.startswith("versions/")}
    assert {"release.json", "release/show-notes.v001.md", "version.json"} == current
    body = stack.s3.get_object(Bucket=stack.bucket, Key=release.release)["Body"].read()
    assert body == b'{"state": "approved"}'
    assert _names(stack, keys.version_prefix(1)) == {"audio.mp3", "outputs/titles.md"}


def test_large_outputs_are_moved_aside_with_a_multipart_copy(stack: Stack) -> None:
    """S3's CopyObject refuses objects above 5 GB: the archive copies large objects in parts
    (boto3's managed copy; its 8 MB threshold stands in for the 5 GB here), keeping the
    content type and metadata."""
    keys = EpisodeKeys("ep-big")
    assert begin_version(stack.s3, stack.bucket, "ep-big", "etag-1", "m-1").number == 1
    body = bytes(range(256)) * (9 * 1024 * 1024 // 256)  # 9 MB: above the threshold
    stack.s3.put_object(
        Bucket=stack.bucket,
        Key=keys.video,
        Body=body,
        ContentType="video/mp4",
        Metadata={"podpipe-title": "Take 1"},
    )

    begin_version(stack.s3, stack.bucket, "ep-big", "etag-2", "m-2")

    archived = keys.version_prefix(1) + "video.mp4"
    head = stack.s3.head_object(Bucket=stack.bucket, Key=archived)
    assert "-" in head["ETag"]  # assembled from copied parts, not one CopyObject
    assert head["ContentLength"] == len(body)
    assert head["ContentType"] == "video/mp4"
    assert head["Metadata"] == {"podpipe-title": "Take 1"}
    assert stack.s3.get_object(Bucket=stack.bucket, Key=archived)["Body"].read() == body
    assert "video.mp4" not in _names(stack, keys.root)


# --------------------------------------------------------------------------- the whole chain


class _SyntheticBackend:
    """A synchronous transcription backend that "hears" as long as the file lasts (a
    synthetic conversation with word timings), so no Whisper model is needed."""

    name = "synthetic"
    asynchronous = False

    def submit(self, request: TranscriptionRequest, audio: Path | None) -> Finished:
        assert audio is not None
        duration = probe(audio).duration_seconds or 0.0
        made = synthetic_transcript(
            request.episode_id, round(duration, 2), segment_seconds=6.0, topic_minutes=0.75
        )
        segments = []
        for seg in made.segments:
            tokens = seg.text.split()
            step = (seg.end - seg.start) / len(tokens)
            words = tuple(
                RawWord(seg.start + i * step, seg.start + (i + 1) * step, token)
                for i, token in enumerate(tokens)
            )
            segments.append(RawSegment(seg.start, seg.end, seg.text, seg.speaker, words))
        return Finished(RawTranscript("en", duration, tuple(segments), False, "synthetic"))

    def check(self, job_name: str) -> Finished:
        raise AssertionError("synchronous backend")


class _ReplacedWhileRunning:
    """The extractive model, but while it writes the first chapters a new recording arrives
    (``during`` runs inside the call): the late output of version 1 that used to land."""

    name = "extractive"
    rate_limited = False
    needs_context_budget = False

    def __init__(self) -> None:
        self.inner = ExtractiveProvider()
        self.during: Callable[[], None] | None = None
        self.late_chapters = ""

    def complete(self, request: CompletionRequest) -> Completion:
        hook = self.during
        if hook is not None and request.task.prompt_id == "chapters":
            self.during = None
            hook()
            answer = self.inner.complete(request)
            self.late_chapters = answer.text
            return answer
        return self.inner.complete(request)


def _speech(path: Path, seconds: int) -> Path:
    run_ffmpeg(
        [
            "-f",
            "lavfi",
            "-i",
            f"anoisesrc=c=pink:a=0.15:d={seconds}:r=44100:s=7,"
            "volume='0.15+0.85*abs(sin(2*PI*2.3*t))':eval=frame,bandpass=f=900:width_type=h:w=1600",
            "-c:a",
            "aac",
            "-b:a",
            "64k",
            str(path),
        ],
        label="make-test-audio",
    )
    return path


def _chapter_starts(text: str) -> list[float]:
    return [float(c["startTime"]) for c in json.loads(text)["chapters"]]


def test_a_shorter_recording_under_the_same_name_gets_its_own_prompts_and_clips(
    stack: Stack, tmp_path: Path
) -> None:
    """Issue #16 (audit of defect 3): a 60-second recording uploaded over a 3-minute one kept
    version 1's chapters — a chapters prompt of version 1 still running when the new file
    arrived wrote into version 2's folder, and version 2's dispatch skipped it as
    "existing". Now the late output is dropped and every prompt and the clips run for the new
    recording: no chapter and no clip lies past its end."""
    episode, bucket = "ep-retake", stack.bucket
    keys = EpisodeKeys(episode)
    ctx = MessageContext("m-1", "any", 1, 3)
    transcode = build_transcode(
        TranscodeSettings(
            name_prefix=stack.settings.name_prefix, bucket=bucket, presign_expiry_seconds=3600
        ),
        s3=stack.s3,
    )
    transcribe = TranscribeHandler(
        store=TranscribeStore(stack.s3, bucket),
        backend=_SyntheticBackend(),
        ledger=S3StageLedger(stack.s3, bucket),
    )
    model = _ReplacedWhileRunning()
    providers = Providers({"extractive": model}, default_provider="extractive", default_model="")
    runner = PromptRunner(providers=providers, limiters=RateLimiters(lambda _m: RateLimit()))
    llm = build_llm(
        LlmSettings(name_prefix=stack.settings.name_prefix, bucket=bucket),
        s3=stack.s3,
        providers=providers,
        runner=runner,
    )
    dispatch, work = (consumer.routes[0] for consumer in llm.consumers)
    on_picks, on_audio, _video = clips_routes(
        ClipsSettings(
            bucket=bucket,
            clips_video_size="160x160",
            clips_video_fps=5,
            clips_x264_preset="ultrafast",
        ),
        stack.s3,
    )

    def upload(path: Path, message_id: str) -> tuple[list[Event], list[Event]]:
        key = f"uploads/{episode}.m4a"
        stack.s3.upload_file(str(path), bucket, key)
        head = stack.s3.head_object(Bucket=bucket, Key=key)
        created = ObjectCreated.model_validate(
            {"bucket": {"name": bucket}, "object": {"key": key, "etag": head["ETag"]}}
        )
        # Each service has its own queue: the same upload, two SQS messages.
        transcoded = transcode.handle(
            created, MessageContext(f"{message_id}-tc", "transcode", 1, 3)
        )
        transcribed = transcribe.handle_upload(
            created, MessageContext(f"{message_id}-tr", "transcribe", 1, 3)
        )
        return list(transcoded), list(transcribed)

    def prompts(ready: TranscriptReady) -> tuple[PromptsDispatched, list[PromptCompleted]]:
        dispatched, *queue = dispatch.handle(ready, ctx)
        assert isinstance(dispatched, PromptsDispatched)
        done: list[PromptCompleted] = []
        while queue:
            request = queue.pop(0)
            assert isinstance(request, PromptRequested)
            for event in work.handle(request, ctx):
                if isinstance(event, PromptRequested):
                    queue.append(event)  # a parked prompt released
                elif isinstance(event, PromptCompleted):
                    done.append(event)
        return dispatched, done

    _transcoded, (ready_v1,) = upload(_speech(tmp_path / "take-1.m4a", 180), "m-take-1")
    assert isinstance(ready_v1, TranscriptReady)
    assert ready_v1.version == 1

    take_2: dict[str, list[Event]] = {}

    def retake() -> None:
        transcoded, transcribed = upload(_speech(tmp_path / "take-2.m4a", 60), "m-take-2")
        take_2["transcode"], take_2["transcribe"] = transcoded, transcribed

    model.during = retake
    _dispatched, late = prompts(ready_v1)
    assert late == []  # version 1's prompts, the one in flight included, wrote nothing
    assert max(_chapter_starts(model.late_chapters)) > 60.0  # what used to land
    started, audio_v2 = take_2["transcode"]
    assert isinstance(started, EpisodeVersionStarted)
    assert started.version == 2
    assert isinstance(audio_v2, AudioTranscoded)
    assert audio_v2.version == 2
    (ready_v2,) = take_2["transcribe"]
    assert isinstance(ready_v2, TranscriptReady)
    assert ready_v2.version == 2
    assert ready_v2.duration_seconds <= 61.0

    assert on_audio.handle(audio_v2, ctx) == []  # version 2's clip picks are not there yet
    dispatched, completed = prompts(ready_v2)

    assert dispatched.skipped_existing == []
    assert {c.prompt_id for c in completed} == set(dispatched.prompt_ids)
    assert "chapters" in dispatched.prompt_ids
    assert all(c.version == 2 for c in completed)
    chapters = stack.s3.get_object(Bucket=bucket, Key=keys.prompt_output("chapters", "json"))
    starts = _chapter_starts(chapters["Body"].read().decode())
    assert starts
    assert max(starts) < ready_v2.duration_seconds
    meta = stack.s3.get_object(Bucket=bucket, Key=keys.prompt_metadata("chapters"))
    assert json.loads(meta["Body"].read())["version"] == 2

    (picks,) = [c for c in completed if c.prompt_id == "clip-picks"]
    (rendered,) = on_picks.handle(picks, ctx)
    assert isinstance(rendered, ClipsRendered)
    assert rendered.clips
    assert all(clip.end <= ready_v2.duration_seconds + 0.5 for clip in rendered.clips)
    manifest = json.loads(
        stack.s3.get_object(Bucket=bucket, Key=keys.clips_prefix + "clips.json")["Body"].read()
    )
    picks_head = stack.s3.head_object(Bucket=bucket, Key=keys.prompt_output("clip-picks", "json"))
    assert manifest["picks_etag"] == picks_head["ETag"].strip('"')
