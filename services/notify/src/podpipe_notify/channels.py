"""The channel port and its two adapters: SNS (e-mail text) and a Slack incoming webhook.

Each adapter retries its own transient failures with exponential backoff and jitter
(tenacity). What still fails surfaces as :class:`ChannelError`; the handler turns that into a
retry of the whole message (and, after maxReceiveCount, the notify DLQ), so a notification
that cannot be sent is never silently dropped.

The Slack webhook URL is a credential: it never appears in a log line, an exception message
or an exception's cause chain (httpx puts the URL in its error messages, so those are
replaced, not wrapped).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import httpx
import structlog
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import SecretStr
from tenacity import (
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)
from tenacity import (
    Retrying as _Retrying,
)

from podpipe_notify.delivery import DeliveryLedger, DeliveryRef
from podpipe_notify.messages import (
    DEFAULT_SLACK_SECTION_CHARS,
    Notification,
    email_body,
    email_subject,
    slack_payload,
)

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient

log = structlog.get_logger()


class ChannelError(Exception):
    """A channel could not deliver a notification (after its own retries)."""

    def __init__(self, channel: str, reason: str, *, permanent: bool = False) -> None:
        super().__init__(f"{channel}: {reason}")
        self.channel = channel
        self.reason = reason
        self.permanent = permanent


class WebhookConfigError(ValueError):
    """The Slack webhook URL could not be resolved (the message never contains the URL)."""


class Channel(Protocol):
    """Where notifications go. ``send`` raises ChannelError when delivery failed for good."""

    name: str

    def send(self, notification: Notification) -> None: ...


@dataclass(frozen=True)
class DeliveryRetryPolicy:
    attempts: int = 4
    max_wait_seconds: float = 8.0
    initial_wait_seconds: float = 0.5

    def retrying(self, channel: str) -> _Retrying:
        def log_retry(state: RetryCallState) -> None:
            error = state.outcome.exception() if state.outcome else None
            log.warning(
                "notify.channel_retry",
                channel=channel,
                attempt=state.attempt_number,
                error=str(error) if isinstance(error, ChannelError) else type(error).__name__,
            )

        return _Retrying(
            stop=stop_after_attempt(self.attempts),
            wait=wait_exponential_jitter(
                multiplier=self.initial_wait_seconds,
                jitter=self.initial_wait_seconds,
                max=self.max_wait_seconds,
            ),
            retry=retry_if_exception(
                lambda exc: isinstance(exc, ChannelError) and not exc.permanent
            ),
            before_sleep=log_retry,
            reraise=True,
        )


class SnsChannel:
    """E-mail (and anything else subscribed) through an SNS topic: plain text, ASCII subject."""

    name = "sns"

    def __init__(
        self, sns: SNSClient, topic_arn: str, retry: DeliveryRetryPolicy | None = None
    ) -> None:
        self._sns = sns
        self._topic_arn = topic_arn
        self._retry = retry or DeliveryRetryPolicy()

    def send(self, notification: Notification) -> None:
        subject = email_subject(notification)
        body = email_body(notification)
        for attempt in self._retry.retrying(self.name):
            with attempt:
                self._publish(subject, body)

    def _publish(self, subject: str, body: str) -> None:
        with sns_errors(self.name):
            self._sns.publish(TopicArn=self._topic_arn, Subject=subject, Message=body)


_SNS_PERMANENT = {"InvalidParameter", "InvalidParameterValue", "NotFound", "AuthorizationError"}


@contextmanager
def sns_errors(channel: str) -> Iterator[None]:
    """An SNS call's failure as a ChannelError: a refused request is permanent, the rest (a
    throttle, the endpoint unreachable) may pass on a retry."""
    try:
        yield
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        permanent = code in _SNS_PERMANENT
        raise ChannelError(channel, f"SNS {code or 'error'}", permanent=permanent) from exc
    except BotoCoreError as exc:
        raise ChannelError(channel, f"SNS unreachable: {type(exc).__name__}") from exc


class SnsGuestChannel:
    """One guest's e-mail through the guests topic: ONE topic for every guest, each guest's
    e-mail subscription filtered to messages whose ``guest`` attribute is their address, so a
    message reaches exactly one guest and no guest sees another's address.

    A guest not subscribed yet is subscribed here (AWS sends them a confirmation e-mail); until
    they confirm, SNS would drop the brief for them, so the delivery fails for good with that
    reason (the notify DLQ keeps the message; `podpipe dlq replay --queue notify` sends it once
    they confirmed, and the team's copy is not sent twice).
    """

    name = "guest-email"

    def __init__(
        self, sns: SNSClient, topic_arn: str, email: str, retry: DeliveryRetryPolicy | None = None
    ) -> None:
        self._sns = sns
        self._topic_arn = topic_arn
        self.email = email
        self._retry = retry or DeliveryRetryPolicy()

    def send(self, notification: Notification) -> None:
        subject = email_subject(notification)
        body = email_body(notification)
        for attempt in self._retry.retrying(self.name):
            with attempt:
                self._ready()
                self._publish(subject, body)

    def _ready(self) -> None:
        state = self._subscription_state()
        if state == "confirmed":
            return
        if state == "missing":
            with sns_errors(self.name):
                self._sns.subscribe(
                    TopicArn=self._topic_arn,
                    Protocol="email",
                    Endpoint=self.email,
                    Attributes={"FilterPolicy": json.dumps({"guest": [self.email]})},
                )
        raise ChannelError(
            self.name,
            f"the guest {_masked(self.email)} has not confirmed the subscription e-mail from AWS "
            "yet; replay this message from the notify DLQ once they have",
            permanent=True,
        )

    def _subscription_state(self) -> str:
        pending = False
        with sns_errors(self.name):
            paginator = self._sns.get_paginator("list_subscriptions_by_topic")
            pages = list(paginator.paginate(TopicArn=self._topic_arn))
        for page in pages:
            for sub in page.get("Subscriptions", []):
                arn = sub.get("SubscriptionArn", "")
                if not arn.startswith("arn:"):  # "PendingConfirmation"
                    pending = pending or sub.get("Endpoint") == self.email
                    continue
                with sns_errors(self.name):
                    reply = self._sns.get_subscription_attributes(SubscriptionArn=arn)
                try:
                    policy = json.loads(reply["Attributes"].get("FilterPolicy") or "{}")
                except ValueError:
                    policy = {}
                if self.email in (policy.get("guest") or []):
                    return "confirmed"
        return "pending" if pending else "missing"

    def _publish(self, subject: str, body: str) -> None:
        with sns_errors(self.name):
            self._sns.publish(
                TopicArn=self._topic_arn,
                Subject=subject,
                Message=body,
                MessageAttributes={"guest": {"DataType": "String", "StringValue": self.email}},
            )


def _masked(email: str) -> str:
    """An address in a log line or a DLQ reason: enough to tell guests apart, no more."""
    local, _, domain = email.partition("@")
    return f"{local[:1]}…@{domain}"


class SlackChannel:
    """A Slack incoming webhook, Block Kit payloads over httpx."""

    name = "slack"

    def __init__(
        self,
        webhook_url: SecretStr,
        http: httpx.Client,
        *,
        max_chars: int = DEFAULT_SLACK_SECTION_CHARS,
        retry: DeliveryRetryPolicy | None = None,
    ) -> None:
        self._url = webhook_url
        self._http = http
        self._max_chars = max_chars
        self._retry = retry or DeliveryRetryPolicy()

    def __repr__(self) -> str:
        return "SlackChannel(webhook_url=SecretStr('**********'))"

    def send(self, notification: Notification) -> None:
        payload = slack_payload(notification, max_chars=self._max_chars)
        for attempt in self._retry.retrying(self.name):
            with attempt:
                self._post(payload)

    def _post(self, payload: dict[str, Any]) -> None:
        error: ChannelError | None = None
        try:
            response = self._http.post(
                self._url.get_secret_value(),
                content=json.dumps(payload),
                headers={"Content-Type": "application/json"},
            )
        except httpx.HTTPError as exc:
            # str(exc) of httpx errors can include the URL: keep only the type.
            error = ChannelError(self.name, f"webhook request failed: {type(exc).__name__}")
        else:
            status = response.status_code
            if status >= 500 or status == 429:
                error = ChannelError(self.name, f"webhook answered HTTP {status}")
            elif status >= 400:
                # Slack's 4xx bodies are short codes ("invalid_payload", "no_service").
                detail = response.text[:80].replace("\n", " ")
                error = ChannelError(
                    self.name,
                    f"webhook refused the message: HTTP {status} {detail}",
                    permanent=True,
                )
        if error is not None:
            raise error from None  # no cause chain: it would carry the URL into tracebacks


class NotificationDeliveryError(Exception):
    """At least one channel failed for good; the message is retried, then dead-lettered."""

    def __init__(self, failures: Sequence[ChannelError]) -> None:
        super().__init__("; ".join(str(f) for f in failures))
        self.failures = tuple(failures)

    @property
    def permanent(self) -> bool:
        return all(f.permanent for f in self.failures)


class Fanout:
    """Send one notification to every configured channel, each on its own.

    With a :class:`~podpipe_notify.delivery.DeliveryLedger` and a delivery id, every channel
    is claimed in the ledger first and marked sent or failed afterwards, so a retry, a
    duplicate event, another notify task or a DLQ replay never repeats what a channel already
    delivered, and one failing channel never holds back another. Failures are collected and
    raised together once every channel was tried.
    """

    def __init__(self, channels: Sequence[Channel], ledger: DeliveryLedger | None = None) -> None:
        self.channels = tuple(channels)
        self.ledger = ledger

    def send(
        self, notification: Notification, *, delivery_id: str | None = None, owner: str = ""
    ) -> list[str]:
        """The names of the channels that delivered it now; NotificationDeliveryError if any
        channel failed (after the others were tried)."""
        failures: list[ChannelError] = []
        delivered: list[str] = []
        for channel in self.channels:
            ref = (
                DeliveryRef(
                    notification.episode_id,
                    delivery_id,
                    channel.name,
                    brief_date=notification.brief_date,
                    rejected_upload=notification.rejected_upload,
                )
                if self.ledger is not None and delivery_id
                else None
            )
            if ref is not None and self.ledger is not None:
                decision = self.ledger.claim(ref, owner)
                if decision == "already-sent":
                    log.info("notify.already_delivered", channel=channel.name, delivery=delivery_id)
                    continue
                if decision == "busy":
                    failures.append(
                        ChannelError(channel.name, "another notify worker is delivering it now")
                    )
                    continue
            try:
                channel.send(notification)
            except ChannelError as exc:
                failures.append(exc)
                if ref is not None and self.ledger is not None:
                    self.ledger.mark_failed(ref, owner, str(exc))
            else:
                delivered.append(channel.name)
                if ref is not None and self.ledger is not None:
                    self.ledger.mark_sent(ref, owner)
        if failures:
            raise NotificationDeliveryError(failures)
        return delivered


# --------------------------------------------------------------------------- the webhook URL


def resolve_slack_webhook_url(
    *,
    url: SecretStr | None,
    secret_id: str,
    ssm_parameter: str,
    secretsmanager: Callable[[], Any],
    ssm: Callable[[], Any],
) -> SecretStr | None:
    """The webhook URL from the setting, Secrets Manager or SSM (in that order), or None.

    Called once at startup; the clients are factories so nothing is built when unused.
    """
    value: str | None = None
    source = ""
    if url is not None and url.get_secret_value():
        value, source = url.get_secret_value(), "setting"
    elif secret_id:
        source = f"Secrets Manager secret {secret_id!r}"
        try:
            raw = secretsmanager().get_secret_value(SecretId=secret_id).get("SecretString", "")
        except (ClientError, BotoCoreError) as exc:
            raise WebhookConfigError(f"cannot read {source}: {type(exc).__name__}") from None
        value = _url_from_secret(raw)
    elif ssm_parameter:
        source = f"SSM parameter {ssm_parameter!r}"
        try:
            reply = ssm().get_parameter(Name=ssm_parameter, WithDecryption=True)
        except (ClientError, BotoCoreError) as exc:
            raise WebhookConfigError(f"cannot read {source}: {type(exc).__name__}") from None
        value = str(reply["Parameter"]["Value"]).strip()
    if value is None:
        return None
    if not value.startswith(("https://", "http://")):
        raise WebhookConfigError(f"the Slack webhook URL from the {source} is not an http(s) URL")
    return SecretStr(value)


def _url_from_secret(raw: str) -> str:
    text = raw.strip()
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            return text
        for key in ("url", "webhook_url", "slack_webhook_url"):
            if isinstance(data.get(key), str):
                return str(data[key]).strip()
    return text
