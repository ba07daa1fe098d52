"""The clips handler with an in-memory store and a fake renderer (no ffmpeg, no S3)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from podpipe.documents import ClipPick, ClipPicks
from podpipe.events import (
    AudioTranscoded,
    ClipsFailed,
    ClipsRendered,
    Failure,
    PromptCompleted,
    S3Location,
    VideoTranscoded,
)
from podpipe.layout import EpisodeKeys, EpisodeMetadata, sidecar_key
from podpipe.loudness import LoudnessMeasurement
from podpipe.runtime.errors import PermanentError
from podpipe.runtime.service import MessageContext
from podpipe_clips.handler import MANIFEST_NAME, ClipsConfig, ClipsHandler
from podpipe_clips.picks import plan_clips, plan_trailer, speech_words
from podpipe_clips.render import (
    EpisodeInput,
    RenderedClip,
    RenderedTrailer,
    RenderOptions,
    RenderResult,
)
from podpipe_clips.settings import ClipsSettings
from podpipe_clips.synthetic import synthetic_transcript
from tests.support.stage_ledger import MemoryStageLedger

EPISODE = "ep-1"
KEYS = EpisodeKeys(EPISODE)
BUCKET = "media"


class MemoryStore:
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.content_types: dict[str, str] = {}

    def etag(self, key: str) -> str | None:
        data = self.objects.get(key)
        return None if data is None else hashlib.md5(data).hexdigest()

    def get_bytes(self, key: str) -> bytes | None:
        return self.objects.get(key)

    def download(self, key: str, path: Path) -> bool:
        if key not in self.objects:
            return False
        path.write_bytes(self.objects[key])
        return True

    def upload(self, path: Path, key: str, *, content_type: str) -> None:
        self.objects[key] = path.read_bytes()
        self.content_types[key] = content_type

    def put_json(self, key: str, value: Any) -> None:
        self.objects[key] = value.model_dump_json().encode()

    def list_keys(self, prefix: str) -> list[str]:
        return sorted(k for k in self.objects if k.startswith(prefix))

    def delete(self, keys: Sequence[str]) -> None:
        for key in keys:
            self.objects.pop(key, None)

    def presign(self, key: str, expires_in: int) -> tuple[str, datetime]:
        return f"https://signed/{key}", datetime.now(UTC) + timedelta(seconds=expires_in)


class FakeRenderer:
    """Plans like the real renderer and writes placeholder files instead of running ffmpeg."""

    def __init__(self) -> None:
        self.calls: list[EpisodeInput] = []
        self.options: list[RenderOptions] = []

    def __call__(
        self,
        episode: EpisodeInput,
        picks: Sequence[ClipPick],
        options: RenderOptions,
        workdir: Path,
    ) -> RenderResult:
        self.calls.append(episode)
        self.options.append(options)
        workdir.mkdir(parents=True)
        words = speech_words(episode.transcript.words)
        duration = episode.transcript.duration_seconds
        plan = plan_clips(picks, words, duration)
        trailer_plan = plan_trailer(plan.clips, words, duration)
        loudness = LoudnessMeasurement(-16, -2, 3, -26, -16, -2, 3, -26, "linear", 0)

        def touch(name: str) -> Path:
            path = workdir / name
            path.write_bytes(name.encode())
            return path

        clips = tuple(
            RenderedClip(
                index,
                clip,
                touch(f"clip-{index:02d}.mp3"),
                touch(f"clip-{index:02d}.srt"),
                touch(f"clip-{index:02d}.mp4"),
                loudness,
            )
            for index, clip in enumerate(plan.clips, start=1)
        )
        assert trailer_plan is not None
        trailer = RenderedTrailer(
            trailer_plan, touch("trailer.mp3"), touch("trailer.srt"), touch("trailer.mp4")
        )
        return RenderResult(
            plan=plan,
            clips=clips,
            trailer=trailer,
            episode_seconds=duration,
            caption_mode="libass",
            skipped=plan.skipped,
            elapsed_seconds=1.0,
            ffmpeg_seconds=1.0,
        )


def completed(prompt_id: str = "clip-picks") -> PromptCompleted:
    return PromptCompleted(
        episode_id=EPISODE,
        prompt_id=prompt_id,
        model="stub",
        output=S3Location(bucket=BUCKET, key=KEYS.prompt_output(prompt_id, "json")),
        metadata=S3Location(bucket=BUCKET, key=KEYS.prompt_metadata(prompt_id)),
        output_format="json",
        preview="...",
        input_tokens=1,
        output_tokens=1,
        latency_seconds=0.1,
        attempts=1,
        estimated_cost_usd=0.0,
    )


def audio_transcoded() -> AudioTranscoded:
    return AudioTranscoded(
        episode_id=EPISODE,
        source=S3Location(bucket=BUCKET, key=f"uploads/{EPISODE}.m4a"),
        audio=S3Location(bucket=BUCKET, key=KEYS.audio),
        duration_seconds=300.0,
        integrated_lufs=-16.0,
        true_peak_dbtp=-1.5,
        size_bytes=3,
        bitrate_kbps=128,
        channels=2,
        presigned_url="https://signed/audio.mp3",
        presigned_url_expires_at=datetime(2026, 12, 3, tzinfo=UTC),
    )


def video_transcoded() -> VideoTranscoded:
    return VideoTranscoded(
        episode_id=EPISODE,
        source=S3Location(bucket=BUCKET, key=f"uploads/{EPISODE}.mp4"),
        video=S3Location(bucket=BUCKET, key=KEYS.video),
        duration_seconds=300.0,
        integrated_lufs=-16.0,
        true_peak_dbtp=-1.5,
        picture_copied=True,
    )


CTX = MessageContext(message_id="m-1", queue="clips", receive_count=1, max_receive_count=3)


def picks(*spans: tuple[float, float]) -> bytes:
    clips = [ClipPick(start=s, end=e, title=f"Clip at {s:.0f}", hook="Hook") for s, e in spans]
    return ClipPicks(clips=clips).model_dump_json().encode()


@pytest.fixture
def store() -> MemoryStore:
    memory = MemoryStore()
    memory.objects[KEYS.audio] = b"mp3"
    memory.objects[KEYS.transcript_json] = (
        synthetic_transcript(EPISODE, 300.0).model_dump_json().encode()
    )
    memory.objects[sidecar_key(EPISODE)] = (
        EpisodeMetadata(title="The one about clips", show="Pod Show").model_dump_json().encode()
    )
    memory.objects[KEYS.prompt_output("clip-picks", "json")] = picks(
        (20, 60), (100, 140), (150, 160), (200, 240), (500, 530)
    )
    return memory


@pytest.fixture
def renderer() -> FakeRenderer:
    return FakeRenderer()


def handler_for(
    store: MemoryStore,
    renderer: FakeRenderer,
    ledger: MemoryStageLedger | None = None,
    **config: Any,
) -> ClipsHandler:
    return ClipsHandler(
        store,
        ClipsConfig(bucket=BUCKET, options=RenderOptions(), **config),
        renderer,
        ledger=ledger if ledger is not None else MemoryStageLedger(),
    )


def test_other_prompts_are_ignored(store: MemoryStore, renderer: FakeRenderer) -> None:
    handler = handler_for(store, renderer)
    assert handler.on_picks(completed("titles"), CTX) == []
    assert handler.on_failure(completed("titles"), Failure(reason="x", error_type="E")) == []
    assert renderer.calls == []


def test_clips_are_uploaded_and_announced(store: MemoryStore, renderer: FakeRenderer) -> None:
    ledger = MemoryStageLedger()
    (event,) = handler_for(store, renderer, ledger).on_picks(completed(), CTX)
    assert isinstance(event, ClipsRendered)
    assert [c.index for c in event.clips] == [1, 2, 3, 4]
    assert event.clips[0].title == "Clip at 20"
    assert event.clips[0].hook == "Hook"
    assert event.clips[0].audio.key == KEYS.clips_prefix + "clip-01.mp3"
    assert event.clips[0].audio_url.startswith("https://signed/")
    assert event.clips[0].video is not None
    assert event.clips[0].video_url is not None
    assert any("after the episode ends" in s for s in event.skipped)
    assert any("lengthened" in r for r in event.repaired)
    assert event.trailer_audio is not None
    assert event.trailer_audio.key == KEYS.clips_prefix + "trailer.mp3"
    assert event.trailer_url is not None
    for name in ("clip-01.mp3", "clip-01.mp4", "clip-01.srt", "trailer.mp3", "trailer.mp4"):
        assert KEYS.clips_prefix + name in store.objects
    assert store.content_types[KEYS.clips_prefix + "clip-01.mp4"] == "video/mp4"
    assert ledger.history[0].status == "running"
    assert ledger.history[-1].status == "done"
    episode = renderer.calls[0]
    assert (episode.title, episode.show) == ("The one about clips", "Pod Show")


def test_a_duplicate_delivery_does_not_render_again(
    store: MemoryStore, renderer: FakeRenderer
) -> None:
    handler = handler_for(store, renderer)
    (first,) = handler.on_picks(completed(), CTX)
    (second,) = handler.on_picks(completed(), CTX)
    assert len(renderer.calls) == 1
    assert isinstance(first, ClipsRendered)
    assert isinstance(second, ClipsRendered)
    assert [c.audio for c in second.clips] == [c.audio for c in first.clips]
    assert second.skipped == first.skipped


def test_new_picks_render_again_and_remove_clips_no_longer_picked(
    store: MemoryStore, renderer: FakeRenderer
) -> None:
    handler = handler_for(store, renderer)
    handler.on_picks(completed(), CTX)
    assert KEYS.clips_prefix + "clip-04.mp3" in store.objects
    store.objects[KEYS.prompt_output("clip-picks", "json")] = picks((30, 70), (120, 170))
    (event,) = handler.on_picks(completed(), CTX)
    assert len(renderer.calls) == 2
    assert isinstance(event, ClipsRendered)
    assert len(event.clips) == 2
    assert KEYS.clips_prefix + "clip-04.mp3" not in store.objects
    assert KEYS.clips_prefix + "clip-02.mp3" in store.objects
    manifest = json.loads(store.objects[KEYS.clips_prefix + MANIFEST_NAME])
    assert manifest["picks_etag"] == store.etag(KEYS.prompt_output("clip-picks", "json"))


def test_changed_render_settings_render_again(store: MemoryStore, renderer: FakeRenderer) -> None:
    handler_for(store, renderer).on_picks(completed(), CTX)
    handler_for(store, renderer, cover_art_key="show/cover.jpg").on_picks(completed(), CTX)
    assert len(renderer.calls) == 2


def test_picks_before_the_audio_wait_for_it_without_an_error(
    store: MemoryStore, renderer: FakeRenderer
) -> None:
    del store.objects[KEYS.audio]
    ledger = MemoryStageLedger()
    assert handler_for(store, renderer, ledger).on_picks(completed(), CTX) == []
    assert KEYS.clips_prefix + MANIFEST_NAME not in store.objects
    record = ledger.read(EPISODE, "clips")
    assert record is not None
    assert (record.status, record.details["waiting_for"]) == ("running", ["audio.mp3"])


def test_invalid_picks_fail_for_good(store: MemoryStore, renderer: FakeRenderer) -> None:
    store.objects[KEYS.prompt_output("clip-picks", "json")] = b'{"clips": []}'
    with pytest.raises(PermanentError, match="not valid clip picks"):
        handler_for(store, renderer).on_picks(completed(), CTX)
    assert renderer.calls == []


def test_missing_picks_fail_for_good(store: MemoryStore, renderer: FakeRenderer) -> None:
    del store.objects[KEYS.prompt_output("clip-picks", "json")]
    with pytest.raises(PermanentError, match="does not exist"):
        handler_for(store, renderer).on_picks(completed(), CTX)


def test_a_failure_becomes_clips_failed(store: MemoryStore, renderer: FakeRenderer) -> None:
    failure = Failure(reason="ffmpeg crashed", error_type="FfmpegError", attempts=3)
    ledger = MemoryStageLedger()
    (event,) = handler_for(store, renderer, ledger).on_failure(completed(), failure)
    assert isinstance(event, ClipsFailed)
    assert event.failure.reason == "ffmpeg crashed"
    assert (ledger.history[-1].status, ledger.history[-1].reason) == ("failed", "ffmpeg crashed")


def test_cover_art_and_show_name_fallback(store: MemoryStore, renderer: FakeRenderer) -> None:
    store.objects[sidecar_key(EPISODE)] = EpisodeMetadata(title="T").model_dump_json().encode()
    store.objects["show/cover.png"] = b"png"
    handler_for(store, renderer, cover_art_key="show/cover.png", show_name="Fallback").on_picks(
        completed(), CTX
    )
    episode = renderer.calls[0]
    assert episode.show == "Fallback"
    assert episode.cover is not None
    assert episode.cover.suffix == ".png"


# --------------------------------------------------------------------------- the crop box


def show_file(store: MemoryStore, crop: Any, key: str = "shows/pod-show.json") -> None:
    # Only what the clips read: a show file still being written for its feed is enough.
    store.objects[key] = json.dumps({"title": "Pod Show", "clip_crop_box": crop}).encode()


def test_a_video_episode_is_cut_with_its_shows_crop_box(
    store: MemoryStore, renderer: FakeRenderer
) -> None:
    store.objects[KEYS.video] = b"mp4"
    show_file(store, {"x": 0, "y": 0, "width": 0.5, "height": 1})
    handler = handler_for(store, renderer)
    handler.on_picks(completed(), CTX)
    [options] = renderer.options
    assert renderer.calls[0].video is not None
    assert options.square.crop is not None
    assert (options.square.crop.x, options.square.crop.width) == (0.0, 0.5)
    assert options.vertical.crop == options.square.crop
    assert (options.vertical.width, options.vertical.height) == (1080, 1920)

    # The same box again: nothing to redo. A new box (the team edited the show): cut again.
    handler.on_picks(completed(), CTX)
    assert len(renderer.calls) == 1
    show_file(store, {"x": 0.5, "y": 0, "width": 0.5, "height": 1})
    handler.on_picks(completed(), CTX)
    assert len(renderer.calls) == 2
    assert renderer.options[1].square.crop is not None
    assert renderer.options[1].square.crop.x == 0.5


def test_without_a_show_crop_box_the_deployments_setting_or_the_centre_is_used(
    store: MemoryStore, renderer: FakeRenderer
) -> None:
    store.objects[KEYS.video] = b"mp4"
    show_file(store, None)
    handler_for(store, renderer).on_picks(completed(), CTX)
    assert renderer.options[0] == RenderOptions()  # centre crops
    settings = ClipsSettings(clips_crop_box="0.25,0,0.5,1")
    ClipsHandler(
        store,
        ClipsConfig(bucket=BUCKET, options=settings.clips_render_options()),
        renderer,
        ledger=MemoryStageLedger(),
    ).on_picks(completed(), CTX)
    assert renderer.options[1].square.crop is not None
    assert renderer.options[1].square.crop.x == 0.25


def test_the_title_card_on_picture_clips_can_be_turned_off(
    store: MemoryStore, renderer: FakeRenderer, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.objects[KEYS.video] = b"mp4"
    assert ClipsSettings().clips_render_options().title_card  # on unless turned off
    monkeypatch.setenv("PODPIPE_CLIPS_TITLE_CARD", "false")
    handler = ClipsHandler(
        store,
        ClipsConfig(bucket=BUCKET, options=ClipsSettings().clips_render_options()),
        renderer,
        ledger=MemoryStageLedger(),
    )
    handler.on_picks(completed(), CTX)
    assert renderer.calls[0].video is not None
    assert renderer.options[0].title_card is False


def test_an_audio_only_episode_ignores_the_crop_box(
    store: MemoryStore, renderer: FakeRenderer
) -> None:
    show_file(store, {"x": 0, "y": 0, "width": 0.5, "height": 1})
    handler_for(store, renderer).on_picks(completed(), CTX)
    assert renderer.calls[0].video is None
    assert renderer.options[0] == RenderOptions()


def test_a_wrong_crop_box_fails_clearly(store: MemoryStore, renderer: FakeRenderer) -> None:
    store.objects[KEYS.video] = b"mp4"
    show_file(store, {"x": 0.75, "y": 0, "width": 0.5, "height": 1})
    with pytest.raises(PermanentError, match=r"shows/pod-show.json: invalid clip_crop_box"):
        handler_for(store, renderer).on_picks(completed(), CTX)
    assert renderer.calls == []


def test_a_video_episode_waits_for_its_picture(store: MemoryStore, renderer: FakeRenderer) -> None:
    ledger = MemoryStageLedger()
    ledger.record(EPISODE, "video", "running")
    assert handler_for(store, renderer, ledger).on_picks(completed(), CTX) == []
    assert renderer.calls == []
    record = ledger.read(EPISODE, "clips")
    assert record is not None
    assert record.details["waiting_for"] == ["video.mp4"]
    # video.mp4 could not be made: the clips go on as audiograms (transcode's "Audio
    # Transcoded" follows its "Video Failed").
    ledger.record(EPISODE, "video", "failed", reason="160x8")
    (event,) = handler_for(store, renderer, ledger).on_media(audio_transcoded(), CTX)
    assert isinstance(event, ClipsRendered)
    assert renderer.calls[0].video is None


# --------------------------------------------------------------------------- the join


def test_media_before_the_picks_records_nothing_and_the_picks_render(
    store: MemoryStore, renderer: FakeRenderer
) -> None:
    picks_key = KEYS.prompt_output("clip-picks", "json")
    picks_json = store.objects.pop(picks_key)
    ledger = MemoryStageLedger()
    handler = handler_for(store, renderer, ledger)

    assert handler.on_media(audio_transcoded(), CTX) == []  # first: nothing to cut yet
    assert renderer.calls == []
    assert ledger.read(EPISODE, "clips") is None  # a show without clip picks shows no stage

    store.objects[picks_key] = picks_json
    (event,) = handler.on_picks(completed(), CTX)  # second: renders
    assert isinstance(event, ClipsRendered)
    assert len(renderer.calls) == 1
    record = ledger.read(EPISODE, "clips")
    assert record is not None
    assert record.status == "done"


def test_picks_before_the_media_render_when_the_media_arrives(
    store: MemoryStore, renderer: FakeRenderer
) -> None:
    audio = store.objects.pop(KEYS.audio)
    ledger = MemoryStageLedger()
    handler = handler_for(store, renderer, ledger)

    assert handler.on_picks(completed(), CTX) == []  # first: records the wait, no error
    assert renderer.calls == []
    waiting = ledger.read(EPISODE, "clips")
    assert waiting is not None
    assert (waiting.status, waiting.details["waiting_for"]) == ("running", ["audio.mp3"])

    store.objects[KEYS.audio] = audio
    (event,) = handler.on_media(audio_transcoded(), CTX)  # second: renders
    assert isinstance(event, ClipsRendered)
    assert len(renderer.calls) == 1
    done = ledger.read(EPISODE, "clips")
    assert done is not None
    assert done.status == "done"
    assert "waiting_for" not in done.details


def test_a_video_episode_renders_on_video_transcoded(
    store: MemoryStore, renderer: FakeRenderer
) -> None:
    ledger = MemoryStageLedger()
    ledger.record(EPISODE, "video", "running")
    handler = handler_for(store, renderer, ledger)
    assert handler.on_picks(completed(), CTX) == []
    # The MP3 exists, the picture does not yet: "Audio Transcoded" alone does not render.
    assert handler.on_media(audio_transcoded(), CTX) == []
    assert renderer.calls == []

    store.objects[KEYS.video] = b"mp4"
    ledger.record(EPISODE, "video", "done")
    (event,) = handler.on_media(video_transcoded(), CTX)
    assert isinstance(event, ClipsRendered)
    assert renderer.calls[0].video is not None


def test_the_later_media_event_announces_nothing_again(
    store: MemoryStore, renderer: FakeRenderer
) -> None:
    store.objects[KEYS.video] = b"mp4"
    handler = handler_for(store, renderer)
    (event,) = handler.on_media(video_transcoded(), CTX)
    assert isinstance(event, ClipsRendered)
    # Transcode announces the same episode's MP3 too (and replays it): already rendered, and
    # "Clips Rendered" was announced once.
    assert handler.on_media(audio_transcoded(), CTX) == []
    assert len(renderer.calls) == 1
    # A duplicate delivery of the picks still re-announces, with fresh links.
    (again,) = handler.on_picks(completed(), CTX)
    assert isinstance(again, ClipsRendered)
    assert len(renderer.calls) == 1


def test_a_failed_media_event_becomes_clips_failed(
    store: MemoryStore, renderer: FakeRenderer
) -> None:
    failure = Failure(reason="ffmpeg crashed", error_type="FfmpegError", attempts=3)
    ledger = MemoryStageLedger()
    (event,) = handler_for(store, renderer, ledger).on_failure(audio_transcoded(), failure)
    assert isinstance(event, ClipsFailed)
    record = ledger.read(EPISODE, "clips")
    assert record is not None
    assert record.status == "failed"


# --------------------------------------------------------------------------- versions (issue 16)


def test_clips_cut_while_a_new_recording_arrived_are_dropped_not_written(
    store: MemoryStore, renderer: FakeRenderer
) -> None:
    """Issue #16: clips of version 1 still rendering when a corrected recording arrives must
    not land in version 2's clips/ (nor record the stage done for it)."""
    ledger = MemoryStageLedger(versions={EPISODE: 1})

    def render_while_replaced(*args: Any) -> RenderResult:
        result = renderer(*args)
        ledger.versions[EPISODE] = 2  # re-uploaded mid-render
        return result

    handler = ClipsHandler(
        store,
        ClipsConfig(bucket=BUCKET, options=RenderOptions()),
        render_while_replaced,
        ledger=ledger,
    )
    assert handler.on_picks(completed().model_copy(update={"version": 1}), CTX) == []
    assert store.list_keys(KEYS.clips_prefix) == []
    assert all(r.status != "done" for r in ledger.history)


def test_events_of_a_replaced_version_render_nothing_and_fail_nothing(
    store: MemoryStore, renderer: FakeRenderer
) -> None:
    ledger = MemoryStageLedger(versions={EPISODE: 2})
    handler = handler_for(store, renderer, ledger)
    stale_picks = completed().model_copy(update={"version": 1})
    stale_audio = audio_transcoded().model_copy(update={"version": 1})

    assert handler.on_picks(stale_picks, CTX) == []
    assert handler.on_media(stale_audio, CTX) == []
    assert handler.on_failure(stale_picks, Failure(reason="gone", error_type="E")) == []
    assert renderer.calls == []
    assert ledger.history == []
    # The current version's picks render as before.
    (event,) = handler.on_picks(completed().model_copy(update={"version": 2}), CTX)
    assert isinstance(event, ClipsRendered)
