"""Promotion settings: the default cadence and networks (a show overrides them in
``promotion/shows/<show-id>.json``), the scheduler (the release's), Bluesky's credentials."""

from __future__ import annotations

from pydantic import Field, SecretStr

from podpipe.release.wiring import ReleaseSettings


class PromoteSettings(ReleaseSettings):
    promote_cadence_days: list[int] = Field(
        default=[0, 1, 3, 5],
        description="Days after publication an episode's items go out (JSON list); a show's "
        "promotion/shows/<show-id>.json 'cadence_days' overrides it.",
    )
    promote_networks: list[str] = Field(
        default=["bluesky", "linkedin", "x"],
        description="Networks of a plan, in order (JSON list). Only bluesky posts for real; "
        "the others get a 'ready to post' Slack/e-mail message at the item's time.",
    )
    promote_schedule_target_arn: str = Field(
        default="", description="ARN of the promote queue the item schedules send to (AWS)."
    )
    promote_post_attempts: int = Field(
        default=3, ge=1, le=10, description="Tries of one post before the message is retried."
    )
    promote_retry_max_seconds: float = Field(
        default=8.0, gt=0, description="Longest backoff between two tries of one post."
    )
    bluesky_service_url: str = Field(
        default="https://bsky.social", description="The PDS (or entryway) Bluesky posts go to."
    )
    bluesky_handle: str = Field(default="", description="Bluesky handle (with an app password).")
    bluesky_app_password: SecretStr | None = Field(
        default=None, description="App password; prefer the secret or the parameter."
    )
    bluesky_secret_id: str = Field(
        default="",
        description="Secrets Manager secret with JSON {handle, app_password} for Bluesky.",
    )
    bluesky_ssm_parameter: str = Field(
        default="", description="SSM SecureString parameter with the same JSON."
    )
