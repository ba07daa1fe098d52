"""notify's messages for promotion: the "ready to post" reminder carries the text and the clip
link on both channels; a failure names the replay command."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from podpipe.events import Failure, PromotionFailed, PromotionReadyToPost
from podpipe_notify import messages

READY = PromotionReadyToPost(
    episode_id="ep1",
    item_id="2-linkedin",
    network="linkedin",
    text="A long LinkedIn post about queues.\nhttps://cdn.example.org/the-weekly/episodes/ep1/audio.mp3",
    episode_link="https://cdn.example.org/the-weekly/episodes/ep1/audio.mp3",
    clip_url="https://signed.example/episodes/ep1/clips/clip-01.mp4?X-Amz-Signature=abc",
    scheduled_for=datetime(2026, 12, 2, 9, 0, tzinfo=UTC),
)


def test_ready_to_post_has_the_text_and_the_clip_link_in_email_and_slack() -> None:
    note = messages.promotion_ready(READY)
    assert note.title == "Ready to post on linkedin: ep1"
    body = messages.email_body(note)
    assert "A long LinkedIn post about queues." in body
    assert READY.clip_url in body
    slack = json.dumps(messages.slack_payload(note))
    assert "A long LinkedIn post about queues." in slack
    assert "clip-01.mp4" in slack


def test_a_failed_post_names_the_replay() -> None:
    note = messages.promotion_failed(
        PromotionFailed(
            episode_id="ep1",
            item_id="1-bluesky",
            network="bluesky",
            failure=Failure(reason="bluesky: post failed: 400", error_type="PermanentError"),
        )
    )
    assert note.level == "failure"
    assert "podpipe dlq replay --queue promote --episode ep1" in messages.email_body(note)
