"""What the team reads when an episode goes out, and how the CLI reports release errors."""

from __future__ import annotations

from datetime import UTC, datetime

from podpipe.events import EpisodePublished, EpisodeUnpublished
from podpipe.release.model import UnsafeTextError
from podpipe.release.shows import ShowConfigError
from podpipe_cli.context import describe
from podpipe_notify import messages


def test_episode_published_message_links_the_feed_and_the_episode() -> None:
    event = EpisodePublished(
        episode_id="2026-12-01-ep42",
        show_id="the-weekly",
        show_title="The Weekly",
        title="Queues <not> sleeps & more",
        guid="5da2e443-8fef-50ca-9b85-29c000000000",
        feed_url="https://cdn.example.org/the-weekly/feed.xml",
        episode_url="https://cdn.example.org/the-weekly/episodes/2026-12-01-ep42/audio.mp3",
        published_at=datetime(2026, 12, 4, 6, tzinfo=UTC),
        scheduled=True,
    )
    notification = messages.episode_published(event)
    body = messages.email_body(notification)
    assert "on schedule, 2026-12-04 06:00 UTC" in body
    assert event.feed_url in body
    assert event.episode_url in body
    assert messages.email_subject(notification).startswith("[podpipe] Published: Queues")
    slack = str(messages.slack_payload(notification))
    assert "&lt;not&gt;" in slack  # Slack text escaped like every other message


def test_the_team_hears_when_an_episode_is_taken_out_of_its_feed() -> None:
    event = EpisodeUnpublished(
        episode_id="2026-12-01-ep42",
        show_id="the-weekly",
        unpublished_at=datetime(2026, 12, 5, 9, 30, tzinfo=UTC),
    )
    notification = messages.episode_unpublished(event)
    body = messages.email_body(notification)
    assert "taken out of the the-weekly feed" in body
    assert "2026-12-05 09:30 UTC" in body
    assert "promotion plan is cancelled" in body
    assert messages.email_subject(notification).startswith("[podpipe] Unpublished: 2026-12-01")


def test_release_errors_are_one_clear_cli_line() -> None:
    assert describe(ShowConfigError("shows/x.json: missing required field(s): owner")) == (
        "shows/x.json: missing required field(s): owner"
    )
    assert describe(UnsafeTextError("the title is empty")) == "the title is empty"
