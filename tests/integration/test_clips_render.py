"""Clips, audiograms and the trailer rendered by real ffmpeg from the sample episode.

The sample's transcript (``test_clips_sample_transcript.json``) holds Whisper base's word
timings of ``samples/episode.m4a`` (faster-whisper, int8, ``word_timestamps=True``), so the
boundaries checked here are the ones the pipeline would snap to. Videos are rendered small
and at a low frame rate (what is checked does not depend on it), except in the tests of the
default square and the vertical sizes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pytest

from podpipe.captions import parse_srt
from podpipe.documents import ClipPick, Transcript, Word
from podpipe.ffmpeg import (
    StreamInfo,
    decode_duration,
    find_ffmpeg,
    measure_loudness,
    probe_streams,
    run_ffmpeg,
)
from podpipe.layout import EpisodeMetadata
from podpipe_clips.graph import AudiogramText, VideoOptions, audiogram_args
from podpipe_clips.picks import speech_words
from podpipe_clips.render import (
    EpisodeInput,
    RenderOptions,
    RenderResult,
    render_episode,
)
from podpipe_clips.settings import ClipsSettings

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
SAMPLE_AUDIO = REPO / "samples" / "episode.m4a"
SAMPLE_METADATA = REPO / "samples" / "episode.json"
SAMPLE_TRANSCRIPT = Path(__file__).with_name("test_clips_sample_transcript.json")
SMALL = VideoOptions(width=320, height=320, fps=10, preset="ultrafast")
TARGET_LUFS = -16.0

# What a model might answer for the sample (184 s): a good pick, an overlapping one, a
# short one, one that overlaps the lengthened short one, and one past the end.
PICKS = [
    ClipPick(start=9.0, end=48.0, title="Why heat pumps", hook="Moves heat, not makes it"),
    ClipPick(start=40.0, end=95.0, title="Cold climates", hook="Even in winter"),
    ClipPick(start=100.0, end=112.0, title="Insulation first", hook="Seal before you size"),
    ClipPick(start=118.0, end=178.0, title="Costs and grants", hook="What it really costs"),
    ClipPick(start=200.0, end=240.0, title="Phantom", hook="Not in this episode"),
]


def frame_gray(video: Path, at: float, width: int, height: int) -> bytes:
    """One frame as 8-bit grey pixels."""
    out = video.with_name(f"{video.stem}-{at:.2f}.gray")
    run_ffmpeg(
        [
            "-ss",
            f"{at:.2f}",
            "-i",
            str(video),
            "-frames:v",
            "1",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "gray",
            str(out),
        ],
        label="frame",
    )
    data = out.read_bytes()
    assert len(data) == width * height
    return data


def bright_pixels(frame: bytes, width: int, rows: range) -> int:
    return sum(1 for y in rows for x in range(width) if frame[y * width + x] > 200)


def av_streams(path: Path) -> tuple[list[StreamInfo], list[StreamInfo]]:
    streams = probe_streams(path)
    video = [s for s in streams if s.kind == "Video" and not s.attached_picture]
    audio = [s for s in streams if s.kind == "Audio"]
    return video, audio


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Transcript]:
    """The sample as the transcode service publishes it: a stereo 44.1 kHz MP3."""
    directory = tmp_path_factory.mktemp("sample")
    mp3 = directory / "audio.mp3"
    run_ffmpeg(
        [
            "-i",
            str(SAMPLE_AUDIO),
            "-ac",
            "2",
            "-ar",
            "44100",
            "-c:a",
            "libmp3lame",
            "-b:a",
            "128k",
            str(mp3),
        ],
        label="sample-mp3",
    )
    return mp3, Transcript.model_validate_json(SAMPLE_TRANSCRIPT.read_text())


@pytest.fixture(scope="module")
def rendered(
    sample: tuple[Path, Transcript], tmp_path_factory: pytest.TempPathFactory
) -> RenderResult:
    mp3, transcript = sample
    metadata = EpisodeMetadata.model_validate_json(SAMPLE_METADATA.read_text())
    episode = EpisodeInput(
        audio=mp3, transcript=transcript, title=metadata.title, show=metadata.show
    )
    options = RenderOptions(video=SMALL)
    return render_episode(episode, PICKS, options, tmp_path_factory.mktemp("clips"))


@pytest.fixture(scope="module")
def words(sample: tuple[Path, Transcript]) -> list[Word]:
    return speech_words(sample[1].words)


def test_every_usable_pick_became_a_clip_and_the_rest_say_why(rendered: RenderResult) -> None:
    assert [c.clip.title for c in rendered.clips] == [
        "Why heat pumps",
        "Cold climates",
        "Insulation first",
        "Costs and grants",
    ]
    assert len(rendered.skipped) == 1
    assert "Phantom" in rendered.skipped[0]
    assert "after the episode ends" in rendered.skipped[0]
    repaired = " ".join(rendered.plan.repaired)
    assert "Cold climates" in repaired
    assert "Insulation first" in repaired
    assert rendered.caption_mode == "libass"


def test_each_clip_lasts_exactly_its_snapped_pick(rendered: RenderResult) -> None:
    for clip in rendered.clips:
        assert 30.0 <= clip.clip.duration <= 90.0
        decoded = decode_duration(clip.audio)
        assert decoded == pytest.approx(clip.clip.duration, abs=0.1), clip.name


def test_each_clip_starts_and_ends_between_words(
    rendered: RenderResult, words: Sequence[Word]
) -> None:
    for clip in rendered.clips:
        start, end = clip.clip.start, clip.clip.end
        for word in words:
            assert not word.start < start < word.end, f"{clip.name} starts inside {word}"
            assert not word.start < end < word.end, f"{clip.name} ends inside {word}"
        first, last = words[clip.clip.first_word], words[clip.clip.last_word]
        assert start <= first.start < start + 0.5
        assert end - 0.5 < last.end <= end


def test_each_clip_is_at_the_loudness_target(rendered: RenderResult) -> None:
    for clip in rendered.clips:
        loudness = measure_loudness(clip.audio)
        assert loudness.input_i == pytest.approx(TARGET_LUFS, abs=1.0), clip.name
        assert loudness.input_tp <= -1.0, clip.name


def test_each_audiogram_has_one_video_and_one_audio_stream_at_the_size(
    rendered: RenderResult,
) -> None:
    for clip in rendered.clips:
        assert clip.video is not None
        video, audio = av_streams(clip.video)
        assert len(video) == 1
        assert len(audio) == 1
        assert video[0].codec == "h264"
        assert audio[0].codec == "aac"
        assert (video[0].width, video[0].height) == (320, 320)
        assert decode_duration(clip.video, stream="0:v:0") == pytest.approx(
            clip.clip.duration, abs=0.25
        )
        loudness = measure_loudness(clip.video)
        assert loudness.input_i == pytest.approx(TARGET_LUFS, abs=1.0)


def test_each_caption_file_parses_and_holds_the_clips_words(
    rendered: RenderResult, words: Sequence[Word]
) -> None:
    for clip in rendered.clips:
        cues = parse_srt(clip.captions.read_text(encoding="utf-8"))
        assert cues
        spoken = words[clip.clip.first_word : clip.clip.last_word + 1]
        assert " ".join(c.text for c in cues) == " ".join(w.text for w in spoken)
        assert all(0.0 <= c.start < c.end <= clip.clip.duration + 0.001 for c in cues)
        assert cues[0].start == pytest.approx(spoken[0].start - clip.clip.start, abs=0.01)


def test_captions_are_burned_into_the_video(rendered: RenderResult) -> None:
    clip = rendered.clips[0]
    assert clip.video is not None
    cues = parse_srt(clip.captions.read_text(encoding="utf-8"))
    cue = max(cues, key=lambda c: c.end - c.start)
    # Captions sit in the bottom quarter; the waveform in the middle never reaches it.
    band = range(240, 320)
    with_caption = frame_gray(clip.video, (cue.start + cue.end) / 2, 320, 320)
    assert bright_pixels(with_caption, 320, band) > 40


def test_the_trailer_joins_the_best_picks_within_45_to_90_seconds(
    rendered: RenderResult,
) -> None:
    trailer = rendered.trailer
    assert trailer is not None
    assert len(trailer.plan.segments) == 4
    decoded = decode_duration(trailer.audio)
    assert 45.0 <= decoded <= 90.0
    assert decoded == pytest.approx(trailer.plan.duration, abs=0.1)
    loudness = measure_loudness(trailer.audio)
    assert loudness.input_i == pytest.approx(TARGET_LUFS, abs=1.0)
    assert loudness.input_tp <= -1.0
    assert trailer.video is not None
    video, audio = av_streams(trailer.video)
    assert (len(video), len(audio)) == (1, 1)
    assert parse_srt(trailer.captions.read_text(encoding="utf-8"))


# --------------------------------------------------------------------------- sizes, cover


@pytest.fixture(scope="module")
def short_audio(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("short") / "short.mp3"
    run_ffmpeg(
        ["-f", "lavfi", "-i", "sine=f=330:d=3", "-ac", "2", "-c:a", "libmp3lame", str(path)],
        label="short",
    )
    return path


def render_short(
    audio: Path, options: VideoOptions, directory: Path, cover: Path | None = None
) -> Path:
    output = directory / f"{options.width}x{options.height}.mp4"
    heading = directory / "heading.txt"
    heading.write_text("Heat Pumps Without the Hype\n\nSmall Steps", encoding="utf-8")
    text = AudiogramText(font_file=None, heading_file=None)
    run_ffmpeg(audiogram_args(audio, output, 3.0, options, text, cover), label="short-video")
    return output


def test_the_default_audiogram_is_1080_square(short_audio: Path, tmp_path: Path) -> None:
    options = replace(ClipsSettings().clips_render_options().video, fps=10, preset="ultrafast")
    video, audio = av_streams(render_short(short_audio, options, tmp_path))
    assert (len(video), len(audio)) == (1, 1)
    assert (video[0].width, video[0].height) == (1080, 1080)


def test_the_vertical_audiogram_is_1080_by_1920(short_audio: Path, tmp_path: Path) -> None:
    settings = ClipsSettings(clips_video_size="1080x1920")
    options = replace(settings.clips_render_options().video, fps=10, preset="ultrafast")
    video, audio = av_streams(render_short(short_audio, options, tmp_path))
    assert (len(video), len(audio)) == (1, 1)
    assert (video[0].width, video[0].height) == (1080, 1920)


def test_cover_art_is_the_background(short_audio: Path, tmp_path: Path) -> None:
    cover = tmp_path / "cover.png"
    run_ffmpeg(
        ["-f", "lavfi", "-i", "color=c=white:s=64x48", "-frames:v", "1", str(cover)],
        label="cover",
    )
    video = render_short(short_audio, replace(SMALL, visual="spectrum"), tmp_path, cover)
    frame = frame_gray(video, 1.0, 320, 320)
    # White artwork, darkened for legibility: a mid grey, far from the default dark blue.
    assert 90 <= frame[5 * 320 + 5] <= 160


def test_drawtext_burns_captions_when_libass_is_not_used(
    sample: tuple[Path, Transcript], tmp_path: Path
) -> None:
    mp3, transcript = sample
    options = RenderOptions(video=SMALL, captions="drawtext", render_trailer=False)
    result = render_episode(
        EpisodeInput(audio=mp3, transcript=transcript, title="T", show="S"),
        [ClipPick(start=10.0, end=40.0, title="One", hook="h")],
        options,
        tmp_path / "out",
        ffmpeg=find_ffmpeg(),
    )
    assert result.caption_mode == "drawtext"
    assert result.trailer is None
    clip = result.clips[0]
    assert clip.video is not None
    cue = parse_srt(clip.captions.read_text(encoding="utf-8"))[1]
    frame = frame_gray(clip.video, (cue.start + cue.end) / 2, 320, 320)
    assert bright_pixels(frame, 320, range(240, 320)) > 40
