"""The one port every model provider implements, and the errors that steer retries.

A provider turns a :class:`CompletionRequest` into a :class:`Completion`. It says how a call
failed by raising one of three errors, and the prompt runner decides what to do:
``ThrottledError`` and ``TransientError`` are retried with exponential backoff and jitter,
``RefusedError`` fails the prompt at once (retrying a validation error only burns quota).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from podpipe.documents import Transcript
from podpipe.layout import EpisodeMetadata


class ProviderError(Exception):
    """Base of every provider failure."""


class ThrottledError(ProviderError):
    """The provider refused for rate reasons; waiting helps."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TransientError(ProviderError):
    """A temporary failure (5xx, timeout, model loading); retrying helps."""


class RefusedError(ProviderError):
    """A request the provider will never accept (validation, access denied, unknown model)."""


class ContextTooLongError(RefusedError):
    """The input does not fit the model's context; the runner may split it and try again."""


@dataclass(frozen=True)
class Message:
    role: Literal["user", "assistant"]
    text: str


@dataclass(frozen=True)
class PromptTask:
    """What the call is for, beyond its text: the extractive provider works from this
    (it reads the transcript, not the prompt) and Prompt Management takes the variables."""

    prompt_id: str
    output_format: Literal["markdown", "json"]
    schema_name: str | None
    transcript: Transcript
    metadata: EpisodeMetadata
    variables: dict[str, str] = field(default_factory=dict)
    stage: Literal["final", "map"] = "final"


@dataclass(frozen=True)
class CompletionRequest:
    """One model call. ``system`` comes first; with ``cache_system`` it is the episode's
    shared prefix (instructions + transcript), the same bytes for every prompt of the
    episode, so a provider with a prompt cache marks it cacheable. ``json_schema`` asks for
    schema-constrained output where the provider can enforce it."""

    model: str
    messages: tuple[Message, ...]
    max_tokens: int
    temperature: float
    task: PromptTask
    system: str = ""
    cache_system: bool = False
    json_schema: dict[str, Any] | None = None


@dataclass(frozen=True)
class Completion:
    """``input_tokens`` counts every prompt token; ``cached_input_tokens`` of them were read
    from the provider's prompt cache and ``cache_write_tokens`` were written to it."""

    text: str
    input_tokens: int
    output_tokens: int
    stop_reason: str = "end_turn"
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0


class LlmProvider(Protocol):
    """One model backend (Bedrock Converse, an OpenAI-compatible server, extractive...)."""

    name: str
    rate_limited: bool  # False for local stand-ins that need no client-side quota
    needs_context_budget: bool  # False when the provider reads the task, not the prompt text

    def complete(self, request: CompletionRequest) -> Completion: ...


def estimate_tokens(text: str) -> int:
    """A provider-independent estimate (≈ 4 characters per token for English prose)."""
    return max(1, len(text) // 4)
