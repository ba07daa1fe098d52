"""Every price podpipe uses for estimates, kept in one place (USD, us-east-1, on-demand).

Estimates, not invoices: update the table when AWS changes prices.
"""

from __future__ import annotations

# Per 1,000 tokens: (input, output). Unknown models fall back to DEFAULT_LLM_PRICE.
LLM_PRICES_PER_1K: dict[str, tuple[float, float]] = {
    "anthropic.claude-3-5-haiku-20241022-v1:0": (0.0008, 0.004),
    "anthropic.claude-3-5-sonnet-20241022-v2:0": (0.003, 0.015),
    "anthropic.claude-3-haiku-20240307-v1:0": (0.00025, 0.00125),
    "amazon.nova-micro-v1:0": (0.000035, 0.00014),
    "amazon.nova-lite-v1:0": (0.00006, 0.00024),
    "amazon.nova-pro-v1:0": (0.0008, 0.0032),
    "meta.llama3-1-8b-instruct-v1:0": (0.00022, 0.00022),
    "mistral.mistral-small-2402-v1:0": (0.001, 0.003),
    "extractive": (0.0, 0.0),
    # Open-weights models on the local llama.cpp server: no per-token bill.
    "qwen2.5-coder-0.5b-instruct": (0.0, 0.0),
    "qwen2.5-coder-1.5b-instruct": (0.0, 0.0),
}
DEFAULT_LLM_PRICE: tuple[float, float] = (0.003, 0.015)
# Prompt caching (Bedrock): a token read from the cache costs a fraction of an input token,
# a token written to it a little more. Claude: read 0.1x, write 1.25x; Nova: read 0.25x,
# write free. Unknown models use the Claude factors (the dearer write, the cheaper read).
CACHE_PRICE_FACTORS: dict[str, tuple[float, float]] = {
    "amazon.nova-micro-v1:0": (0.25, 0.0),
    "amazon.nova-lite-v1:0": (0.25, 0.0),
    "amazon.nova-pro-v1:0": (0.25, 0.0),
}
DEFAULT_CACHE_PRICE_FACTORS: tuple[float, float] = (0.1, 1.25)

TRANSCRIBE_PER_MINUTE = 0.024  # Amazon Transcribe, first pricing tier
FARGATE_VCPU_HOUR = 0.04048
FARGATE_GB_HOUR = 0.004445
FARGATE_SPOT_DISCOUNT = 0.70  # Spot is roughly 70 % cheaper


def _strip_profile(model: str) -> str:
    # Cross-region inference profiles ("us.anthropic....") cost the same as the base model.
    head, _, rest = model.partition(".")
    return rest if head in {"us", "eu", "apac", "global"} and rest else model


def llm_cost(
    model: str,
    input_tokens: int,
    output_tokens: int,
    *,
    cached_input_tokens: int = 0,
    cache_write_tokens: int = 0,
) -> float:
    """Estimated USD of calls that read ``input_tokens`` prompt tokens in all, of which
    ``cached_input_tokens`` came from the prompt cache and ``cache_write_tokens`` went into it."""
    base = _strip_profile(model)
    price_in, price_out = LLM_PRICES_PER_1K.get(base, DEFAULT_LLM_PRICE)
    read_factor, write_factor = CACHE_PRICE_FACTORS.get(base, DEFAULT_CACHE_PRICE_FACTORS)
    cached = min(cached_input_tokens, input_tokens)
    written = min(cache_write_tokens, input_tokens - cached)
    plain = input_tokens - cached - written
    prompt = plain + cached * read_factor + written * write_factor
    return prompt / 1000 * price_in + output_tokens / 1000 * price_out


def transcription_cost(backend: str, audio_seconds: float) -> float:
    """Amazon Transcribe bills per second with a 15 s minimum; Whisper costs compute only."""
    if backend != "aws":
        return 0.0
    return max(audio_seconds, 15.0) / 60 * TRANSCRIBE_PER_MINUTE


def compute_cost(vcpu: float, memory_gb: float, seconds: float, *, spot: bool = False) -> float:
    hourly = vcpu * FARGATE_VCPU_HOUR + memory_gb * FARGATE_GB_HOUR
    if spot:
        hourly *= 1 - FARGATE_SPOT_DISCOUNT
    return hourly * seconds / 3600
