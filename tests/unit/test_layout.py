"""Episode identity from upload keys, and the S3 layout, against hostile input."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from podpipe.layout import (
    MAX_TITLE_CHARS,
    EpisodeKeys,
    EpisodeMetadata,
    InvalidEpisodeKeyError,
    episode_id_from_upload_key,
    is_audio_upload,
    read_episode_metadata_from,
    resolve_episode_metadata,
    slugify_episode_id,
)


@pytest.mark.parametrize(
    ("key", "episode_id"),
    [
        ("uploads/ep42.m4a", "ep42"),
        ("uploads/2026-11-27-weekly.mp3", "2026-11-27-weekly"),
        ("uploads/a.wav", "a"),
    ],
)
def test_episode_id_comes_from_the_key(key: str, episode_id: str) -> None:
    assert episode_id_from_upload_key(key) == episode_id


@pytest.mark.parametrize(
    "key",
    [
        "uploads/../episodes/x.m4a",
        "uploads/..m4a",
        "uploads/sub/dir.m4a",
        "/uploads/ep.m4a",
        "uploads//etc/passwd.m4a",
        "uploads/ep\\..\\x.m4a",
        "episodes/ep/audio.mp3",
        "uploads/",
        "uploads/noextension",
        "uploads/.hidden.m4a",
        "uploads/Ep42.m4a",  # upper case would alias another episode on case-insensitive tools
        "uploads/ep 42.m4a",
        "uploads/épisode.m4a",
        "uploads/ep\u200b42.m4a",  # zero-width space
        "uploads/ep\uff0e\uff0e.m4a",  # fullwidth dots
        "uploads/ep%2F..%2Fx.m4a",
        "uploads/-leading.m4a",
        "uploads/" + "a" * 65 + ".m4a",
        "uploads/" + "a" * 1024 + ".m4a",
        "uploads/ep\x00.m4a",
    ],
)
def test_hostile_keys_are_refused_with_a_clear_error(key: str) -> None:
    with pytest.raises(InvalidEpisodeKeyError):
        episode_id_from_upload_key(key)


def test_every_artifact_stays_under_the_episode_prefix() -> None:
    keys = EpisodeKeys("ep42")
    produced = [
        keys.audio,
        keys.transcript_json,
        keys.subtitles_vtt,
        keys.manifest,
        keys.prompt_output("show-notes", "md"),
        keys.prompt_metadata("clip-picks"),
        keys.stage_record("prompt-titles"),
        keys.completed_marker,
    ]
    assert all(k.startswith("episodes/ep42/") and ".." not in k for k in produced)
    with pytest.raises(InvalidEpisodeKeyError):
        keys.prompt_output("../../uploads/x", "md")
    with pytest.raises(InvalidEpisodeKeyError):
        EpisodeKeys("../x")


def test_only_audio_under_uploads_is_an_episode() -> None:
    assert is_audio_upload("uploads/ep.M4A")
    assert not is_audio_upload("uploads/ep.json")
    assert not is_audio_upload("episodes/ep/audio.mp3")


def test_slugify_makes_a_valid_id_from_a_file_name() -> None:
    assert slugify_episode_id("Épisode 42: The Big One!") == "episode-42-the-big-one"
    assert slugify_episode_id("!!!") == "episode"


def test_metadata_round_trips_through_s3_object_metadata() -> None:
    meta = EpisodeMetadata(
        title="Ünïcode & friends", show="Cloud Talk", episode_number=42, hosts="Ana, Ben"
    )
    headers = meta.to_s3_metadata()
    assert all(v.isascii() for v in headers.values())  # S3 user metadata must be ASCII
    assert EpisodeMetadata.from_s3_metadata(headers) == meta
    assert meta.people == ["Ana", "Ben"]


def test_sidecar_fields_win_over_upload_metadata_only_where_set() -> None:
    upload = EpisodeMetadata(title="From S3", show="Show", year=2025).to_s3_metadata()
    merged, problems = resolve_episode_metadata(
        upload, {"title": "From sidecar", "hosts": "Ana, Ben"}
    )
    assert merged.title == "From sidecar"
    assert merged.hosts == ["Ana", "Ben"]
    assert (merged.show, merged.year) == ("Show", 2025)
    assert problems == []
    assert resolve_episode_metadata(upload, None)[0].title == "From S3"


def test_broken_metadata_is_skipped_with_a_reason_not_fatal() -> None:
    upload = EpisodeMetadata(title="From S3").to_s3_metadata()
    merged, problems = resolve_episode_metadata(upload, {"episode_number": "not a number"})
    assert merged.title == "From S3"
    assert problems
    assert "sidecar: field 'episode_number' ignored" in problems[0]
    merged, problems = resolve_episode_metadata({"podpipe-episode_number": "-3"}, None)
    assert merged == EpisodeMetadata()
    assert problems
    assert "upload metadata: field 'episode_number' ignored" in problems[0]


def test_the_sidecar_reader_keeps_what_is_valid_and_names_the_rest() -> None:
    upload = EpisodeMetadata(show="From S3").to_s3_metadata()
    sidecar = {
        "title": "Pilot\x00\x1b[31m\nepisode  ",
        "year": "soon",
        "hosts": "Ana, Ben",
        "tittle": "typo",
        "comment": "line one\nline two\x07",
    }
    reading = read_episode_metadata_from("ep1", upload, json.dumps(sidecar).encode())
    meta = reading.metadata
    assert (meta.title, meta.show, meta.hosts) == ("Pilot[31m episode", "From S3", ["Ana", "Ben"])
    assert meta.comment == "line one\nline two"
    assert meta.year is None
    assert len(reading.problems) == 2
    assert any("uploads/ep1.json: field 'year' ignored" in p for p in reading.problems)
    assert any("unknown field 'tittle' ignored" in p for p in reading.problems)


def test_metadata_limits_are_checked_once_in_the_shared_model() -> None:
    long_title = "t" * (MAX_TITLE_CHARS + 1)
    reading = read_episode_metadata_from(
        "ep1", None, json.dumps({"title": long_title, "show": "Ok"}).encode()
    )
    assert reading.metadata.title == ""
    assert reading.metadata.show == "Ok"
    [problem] = reading.problems
    assert f"at most {MAX_TITLE_CHARS} characters" in problem
    with pytest.raises(ValidationError):
        EpisodeMetadata(title=long_title)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b'{"title": "oops", ', "uploads/ep1.json ignored: not valid JSON"),
        (b"[1, 2]", "uploads/ep1.json ignored: it holds a JSON list, not an object"),
        (b"\xff\xfe", "uploads/ep1.json ignored: it is not UTF-8 text"),
    ],
)
def test_an_unreadable_sidecar_is_one_clear_problem(raw: bytes, expected: str) -> None:
    upload = EpisodeMetadata(title="From S3").to_s3_metadata()
    reading = read_episode_metadata_from("ep1", upload, raw)
    assert reading.metadata.title == "From S3"
    [problem] = reading.problems
    assert problem.startswith(expected)


def test_the_release_is_kept_across_versions_and_the_outputs_are_not() -> None:
    from podpipe.release.model import ReleaseKeys

    keys = EpisodeKeys("ep-1")
    release = ReleaseKeys("ep-1", "show")
    assert keys.release_record == release.release
    assert release.notes_version(3).startswith(keys.release_prefix)
    kept = [keys.version_record, keys.release_record, release.notes_version(3)]
    kept.append(keys.version_prefix(1) + "audio.mp3")
    assert all(keys.kept_across_versions(k) for k in kept)
    moved = [keys.audio, keys.prompt_output("titles", "md"), keys.completed_marker]
    moved += [keys.stage_record("clips"), keys.notification_marker("d-1", "email")]
    assert not any(keys.kept_across_versions(k) for k in moved)
