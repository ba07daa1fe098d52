"""Clip and trailer settings (environment variables PODPIPE_CLIPS_*)."""

from __future__ import annotations

from dataclasses import replace
from typing import Literal

from pydantic import Field, field_validator

from podpipe.loudness import LoudnessTargets
from podpipe.settings import MediaSettings
from podpipe_clips.graph import SQUARE, VERTICAL, AudioOptions, CropBox, VideoOptions
from podpipe_clips.picks import TrailerRules
from podpipe_clips.render import RenderOptions

X264Preset = Literal[
    "ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower"
]


class ClipsSettings(MediaSettings):
    """The clips service's settings: the media settings it shares with transcode (loudness
    targets, ffmpeg, scratch directory, font; from the kernel) plus its own PODPIPE_CLIPS_*."""

    clips_video: bool = Field(default=True, description="Render an audiogram MP4 per clip.")
    clips_video_size: str = Field(
        default="1080x1080",
        description="Audiogram size WxH: 1080x1080 (square) or 1080x1920 (vertical).",
    )
    clips_video_fps: int = Field(default=25, ge=5, le=60, description="Audiogram frame rate.")
    clips_visual: Literal["waveform", "spectrum"] = Field(
        default="waveform", description="Audiogram visual: waveform or spectrum."
    )
    clips_x264_preset: X264Preset = Field(
        default="veryfast", description="x264 preset of audiograms (speed vs. size)."
    )
    clips_cover_art_key: str = Field(
        default="",
        description="S3 key (in the bucket) of the show's cover art, the audiogram background.",
    )
    clips_show_name: str = Field(
        default="", description="Show name on audiograms when the episode metadata has none."
    )
    clips_captions: Literal["auto", "libass", "drawtext"] = Field(
        default="auto",
        description="Caption burner: libass (subtitles filter) when ffmpeg has it, else drawtext.",
    )
    clips_crop_box: str = Field(
        default="",
        description="Video episodes: the region of the picture clips and the trailer are cut "
        "from, as x,y,width,height in fractions of the picture (e.g. 0,0,0.5,1: the left half); "
        "a show file's clip_crop_box overrides it; unset: centre crops.",
    )
    clips_title_card: bool = Field(
        default=True,
        description="Video episodes: the clip's title (the episode's, on the trailer) over the "
        "first 2.5 s of each clip and the trailer cut from the picture; false: no title card.",
    )
    clips_trailer: bool = Field(default=True, description="Join the best picks into a trailer.")
    clips_trailer_seconds: float = Field(
        default=60.0, ge=45.0, le=90.0, description="Target trailer length (45-90 s)."
    )
    clips_trailer_max_picks: int = Field(
        default=5, ge=1, le=10, description="Best picks joined into the trailer (3-5 usual)."
    )

    clips_niceness: int = Field(
        default=10,
        ge=0,
        le=19,
        description="Run clip and trailer encodes this far below the service's CPU priority "
        "(0-19): on a shared machine they take only the cores transcription leaves idle.",
    )

    @field_validator("clips_video_size")
    @classmethod
    def _even_size(cls, value: str) -> str:
        width, sep, height = value.lower().partition("x")
        if not (sep and width.isdigit() and height.isdigit()):
            raise ValueError("use WIDTHxHEIGHT, e.g. 1080x1080 or 1080x1920")
        w, h = int(width), int(height)
        if not (64 <= w <= 4096 and 64 <= h <= 4096) or w % 2 or h % 2:
            raise ValueError("width and height must be even numbers from 64 to 4096")
        return f"{w}x{h}"

    @field_validator("clips_crop_box")
    @classmethod
    def _crop_box(cls, value: str) -> str:
        if value.strip():
            parse_crop_box(value)
        return value.strip()

    @property
    def clips_crop(self) -> CropBox | None:
        return parse_crop_box(self.clips_crop_box) if self.clips_crop_box else None

    @property
    def clips_video_dimensions(self) -> tuple[int, int]:
        width, _, height = self.clips_video_size.partition("x")
        return int(width), int(height)

    def clips_render_options(self, targets: LoudnessTargets | None = None) -> RenderOptions:
        """``targets``: the loudness clips are cut at; default: this environment's."""
        width, height = self.clips_video_dimensions
        return RenderOptions(
            audio=AudioOptions(targets=targets or self.loudness_targets()),
            video=VideoOptions(
                width=width,
                height=height,
                fps=self.clips_video_fps,
                visual=self.clips_visual,
                preset=self.clips_x264_preset,
            ),
            square=replace(SQUARE, crop=self.clips_crop),
            vertical=replace(VERTICAL, crop=self.clips_crop),
            render_video=self.clips_video,
            render_trailer=self.clips_trailer,
            captions=self.clips_captions,
            font_file=self.clips_font_file,
            title_card=self.clips_title_card,
            trailer_rules=TrailerRules(
                target_seconds=self.clips_trailer_seconds,
                max_picks=self.clips_trailer_max_picks,
            ),
            niceness=self.clips_niceness,
        )


def parse_crop_box(value: str) -> CropBox:
    """``x,y,width,height`` in fractions of the picture → a crop box (ValueError if not)."""
    parts = [part.strip() for part in value.split(",")]
    try:
        x, y, width, height = (float(part) for part in parts)
    except ValueError:
        raise ValueError(
            f"crop box {value!r}: use x,y,width,height in fractions of the picture, "
            "e.g. 0,0,0.5,1 for the left half"
        ) from None
    return CropBox(x, y, width, height)
