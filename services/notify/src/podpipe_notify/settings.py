"""Notify's settings (PODPIPE_ environment prefix, on top of the core settings)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr

from podpipe.settings import CoreSettings

PromptMessages = Literal["line", "full", "none"]


class NotifySettings(CoreSettings):
    notify_topic_arn: str = Field(
        default="", description="SNS topic for e-mail notifications; empty: the channel is off."
    )
    notify_guests_topic_arn: str = Field(
        default="",
        description="SNS topic the prep brief is e-mailed to each guest through (one "
        "subscription per guest, filtered on the guest attribute); empty: guests are not e-mailed.",
    )
    # SecretStr: the URL is a credential (anyone holding it can post), so repr() hides it.
    notify_slack_webhook_url: SecretStr | None = Field(
        default=None, description="Slack incoming-webhook URL (prefer the secret or parameter)."
    )
    notify_slack_webhook_secret_id: str = Field(
        default="",
        description="Secrets Manager secret holding the webhook URL (plain or {'url': ...}).",
    )
    notify_slack_webhook_ssm_parameter: str = Field(
        default="", description="SSM parameter (SecureString) holding the webhook URL."
    )
    notify_prompt_messages: PromptMessages = Field(
        default="line",
        description="Per prompt: 'line' (one line each), 'full' (the output, cut with a link) "
        "or 'none' (only the episode digest).",
    )
    notify_slack_max_chars: int = Field(
        default=2500, ge=200, le=2600, description="Text per Slack block before it is cut."
    )
    notify_send_attempts: int = Field(
        default=4, ge=1, le=10, description="Tries per channel and message before giving up."
    )
    notify_retry_max_seconds: float = Field(
        default=8.0, ge=0, description="Longest backoff between two tries of one channel."
    )
    notify_http_timeout_seconds: float = Field(
        default=10.0, gt=0, description="Timeout of one Slack webhook request."
    )
