"""ffmpeg argument lists for clips, the trailer and audiograms (pure: no I/O).

``run_ffmpeg`` adds the common flags; these builders return inputs, filters and outputs only,
so unit tests and the benchmark read exactly what production runs. Text never goes into a
filter graph (titles and captions are written to files that drawtext/libass read), so a
title with quotes, colons or percent signs cannot break or inject into the graph.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from podpipe.captions import CaptionStyle
from podpipe.ffmpeg import escape_filter_value, h264_video
from podpipe.loudness import (
    EBUR128_FILTER,
    LoudnessMeasurement,
    LoudnessTargets,
    linear_fits,
    linear_gain_db,
    linear_gain_filter,
    normalize_filter,
)

Visual = Literal["waveform", "spectrum"]
CaptionMode = Literal["libass", "drawtext", "none"]
BACKGROUND_COLOR = "0x1d2233"


def _t(seconds: float) -> str:
    return f"{seconds:.3f}"


@dataclass(frozen=True)
class AudioOptions:
    targets: LoudnessTargets = field(default_factory=LoudnessTargets)
    mp3_vbr_quality: int = 2
    """LAME VBR quality (0 best - 9 smallest). VBR, because CBR 128k measurably lowers the
    loudness of speech (~0.4 LU in tests) while q2 (~190 kb/s) keeps it within 0.1 LU."""
    sample_rate: int = 44100
    fade_in_seconds: float = 0.1
    fade_out_seconds: float = 0.4


def _fades(duration: float, options: AudioOptions) -> str:
    fade_in = min(options.fade_in_seconds, duration / 4)
    fade_out = min(options.fade_out_seconds, duration / 4)
    return (
        f"afade=t=in:st=0:d={_t(fade_in)},"
        f"afade=t=out:st={_t(max(0.0, duration - fade_out))}:d={_t(fade_out)}"
    )


def _cut_input(source: Path, start: float, duration: float) -> list[str]:
    # Input seeking on PCM WAV is sample-exact (unlike MP3, whose seek is an estimate).
    return ["-ss", _t(start), "-t", _t(duration), "-i", str(source)]


def _mp3_output(output: Path, options: AudioOptions) -> list[str]:
    return [
        "-ar",
        str(options.sample_rate),
        "-c:a",
        "libmp3lame",
        "-q:a",
        str(options.mp3_vbr_quality),
        str(output),
    ]


def decode_args(source: Path, output: Path, until: float | None) -> list[str]:
    """Decode the episode once to PCM WAV (up to the last second any clip needs)."""
    limit = ["-t", _t(until)] if until is not None else []
    return ["-i", str(source), *limit, "-map", "0:a:0", "-vn", "-c:a", "pcm_s16le", str(output)]


def loudness_filter(targets: LoudnessTargets, measured: LoudnessMeasurement) -> str:
    """One constant gain where the peaks allow it (a plain ``volume``: loudnorm's linear mode
    would resample the clip to 192 kHz for the same gain), else loudnorm's dynamic mode."""
    if linear_fits(targets, measured):
        return linear_gain_filter(linear_gain_db(targets, measured))
    return normalize_filter(targets, measured)


def clip_measure_args(
    source: Path, start: float, duration: float, options: AudioOptions
) -> list[str]:
    """Pass one for a clip: measure the cut's loudness (ebur128: the same BS.1770 figures as
    loudnorm's analysis at a fraction of its CPU)."""
    return [
        *_cut_input(source, start, duration),
        "-af",
        EBUR128_FILTER,
        "-f",
        "null",
        "-",
    ]


def clip_encode_args(
    source: Path,
    start: float,
    duration: float,
    measured: LoudnessMeasurement,
    output: Path,
    options: AudioOptions,
) -> list[str]:
    """Pass two: normalise with the measured values, then fade (after the gain, so the fade
    is a real fade and not undone by its gain), then encode the MP3."""
    chain = ",".join(
        [
            loudness_filter(options.targets, measured),
            f"aresample={options.sample_rate}",
            _fades(duration, options),
        ]
    )
    return [*_cut_input(source, start, duration), "-af", chain, *_mp3_output(output, options)]


def _crossfade_graph(
    segments: Sequence[tuple[float, float]], crossfade: float, label: str
) -> list[str]:
    if len(segments) == 1:
        return [f"[0:a]anull[{label}]"]
    parts, previous = [], "[0:a]"
    for index in range(1, len(segments)):
        out = f"[{label}]" if index == len(segments) - 1 else f"[x{index}]"
        parts.append(f"{previous}[{index}:a]acrossfade=d={_t(crossfade)}:c1=tri:c2=tri{out}")
        previous = out
    return parts


def trailer_measure_args(
    source: Path,
    segments: Sequence[tuple[float, float]],
    crossfade: float,
    options: AudioOptions,
) -> list[str]:
    inputs = [arg for start, end in segments for arg in _cut_input(source, start, end - start)]
    graph = [
        *_crossfade_graph(segments, crossfade, "mix"),
        f"[mix]{EBUR128_FILTER}[out]",
    ]
    return [*inputs, "-filter_complex", ";".join(graph), "-map", "[out]", "-f", "null", "-"]


def trailer_encode_args(
    source: Path,
    segments: Sequence[tuple[float, float]],
    crossfade: float,
    duration: float,
    measured: LoudnessMeasurement,
    output: Path,
    options: AudioOptions,
) -> list[str]:
    inputs = [arg for start, end in segments for arg in _cut_input(source, start, end - start)]
    chain = ",".join(
        [
            loudness_filter(options.targets, measured),
            f"aresample={options.sample_rate}",
            _fades(duration, options),
        ]
    )
    graph = [*_crossfade_graph(segments, crossfade, "mix"), f"[mix]{chain}[out]"]
    return [
        *inputs,
        "-filter_complex",
        ";".join(graph),
        "-map",
        "[out]",
        *_mp3_output(output, options),
    ]


# --------------------------------------------------------------------------- audiograms


@dataclass(frozen=True)
class VideoOptions:
    width: int = 1080
    height: int = 1080
    fps: int = 25
    visual: Visual = "waveform"
    preset: str = "veryfast"
    crf: int = 23
    audio_bitrate_kbps: int = 128


@dataclass(frozen=True)
class AudiogramText:
    """Files (in the work directory) that the video's text is read from."""

    font_file: Path | None
    heading_file: Path | None
    """Episode title and show name, already wrapped to the frame's width."""
    captions_ass: Path | None = None
    caption_cue_files: Sequence[tuple[float, float, Path]] = ()
    """(start, end, text file) per cue, for the drawtext fallback when there is no libass."""


def heading_font_size(options: VideoOptions) -> int:
    return max(12, round(min(options.width, options.height) * 0.05))


def wrap_heading(title: str, show: str, options: VideoOptions) -> str:
    """Episode title (up to three lines) over the show name, wrapped to the frame's width."""
    size = heading_font_size(options)
    # DejaVu Sans averages ~0.55 em per character; keep a 6 % margin each side.
    columns = max(10, int(options.width * 0.88 / (size * 0.58)))
    lines = textwrap.wrap(title, columns, max_lines=3, placeholder=" …") if title else []
    if show:
        lines += ["", *textwrap.wrap(show, columns, max_lines=1, placeholder=" …")]
    return "\n".join(lines)


def _background(options: VideoOptions, cover_input: int | None) -> str:
    size = f"{options.width}x{options.height}"
    if cover_input is None:
        return f"color=c={BACKGROUND_COLOR}:s={size}:r={options.fps}[bg]"
    # Darkened so white captions stay readable on any artwork.
    return (
        f"[{cover_input}:v]scale={options.width}:{options.height}"
        ":force_original_aspect_ratio=increase,"
        f"crop={options.width}:{options.height},setsar=1,"
        "colorchannelmixer=rr=0.5:gg=0.5:bb=0.5,"
        f"fps={options.fps}[bg]"
    )


def _visual(options: VideoOptions) -> tuple[str, int]:
    height = (round(options.height * 0.25) // 2) * 2
    size = f"{options.width}x{height}"
    if options.visual == "spectrum":
        chain = (
            f"[0:a]showspectrum=s={size}:slide=scroll:mode=combined:color=intensity"
            f":scale=cbrt:fps={options.fps},format=rgba,"
            # The spectrum's silent floor is black: key it out so the background shows.
            "colorkey=black:0.08:0.1[vis]"
        )
    else:
        chain = (
            f"[0:a]showwaves=s={size}:mode=cline:scale=sqrt:draw=full"
            f":colors=white:r={options.fps},format=rgba[vis]"
        )
    return chain, height


def _drawtext(font_file: Path | None, text_file: Path, extra: str) -> str:
    font = f"fontfile={escape_filter_value(str(font_file))}:" if font_file else ""
    return (
        f"drawtext={font}expansion=none:textfile={escape_filter_value(str(text_file))}"
        f":fontcolor=white:{extra}"
    )


def audiogram_args(
    audio: Path,
    output: Path,
    duration: float,
    options: VideoOptions,
    text: AudiogramText,
    cover: Path | None = None,
) -> list[str]:
    """An H.264 + AAC audiogram: background (colour or cover art), the waveform or spectrum
    in the middle, the heading on top and the captions burned in at the bottom."""
    inputs = ["-i", str(audio)]
    cover_input: int | None = None
    if cover is not None:
        inputs += ["-loop", "1", "-framerate", str(options.fps), "-i", str(cover)]
        cover_input = 1
    visual, visual_height = _visual(options)
    chain = f"[bg][vis]overlay=x=0:y={(options.height - visual_height) // 2}:shortest=1"
    size = heading_font_size(options)
    if text.heading_file is not None:
        chain += "," + _drawtext(
            text.font_file,
            text.heading_file,
            f"fontsize={size}:line_spacing={size // 4}:text_align=C"
            f":x=(w-tw)/2:y={round(options.height * 0.07)}",
        )
    if text.captions_ass is not None:
        fonts = (
            f":fontsdir={escape_filter_value(str(text.font_file.parent))}" if text.font_file else ""
        )
        chain += f",subtitles=filename={escape_filter_value(str(text.captions_ass))}{fonts}"
    else:
        style = CaptionStyle(options.width, options.height)
        for start, end, cue_file in text.caption_cue_files:
            chain += "," + _drawtext(
                text.font_file,
                cue_file,
                f"fontsize={style.font_size}:borderw={max(1, style.font_size // 14)}"
                f":bordercolor=black:x=(w-tw)/2:y=h-{style.margin_v}-th"
                f":enable='between(t,{_t(start)},{_t(end)})'",
            )
    graph = ";".join([_background(options, cover_input), visual, chain + ",format=yuv420p[v]"])
    return [
        *inputs,
        "-filter_complex",
        graph,
        "-map",
        "[v]",
        "-map",
        "0:a",
        *h264_video(options.preset, options.crf),
        "-r",
        str(options.fps),
        "-c:a",
        "aac",
        "-b:a",
        f"{options.audio_bitrate_kbps}k",
        "-t",
        _t(duration),
        "-shortest",
        "-movflags",
        "+faststart",
        str(output),
    ]


# --------------------------------------------------------------------------- picture clips


@dataclass(frozen=True)
class CropBox:
    """A region of the source picture, in fractions of its width and height (a known layout:
    e.g. the host's camera on the left half of a two-up recording)."""

    x: float
    y: float
    width: float
    height: float

    def __post_init__(self) -> None:
        inside = 0 <= self.x < 1 and 0 <= self.y < 1 and self.width > 0 and self.height > 0
        if not inside or self.x + self.width > 1.0001 or self.y + self.height > 1.0001:
            raise ValueError(f"crop box {self} is not inside the picture")


@dataclass(frozen=True)
class PictureFormat:
    """One output shape cut from the episode's picture."""

    width: int
    height: int
    crop: CropBox | None = None
    """None: the largest centred region of the output's shape."""


VERTICAL = PictureFormat(1080, 1920)
SQUARE = PictureFormat(1080, 1080)


def crop_filter(shape: PictureFormat) -> str:
    if shape.crop is not None:
        box = shape.crop
        return (
            f"crop=iw*{box.width:.4f}:ih*{box.height:.4f}:iw*{box.x:.4f}:ih*{box.y:.4f},"
            f"scale={shape.width}:{shape.height}:force_original_aspect_ratio=increase,"
            f"crop={shape.width}:{shape.height}"
        )
    w, h = shape.width, shape.height
    # The largest centred region of the output's aspect ratio (crop centres by default).
    return f"crop='min(iw,ih*{w}/{h})':'min(ih,iw*{h}/{w})',scale={w}:{h}"


@dataclass(frozen=True)
class PictureText:
    """Files the picture clip's text is read from (per output shape, the ASS captions)."""

    font_file: Path | None
    captions: Sequence[Path | None]
    """One ASS file per shape (None: no captions)."""
    title_file: Path | None = None
    """Optional title card: the clip's title over the first seconds."""


TITLE_CARD_SECONDS = 2.5


def picture_clip_args(
    video: Path,
    audio: Path,
    start: float,
    duration: float,
    shapes: Sequence[PictureFormat],
    outputs: Sequence[Path],
    text: PictureText,
    options: VideoOptions,
) -> list[str]:
    """Clips cut from the episode's own picture: ONE decode of the cut feeds every shape
    (vertical, square), each cropped, scaled, captioned (libass) and encoded; the audio is the
    clip's normalised MP3. Input seeking plus re-encoding is frame-exact."""
    return picture_cut_args(
        video, audio, [(start, start + duration)], 0.0, duration, shapes, outputs, text, options
    )


def picture_cut_args(
    video: Path,
    audio: Path,
    segments: Sequence[tuple[float, float]],
    crossfade: float,
    duration: float,
    shapes: Sequence[PictureFormat],
    outputs: Sequence[Path],
    text: PictureText,
    options: VideoOptions,
) -> list[str]:
    """The picture of one or more cuts of the episode, joined with the same crossfades as their
    audio (a clip is one cut; the trailer is the best picks'), decoded ONCE and split to every
    shape, each cropped, scaled, captioned (libass), titled and encoded; the audio is the cut's
    normalised MP3. Input seeking plus re-encoding is frame-exact."""
    fps = options.fps
    args: list[str] = []
    graph: list[str] = []
    for start, end in segments:
        args += ["-ss", _t(start), "-t", _t(end - start), "-i", str(video)]
    args += ["-i", str(audio)]
    audio_input = len(segments)
    if len(segments) == 1:
        joined = f"[0:v]fps={fps},"
    else:
        graph += [f"[{i}:v]fps={fps}[c{i}]" for i in range(len(segments))]
        joined = "[c0]"
    at = 0.0
    for index in range(1, len(segments)):
        # xfade's offset is where the next cut starts on the joined timeline, the same
        # overlap acrossfade makes in the trailer's audio.
        at += (segments[index - 1][1] - segments[index - 1][0]) - crossfade
        out = f"[j{index}]"
        graph.append(
            f"{joined}[c{index}]xfade=transition=fade:duration={_t(crossfade)}:offset={_t(at)}{out}"
        )
        joined = out
    labels = [f"p{i}" for i in range(len(shapes))]
    graph.append(f"{joined}split={len(shapes)}" + "".join(f"[{x}]" for x in labels))
    for index, (shape, label) in enumerate(zip(shapes, labels, strict=True)):
        chain = f"[{label}]{crop_filter(shape)},setsar=1"
        ass = text.captions[index]
        if ass is not None:
            fonts = (
                f":fontsdir={escape_filter_value(str(text.font_file.parent))}"
                if text.font_file
                else ""
            )
            chain += f",subtitles=filename={escape_filter_value(str(ass))}{fonts}"
        if text.title_file is not None:
            size = heading_font_size(VideoOptions(width=shape.width, height=shape.height))
            chain += "," + _drawtext(
                text.font_file,
                text.title_file,
                f"fontsize={size}:borderw={max(1, size // 14)}:bordercolor=black"
                f":x=(w-tw)/2:y=h*0.12:enable='lt(t,{TITLE_CARD_SECONDS})'",
            )
        graph.append(chain + f",format=yuv420p[v{index}]")
    args += ["-filter_complex", ";".join(graph)]
    for index, output in enumerate(outputs):
        args += [
            *("-map", f"[v{index}]", "-map", f"{audio_input}:a"),
            *h264_video(options.preset, options.crf),
            *("-c:a", "aac", "-b:a", f"{options.audio_bitrate_kbps}k"),
            *("-t", _t(duration), "-movflags", "+faststart", str(output)),
        ]  # fmt: skip
    return args
