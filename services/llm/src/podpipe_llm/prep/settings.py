"""Settings of ``podpipe prep`` (PODPIPE_ prefix): the LLM settings plus prep's own budget."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from podpipe_llm.settings import LlmSettings, RateLimit


class PrepSettings(LlmSettings):
    """What prep reads besides the LLM's settings. The feeds, audience and item count are
    not here: they live in the bucket (``prep/config.yaml``), so the team edits them without
    redeploying."""

    model_config = SettingsConfigDict(env_prefix="PODPIPE_", extra="ignore")

    prep_requests_per_minute: float = Field(
        default=0.5,
        ge=0,
        description=(
            "prep's own request budget per model (0 = unlimited), separate from the episode "
            "worker's: keep the two sums within the account's quota."
        ),
    )
    prep_tokens_per_minute: float = Field(
        default=0.0, ge=0, description="prep's own token budget per model (0 = unlimited)."
    )
    prep_fetch_timeout_seconds: float = Field(
        default=15.0, gt=0, description="Timeout of one feed or article request."
    )
    prep_max_article_chars: int = Field(
        default=8000, ge=500, description="Article text given to the LLM per item (the start)."
    )

    def rate_limit(self, model: str) -> RateLimit:
        # A budget of its own: the episode worker paces itself to PODPIPE_LLM_*_PER_MINUTE and
        # never sees prep's calls, so prep must not draw from those numbers.
        return RateLimit(
            requests_per_minute=self.prep_requests_per_minute,
            tokens_per_minute=self.prep_tokens_per_minute,
        )
