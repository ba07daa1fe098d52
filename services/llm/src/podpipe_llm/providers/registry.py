"""Model strings → provider. ``bedrock:<id>``, ``openai:<name>``, ``extractive``; an
unprefixed id uses the configured provider, and ``default`` the configured model."""

from __future__ import annotations

from collections.abc import Mapping

from podpipe_llm.providers.base import LlmProvider, RefusedError

PROVIDER_NAMES = ("bedrock", "openai", "extractive")
EXTRACTIVE = "extractive"


def split_model(model: str) -> tuple[str | None, str]:
    head, sep, rest = model.partition(":")
    if head == EXTRACTIVE and not rest:
        return EXTRACTIVE, EXTRACTIVE
    if sep and head in PROVIDER_NAMES:
        return head, rest
    return None, model


def bare_model(model: str) -> str:
    """The id the provider and the price table know (no ``bedrock:`` prefix)."""
    return split_model(model)[1]


class Providers:
    def __init__(
        self,
        providers: Mapping[str, LlmProvider],
        *,
        default_provider: str,
        default_model: str = "",
        missing_hints: Mapping[str, str] | None = None,
    ) -> None:
        self._providers = dict(providers)
        self.default_provider = default_provider
        self.default_model = default_model
        self._hints = dict(missing_hints or {})

    def resolve(self, model: str) -> str:
        """The canonical model string stored in the manifest and in each request."""
        provider, bare = split_model(model.strip())
        if provider == EXTRACTIVE:
            return EXTRACTIVE
        if provider is None:
            if self.default_provider == EXTRACTIVE:
                # No LLM configured: the offline stand-in writes every prompt.
                return EXTRACTIVE
            provider = self.default_provider
        if bare in {"", "default"}:
            if not self.default_model:
                raise RefusedError(
                    f"prompt asks for the default model but PODPIPE_LLM_MODEL is not set "
                    f"(provider {provider})"
                )
            bare = self.default_model
        return f"{provider}:{bare}"

    def provider_for(self, model: str) -> tuple[LlmProvider, str]:
        canonical = self.resolve(model)
        provider_name, bare = split_model(canonical)
        assert provider_name is not None  # resolve() always names a provider
        provider = self._providers.get(provider_name)
        if provider is None:
            hint = self._hints.get(provider_name, "")
            raise RefusedError(
                f"model {canonical!r} needs the {provider_name} provider. {hint}".strip()
            )
        return provider, bare
