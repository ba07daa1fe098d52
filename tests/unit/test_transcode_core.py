"""The pure decisions: which inputs are refused and why, and what may be reused."""

from __future__ import annotations

import pytest

from podpipe.ffmpeg import AudioStreamInfo, MediaInfo
from podpipe_transcode.core import (
    BadInputError,
    ObjectHead,
    check_decoded,
    check_source,
    format_duration,
    looks_like_text,
    reusable,
    unreadable_reason,
)
from tests.unit.test_transcode_handler import make_audio_info

AAC = AudioStreamInfo(codec="aac", sample_rate=44100, channels=2, channel_layout="stereo")


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0 s"), (59.6, "1 min"), (3600, "1 h"), (14523, "4 h 2 min 3 s"), (14400.4, "4 h")],
)
def test_durations_read_like_a_human_wrote_them(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_a_text_file_is_called_a_text_file() -> None:
    head = b"Meeting notes\nTODO: record episode 42\n"
    assert looks_like_text(head)
    reason = unreadable_reason("ep.m4a", len(head), head, "moov atom not found")
    assert "text file, not audio" in reason
    assert "Meeting notes" in reason


def test_binary_garbage_is_not_text() -> None:
    assert not looks_like_text(bytes(range(256)))
    assert not looks_like_text(b"")


def test_an_m4a_without_its_index_is_called_incomplete() -> None:
    head = b"\x00\x00\x00\x1cftypM4A \x00\x00\x02\x00"
    reason = unreadable_reason("ep.m4a", 20000, head, "moov atom not found | Invalid data")
    assert "incomplete" in reason
    assert "upload it again" in reason


def test_empty_file_reason() -> None:
    assert "empty (0 bytes)" in unreadable_reason("ep.m4a", 0, b"", "")


def test_unknown_garbage_names_the_accepted_formats() -> None:
    reason = unreadable_reason("ep.mp3", 10, b"\x00\x01\x02", "Invalid data found")
    assert "m4a, mp3, wav, flac, ogg" in reason


def test_too_long_is_refused_from_the_header() -> None:
    info = MediaInfo("wav", 4 * 3600 + 60, (AAC,), has_video=False)
    with pytest.raises(BadInputError, match=r"4 h 1 min long; the maximum is 4 h"):
        check_source(info, "ep.wav", 4 * 3600)
    check_source(MediaInfo("wav", 3600, (AAC,), has_video=False), "ep.wav", 4 * 3600)


@pytest.mark.parametrize("name", ["ep.mp4", "ep.mov", "ep.mkv", "ep.webm"])
def test_a_four_hour_video_is_refused_from_its_header_like_audio(name: str) -> None:
    """Before any MP3 or video.mp4 work starts, whatever the container."""
    info = MediaInfo(name.rsplit(".", 1)[1], 4 * 3600 + 1, (AAC,), has_video=True)
    with pytest.raises(BadInputError, match=r"4 h 0 min 1 s long; the maximum is 4 h"):
        check_source(info, name, 4 * 3600)
    check_source(MediaInfo(info.format_name, 3 * 3600, (AAC,), has_video=True), name, 4 * 3600)


def test_a_video_without_sound_is_refused() -> None:
    with pytest.raises(BadInputError, match="video without a sound track"):
        check_source(MediaInfo("mov", 10, (), has_video=True), "ep.mov", 100)


def test_decoding_much_less_than_the_header_says_is_truncation() -> None:
    with pytest.raises(BadInputError, match=r"truncated: its header says 6 s but only 3 s"):
        check_decoded(6.0, 2.97, "ep.m4a")
    check_decoded(6.0, 5.98, "ep.m4a")  # encoder padding is not truncation
    check_decoded(None, 5.0, "ep.ogg")
    with pytest.raises(BadInputError, match="ends in the middle of its data after 3 s"):
        check_decoded(None, 3.0, "ep.mp4", partial=True)  # a video: the header is not trusted
    with pytest.raises(BadInputError, match="no decodable audio"):
        check_decoded(None, 0.0, "ep.ogg")


def test_reuse_needs_the_same_source_and_an_untouched_mp3() -> None:
    info = make_audio_info(source_etag="abc", audio_etag="mp3etag")
    mp3 = ObjectHead(size=10, etag='"mp3etag"', metadata={})
    assert reusable(info, '"abc"', mp3)
    assert not reusable(info, '"changed"', mp3)  # a new upload under the same name
    assert not reusable(info, '"abc"', None)  # the MP3 was deleted
    assert not reusable(info, '"abc"', ObjectHead(size=10, etag='"other"', metadata={}))
    assert not reusable(None, '"abc"', mp3)
