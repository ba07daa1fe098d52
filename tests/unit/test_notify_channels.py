"""The channel adapters: Slack over httpx (MockTransport), SNS (botocore Stubber), the fan-out,
retries with backoff, and the webhook URL never reaching a log line or a traceback."""

from __future__ import annotations

import json
import logging
import traceback
from collections.abc import Iterator
from typing import Any

import boto3
import httpx
import pytest
import structlog
from botocore.stub import Stubber
from pydantic import SecretStr

from podpipe.logging import configure_logging
from podpipe_notify.channels import (
    ChannelError,
    DeliveryRetryPolicy,
    Fanout,
    NotificationDeliveryError,
    SlackChannel,
    SnsChannel,
    WebhookConfigError,
    resolve_slack_webhook_url,
)
from podpipe_notify.delivery import STALE_CLAIM_SECONDS, Decision, DeliveryRef, decide
from podpipe_notify.messages import Notification, Section
from podpipe_notify.settings import NotifySettings

SECRET_URL = "https://hooks.slack.com/services/T000/B000/sup3rs3cr3tt0k3n"
FAST = DeliveryRetryPolicy(attempts=3, max_wait_seconds=0, initial_wait_seconds=0)
NOTE = Notification(
    kind="k", episode_id="ep1", title="Audio ready: ep1", sections=(Section("hello & <you>"),)
)


class FakeChannel:
    def __init__(self, name: str, fail: ChannelError | None = None) -> None:
        self.name = name
        self.fail = fail
        self.sent: list[Notification] = []

    def send(self, notification: Notification) -> None:
        if self.fail:
            raise self.fail
        self.sent.append(notification)


def slack(
    handler: Any, retry: DeliveryRetryPolicy = FAST
) -> tuple[SlackChannel, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)  # type: ignore[no-any-return]

    client = httpx.Client(transport=httpx.MockTransport(record))
    return SlackChannel(SecretStr(SECRET_URL), client, retry=retry), seen


# --------------------------------------------------------------------------- Slack


def test_slack_posts_block_kit_json_to_the_webhook() -> None:
    channel, seen = slack(lambda r: httpx.Response(200, text="ok"))
    channel.send(NOTE)
    assert len(seen) == 1
    assert str(seen[0].url) == SECRET_URL
    payload = json.loads(seen[0].content)
    assert payload["blocks"][0]["type"] == "header"
    assert "hello &amp; &lt;you&gt;" in payload["blocks"][1]["text"]["text"]
    assert seen[0].headers["content-type"] == "application/json"


def test_slack_5xx_is_retried_then_succeeds() -> None:
    answers = iter([500, 503, 200])
    channel, seen = slack(lambda r: httpx.Response(next(answers)))
    channel.send(NOTE)
    assert len(seen) == 3


def test_slack_keeps_failing_raises_after_all_attempts() -> None:
    channel, seen = slack(lambda r: httpx.Response(500))
    with pytest.raises(ChannelError) as info:
        channel.send(NOTE)
    assert len(seen) == FAST.attempts
    assert not info.value.permanent
    assert "HTTP 500" in str(info.value)


def test_slack_4xx_is_permanent_and_not_retried() -> None:
    channel, seen = slack(lambda r: httpx.Response(404, text="no_service"))
    with pytest.raises(ChannelError) as info:
        channel.send(NOTE)
    assert len(seen) == 1
    assert info.value.permanent
    assert "no_service" in str(info.value)


def test_slack_429_is_retried() -> None:
    answers = iter([429, 200])
    channel, seen = slack(lambda r: httpx.Response(next(answers)))
    channel.send(NOTE)
    assert len(seen) == 2


@pytest.fixture
def json_logs() -> Iterator[None]:
    configure_logging("DEBUG", json=True)
    yield
    structlog.reset_defaults()  # the capsys stream it printed to is closed after the test


@pytest.mark.usefixtures("json_logs")
def test_webhook_url_never_appears_in_logs_errors_or_tracebacks(
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"cannot connect to {request.url}", request=request)

    for handler in (
        refuse,
        lambda r: httpx.Response(500),
        lambda r: httpx.Response(403, text="invalid_token"),
    ):
        channel, _ = slack(handler)
        with pytest.raises(ChannelError) as info:
            channel.send(NOTE)
        structlog.get_logger().error("handler failed", error=str(info.value), exc_info=info.value)
        rendered = "".join(traceback.format_exception(info.value))
        assert "sup3rs3cr3tt0k3n" not in rendered
        assert "hooks.slack.com" not in rendered
    out = capsys.readouterr()
    assert "notify.channel_retry" in out.out  # the retries were logged ...
    assert "sup3rs3cr3tt0k3n" not in out.out + out.err  # ... without the URL
    assert "sup3rs3cr3tt0k3n" not in caplog.text
    assert "sup3rs3cr3tt0k3n" not in repr(channel)


def test_settings_repr_hides_the_webhook_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PODPIPE_NOTIFY_SLACK_WEBHOOK_URL", SECRET_URL)
    settings = NotifySettings()
    assert settings.notify_slack_webhook_url is not None
    assert settings.notify_slack_webhook_url.get_secret_value() == SECRET_URL
    assert "sup3rs3cr3tt0k3n" not in repr(settings)
    assert "sup3rs3cr3tt0k3n" not in settings.model_dump_json()


# --------------------------------------------------------------------------- SNS


def sns_client() -> Any:
    return boto3.client(
        "sns", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )


TOPIC = "arn:aws:sns:us-east-1:000000000000:podpipe-notifications"


def test_sns_publishes_ascii_subject_and_text_body() -> None:
    client = sns_client()
    with Stubber(client) as stub:
        stub.add_response(
            "publish",
            {"MessageId": "m1"},
            {
                "TopicArn": TOPIC,
                "Subject": "[podpipe] Audio ready: ep1",
                "Message": "Audio ready: ep1\n================\n\nhello & <you>\n\nepisode: ep1",
            },
        )
        SnsChannel(client, TOPIC, FAST).send(NOTE)
        stub.assert_no_pending_responses()


def test_sns_throttling_is_retried_then_raises() -> None:
    client = sns_client()
    with Stubber(client) as stub:
        for _ in range(FAST.attempts):
            stub.add_client_error("publish", "Throttling", http_status_code=400)
        with pytest.raises(ChannelError) as info:
            SnsChannel(client, TOPIC, FAST).send(NOTE)
        stub.assert_no_pending_responses()
    assert not info.value.permanent


def test_sns_missing_topic_is_permanent() -> None:
    client = sns_client()
    with Stubber(client) as stub:
        stub.add_client_error("publish", "NotFound", http_status_code=404)
        with pytest.raises(ChannelError) as info:
            SnsChannel(client, TOPIC, FAST).send(NOTE)
    assert info.value.permanent


# --------------------------------------------------------------------------- fan-out


def test_fanout_sends_to_every_channel() -> None:
    a, b = FakeChannel("a"), FakeChannel("b")
    assert Fanout([a, b]).send(NOTE) == ["a", "b"]
    assert a.sent == [NOTE]
    assert b.sent == [NOTE]


def test_fanout_tries_every_channel_and_then_raises() -> None:
    broken = FakeChannel("a", ChannelError("a", "down"))
    ok = FakeChannel("b")
    with pytest.raises(NotificationDeliveryError) as info:
        Fanout([broken, ok]).send(NOTE)
    assert ok.sent == [NOTE]
    assert not info.value.permanent
    both_permanent = Fanout([FakeChannel("a", ChannelError("a", "x", permanent=True))])
    with pytest.raises(NotificationDeliveryError) as info2:
        both_permanent.send(NOTE)
    assert info2.value.permanent


def test_fanout_with_no_channels_is_a_no_op() -> None:
    assert Fanout([]).send(NOTE) == []  # delivered nowhere, and no error


# --------------------------------------------------------------------------- webhook URL


def never() -> Any:
    raise AssertionError("no client should be built")


def test_webhook_url_from_setting_wins() -> None:
    url = resolve_slack_webhook_url(
        url=SecretStr(SECRET_URL), secret_id="s", ssm_parameter="p", secretsmanager=never, ssm=never
    )
    assert url is not None
    assert url.get_secret_value() == SECRET_URL


def test_nothing_configured_means_slack_is_off() -> None:
    assert (
        resolve_slack_webhook_url(
            url=None, secret_id="", ssm_parameter="", secretsmanager=never, ssm=never
        )
        is None
    )


@pytest.mark.parametrize(
    "secret", [SECRET_URL, json.dumps({"url": SECRET_URL}), json.dumps({"webhook_url": SECRET_URL})]
)
def test_webhook_url_from_secrets_manager(secret: str) -> None:
    client = boto3.client(
        "secretsmanager", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    with Stubber(client) as stub:
        stub.add_response(
            "get_secret_value",
            {
                "ARN": "arn:aws:secretsmanager:us-east-1:0:secret:slack",
                "Name": "slack",
                "SecretString": secret,
            },
            {"SecretId": "podpipe/slack"},
        )
        url = resolve_slack_webhook_url(
            url=None,
            secret_id="podpipe/slack",
            ssm_parameter="",
            secretsmanager=lambda: client,
            ssm=never,
        )
    assert url is not None
    assert url.get_secret_value() == SECRET_URL


def test_webhook_url_from_ssm_with_decryption() -> None:
    client = boto3.client(
        "ssm", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    with Stubber(client) as stub:
        stub.add_response(
            "get_parameter",
            {"Parameter": {"Name": "/podpipe/slack", "Type": "SecureString", "Value": SECRET_URL}},
            {"Name": "/podpipe/slack", "WithDecryption": True},
        )
        url = resolve_slack_webhook_url(
            url=None,
            secret_id="",
            ssm_parameter="/podpipe/slack",
            secretsmanager=never,
            ssm=lambda: client,
        )
    assert url is not None
    assert url.get_secret_value() == SECRET_URL


def test_unreadable_or_invalid_secret_is_a_clear_error_without_the_value() -> None:
    client = boto3.client(
        "ssm", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    with Stubber(client) as stub:
        stub.add_client_error("get_parameter", "ParameterNotFound", http_status_code=400)
        with pytest.raises(WebhookConfigError, match="SSM parameter '/nope'"):
            resolve_slack_webhook_url(
                url=None,
                secret_id="",
                ssm_parameter="/nope",
                secretsmanager=never,
                ssm=lambda: client,
            )
    with pytest.raises(WebhookConfigError) as info:
        resolve_slack_webhook_url(
            url=SecretStr("not-a-url-s3cr3t"),
            secret_id="",
            ssm_parameter="",
            secretsmanager=never,
            ssm=never,
        )
    assert "s3cr3t" not in str(info.value)


class FakeLedger:
    """DeliveryLedger over a dict, applying the same pure rule as the S3 adapter."""

    def __init__(self, clock: list[float] | None = None) -> None:
        self.markers: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.clock = clock or [1000.0]

    def _key(self, ref: DeliveryRef) -> tuple[str, str, str]:
        return (ref.episode_id, ref.delivery_id, ref.channel)

    def claim(self, ref: DeliveryRef, owner: str) -> Decision:
        decision = decide(self.markers.get(self._key(ref)), owner, self.clock[0])
        if decision == "send":
            self.markers[self._key(ref)] = {
                "state": "sending",
                "owner": owner,
                "claimed_at": self.clock[0],
            }
        return decision

    def mark_sent(self, ref: DeliveryRef, owner: str) -> None:
        self.markers[self._key(ref)] = {"state": "sent", "owner": owner}

    def mark_failed(self, ref: DeliveryRef, owner: str, reason: str) -> None:
        self.markers[self._key(ref)] = {"state": "failed", "owner": owner, "reason": reason}

    def undelivered(self, episode_id: str) -> list[dict[str, Any]]:
        return [m for k, m in self.markers.items() if k[0] == episode_id and m["state"] == "failed"]


def test_retries_and_other_workers_never_repeat_what_a_channel_delivered() -> None:
    mail = FakeChannel("sns")
    broken = FakeChannel("slack", ChannelError("slack", "webhook request failed: ConnectError"))
    ledger = FakeLedger()
    fanout = Fanout([mail, broken], ledger)
    for _ in range(3):  # the runtime retries the same SQS message
        with pytest.raises(NotificationDeliveryError) as info:
            fanout.send(NOTE, delivery_id="audio-ready-abc", owner="message-1")
        assert "ConnectError" in str(info.value)
    assert mail.sent == [NOTE]  # one e-mail, not three
    [failed] = ledger.undelivered("ep1")
    assert failed["reason"] == "slack: webhook request failed: ConnectError"
    # Another notify task, a duplicate event, a DLQ replay (another message id): same rule.
    broken.fail = None
    assert fanout.send(NOTE, delivery_id="audio-ready-abc", owner="message-2") == ["slack"]
    assert (mail.sent, broken.sent) == ([NOTE], [NOTE])
    assert fanout.send(NOTE, delivery_id="audio-ready-abc", owner="message-3") == []
    assert ledger.undelivered("ep1") == []
    # A different notification is a different delivery.
    assert fanout.send(NOTE, delivery_id="audio-ready-def", owner="message-3") == ["sns", "slack"]


def test_a_claim_held_by_another_live_worker_is_left_to_it_until_stale() -> None:
    clock = [1000.0]
    ledger = FakeLedger(clock)
    ref = DeliveryRef("ep1", "audio-ready-abc", "slack")
    assert ledger.claim(ref, "message-1") == "send"
    assert ledger.claim(ref, "message-2") == "busy"
    assert ledger.claim(ref, "message-1") == "send"  # its own earlier attempt died mid-send
    clock[0] += STALE_CLAIM_SECONDS + 1
    assert ledger.claim(ref, "message-2") == "send"  # the claimer died: take it over
    slack_channel = FakeChannel("slack")
    with pytest.raises(NotificationDeliveryError):
        Fanout([slack_channel], ledger).send(NOTE, delivery_id="audio-ready-abc", owner="m-3")
    assert slack_channel.sent == []  # busy is retried later, never sent twice at once
