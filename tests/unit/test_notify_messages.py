"""Message formatting: what people read in an e-mail and in Slack, and the channels' limits."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from podpipe.events import (
    AudioTranscoded,
    ClipsRendered,
    ClipSummary,
    EpisodeCompleted,
    EpisodeVersionStarted,
    Failure,
    OutputLink,
    PromptCompleted,
    PromptFailed,
    S3Location,
    StageTiming,
    TranscodeFailed,
    UploadRejected,
    VideoFailed,
)
from podpipe_notify import messages
from podpipe_notify.messages import (
    SLACK_SECTION_MAX,
    Link,
    Notification,
    Section,
    email_body,
    email_subject,
    slack_escape,
    slack_payload,
)

EP = "2026-11-27-ep42"
LOC = S3Location(bucket="b", key=f"episodes/{EP}/outputs/show-notes.md")
REPLAY = f"podpipe dlq replay --queue llm --episode {EP} --prompt show-notes"


def prompt_failed() -> PromptFailed:
    return PromptFailed(
        episode_id=EP,
        prompt_id="show-notes",
        model="anthropic.claude-3-5-haiku-20241022-v1:0",
        failure=Failure(
            reason="ValidationException: input too long", error_type="ValidationError", attempts=4
        ),
        replay_command=REPLAY,
    )


def prompt_completed(preview: str = "We talk about <things> & stuff\nmore") -> PromptCompleted:
    return PromptCompleted(
        episode_id=EP,
        prompt_id="show-notes",
        model="extractive",
        output=LOC,
        metadata=S3Location(bucket="b", key=f"episodes/{EP}/outputs/show-notes.meta.json"),
        output_format="markdown",
        preview=preview,
        input_tokens=100,
        output_tokens=50,
        latency_seconds=1.5,
        attempts=1,
        estimated_cost_usd=0.0,
    )


def slack_text(payload: dict[str, object]) -> str:
    return json.dumps(payload)


def all_mrkdwn(payload: dict[str, object]) -> list[str]:
    texts: list[str] = []
    for block in payload["blocks"]:  # type: ignore[attr-defined]
        if block["type"] == "section":
            texts.append(block["text"]["text"])
        elif block["type"] == "context":
            texts += [e["text"] for e in block["elements"]]
    return texts


# --------------------------------------------------------------------------- subjects


def test_subject_is_ascii_single_line_and_under_100_characters() -> None:
    note = Notification(
        kind="x", episode_id=EP, title="Épisode « très » long\nwith a newline " + "z" * 300
    )
    subject = email_subject(note)
    assert len(subject) <= 99
    assert subject.isascii()
    assert "\n" not in subject
    assert subject.startswith("[podpipe] Episode")
    assert subject.endswith("...")


def test_short_subject_is_kept_whole() -> None:
    subject = email_subject(messages.prompt_failed(prompt_failed()))
    assert subject == f"[podpipe] Prompt failed: show-notes for {EP}"


# --------------------------------------------------------------------------- prompt failed


def test_prompt_failed_carries_reason_and_exact_replay_command_on_both_channels() -> None:
    note = messages.prompt_failed(prompt_failed())
    body = email_body(note)
    assert REPLAY in body
    assert "ValidationException: input too long" in body
    assert "4 attempt(s)" in body
    slack = all_mrkdwn(slack_payload(note))
    assert any(f"```{REPLAY}```" in t for t in slack)
    assert note.level == "failure"


def test_stage_failed_names_the_stage_and_reason() -> None:
    event = TranscodeFailed(
        episode_id=EP,
        source=S3Location(bucket="b", key=f"uploads/{EP}.m4a"),
        failure=Failure(reason="the upload is not audio", error_type="InvalidMediaError"),
    )
    note = messages.stage_failed(event)
    assert note.title == f"Transcode failed: {EP}"
    assert "the upload is not audio" in email_body(note)
    assert "dlq replay" in email_body(note)


def test_a_failed_video_output_says_the_audio_goes_on() -> None:
    event = VideoFailed(
        episode_id=EP,
        source=S3Location(bucket="b", key=f"uploads/{EP}.mov"),
        output="video.mp4",
        failure=Failure(reason="ep.mov has a 160x8 picture", error_type="BadInputError"),
    )
    note = messages.stage_failed(event)
    assert note.title == f"Video failed: {EP}"
    assert "160x8" in email_body(note)
    assert "other outputs are unaffected" in email_body(note)


def test_a_rejected_upload_is_the_hosts_to_fix_not_a_replay() -> None:
    event = TranscodeFailed(
        episode_id=EP,
        source=S3Location(bucket="b", key=f"uploads/{EP}.m4a"),
        failure=Failure(reason="ep.m4a is a text file, not audio", error_type="RejectedInputError"),
    )
    body = email_body(messages.stage_failed(event))
    assert "upload it again" in body
    assert "dlq replay" not in body


# --------------------------------------------------------------------------- escaping


def test_slack_escapes_ampersand_and_angle_brackets_in_user_text() -> None:
    assert slack_escape("a & <b> c") == "a &amp; &lt;b&gt; c"
    payload = slack_payload(messages.prompt_line(prompt_completed(), url="https://x/y?a=1&b=2"))
    text = "\n".join(all_mrkdwn(payload))
    assert "&lt;things&gt; &amp; stuff" in text
    assert "<things>" not in text
    # Links keep Slack's own <url|label> syntax, with the URL's & escaped.
    assert "<https://x/y?a=1&amp;b=2|Full output>" in text


def test_link_label_cannot_break_out_of_slack_link_syntax() -> None:
    rendered = messages.slack_link(Link("a|b>c", "https://x"))
    assert rendered == "<https://x|a¦b&gt;c>"


def test_email_body_is_plain_text_without_escaping() -> None:
    body = email_body(messages.prompt_line(prompt_completed(), url="https://x/y?a=1&b=2"))
    assert "<things> & stuff" in body
    assert "Full output: https://x/y?a=1&b=2" in body


# --------------------------------------------------------------------------- truncation


def test_long_output_is_cut_in_slack_with_a_link_to_the_full_text() -> None:
    long_text = "word " * 5000
    note = messages.prompt_output(prompt_completed(), long_text, url="https://full/text")
    payload = slack_payload(note, max_chars=1000)
    sections = [b for b in payload["blocks"] if b["type"] == "section"]
    first = sections[0]["text"]["text"]
    assert len(first) <= SLACK_SECTION_MAX
    assert "<https://full/text|Full text> (cut here)" in first
    assert "…" in first
    assert len(payload["blocks"]) <= 50


def test_short_output_is_not_cut() -> None:
    note = messages.prompt_output(prompt_completed(), "short text", url="https://full/text")
    first = all_mrkdwn(slack_payload(note))[0]
    assert "short text" in first
    assert "cut here" not in first


def test_email_body_stays_within_sns_limit_and_links_the_full_text() -> None:
    huge = "é" * 300_000  # 600 KB of UTF-8
    note = messages.prompt_output(prompt_completed(), huge, url="https://full/text")
    body = email_body(note)
    assert len(body.encode()) <= 256 * 1024
    assert body.endswith("Full text: https://full/text")
    assert "[cut to fit the e-mail size limit]" in body


def test_truncate_prefers_word_boundaries() -> None:
    text, cut = messages.truncate("alpha beta gamma delta", 14)
    assert cut
    assert text == "alpha beta…"


def test_many_long_links_are_spread_over_valid_blocks() -> None:
    outputs = [
        OutputLink(
            name=f"outputs/p{i}.md",
            location=S3Location(bucket="b", key=f"k{i}"),
            url="https://s3.example/" + "x" * 700,
        )
        for i in range(30)
    ]
    event = EpisodeCompleted(episode_id=EP, outputs=outputs)
    payload = slack_payload(messages.episode_completed(event))
    texts = all_mrkdwn(payload)
    assert all(len(t) <= SLACK_SECTION_MAX for t in texts)
    assert sum(t.count("https://s3.example/") for t in texts) == 30
    assert len(payload["blocks"]) <= 50


# --------------------------------------------------------------------------- other messages


def test_audio_ready_has_url_and_expiry() -> None:
    expires = datetime(2026, 11, 27, 8, 30, tzinfo=UTC)
    event = AudioTranscoded(
        episode_id=EP,
        source=S3Location(bucket="b", key=f"uploads/{EP}.m4a"),
        audio=S3Location(bucket="b", key=f"episodes/{EP}/audio.mp3"),
        duration_seconds=3725,
        integrated_lufs=-16.02,
        true_peak_dbtp=-1.4,
        size_bytes=60_000_000,
        bitrate_kbps=128,
        channels=2,
        presigned_url="https://s3/audio.mp3?sig=1",
        presigned_url_expires_at=expires,
    )
    note = messages.audio_ready(event)
    body = email_body(note)
    assert "Download the MP3: https://s3/audio.mp3?sig=1" in body
    assert "expires 2026-11-27 08:30 UTC" in body
    assert "1:02:05" in body
    assert "-16.0 LUFS" in body
    assert "metadata problems" not in body


def test_audio_ready_tells_the_host_what_was_wrong_with_the_sidecar() -> None:
    problem = f"uploads/{EP}.json ignored: not valid JSON (Expecting value at line 1 column 19)"
    event = AudioTranscoded(
        episode_id=EP,
        source=S3Location(bucket="b", key=f"uploads/{EP}.m4a"),
        audio=S3Location(bucket="b", key=f"episodes/{EP}/audio.mp3"),
        duration_seconds=60,
        integrated_lufs=-16.0,
        true_peak_dbtp=-1.4,
        size_bytes=1_000_000,
        bitrate_kbps=128,
        channels=2,
        presigned_url="https://s3/audio.mp3?sig=1",
        presigned_url_expires_at=datetime(2026, 11, 27, 8, 30, tzinfo=UTC),
        metadata_problems=[problem],
    )
    note = messages.audio_ready(event)
    assert problem in email_body(note)
    assert "Episode metadata problems" in json.dumps(slack_payload(note))


def test_a_rejected_upload_tells_the_host_what_to_do() -> None:
    event = UploadRejected(
        source=S3Location(bucket="b", key="uploads/..%2Fescape.m4a"),
        reason="invalid episode id '..%2Fescape': use 1-64 characters from a-z, 0-9 and '-'",
    )
    note = messages.upload_rejected(event)
    assert note.level == "failure"
    assert email_subject(note) == "[podpipe] Upload failed: uploads/..%2Fescape.m4a"
    assert "Rename the file" in email_body(note)
    assert event.reason in email_body(note)


def test_clips_rendered_lists_each_clip_with_links() -> None:
    clip = ClipSummary(
        index=1,
        title="The hook",
        hook="Why it matters",
        start=60,
        end=105,
        audio=S3Location(bucket="b", key="c1.mp3"),
        audio_url="https://s3/c1.mp3",
        video_url="https://s3/c1.mp4",
    )
    note = messages.clips_rendered(
        ClipsRendered(episode_id=EP, clips=[clip], trailer_url="https://s3/t.mp3")
    )
    body = email_body(note)
    assert "1. The hook (1:00–1:45): Why it matters" in body
    assert "Clip 1 video: https://s3/c1.mp4" in body
    assert "Trailer: https://s3/t.mp3" in body


def test_episode_digest_has_outputs_timings_and_cost() -> None:
    event = EpisodeCompleted(
        episode_id=EP,
        outputs=[
            OutputLink(
                name="audio.mp3", location=S3Location(bucket="b", key="a"), url="https://s3/a"
            ),
            OutputLink(
                name="outputs/titles.md",
                location=S3Location(bucket="b", key="t"),
                url="https://s3/t",
            ),
        ],
        failed_prompts=["blog-post"],
        timings=[StageTiming(stage="transcode", status="done", seconds=42.0)],
        estimated_cost_usd=0.1234,
        cost_breakdown={"transcription": 0.1, "llm": 0.02, "compute": 0.0034},
        wall_seconds=300,
    )
    note = messages.episode_completed(event, title="The Show #42 Pilot")
    body = email_body(note)
    assert "The Show #42 Pilot" in body
    assert "audio.mp3: https://s3/a" in body
    assert "outputs/titles.md: https://s3/t" in body
    assert "transcode" in body
    assert "0:42" in body
    assert "$0.1234" in body
    assert "transcription $0.1000" in body
    assert "blog-post" in body
    assert "1 failed prompt" in note.title
    assert len(email_subject(note)) <= 99


def test_prompt_line_is_one_short_line() -> None:
    note = messages.prompt_line(prompt_completed("# Title\n" + "x" * 400), url=None)
    assert len(note.sections) == 1
    assert "\n" not in note.sections[0].text
    assert len(note.sections[0].text) < 250


@pytest.mark.parametrize("title", ["x" * 400, "Ünïcode title ✓"])
def test_slack_header_is_within_limit(title: str) -> None:
    payload = slack_payload(
        Notification(kind="k", episode_id=EP, title=title, sections=(Section("t"),))
    )
    header = payload["blocks"][0]
    assert header["type"] == "header"
    assert len(header["text"]["text"]) <= 150


def test_the_digest_and_the_prompt_line_flag_outputs_made_without_a_dependency() -> None:
    digest = EpisodeCompleted(
        episode_id=EP,
        outputs=[],
        failed_prompts=["chapters"],
        made_without={"blog-post": ["chapters"]},
    )
    body = email_body(messages.episode_completed(digest))
    assert "blog-post (without chapters)" in body
    line = PromptCompleted(
        episode_id=EP,
        prompt_id="blog-post",
        model="m",
        output=S3Location(bucket="b", key="o"),
        metadata=S3Location(bucket="b", key="m"),
        output_format="markdown",
        preview="A post",
        input_tokens=1,
        output_tokens=1,
        latency_seconds=1.0,
        attempts=1,
        estimated_cost_usd=0.0,
        missing_dependencies=["chapters"],
    )
    assert "made WITHOUT chapters" in email_body(messages.prompt_line(line, None))


def test_the_team_is_told_a_new_version_is_processing() -> None:
    event = EpisodeVersionStarted(
        episode_id=EP,
        version=2,
        previous_version=1,
        source=S3Location(bucket="b", key=f"uploads/{EP}.m4a"),
        archived_prefix=f"episodes/{EP}/versions/1/",
    )
    note = messages.version_started(event)
    assert email_subject(note) == f"[podpipe] New version processing: {EP} (version 2)"
    assert f"kept under episodes/{EP}/versions/1/" in email_body(note)
