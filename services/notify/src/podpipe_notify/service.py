"""Wire notify together from settings and injected clients (tests call this directly)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import httpx
import structlog
from pydantic import SecretStr

from podpipe.runtime.service import Service
from podpipe_notify.channels import (
    Channel,
    DeliveryRetryPolicy,
    Fanout,
    SlackChannel,
    SnsChannel,
    SnsGuestChannel,
    resolve_slack_webhook_url,
)
from podpipe_notify.completion import CompletionTracker
from podpipe_notify.delivery import S3DeliveryLedger
from podpipe_notify.handlers import NotifyHandlers
from podpipe_notify.settings import NotifySettings
from podpipe_notify.store import S3NotifyStore

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sns import SNSClient

log = structlog.get_logger()


def retry_policy(settings: NotifySettings) -> DeliveryRetryPolicy:
    return DeliveryRetryPolicy(
        attempts=settings.notify_send_attempts,
        max_wait_seconds=settings.notify_retry_max_seconds,
        initial_wait_seconds=min(0.5, settings.notify_retry_max_seconds),
    )


def build_channels(
    settings: NotifySettings,
    *,
    sns: SNSClient | None,
    http: httpx.Client | None,
    webhook_url: SecretStr | None,
) -> list[Channel]:
    """The configured channels; one with nothing configured is simply off."""
    channels: list[Channel] = []
    policy = retry_policy(settings)
    if settings.notify_topic_arn and sns is not None:
        channels.append(SnsChannel(sns, settings.notify_topic_arn, policy))
    if webhook_url is not None:
        client = http or httpx.Client(timeout=settings.notify_http_timeout_seconds)
        channels.append(
            SlackChannel(
                webhook_url, client, max_chars=settings.notify_slack_max_chars, retry=policy
            )
        )
    return channels


def guest_channels(
    settings: NotifySettings, sns: SNSClient | None
) -> Callable[[str], Channel] | None:
    """A guest's channel by address (the guests topic), or None when it is not configured."""
    if not settings.notify_guests_topic_arn or sns is None:
        return None
    topic, policy = settings.notify_guests_topic_arn, retry_policy(settings)
    return lambda email: SnsGuestChannel(sns, topic, email, policy)


def build_handlers(
    settings: NotifySettings,
    *,
    s3: S3Client,
    channels: list[Channel],
    guest_channel: Callable[[str], Channel] | None = None,
) -> NotifyHandlers:
    store = S3NotifyStore(s3, settings.bucket)
    return NotifyHandlers(
        store=store,
        notifier=Fanout(channels, S3DeliveryLedger(s3, settings.bucket)),
        completion=CompletionTracker(store, presign_expiry_seconds=settings.presign_expiry_seconds),
        prompt_messages=settings.notify_prompt_messages,
        presign_expiry_seconds=settings.presign_expiry_seconds,
        guest_channel=guest_channel,
    )


def build_service(
    settings: NotifySettings,
    *,
    s3: S3Client,
    sns: SNSClient | None = None,
    http: httpx.Client | None = None,
    secretsmanager: Callable[[], Any] | None = None,
    ssm: Callable[[], Any] | None = None,
    channels: list[Channel] | None = None,
    guest_channel: Callable[[str], Channel] | None = None,
) -> Service:
    """The notify service. ``channels`` overrides the configured ones (tests use fakes)."""
    if channels is None:
        webhook_url = resolve_slack_webhook_url(
            url=settings.notify_slack_webhook_url,
            secret_id=settings.notify_slack_webhook_secret_id,
            ssm_parameter=settings.notify_slack_webhook_ssm_parameter,
            secretsmanager=secretsmanager or _unavailable("secretsmanager"),
            ssm=ssm or _unavailable("ssm"),
        )
        channels = build_channels(settings, sns=sns, http=http, webhook_url=webhook_url)
    # Names only: the webhook URL is a credential and never reaches a log line.
    log.info("notify.channels", channels=[c.name for c in channels] or ["none (log only)"])
    if guest_channel is None:
        guest_channel = guest_channels(settings, sns)
    return build_handlers(settings, s3=s3, channels=channels, guest_channel=guest_channel).service()


def _unavailable(name: str) -> Callable[[], Any]:
    def factory() -> Any:
        raise RuntimeError(f"no {name} client was given to build_service")

    return factory
