"""The brief reaches each guest: the guests topic's filtered subscriptions (a fake SNS) and
notify's handler delivering once per (brief, guest), the team's copy once too."""

from __future__ import annotations

import json
from typing import Any

import pytest

from podpipe.events import BriefPrepared, S3Location
from podpipe.runtime.errors import PermanentError
from podpipe.runtime.service import MessageContext
from podpipe_notify.channels import ChannelError, DeliveryRetryPolicy, Fanout, SnsGuestChannel
from podpipe_notify.delivery import DeliveryRef, marker_key
from podpipe_notify.handlers import NotifyHandlers
from tests.support.notify_store import MemoryNotifyStore
from tests.unit.test_notify_channels import FakeChannel, FakeLedger

TOPIC = "arn:aws:sns:us-east-1:123456789012:pp-guests"
FAST = DeliveryRetryPolicy(attempts=1, max_wait_seconds=0, initial_wait_seconds=0)
MAYA = "maya@example.com"
TOM = "tom@example.org"
BRIEF_MD = (
    "# Cloud Weekly: the brief for 2026-11-28\n\nWritten by `m`. Mark what the episode covers "
    "with `podpipe prep choose EPISODE --date 2026-11-28 1 2 …`.\n\n## 1. Aurora DSQL\n\n"
    "It launched. It is fast. It is cheap.\n\n## Could not be read\n\n- **Behind a paywall:** x\n"
)


class FakeSns:
    """The guests topic: subscriptions with their filter policies; what was published."""

    def __init__(self) -> None:
        self.subscriptions: list[dict[str, Any]] = []
        self.published: list[dict[str, Any]] = []

    def confirmed(self, email: str) -> None:
        self.subscriptions.append(
            {
                "SubscriptionArn": f"{TOPIC}:{len(self.subscriptions)}",
                "Endpoint": email,
                "FilterPolicy": json.dumps({"guest": [email]}),
            }
        )

    def get_paginator(self, name: str) -> Any:
        assert name == "list_subscriptions_by_topic"
        subs = self.subscriptions

        class Pages:
            def paginate(self, TopicArn: str) -> list[dict[str, Any]]:  # noqa: N803
                assert TopicArn == TOPIC
                return [{"Subscriptions": [dict(s) for s in subs]}]

        return Pages()

    def get_subscription_attributes(self, SubscriptionArn: str) -> dict[str, Any]:  # noqa: N803
        (sub,) = [s for s in self.subscriptions if s["SubscriptionArn"] == SubscriptionArn]
        return {"Attributes": {"FilterPolicy": sub["FilterPolicy"]}}

    def subscribe(self, **kwargs: Any) -> dict[str, Any]:
        self.subscriptions.append(
            {
                "SubscriptionArn": "PendingConfirmation",
                "Endpoint": kwargs["Endpoint"],
                "Protocol": kwargs["Protocol"],
                "FilterPolicy": kwargs["Attributes"]["FilterPolicy"],
            }
        )
        return {"SubscriptionArn": "pending confirmation"}

    def publish(self, **kwargs: Any) -> dict[str, Any]:
        self.published.append(kwargs)
        return {"MessageId": str(len(self.published))}


def event(*guests: str) -> BriefPrepared:
    return BriefPrepared(
        date="2026-11-28",
        show="Cloud Weekly",
        model="m",
        brief_markdown=S3Location(bucket="media", key="prep/2026-11-28/brief.md"),
        brief_json=S3Location(bucket="media", key="prep/2026-11-28/brief.json"),
        items=[{"rank": 1, "title": "Aurora DSQL", "url": "https://aws.amazon.com/a"}],  # type: ignore[list-item]
        guests=[{"name": g.split("@")[0].title(), "email": g} for g in guests],  # type: ignore[misc]
    )


def test_a_confirmed_guest_gets_a_message_only_their_subscription_lets_through() -> None:
    sns = FakeSns()
    sns.confirmed(TOM)
    sns.confirmed(MAYA)
    handlers, team, _ = handlers_with(lambda email: SnsGuestChannel(sns, TOPIC, email, FAST))  # type: ignore[arg-type]
    handlers.brief_prepared(event(MAYA), ctx("m1"))
    [sent] = sns.published
    assert sent["TopicArn"] == TOPIC
    assert sent["MessageAttributes"] == {"guest": {"DataType": "String", "StringValue": MAYA}}
    assert "Hello Maya," in sent["Message"]
    assert "It launched. It is fast." in sent["Message"]
    # The team's notes stay with the team.
    assert "Could not be read" not in sent["Message"]
    assert "prep choose" not in sent["Message"]
    assert len(team.sent) == 1


def test_a_new_guest_is_subscribed_and_the_brief_waits_for_their_confirmation() -> None:
    sns = FakeSns()
    channel = SnsGuestChannel(sns, TOPIC, MAYA, FAST)  # type: ignore[arg-type]
    with pytest.raises(ChannelError) as info:
        channel.send(_note())
    assert info.value.permanent
    assert "m…@example.com" in str(info.value)
    assert MAYA not in str(info.value)  # the address itself stays out of the DLQ reason
    [sub] = sns.subscriptions
    assert (sub["Protocol"], sub["Endpoint"]) == ("email", MAYA)
    assert json.loads(sub["FilterPolicy"]) == {"guest": [MAYA]}
    # Still pending: no second subscription, still nothing sent.
    with pytest.raises(ChannelError):
        channel.send(_note())
    assert len(sns.subscriptions) == 1
    assert sns.published == []
    # Confirmed (SNS gives the subscription its ARN): the replay sends it.
    sns.subscriptions[0]["SubscriptionArn"] = f"{TOPIC}:abc"
    channel.send(_note())
    assert len(sns.published) == 1


def test_each_guest_and_the_team_get_the_brief_once_across_retries_and_replays() -> None:
    guests: dict[str, FakeChannel] = {}

    def guest_channel(email: str) -> FakeChannel:
        return guests.setdefault(email, FakeChannel("guest-email"))

    handlers, team, ledger = handlers_with(guest_channel)
    guests[TOM] = FakeChannel(
        "guest-email", ChannelError("guest-email", "not confirmed", permanent=True)
    )
    with pytest.raises(PermanentError, match="not confirmed"):
        handlers.brief_prepared(event(MAYA, TOM), ctx("m1"))
    assert len(team.sent) == 1
    assert len(guests[MAYA].sent) == 1
    assert guests[TOM].sent == []
    # Tom confirms; the message is replayed from the DLQ (a new message id), then redelivered.
    guests[TOM].fail = None
    assert handlers.brief_prepared(event(MAYA, TOM), ctx("m2")) == []
    assert handlers.brief_prepared(event(MAYA, TOM), ctx("m3")) == []
    assert [len(c.sent) for c in (team, guests[MAYA], guests[TOM])] == [1, 1, 1]
    assert guests[TOM].sent[0].title.startswith("Cloud Weekly: this week's news")
    # One marker per (brief, guest), apart from the team's.
    assert len({k[1] for k in ledger.markers}) == 3


def test_brief_markers_live_under_the_brief_not_an_episode() -> None:
    ref = DeliveryRef("", "brief-guest-abc", "guest-email", brief_date="2026-11-28")
    assert marker_key(ref) == "prep/2026-11-28/notifications/brief-guest-abc.guest-email.json"


def test_without_a_guests_topic_only_the_team_is_told() -> None:
    handlers, team, _ = handlers_with(None)
    assert handlers.brief_prepared(event(MAYA), ctx("m1")) == []
    assert len(team.sent) == 1


# ----------------------------------------------------------------------------- helpers


def handlers_with(guest_channel: Any) -> tuple[NotifyHandlers, FakeChannel, FakeLedger]:
    store = MemoryNotifyStore(bucket="media")
    store.objects["prep/2026-11-28/brief.md"] = BRIEF_MD.encode()
    team = FakeChannel("sns")
    ledger = FakeLedger()
    handlers = NotifyHandlers(
        store=store,
        notifier=Fanout([team], ledger),
        completion=None,  # type: ignore[arg-type]
        guest_channel=guest_channel,
    )
    return handlers, team, ledger


def ctx(message_id: str) -> MessageContext:
    return MessageContext(message_id, "notify", 1, 5)


def _note() -> Any:
    from podpipe_notify import messages

    return messages.brief_for_guest(event(MAYA), event(MAYA).guests[0], BRIEF_MD)


def test_upload_failed_reaches_each_channel_once_while_slack_is_down() -> None:
    """Issue #16 audit: "Upload failed" (a key that names no episode) had no delivery marker:
    with Slack down every retry of the notify message sent the e-mail again."""
    from dataclasses import replace

    from podpipe.events import UploadRejected
    from podpipe.runtime.errors import RetryableError

    mail = FakeChannel("sns")
    slack = FakeChannel("slack", ChannelError("slack", "webhook request failed: ConnectError"))
    ledger = FakeLedger()
    handlers = NotifyHandlers(
        store=MemoryNotifyStore(),
        notifier=Fanout([mail, slack], ledger),
        completion=None,  # type: ignore[arg-type]
    )
    rejected = UploadRejected(
        source=S3Location(bucket="media", key="uploads/../etc/passwd.m4a"),
        reason="upload key must name one file directly under 'uploads/'",
    )
    retry = MessageContext("m-1", "notify", 1, 5, event_id="event-1")
    for attempt in (1, 2, 3):  # the runtime retries the same message
        with pytest.raises(RetryableError, match="ConnectError"):
            handlers.upload_rejected(rejected, replace(retry, receive_count=attempt))
    assert [n.kind for n in mail.sent] == ["upload-rejected"]  # one e-mail, not three
    slack.fail = None  # Slack is back
    assert handlers.upload_rejected(rejected, retry) == []
    assert ([n.kind for n in mail.sent], [n.kind for n in slack.sent]) == (
        ["upload-rejected"],
        ["upload-rejected"],
    )


def test_upload_failed_markers_live_beside_the_rejected_uploads_record() -> None:
    from podpipe.layout import rejected_record_key

    key = "uploads/../etc/passwd.m4a"
    ref = DeliveryRef("", "upload-rejected-abc", "sns", rejected_upload=key)
    record = rejected_record_key(key).removesuffix(".json")
    assert marker_key(ref) == f"{record}/notifications/upload-rejected-abc.sns.json"
