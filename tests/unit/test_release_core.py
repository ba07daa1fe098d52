"""Release day's pure core: shows, titles, hostile text, the state machine, the feed XML
(read back by the real podcast-client parsers podcastparser and feedparser)."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta

import feedparser
import podcastparser
import pytest
from lxml import etree

from podpipe.release import model
from podpipe.release.feed import (
    PODCAST_NS,
    FeedItem,
    Person,
    Soundbite,
    Transcript,
    build_feed,
    notes_html,
)
from podpipe.release.model import (
    InvalidTransitionError,
    NotesVersion,
    ReleaseError,
    TitleChoice,
    UnsafeTextError,
)
from podpipe.release.shows import (
    Show,
    ShowConfigError,
    clip_crop_box,
    match_show_id,
    parse_show,
)
from tests.support.release import PODCAST_GUID, SHOW_ID, TITLES_MD, show_config

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
BASE = "https://cdn.example.org"


def _show(**overrides: object) -> Show:
    return parse_show(json.dumps(show_config(BASE, **overrides)).encode(), f"shows/{SHOW_ID}.json")


# --------------------------------------------------------------------------- shows


def test_show_file_in_json_or_yaml() -> None:
    show = _show()
    assert show.feed_url == f"{BASE}/{SHOW_ID}/feed.xml"
    yaml_text = "title: The Weekly\nauthor: Maya\nowner: {name: Maya, email: m@example.org}\n"
    yaml_text += "description: d\nartwork_key: shows/a.png\nlanguage: en-US\n"
    yaml_text += f"categories: [{{name: Technology}}]\npodcast_guid: {PODCAST_GUID}\n"
    yaml_text += f"base_url: {BASE}\n"
    assert parse_show(yaml_text.encode(), "shows/other.yaml").show_id == "other"


def test_missing_fields_are_named_in_one_clear_error() -> None:
    with pytest.raises(ShowConfigError) as caught:
        parse_show(json.dumps({"title": "T"}).encode(), "shows/the-weekly.json")
    message = str(caught.value)
    for name in ("author", "owner", "description", "artwork_key", "podcast_guid", "base_url"):
        assert name in message
    with pytest.raises(ShowConfigError, match="not valid JSON"):
        parse_show(b"{", "shows/the-weekly.json")
    with pytest.raises(ShowConfigError, match="podcast_guid"):
        _show(podcast_guid="not-a-uuid")


def test_a_show_names_the_crop_box_its_video_clips_are_cut_from() -> None:
    assert _show().clip_crop_box is None
    box = _show(clip_crop_box={"x": 0.5, "y": 0, "width": 0.5, "height": 1}).clip_crop_box
    assert box is not None
    assert (box.x, box.width) == (0.5, 0.5)
    with pytest.raises(ShowConfigError, match="clip_crop_box"):
        _show(clip_crop_box={"x": 0.6, "y": 0, "width": 0.5, "height": 1})
    # The clips read the box alone, so an unfinished show file does not stop them.
    yaml_text = b"title: T\nclip_crop_box: {x: 0, y: 0.1, width: 1, height: 0.8}\n"
    found = clip_crop_box(yaml_text, "shows/t.yaml")
    assert found is not None
    assert found.height == 0.8
    assert clip_crop_box(b'{"title": "T"}', "shows/t.json") is None
    with pytest.raises(ShowConfigError, match=r"shows/t.json: invalid clip_crop_box"):
        clip_crop_box(b'{"clip_crop_box": {"x": 0}}', "shows/t.json")


def test_an_episode_finds_its_show_by_id_slug_or_title() -> None:
    titles = {"the-weekly": "The Weekly", "other": "Other Show"}
    assert match_show_id("other", list(titles), titles.get) == "other"
    assert match_show_id("The Weekly", list(titles), titles.get) == "the-weekly"
    assert match_show_id("other show", list(titles), titles.get) == "other"
    assert match_show_id("Nope", list(titles), titles.get) is None
    assert match_show_id("", list(titles), titles.get) is None  # which of two?
    assert match_show_id("", ["only"], titles.get) == "only"


# --------------------------------------------------------------------------- titles and text


def test_titles_are_read_from_the_numbered_list() -> None:
    assert model.parse_titles(TITLES_MD) == [
        "Shipping on Fridays",
        "Why Our Pipeline Never Sleeps",
        "Queues, Not Sleeps",
    ]
    assert model.parse_titles("1. Plain title — why\n2) Other - reason") == ["Plain title", "Other"]
    assert model.choose_title(model.parse_titles(TITLES_MD), 2, None) == (
        "Why Our Pipeline Never Sleeps",
        "generated:2",
    )
    assert model.choose_title([], None, "  My   own  ") == ("My own", "host")
    with pytest.raises(ReleaseError, match="choose 1 to 3"):
        model.choose_title(model.parse_titles(TITLES_MD), 4, None)
    with pytest.raises(ReleaseError, match="choose a title"):
        model.choose_title(["a"], 1, "b")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("x" * 10_000, "10000 characters"),
        ("Bell\x07 title", "control characters"),
        ("Null\x00", "control characters"),
        ("   ", "empty"),
    ],
)
def test_hostile_titles_are_refused_with_a_reason(text: str, problem: str) -> None:
    with pytest.raises(UnsafeTextError, match=problem):
        model.clean_title(text)


def test_hostile_notes_are_refused_or_sanitised() -> None:
    with pytest.raises(UnsafeTextError, match="at most 8000"):
        model.clean_notes("y" * 10_000)
    with pytest.raises(UnsafeTextError, match="control characters"):
        model.clean_notes("notes \x1b[31m red")
    html = notes_html(
        "<script>alert(1)</script>\n\n**bold** <img src=x onerror=alert(1)> "
        "[js](javascript:alert(1)) [ok](https://example.org)"
    )
    # Raw HTML shows as text (escaped), never as markup; links only with safe schemes.
    assert "<script" not in html
    assert "<img" not in html
    assert 'href="javascript' not in html
    assert "&lt;script&gt;" in html
    assert "<strong>bold</strong>" in html
    assert 'href="https://example.org"' in html


# --------------------------------------------------------------------------- states


def _approved() -> model.Release:
    release = model.new_release("ep1", SHOW_ID, PODCAST_GUID, NOW)
    title = TitleChoice(text="T", source="generated:1", at=NOW)
    notes = NotesVersion(key="episodes/ep1/outputs/show-notes.md", source="generated", at=NOW)
    return model.approve(release, title, notes, NOW)


def test_draft_approved_scheduled_published_unpublished() -> None:
    draft = model.new_release("ep1", SHOW_ID, PODCAST_GUID, NOW)
    with pytest.raises(InvalidTransitionError, match="approve it first"):
        model.publish(draft, NOW)
    approved = _approved()
    assert approved.state == "approved"
    at = NOW + timedelta(hours=2)
    scheduled = model.schedule(approved, at, NOW)
    assert scheduled.state == "scheduled"
    assert not model.due(scheduled, NOW)
    assert model.due(scheduled, at)
    published = model.publish(scheduled, at)
    assert published.state == "published"
    assert published.first_published_at == at
    assert model.publish(published, at + timedelta(days=1)) == published  # idempotent
    with pytest.raises(InvalidTransitionError):
        model.schedule(published, at + timedelta(days=1), at)
    gone = model.unpublish(published, at + timedelta(days=2))
    assert gone.state == "unpublished"
    assert model.unpublish(gone, NOW) == gone
    again = model.publish(gone, at + timedelta(days=3))
    assert again.first_published_at == at  # the pubDate stays the first publication's
    assert [t.state for t in again.history] == [
        "draft", "approved", "scheduled", "published", "unpublished", "published",
    ]  # fmt: skip


def test_an_edit_keeps_the_guid_and_stores_a_new_version() -> None:
    published = model.publish(_approved(), NOW)
    later = NOW + timedelta(hours=1)
    edited = model.approve(
        published,
        TitleChoice(text="Better", source="host", at=later),
        NotesVersion(key="episodes/ep1/release/show-notes.v001.md", source="host", at=later),
        later,
    )
    assert edited.state == "published"
    assert edited.guid == published.guid
    assert [t.text for t in edited.titles] == ["T", "Better"]
    assert [v.source for v in edited.notes_versions] == ["generated", "host"]
    assert model.stable_guid(PODCAST_GUID, "ep1") == published.guid


def test_publish_times() -> None:
    assert model.parse_when("+30m", NOW) == NOW + timedelta(minutes=30)
    assert model.parse_when("2026-12-04T06:00Z", NOW) == datetime(2026, 12, 4, 6, tzinfo=UTC)
    with pytest.raises(ReleaseError, match="timezone"):
        model.parse_when("2026-12-04T06:00", NOW)
    with pytest.raises(ReleaseError, match="in the past"):
        model.schedule(_approved(), NOW - timedelta(minutes=1), NOW)


# --------------------------------------------------------------------------- the feed


def _item(guid: str, title: str, day: int) -> FeedItem:
    root = f"{BASE}/{SHOW_ID}/episodes/{guid}"
    return FeedItem(
        guid=guid,
        title=title,
        notes_markdown="# Notes\n\n<script>alert(1)</script> **bold**",
        published_at=NOW + timedelta(days=day),
        enclosure_url=f"{root}/audio.mp3",
        enclosure_length=123_456,
        duration_seconds=3725.4,
        episode_number=day,
        season=2,
        transcripts=[
            Transcript(f"{root}/transcript.vtt", "text/vtt", "en"),
            Transcript(f"{root}/transcript.srt", "application/x-subrip", "en"),
            Transcript(f"{root}/transcript.json", "application/json", "en"),
        ],
        chapters_url=f"{root}/chapters.json",
        soundbites=[Soundbite(12.0, 40.5, "The Friday rule")],
        persons=[Person("Maya"), Person("Tom", "guest")],
    )


def test_feed_reads_back_in_podcast_clients() -> None:
    hostile = 'A <b>bold</b> & "quoted" title <script>x</script>'
    body = build_feed(
        _show(),
        [_item("g1", "First", 1), _item("g2", hostile, 2)],
        artwork_url=f"{BASE}/{SHOW_ID}/artwork.jpg",
        last_build=NOW,
    )
    root = etree.fromstring(body)  # well-formed XML
    item = root.find("channel/item")
    assert item is not None
    assert len(item.findall(f"{{{PODCAST_NS}}}transcript")) == 3
    assert root.findtext(f"channel/{{{PODCAST_NS}}}guid") == PODCAST_GUID

    parsed = podcastparser.parse(f"{BASE}/{SHOW_ID}/feed.xml", io.BytesIO(body))
    assert [e["title"] for e in parsed["episodes"]] == [hostile, "First"]  # newest first
    episode = parsed["episodes"][0]
    assert episode["guid"] == "g2"
    assert episode["total_time"] == 3725
    assert episode["enclosures"][0]["file_size"] == 123_456
    assert episode["enclosures"][0]["mime_type"] == "audio/mpeg"
    assert episode["number"] == 2
    assert episode["season"] == 2
    assert "<script" not in episode["description_html"]

    feed = feedparser.parse(body)
    assert not feed.bozo
    assert feed.feed.title == "The Weekly"
    entry = feed.entries[0]
    assert entry.title == hostile
    assert entry.itunes_duration == "01:02:05"
    assert entry.enclosures[0]["length"] == "123456"
    assert entry.podcast_chapters["url"].endswith("/g2/chapters.json")
    assert entry.podcast_transcript["url"].endswith("/g2/transcript.json")
    assert entry.podcast_soundbite == {"starttime": "12", "duration": "40.5"}
    assert "<script" not in entry.summary


def test_legacy_namespace_lets_gpodder_read_the_podcast_tags() -> None:
    body = build_feed(
        _show(podcast_namespace="legacy"),
        [_item("g1", "First", 1)],
        artwork_url=f"{BASE}/{SHOW_ID}/artwork.jpg",
        last_build=NOW,
    )
    (episode,) = podcastparser.parse(f"{BASE}/{SHOW_ID}/feed.xml", io.BytesIO(body))["episodes"]
    assert episode["chapters_json_url"] == f"{BASE}/{SHOW_ID}/episodes/g1/chapters.json"
    assert episode["transcript_url"].startswith(f"{BASE}/{SHOW_ID}/episodes/g1/transcript.")
    assert [(p["name"], p["role"]) for p in episode["persons"]] == [
        ("Maya", "host"),
        ("Tom", "guest"),
    ]
    feed = feedparser.parse(body)
    assert feed.entries[0].podcast_chapters["url"].endswith("/g1/chapters.json")
