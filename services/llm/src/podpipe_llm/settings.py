"""Settings of the LLM service (PODPIPE_ env prefix), built once in ``__main__`` or the CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_settings import SettingsConfigDict

from podpipe.settings import CoreSettings
from podpipe_llm.providers.registry import split_model

ProviderName = Literal["bedrock", "openai", "extractive"]


class RateLimit(BaseModel):
    """A model's quota as the account sees it (0 = no client-side limit on that axis)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    requests_per_minute: float = Field(default=0.0, ge=0)
    tokens_per_minute: float = Field(default=0.0, ge=0)


class LlmSettings(CoreSettings):
    """Which LLM writes the outputs, how fast podpipe may call it, and how hard it retries."""

    model_config = SettingsConfigDict(env_prefix="PODPIPE_", extra="ignore")

    llm_provider: ProviderName | None = Field(
        default=None,
        description=(
            "bedrock, openai or extractive. Default: openai when PODPIPE_LLM_OPENAI_BASE_URL is "
            "set, bedrock when PODPIPE_LLM_MODEL is set, otherwise extractive (no LLM)."
        ),
    )
    llm_model: str = Field(
        default="",
        description=(
            "Model for prompts whose catalog entry says `model: default` (a Bedrock model id or "
            "inference profile, or the model name of the OpenAI-compatible server)."
        ),
    )
    llm_openai_base_url: str = Field(
        default="",
        description="OpenAI-compatible endpoint, e.g. http://localhost:11434/v1 (Ollama).",
    )
    llm_openai_api_key: str = Field(
        default="", description="Bearer token for the OpenAI-compatible endpoint, if it needs one."
    )
    llm_openai_json_schema: bool = Field(
        default=True,
        description=(
            "Send JSON prompts' schemas as response_format json_schema (llama.cpp, vLLM, Ollama "
            "enforce it); false asks only for json_object."
        ),
    )
    llm_seed: int | None = Field(
        default=None,
        description=(
            "Sampling seed sent to OpenAI-compatible servers (llama.cpp, vLLM): the same "
            "transcript then gets the same answers on the same machine. Unset: random."
        ),
    )
    llm_max_output_tokens: int = Field(
        default=0,
        ge=0,
        description=(
            "Cap on every prompt's max_output_tokens (0 = the catalog's own); keeps a small "
            "local model's run within minutes."
        ),
    )
    llm_requests_per_minute: float = Field(
        default=1.0,
        ge=0,
        description="Client-side request quota per model (0 = unlimited); size to the account.",
    )
    llm_tokens_per_minute: float = Field(
        default=0.0, ge=0, description="Client-side token quota per model (0 = unlimited)."
    )
    llm_rate_limits: dict[str, RateLimit] = Field(
        default_factory=dict,
        description=(
            'Per-model quotas as JSON, e.g. {"amazon.nova-lite-v1:0": {"requests_per_minute": '
            '20, "tokens_per_minute": 200000}}; models not named use the two settings above.'
        ),
    )
    llm_context_tokens: int = Field(
        default=100_000,
        ge=2_000,
        description="Context budget per call; longer transcripts are map-reduced in chunks.",
    )
    llm_max_attempts: int = Field(
        default=8, ge=1, description="Provider attempts per message (throttling/transient)."
    )
    llm_backoff_max_seconds: float = Field(
        default=60.0, gt=0, description="Cap of one exponential-backoff wait (with jitter)."
    )
    llm_json_attempts: int = Field(
        default=3, ge=1, description="Answers tried per JSON prompt, validation errors fed back."
    )
    llm_request_timeout_seconds: float = Field(
        default=300.0, gt=0, description="Timeout of one model call."
    )
    llm_prompts_dir: Path | None = Field(
        default=None, description="Local catalog directory replacing the packaged defaults."
    )

    @field_validator("llm_provider", "llm_prompts_dir", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        # `PODPIPE_LLM_PROVIDER=` in an env file means "not set", not "the provider ''".
        return None if isinstance(value, str) and not value.strip() else value

    def provider(self) -> ProviderName:
        if self.llm_provider is not None:
            return self.llm_provider
        if self.llm_openai_base_url:
            return "openai"
        if self.llm_model:
            return "bedrock"
        return "extractive"

    def rate_limit(self, model: str) -> RateLimit:
        """The quota of a model, named canonically ("bedrock:<id>") or by its bare id."""
        _provider, bare = split_model(model)
        named = self.llm_rate_limits.get(model) or self.llm_rate_limits.get(bare)
        return named or (
            RateLimit(
                requests_per_minute=self.llm_requests_per_minute,
                tokens_per_minute=self.llm_tokens_per_minute,
            )
        )
