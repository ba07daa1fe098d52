"""The ffmpeg argument lists for clips, trailer and audiograms (read, not run)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from podpipe.loudness import LoudnessMeasurement
from podpipe_clips.graph import (
    SQUARE,
    VERTICAL,
    AudiogramText,
    AudioOptions,
    CropBox,
    PictureFormat,
    PictureText,
    VideoOptions,
    audiogram_args,
    clip_encode_args,
    crop_filter,
    escape_filter_value,
    picture_clip_args,
    picture_cut_args,
    trailer_measure_args,
    wrap_heading,
)
from podpipe_clips.settings import ClipsSettings

MEASURED = LoudnessMeasurement(
    input_i=-20.0,
    input_tp=-6.0,
    input_lra=4.0,
    input_thresh=-30.0,
    output_i=-16.0,
    output_tp=-2.0,
    output_lra=4.0,
    output_thresh=-26.0,
    normalization_type="linear",
    target_offset=0.1,
)


def value_after(args: list[str], flag: str) -> str:
    return args[args.index(flag) + 1]


def test_escaping_protects_both_filter_levels() -> None:
    assert escape_filter_value("/tmp/a:b") == "/tmp/a\\\\:b"
    assert escape_filter_value("x,y[z];w") == "x\\,y\\[z\\]\\;w"
    assert escape_filter_value("/tmp/plain/path.ass") == "/tmp/plain/path.ass"


def test_a_clip_is_cut_exactly_normalised_then_faded() -> None:
    args = clip_encode_args(Path("ep.wav"), 12.5, 40.0, MEASURED, Path("c.mp3"), AudioOptions())
    assert args[:6] == ["-ss", "12.500", "-t", "40.000", "-i", "ep.wav"]
    chain = value_after(args, "-af")
    # One constant gain (-20 LUFS measured, -16 wanted), then the fades.
    assert chain.index("volume=4.00dB") < chain.index("afade=t=in") < chain.index("afade=t=out")
    assert "afade=t=out:st=39.600:d=0.400" in chain
    assert value_after(args, "-c:a") == "libmp3lame"
    assert args[-1] == "c.mp3"


def test_the_trailer_crossfades_every_segment_in_order() -> None:
    segments = [(10.0, 25.0), (40.0, 55.0), (80.0, 95.0)]
    args = trailer_measure_args(Path("ep.wav"), segments, 0.5, AudioOptions())
    assert args.count("-i") == 3
    graph = value_after(args, "-filter_complex")
    assert graph.count("acrossfade=d=0.500") == 2
    assert graph.startswith("[0:a][1:a]acrossfade")
    assert "[x1][2:a]acrossfade" in graph


def text_files(tmp_path: Path) -> AudiogramText:
    return AudiogramText(
        font_file=tmp_path / "fonts" / "font.ttf",
        heading_file=tmp_path / "heading.txt",
        captions_ass=tmp_path / "clip-01.ass",
    )


def test_an_audiogram_is_h264_and_aac_at_the_requested_size(tmp_path: Path) -> None:
    options = VideoOptions(width=1080, height=1920, fps=25, visual="spectrum")
    args = audiogram_args(
        tmp_path / "c.mp3", tmp_path / "c.mp4", 30.0, options, text_files(tmp_path)
    )
    graph = value_after(args, "-filter_complex")
    assert "color=c=0x1d2233:s=1080x1920:r=25" in graph
    assert "showspectrum=s=1080x" in graph
    assert "subtitles=filename=" in graph
    assert value_after(args, "-c:v") == "libx264"
    assert value_after(args, "-c:a") == "aac"
    assert value_after(args, "-pix_fmt") == "yuv420p"


def test_cover_art_becomes_the_background(tmp_path: Path) -> None:
    args = audiogram_args(
        tmp_path / "c.mp3",
        tmp_path / "c.mp4",
        30.0,
        VideoOptions(),
        text_files(tmp_path),
        cover=tmp_path / "cover.jpg",
    )
    assert args[args.index("-loop") : args.index("-loop") + 2] == ["-loop", "1"]
    graph = value_after(args, "-filter_complex")
    assert "[1:v]scale=1080:1080:force_original_aspect_ratio=increase,crop=1080:1080" in graph
    assert "color=c=" not in graph


def test_drawtext_captions_show_each_cue_only_during_its_time(tmp_path: Path) -> None:
    text = AudiogramText(
        font_file=tmp_path / "font.ttf",
        heading_file=None,
        caption_cue_files=[(0.5, 2.0, tmp_path / "a.txt"), (2.0, 3.5, tmp_path / "b.txt")],
    )
    args = audiogram_args(tmp_path / "c.mp3", tmp_path / "c.mp4", 4.0, VideoOptions(), text)
    graph = value_after(args, "-filter_complex")
    assert "enable='between(t,0.500,2.000)'" in graph
    assert "enable='between(t,2.000,3.500)'" in graph
    assert "subtitles" not in graph


def test_titles_never_enter_the_filter_graph(tmp_path: Path) -> None:
    heading = wrap_heading("Ep 1: it's 100% [live]; a, b", "Show", VideoOptions())
    assert "it's 100%" in heading
    args = audiogram_args(
        tmp_path / "c.mp3", tmp_path / "c.mp4", 4.0, VideoOptions(), text_files(tmp_path)
    )
    assert "100%" not in " ".join(args)
    assert "expansion=none" in value_after(args, "-filter_complex")


def test_long_titles_wrap_to_the_frame() -> None:
    title = "A remarkably long episode title that would never fit on one line of a square video"
    lines = wrap_heading(title, "The Show", VideoOptions(width=1080, height=1080)).splitlines()
    assert 2 <= len(lines) <= 5
    assert lines[-1] == "The Show"
    assert all(len(line) <= 40 for line in lines)


def test_settings_default_to_a_square_1080_audiogram_and_accept_vertical() -> None:
    assert ClipsSettings().clips_render_options().video.width == 1080
    assert ClipsSettings().clips_render_options().video.height == 1080
    vertical = ClipsSettings(clips_video_size="1080x1920").clips_render_options()
    assert (vertical.video.width, vertical.video.height) == (1080, 1920)


@pytest.mark.parametrize("size", ["1080", "1081x1080", "10x10", "axb"])
def test_odd_or_malformed_sizes_are_refused(size: str) -> None:
    with pytest.raises(ValueError, match="clips_video_size"):
        ClipsSettings(clips_video_size=size)


def test_picture_clips_default_to_vertical_and_square_centre_crops() -> None:
    assert (VERTICAL.width, VERTICAL.height, SQUARE.width, SQUARE.height) == (
        1080,
        1920,
        1080,
        1080,
    )
    assert (
        crop_filter(VERTICAL)
        == "crop='min(iw,ih*1080/1920)':'min(ih,iw*1920/1080)',scale=1080:1920"
    )
    known = PictureFormat(1080, 1080, CropBox(0.0, 0.0, 0.5, 1.0))  # the left camera of two
    assert crop_filter(known).startswith("crop=iw*0.5000:ih*1.0000:iw*0.0000:ih*0.0000,")
    with pytest.raises(ValueError, match="not inside"):
        CropBox(0.6, 0.0, 0.5, 1.0)
    text = PictureText(font_file=None, captions=[Path("v.ass"), None], title_file=Path("t.txt"))
    args = picture_clip_args(
        Path("ep.mp4"), Path("c.mp3"), 12.5, 40.0, [VERTICAL, SQUARE],
        [Path("v.mp4"), Path("s.mp4")], text, VideoOptions(),
    )  # fmt: skip
    assert args[:6] == ["-ss", "12.500", "-t", "40.000", "-i", "ep.mp4"]
    graph = value_after(args, "-filter_complex")
    assert graph.startswith("[0:v]fps=25,split=2[p0][p1]")  # one decode, two shapes
    assert "subtitles=filename=v.ass" in graph.split(";")[1]
    assert "subtitles" not in graph.split(";")[2]
    assert "enable='lt(t,2.5)'" in graph  # the title card
    assert args.count("-movflags") == 2
    assert args[-1] == "s.mp4"
    untitled = picture_clip_args(
        Path("ep.mp4"), Path("c.mp3"), 12.5, 40.0, [VERTICAL, SQUARE],
        [Path("v.mp4"), Path("s.mp4")], replace(text, title_file=None), VideoOptions(),
    )  # fmt: skip
    assert "lt(t,2.5)" not in value_after(untitled, "-filter_complex")  # PODPIPE_CLIPS_TITLE_CARD


def test_the_picture_trailer_joins_its_cuts_with_the_audios_crossfades_in_one_decode() -> None:
    text = PictureText(font_file=None, captions=[None, None], title_file=None)
    segments = [(10.0, 30.0), (50.0, 70.0), (100.0, 121.0)]
    args = picture_cut_args(
        Path("ep.mp4"), Path("trailer.mp3"), segments, 0.5, 60.0, [SQUARE, VERTICAL],
        [Path("trailer.mp4"), Path("trailer-vertical.mp4")], text, VideoOptions(),
    )  # fmt: skip
    assert args[:6] == ["-ss", "10.000", "-t", "20.000", "-i", "ep.mp4"]
    assert args[12:18] == ["-ss", "100.000", "-t", "21.000", "-i", "ep.mp4"]
    assert args[18:20] == ["-i", "trailer.mp3"]
    graph = value_after(args, "-filter_complex").split(";")
    assert graph[:3] == ["[0:v]fps=25[c0]", "[1:v]fps=25[c1]", "[2:v]fps=25[c2]"]
    # Each cut starts where acrossfade starts it in the audio: 20 - 0.5, then 39.5 - 0.5 + 20.
    assert "xfade=transition=fade:duration=0.500:offset=19.500[j1]" in graph[3]
    assert graph[4].startswith("[j1][c2]xfade=transition=fade:duration=0.500:offset=39.000")
    assert graph[5] == "[j2]split=2[p0][p1]"  # one joined picture feeds both shapes
    assert [args[i + 1] for i, a in enumerate(args) if a == "-map"] == [
        "[v0]",
        "3:a",
        "[v1]",
        "3:a",
    ]
    assert args.count("60.000") == 2
