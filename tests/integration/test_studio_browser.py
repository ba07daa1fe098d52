"""`podpipe studio` in real headless Chromium (Debian's package, driven by Playwright) against
LocalStack: the episodes list with stage states → the episode (a clip plays, chapters and
transcript lines seek the player, a hostile title stays text) → edit the show notes, approve,
publish → the feed the release module wrote carries the edit, and the episode's promotion plan
shows with a working Skip; a failed prompt's Replay puts its message back on the llm queue; the
token and CSRF checks refuse (403); an upload with a progress bar lands under uploads/ with its
sidecar. Screenshots go to docs/screenshots/.

The episode's artifacts are written straight into the stack's bucket (no Whisper, no LLM).
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from podpipe.events import PromptRequested, parse_envelope
from podpipe.layout import EpisodeKeys, EpisodeMetadata, StageRecord
from podpipe_promote.settings import PromoteSettings
from podpipe_promote.wiring import build_desk as build_promotion_desk
from tests.support.localstack import Stack
from tests.support.studio import (
    CHROMIUM_FLAGS,
    EPISODE,
    FAILED_PROMPT,
    HOSTILE_TITLE,
    SCREENSHOTS,
    LiveStudio,
    assert_no_secrets,
    chromium_or_skip,
    live_studio,
    make_media,
    screenshot,
    seed_episode,
)

pytestmark = pytest.mark.integration

playwright_sync = pytest.importorskip("playwright.sync_api")
TIMEOUT_MS = 15_000


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_media(tmp_path_factory.mktemp("studio-media"))


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    executable = chromium_or_skip()
    with playwright_sync.sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_FLAGS
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def studio(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[LiveStudio]:
    with live_studio(stack, monkeypatch) as live:
        yield live


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    opened = context.new_page()
    try:
        yield opened
    finally:
        context.close()


def test_episode_review_release_and_replay(
    studio: LiveStudio, page: Any, media: tuple[Path, Path]
) -> None:
    seed_episode(studio.stack, media)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    # The printed URL carries the token; the first visit trades it for a cookie.
    page.goto(studio.url)
    assert "token=" not in page.url
    row = page.locator(f"tr[data-episode='{EPISODE}']")
    row.wait_for()
    stage = row.locator("[data-stage]")
    states = {
        stage.nth(i).get_attribute("data-stage"): stage.nth(i).get_attribute("data-state")
        for i in range(stage.count())
    }
    assert states["transcode"] == "done"
    assert states["transcribe"] == "done"
    assert states["prompt-titles"] == "done"
    assert states[f"prompt-{FAILED_PROMPT}"] == "in DLQ"
    assert "15.2 s" in row.inner_text()  # the transcode's timing
    assert row.locator("td.title").inner_text() == HOSTILE_TITLE  # text, not markup
    screenshot(page, "episodes")
    assert_no_secrets(page.content())

    # Live: a stage that starts now shows up without a reload (htmx polls the status).
    record = StageRecord(stage="clips", status="running", started_at=time.time())
    studio.stack.s3.put_object(
        Bucket=studio.stack.bucket,
        Key=EpisodeKeys(EPISODE).stage_record("clips"),
        Body=record.model_dump_json().encode(),
    )
    row.locator("[data-stage='clips'][data-state='running']").wait_for()

    # The episode: escaped title, the clip plays, chapters and transcript lines seek.
    row.locator("a").first.click()
    page.wait_for_url(f"**/episodes/{EPISODE}")
    assert page.locator("h1.episode-title").inner_text() == HOSTILE_TITLE
    assert page.locator("h1.episode-title script, h1.episode-title img").count() == 0
    assert page.evaluate("window.__pwned") is None
    bluesky = page.locator("#output-social-posts td", has_text="never runs")
    assert bluesky.inner_text() == "<script>alert(1)</script> never runs"
    assert "5120 in / 410 out tokens" in page.locator("#output-titles .meta").inner_text()
    assert "claude-3-5-haiku" in page.locator("#output-titles .meta").inner_text()
    assert page.locator("#output-show-notes .markdown strong").inner_text() == (
        "event-driven pipelines"
    )

    clip = page.locator("video[data-name='clip-01.mp4']")
    clip.scroll_into_view_if_needed()
    page.wait_for_function(
        "() => document.querySelector(\"video[data-name='clip-01.mp4']\").readyState >= 1",
        timeout=TIMEOUT_MS,
    )
    duration = clip.evaluate("v => v.duration")
    assert 3.5 < duration < 4.5
    clip.evaluate("v => { v.muted = true; return v.play(); }")
    page.wait_for_function(
        "() => document.querySelector(\"video[data-name='clip-01.mp4']\").currentTime > 0.2",
        timeout=TIMEOUT_MS,
    )
    trailer = page.locator("video[data-name='trailer.mp4']")
    assert trailer.count() == 1

    page.wait_for_function("() => document.getElementById('player').readyState >= 1")
    page.locator("#player").evaluate("p => { p.muted = true; }")
    page.locator("ol.chapters button.seek").nth(1).click()  # "Queues" at 95.5 s
    page.wait_for_function(
        "() => Math.abs(document.getElementById('player').currentTime - 95.5) < 2"
    )
    page.locator(".transcript button.seek").nth(1).click()  # Tom at 4 s
    page.wait_for_function("() => Math.abs(document.getElementById('player').currentTime - 4) < 2")
    # The subtitles follow the player: Tom's cue (4-8 s) is the caption now.
    page.wait_for_function(
        "() => document.getElementById('caption').textContent.includes('Thanks for having me')"
    )
    assert (
        page.locator(".transcript .line")
        .nth(2)
        .inner_text()
        .endswith("Now, queues <b>beat</b> sleeps.")
    )
    page.locator("#player").evaluate("p => p.pause()")
    screenshot(page, "episode", full_page=True)
    assert_no_secrets(page.content())

    # Release: pick title 2, edit the notes, approve, publish now.
    page.locator("#release").scroll_into_view_if_needed()
    page.locator("input[name=title_choice][value='2']").check()
    notes = page.locator("textarea[name=notes]")
    edited = notes.input_value() + "\nEdited in the studio: **listen twice**.\n"
    notes.fill(edited)
    submit(page, "#approve")
    assert "Approved: Why Our Pipeline Never Sleeps" in page.locator(".notice").inner_text()
    assert page.locator("#release-state").inner_text() == "approved"
    assert "the model" in page.locator("#release details summary").inner_text().lower()
    # At a time: a time the release module cannot read is refused in words, "+2h" schedules.
    page.locator("input[name=when][value=at]").check()
    page.locator("input[name=at]").fill("tomorrow-ish")
    with page.expect_navigation():
        page.locator("#publish").click()
    assert "ISO 8601" in page.locator("p.error").inner_text()
    page.locator("input[name=when][value=at]").check()
    page.locator("input[name=at]").fill("+2h")
    submit(page, "#publish")
    assert "Scheduled for" in page.locator(".notice").inner_text()
    assert page.locator("#release-state").inner_text() == "scheduled"
    scheduled = studio.stack.s3.list_objects_v2(
        Bucket=studio.stack.bucket, Prefix="release-schedule/"
    )
    assert scheduled.get("KeyCount", 0) == 1  # the local trigger's index (podpipe.release)
    submit(page, "#publish")  # "now" again: publish at once instead
    assert "Published" in page.locator(".notice").inner_text()
    assert page.locator("#release-state").inner_text() == "published"
    page.locator("#release").screenshot(path=str(screenshot_path("release")))

    # Promotion: the published episode's plan on its page; Skip is `podpipe promote --skip`.
    posts = {"bluesky": "<script>alert(1)</script> never runs", "linkedin": "Queues, not sleeps."}
    studio.stack.s3.put_object(
        Bucket=studio.stack.bucket,
        Key=EpisodeKeys(EPISODE).prompt_output("social-posts", "json"),
        Body=json.dumps(posts).encode(),
    )
    promotion = build_promotion_desk(PromoteSettings(), s3=studio.stack.s3)
    made = promotion.make_plan(EPISODE)
    page.reload()
    item = page.locator("#promotion-item-1")
    assert "bluesky" in item.inner_text()
    assert "<script>alert(1)</script> never runs" in item.inner_text()  # text, not markup
    assert page.locator("#promotion script").count() == 0
    assert page.locator("#promotion tbody tr").count() == len(made.items)
    submit(page, "#promotion-item-1 button.skip")
    assert "Promotion item 1 skipped" in page.locator(".notice").inner_text()
    assert "skipped" in page.locator("#promotion-item-1").inner_text()
    assert page.locator("#promotion-item-1 button.skip").count() == 0
    skipped = promotion.plan(EPISODE)
    assert skipped is not None
    assert skipped.item(1).state == "skipped"

    with urllib.request.urlopen(studio.feed_url, timeout=10) as reply:
        feed = reply.read().decode()
    assert "Why Our Pipeline Never Sleeps" in feed
    assert "Edited in the studio: <strong>listen twice</strong>." in feed.replace(
        "&lt;", "<"
    ).replace("&gt;", ">")
    assert (
        studio.stack.s3.get_object(
            Bucket=studio.stack.bucket, Key=f"episodes/{EPISODE}/outputs/show-notes.md"
        )["Body"]
        .read()
        .decode()
        .find("Edited in the studio")
        == -1
    )  # the model's version kept

    # What failed: the prompt in the llm DLQ; Replay sends it back to the llm queue.
    page.locator("#failures").scroll_into_view_if_needed()
    form = page.locator("form.replay")
    assert FAILED_PROMPT in form.inner_text()
    assert "model identifier is invalid" in form.inner_text()
    page.locator("#failures").screenshot(path=str(screenshot_path("failures")))
    form.locator("input[name=model]").fill("amazon.nova-pro-v1:0")
    submit(page, "form.replay button.replay-button")
    assert "1 message(s) sent back" in page.locator(".notice").inner_text()
    messages = studio.stack.drain(studio.stack.queue_url("llm"), expect=1, timeout=20)
    assert len(messages) == 1
    replayed = parse_envelope(messages[0]["Body"]).detail
    assert isinstance(replayed, PromptRequested)
    assert (replayed.prompt_id, replayed.model, replayed.replay) == (
        FAILED_PROMPT,
        "amazon.nova-pro-v1:0",
        True,
    )
    attributes = messages[0]["MessageAttributes"]
    assert attributes["podpipe-replayed-from"]["StringValue"].endswith("llm-dlq")
    assert errors == []


def submit(page: Any, button: str) -> None:
    """Click a form's button and wait for the page it redirects to; fail on its error."""
    with page.expect_navigation():
        page.locator(button).click()
    error = page.locator("p.error")
    assert error.count() == 0, error.first.inner_text()
    assert page.locator(".notice").count() == 1, page.content()[:2000]


def screenshot_path(name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS / f"{name}.png"


def test_no_token_no_page_and_no_csrf_no_change(
    studio: LiveStudio, browser: Any, media: tuple[Path, Path]
) -> None:
    seed_episode(studio.stack, media)
    stranger = browser.new_context()
    try:
        refused = stranger.new_page().goto(f"{studio.base}/episodes/{EPISODE}")
        assert refused is not None
        assert refused.status == 403
        wrong = stranger.new_page().goto(f"{studio.base}/?token=not-the-token")
        assert wrong is not None
        assert wrong.status == 403
    finally:
        stranger.close()

    operator = browser.new_context()
    try:
        opened = operator.new_page()
        opened.goto(studio.url)  # now the context has the cookie
        assert opened.locator("h1").inner_text() == "Episodes"
        approve = f"{studio.base}/episodes/{EPISODE}/approve"
        without = operator.request.post(approve, form={"title_choice": "1"})
        assert without.status == 403
        forged = operator.request.post(approve, form={"title_choice": "1", "csrf_token": "0" * 64})
        assert forged.status == 403
        replay = operator.request.post(
            f"{studio.base}/episodes/{EPISODE}/replay",
            form={"queue": "llm", "prompt": FAILED_PROMPT},
        )
        assert replay.status == 403
        # Nothing changed: no release, the message still in the DLQ.
        keys = studio.stack.s3.list_objects_v2(
            Bucket=studio.stack.bucket, Prefix=f"episodes/{EPISODE}/release"
        )
        assert keys.get("KeyCount", 0) == 0
        assert studio.stack.drain(studio.stack.queue_url("llm"), expect=1, timeout=2) == []

        # The same approve from the page (with its CSRF token), with a hostile own title.
        opened.goto(f"{studio.base}/episodes/{EPISODE}#release")
        opened.locator("input[name=title_choice][value=own]").check()
        hostile = "<script>window.__pwned = 3</script><b>bold?</b>"
        opened.locator("input[name=title_text]").fill(hostile)
        submit(opened, "#approve")
        assert opened.locator("#approved-title").inner_text() == hostile
        assert opened.locator("#approved-title script, #approved-title b").count() == 0
        assert opened.evaluate("window.__pwned") is None
        assert_no_secrets(opened.content())
    finally:
        operator.close()


def test_upload_from_the_browser_with_progress(
    studio: LiveStudio, page: Any, media: tuple[Path, Path]
) -> None:
    mp3, _ = media
    page.goto(studio.url)
    page.goto(f"{studio.base}/upload")
    # Slow the upload down so the progress bar has something to show.
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": 200_000},
    )
    page.set_input_files("input[name=audio]", str(mp3))
    page.fill("input[name=episode]", "studio-upload")
    page.fill("input[name=title]", "Uploaded <from> the studio")
    page.fill("input[name=show]", "The Weekly")
    page.fill("input[name=number]", "43")
    page.fill("input[name=hosts]", "Maya, Tom")
    page.fill("input[name=guests]", "Ana")
    page.click("#upload-button")
    seen: set[int] = set()
    shot = False
    link = page.locator("#uploaded-link")
    for _ in range(600):
        if link.count():
            break
        value = int(page.locator("#upload-progress").evaluate("p => p.value"))
        seen.add(value)
        if 20 <= value < 100 and not shot:
            screenshot(page, "upload")
            shot = True
        page.wait_for_timeout(50)
    link.wait_for()
    assert page.locator("#upload-progress").evaluate("p => p.value") == 100
    assert any(0 < v < 100 for v in seen), seen
    if not shot:
        screenshot(page, "upload")

    s3, bucket = studio.stack.s3, studio.stack.bucket
    audio = s3.head_object(Bucket=bucket, Key="uploads/studio-upload.mp3")
    assert audio["ContentLength"] == mp3.stat().st_size
    assert audio["ContentType"] == "audio/mpeg"
    sidecar = json.loads(
        s3.get_object(Bucket=bucket, Key="uploads/studio-upload.json")["Body"].read()
    )
    metadata = EpisodeMetadata.model_validate(sidecar)
    assert metadata.title == "Uploaded <from> the studio"
    assert (metadata.show, metadata.episode_number) == ("The Weekly", 43)
    assert (metadata.hosts, metadata.guests) == (["Maya", "Tom"], ["Ana"])
    assert EpisodeMetadata.from_s3_metadata(audio["Metadata"]) == metadata
    link.click()
    page.wait_for_url("**/episodes/studio-upload")
    assert page.locator("h1.episode-title").inner_text() == "Uploaded <from> the studio"


def test_the_host_ticks_the_briefs_items_and_saves_the_running_order(
    studio: LiveStudio, page: Any
) -> None:
    """The prep page's checkboxes save through save_running_order — the operation `podpipe
    prep choose` calls — so the stored running order is the one the CLI would write."""
    from datetime import UTC, datetime

    from podpipe_llm.prep.brief import render_markdown
    from podpipe_llm.prep.models import Brief, BriefItem
    from podpipe_llm.prep.service import choose
    from podpipe_llm.prep.store import S3PrepStore

    when = datetime(2026, 11, 28, 9, tzinfo=UTC)
    brief = Brief(
        date="2026-11-28",
        show="Cloud Weekly",
        audience="builders",
        since=datetime(2026, 11, 20, tzinfo=UTC),
        generated_at=when,
        model="extractive",
        items=[
            BriefItem(
                rank=n,
                title=title,
                url=f"https://aws.amazon.com/news/{n}",
                feed="AWS What's New",
                summary=f"{title} is out. It is new. It matters.",
                why_it_matters="Listeners run it.",
                questions=["Is it ready?", "What does it cost?"],
            )
            for n, title in enumerate(["Aurora DSQL", "Lambda on Graviton", "S3 Tables"], 1)
        ],
    )
    store = S3PrepStore(studio.stack.s3, studio.stack.bucket)
    store.write_brief(brief, render_markdown(brief))

    page.goto(studio.url)
    page.goto(f"{studio.base}/prep")
    boxes = page.locator("form.running-order input[name=item]")
    assert boxes.count() == 3
    page.check("input[name=item][data-rank='3']")
    page.check("input[name=item][data-rank='1']")
    page.fill("form.running-order input[name=episode]", "cloud-weekly-42")
    submit(page, "button[data-action=save-running-order]")
    assert "items 1, 3" in page.locator(".notice").inner_text()

    stored = store.read_running_order("cloud-weekly-42")
    assert stored is not None
    assert [i.url for i in stored.items] == [
        "https://aws.amazon.com/news/1",
        "https://aws.amazon.com/news/3",
    ]
    assert stored == choose(brief, "cloud-weekly-42", [1, 3])  # what the CLI writes

    # Nothing ticked: the operation's own refusal, shown on the page; nothing overwritten.
    page.fill("form.running-order input[name=episode]", "cloud-weekly-42")
    with page.expect_navigation():
        page.locator("button[data-action=save-running-order]").click()
    assert "name at least one item number" in page.locator("p.error").inner_text()
    assert store.read_running_order("cloud-weekly-42") == stored
