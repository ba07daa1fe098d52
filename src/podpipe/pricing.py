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
}
DEFAULT_LLM_PRICE: tuple[float, float] = (0.003, 0.015)

TRANSCRIBE_PER_MINUTE = 0.024  # Amazon Transcribe, first pricing tier
FARGATE_VCPU_HOUR = 0.04048
FARGATE_GB_HOUR = 0.004445
FARGATE_SPOT_DISCOUNT = 0.70  # Spot is roughly 70 % cheaper


def _strip_profile(model: str) -> str:
    # Cross-region inference profiles ("us.anthropic....") cost the same as the base model.
    head, _, rest = model.partition(".")
    return rest if head in {"us", "eu", "apac", "global"} and rest else model


def llm_cost(model: str, input_tokens: int, output_tokens: int) -> float:
    price_in, price_out = LLM_PRICES_PER_1K.get(_strip_profile(model), DEFAULT_LLM_PRICE)
    return input_tokens / 1000 * price_in + output_tokens / 1000 * price_out


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
