"""Render an episode's clips and trailer from local files (no S3: the handler downloads and
uploads around this, and tests and the benchmark call it directly).

The episode is decoded once to PCM WAV so every cut seeks exactly (MP3 seeking is an
estimate, which would move a clip off its word boundaries). Each clip and the trailer get a
two-pass normalisation (measure with ebur128, then one linear gain) so they meet the episode's
loudness target.
"""

from __future__ import annotations

import shutil
import textwrap
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

import structlog

from podpipe.captions import (
    CaptionStyle,
    Cue,
    build_cues,
    find_font,
    to_ass,
    to_srt,
)
from podpipe.documents import ClipPick, Transcript, Word
from podpipe.ffmpeg import filters_available, find_ffmpeg, probe, run_ffmpeg
from podpipe.loudness import LoudnessMeasurement, parse_ebur128_measurement
from podpipe_clips.graph import (
    SQUARE,
    VERTICAL,
    AudiogramText,
    AudioOptions,
    CaptionMode,
    PictureFormat,
    PictureText,
    VideoOptions,
    audiogram_args,
    clip_encode_args,
    clip_measure_args,
    decode_args,
    picture_clip_args,
    picture_cut_args,
    trailer_encode_args,
    trailer_measure_args,
    wrap_heading,
)
from podpipe_clips.picks import (
    ClipPlan,
    ClipRules,
    PlannedClip,
    TrailerPlan,
    TrailerRules,
    plan_clips,
    plan_trailer,
    speech_words,
)

log = structlog.get_logger()

CaptionPreference = Literal["auto", "libass", "drawtext"]


@dataclass(frozen=True)
class RenderOptions:
    audio: AudioOptions = field(default_factory=AudioOptions)
    video: VideoOptions = field(default_factory=VideoOptions)
    render_video: bool = True
    render_trailer: bool = True
    captions: CaptionPreference = "auto"
    font_file: str = ""
    clip_rules: ClipRules = field(default_factory=ClipRules)
    trailer_rules: TrailerRules = field(default_factory=TrailerRules)
    square: PictureFormat = SQUARE
    vertical: PictureFormat = VERTICAL
    """Shapes cut from a video episode's picture (centre crop unless a crop box is set)."""
    title_card: bool = True
    """Picture clips: the clip's title over its first seconds."""
    niceness: int = 0
    """How far below the service's CPU priority the clip and trailer encodes run."""


@dataclass(frozen=True)
class EpisodeInput:
    audio: Path
    transcript: Transcript
    title: str = ""
    show: str = ""
    cover: Path | None = None
    video: Path | None = None
    """A video episode's picture: clips are cut from it instead of drawn as audiograms."""


@dataclass(frozen=True)
class RenderedClip:
    index: int
    """1-based, in rank order: clip-01 is the best pick that could be rendered."""
    clip: PlannedClip
    audio: Path
    captions: Path
    video: Path | None
    loudness: LoudnessMeasurement
    """The cut's own loudness, measured before its gain (pass one)."""
    vertical: Path | None = None
    """A video episode's 1080x1920 clip (``video`` is then the square one)."""

    @property
    def name(self) -> str:
        return clip_name(self.index)


def clip_name(index: int) -> str:
    return f"clip-{index:02d}"


@dataclass(frozen=True)
class RenderedTrailer:
    plan: TrailerPlan
    audio: Path
    captions: Path
    video: Path | None
    """The audiogram, or a video episode's square trailer cut from its picture."""
    vertical: Path | None = None
    """A video episode's 1080x1920 trailer (``video`` is then the square one)."""


@dataclass(frozen=True)
class RenderResult:
    plan: ClipPlan
    clips: tuple[RenderedClip, ...]
    trailer: RenderedTrailer | None
    episode_seconds: float
    caption_mode: CaptionMode
    skipped: tuple[str, ...]
    """The plan's skipped picks plus any found silent while rendering."""
    elapsed_seconds: float
    ffmpeg_seconds: float


@dataclass
class _Runner:
    ffmpeg: str
    niceness: int = 0
    seconds: float = 0.0

    def __call__(self, args: Sequence[str], label: str, total: float | None = None) -> str:
        result = run_ffmpeg(
            args, ffmpeg=self.ffmpeg, total_seconds=total, label=label, niceness=self.niceness
        )
        self.seconds += result.elapsed_seconds
        return result.stderr


def episode_duration(episode: EpisodeInput, ffmpeg: str) -> float:
    info = probe(episode.audio, ffmpeg=ffmpeg)
    return info.duration_seconds or episode.transcript.duration_seconds


def caption_mode(preference: CaptionPreference, font: Path | None, ffmpeg: str) -> CaptionMode:
    """libass where the build has it, drawtext otherwise; none without any font to draw."""
    if font is None:
        return "none"
    has_libass = "subtitles" in filters_available(ffmpeg)
    if preference == "libass" or (preference == "auto" and has_libass):
        return "libass" if has_libass else "drawtext"
    return "drawtext"


def render_episode(
    episode: EpisodeInput,
    picks: Sequence[ClipPick],
    options: RenderOptions,
    workdir: Path,
    *,
    ffmpeg: str | None = None,
    duration: float | None = None,
) -> RenderResult:
    """Plan, cut and render every clip, then the trailer, into ``workdir``."""
    started = time.monotonic()
    binary = ffmpeg or find_ffmpeg()
    run = _Runner(binary, options.niceness)
    workdir.mkdir(parents=True, exist_ok=True)
    episode_seconds = duration if duration is not None else episode_duration(episode, binary)
    words = speech_words(episode.transcript.words)
    plan = plan_clips(picks, words, episode_seconds, options.clip_rules)
    trailer_plan = (
        plan_trailer(plan.clips, words, episode_seconds, options.trailer_rules)
        if options.render_trailer
        else None
    )
    for reason in plan.skipped:
        log.warning("clips.pick_skipped", reason=reason)
    for note in plan.repaired:
        log.info("clips.pick_repaired", note=note)

    ends = [c.end for c in plan.clips] + (
        [s.end for s in trailer_plan.segments] if trailer_plan else []
    )
    wav = workdir / "episode.wav"
    if ends:
        run(decode_args(episode.audio, wav, max(ends) + 1.0), "clips-decode", max(ends))

    font = find_font(options.font_file)
    mode = caption_mode(options.captions, font, binary) if options.render_video else "none"
    if options.render_video and font is None:
        log.warning(
            "clips.no_font",
            hint="install fonts-dejavu-core or set PODPIPE_CLIPS_FONT_FILE; "
            "audiograms are rendered without text",
        )
    private_font = _private_font(font, workdir) if font else None
    heading = workdir / "heading.txt"
    heading_text = wrap_heading(episode.title, episode.show, options.video)
    heading.write_text(heading_text, encoding="utf-8")
    text_base = AudiogramText(
        font_file=private_font,
        heading_file=heading if (heading_text and private_font) else None,
    )

    rendered: list[RenderedClip] = []
    skipped = list(plan.skipped)
    for clip in plan.clips:
        name = clip_name(len(rendered) + 1)
        audio = workdir / f"{name}.mp3"
        loudness = _render_audio(run, wav, clip.start, clip.duration, audio, options, name)
        if loudness is None:
            skipped.append(
                f"pick {clip.title!r}: silent from {clip.start:.1f} s to {clip.end:.1f} s"
            )
            continue
        cues = build_cues(
            words[clip.first_word : clip.last_word + 1],
            offset=clip.start,
            clip_duration=clip.duration,
        )
        captions = workdir / f"{name}.srt"
        captions.write_text(to_srt(cues), encoding="utf-8")
        video = vertical = None
        if options.render_video and episode.video is not None:
            video, vertical = workdir / f"{name}.mp4", workdir / f"{name}-vertical.mp4"
            shapes = [options.square, options.vertical]
            picture_text = _picture_text(
                private_font, cues, mode, shapes, workdir, name, clip.title, options.title_card
            )
            run(
                picture_clip_args(
                    episode.video,
                    audio,
                    clip.start,
                    clip.duration,
                    shapes,
                    [video, vertical],
                    picture_text,
                    options.video,
                ),
                f"{name}-picture",
                clip.duration,
            )
        elif options.render_video:
            video = workdir / f"{name}.mp4"
            text = _caption_files(text_base, cues, mode, options.video, workdir, name)
            run(
                audiogram_args(audio, video, clip.duration, options.video, text, episode.cover),
                f"{name}-video",
                clip.duration,
            )
        rendered.append(
            RenderedClip(len(rendered) + 1, clip, audio, captions, video, loudness, vertical)
        )
        log.info("clips.clip_rendered", clip=name, start=clip.start, end=clip.end)

    trailer = None
    if trailer_plan is not None:
        trailer = _render_trailer(
            run, wav, episode, trailer_plan, words, options, workdir, text_base, mode
        )
    wav.unlink(missing_ok=True)
    return RenderResult(
        plan=plan,
        clips=tuple(rendered),
        trailer=trailer,
        episode_seconds=episode_seconds,
        caption_mode=mode,
        skipped=tuple(skipped),
        elapsed_seconds=time.monotonic() - started,
        ffmpeg_seconds=run.seconds,
    )


def _private_font(font: Path, workdir: Path) -> Path:
    """A copy of the font alone in its own directory: libass then loads only this file and
    falls back to it whatever its family name (scanning /usr/share/fonts costs seconds)."""
    directory = workdir / "fonts"
    directory.mkdir(exist_ok=True)
    target = directory / ("font" + font.suffix.lower())
    if not target.exists():
        shutil.copyfile(font, target)
    return target


def _render_audio(
    run: _Runner,
    wav: Path,
    start: float,
    duration: float,
    output: Path,
    options: RenderOptions,
    name: str,
) -> LoudnessMeasurement | None:
    """Cut, normalise and fade one clip; None when it is silent (nothing to normalise)."""
    measured = parse_ebur128_measurement(
        run(clip_measure_args(wav, start, duration, options.audio), f"{name}-measure", duration)
    )
    if measured.is_silent:
        return None
    run(
        clip_encode_args(wav, start, duration, measured, output, options.audio),
        f"{name}-audio",
        duration,
    )
    return measured


def _caption_files(
    base: AudiogramText,
    cues: Sequence[Cue],
    mode: CaptionMode,
    video: VideoOptions,
    workdir: Path,
    name: str,
) -> AudiogramText:
    if mode == "libass":
        ass = workdir / f"{name}.ass"
        ass.write_text(to_ass(cues, CaptionStyle(video.width, video.height)), encoding="utf-8")
        return replace(base, captions_ass=ass)
    if mode == "drawtext":
        files = []
        for index, cue in enumerate(cues):
            path = workdir / f"{name}-cue-{index:03d}.txt"
            path.write_text(cue.text, encoding="utf-8")
            files.append((cue.start, cue.end, path))
        return replace(base, caption_cue_files=tuple(files))
    return base


def _picture_text(
    font: Path | None,
    cues: Sequence[Cue],
    mode: CaptionMode,
    shapes: Sequence[PictureFormat],
    workdir: Path,
    name: str,
    title: str,
    title_card: bool,
) -> PictureText:
    """ASS captions per shape (libass only: the picture clips need its layout) and the title."""
    captions: list[Path | None] = []
    for shape in shapes:
        if mode != "libass":
            captions.append(None)
            continue
        ass = workdir / f"{name}-{shape.width}x{shape.height}.ass"
        ass.write_text(to_ass(cues, CaptionStyle(shape.width, shape.height)), encoding="utf-8")
        captions.append(ass)
    title_file = None
    if title_card and title and font is not None:
        title_file = workdir / f"{name}-title.txt"
        title_file.write_text("\n".join(textwrap.wrap(title, 24, max_lines=3)), encoding="utf-8")
    return PictureText(font_file=font, captions=captions, title_file=title_file)


def trailer_cues(plan: TrailerPlan, words: Sequence[Word]) -> list[Cue]:
    """Captions on the trailer's timeline: each segment's words, shifted to where it plays."""
    cues: list[Cue] = []
    for segment, at in zip(plan.segments, plan.offsets(), strict=True):
        if segment.first_word is None or segment.last_word is None:
            inside = [w for w in words if w.start >= segment.start and w.end <= segment.end]
        else:
            inside = list(words[segment.first_word : segment.last_word + 1])
        cues += build_cues(inside, offset=segment.start - at, clip_duration=at + segment.duration)
    # A crossfade overlaps two segments: end each cue before the next one starts.
    cues.sort(key=lambda cue: cue.start)
    fixed = []
    for index, cue in enumerate(cues):
        end = min(cue.end, cues[index + 1].start) if index + 1 < len(cues) else cue.end
        if end > cue.start:
            fixed.append(replace(cue, end=end))
    return fixed


def _render_trailer(
    run: _Runner,
    wav: Path,
    episode: EpisodeInput,
    plan: TrailerPlan,
    words: Sequence[Word],
    options: RenderOptions,
    workdir: Path,
    text_base: AudiogramText,
    mode: CaptionMode,
) -> RenderedTrailer | None:
    segments = [(s.start, s.end) for s in plan.segments]
    duration = plan.duration
    measured = parse_ebur128_measurement(
        run(
            trailer_measure_args(wav, segments, plan.crossfade_seconds, options.audio),
            "trailer-measure",
            duration,
        )
    )
    if measured.is_silent:
        log.warning("clips.trailer_silent")
        return None
    audio = workdir / "trailer.mp3"
    run(
        trailer_encode_args(
            wav, segments, plan.crossfade_seconds, duration, measured, audio, options.audio
        ),
        "trailer-audio",
        duration,
    )
    cues = trailer_cues(plan, words)
    captions = workdir / "trailer.srt"
    captions.write_text(to_srt(cues), encoding="utf-8")
    video = vertical = None
    if options.render_video and episode.video is not None:
        # A video episode's trailer is its own picture at the same cuts and crossfades,
        # shaped like its clips (one decode split to both shapes).
        video, vertical = workdir / "trailer.mp4", workdir / "trailer-vertical.mp4"
        shapes = [options.square, options.vertical]
        picture_text = _picture_text(
            text_base.font_file,
            cues,
            mode,
            shapes,
            workdir,
            "trailer",
            episode.title,
            options.title_card,
        )
        run(
            picture_cut_args(
                episode.video,
                audio,
                segments,
                plan.crossfade_seconds,
                duration,
                shapes,
                [video, vertical],
                picture_text,
                options.video,
            ),
            "trailer-picture",
            duration,
        )
    elif options.render_video:
        video = workdir / "trailer.mp4"
        text = _caption_files(text_base, cues, mode, options.video, workdir, "trailer")
        run(
            audiogram_args(audio, video, duration, options.video, text, episode.cover),
            "trailer-video",
            duration,
        )
    log.info("clips.trailer_rendered", seconds=round(duration, 2), segments=len(segments))
    return RenderedTrailer(
        plan=plan, audio=audio, captions=captions, video=video, vertical=vertical
    )
