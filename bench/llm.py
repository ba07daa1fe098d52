"""Bench: N prompts against a model quota of R requests/minute, one consumer.

A simulated provider enforces the quota the way Bedrock does (a token bucket refilling at R
per minute, burst 1; a request beyond it is refused with a ThrottlingException) and answers
after a fixed latency. Time is scaled: one simulated minute lasts a few real seconds, so the
whole bench runs in well under two minutes while every sleep, limiter and backoff runs for
real (the real PromptRunner: rate limiter + tenacity backoff with jitter).

Three ways to run the same N prompts are measured:
- podpipe: client-side limiter sized to the quota + backoff (the design);
- backoff only: no client-side limiter, exponential backoff with jitter, SQS-style
  redelivery after the retries of one delivery run out (max 4 deliveries, then the DLQ);
- old design: a fixed 2-minute sleep between prompts (computed; one small case simulated).

The single-consumer theoretical minimum is (N-1) * max(60/R, latency) + latency.
Writes bench/results/llm.json.
"""

from __future__ import annotations

import json
import platform
import random
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from podpipe.documents import Segment, Transcript
from podpipe.layout import EpisodeMetadata
from podpipe.logging import configure_logging
from podpipe_llm.catalog import parse_prompt
from podpipe_llm.providers.base import Completion, CompletionRequest, ThrottledError
from podpipe_llm.providers.registry import Providers
from podpipe_llm.ratelimit import RateLimiters
from podpipe_llm.runner import PromptRetryPolicy, PromptRunner
from podpipe_llm.settings import RateLimit

# Real seconds per simulated minute: at least 2, and enough that one request interval lasts
# >= 1/6 s of real time (compressing time amplifies OS scheduling jitter, which a real
# service at that quota would never notice).
MIN_SCALE = 2.0


def scale_for(rpm: float) -> float:
    return max(MIN_SCALE, rpm / 6.0)


OLD_SLEEP_SECONDS = 120.0  # the old Step Functions design: a fixed 2-minute Wait per prompt
MAX_RECEIVES = 4  # topology.yaml: llm maxReceiveCount
RESULTS = Path(__file__).resolve().parent / "results" / "llm.json"


class ScaledClock:
    """Simulated seconds on top of the real monotonic clock (sleeps really happen)."""

    def __init__(self, scale: float) -> None:
        self._origin = time.monotonic()
        self.scale = scale

    def now(self) -> float:
        return (time.monotonic() - self._origin) * 60.0 / self.scale

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds * self.scale / 60.0)


@dataclass
class QuotaProvider:
    """A model with a quota of R requests/minute (token bucket, burst 1) and fixed latency."""

    clock: ScaledClock
    requests_per_minute: float
    latency: float
    name: str = "bedrock"
    rate_limited: bool = True
    needs_context_budget: bool = False
    accepted: int = 0
    throttled: int = 0

    def __post_init__(self) -> None:
        self._tokens = 1.0
        self._at = self.clock.now()
        self._lock = threading.Lock()

    def complete(self, request: CompletionRequest) -> Completion:
        with self._lock:
            now = self.clock.now()
            self._tokens = min(1.0, self._tokens + (now - self._at) * self.requests_per_minute / 60)
            self._at = now
            # 2 % tolerance: a real service does not reject a request 1 ms early either.
            if self._tokens < 0.98:
                self.throttled += 1
                raise ThrottledError("ThrottlingException: Too many requests, please wait")
            self._tokens -= 1.0
            self.accepted += 1
        self.clock.sleep(self.latency)
        return Completion(
            text=f"# Output\n{request.task.prompt_id}\n", input_tokens=900, output_tokens=300
        )


SPEC = parse_prompt(
    "---\nid: bench\ndescription: bench prompt\nmax_output_tokens: 300\n---\n{{ transcript }}\n",
    "bench.md",
)
TRANSCRIPT = Transcript(
    episode_id="bench",
    language="en",
    duration_seconds=60,
    backend="bench",
    segments=[Segment(start=0, end=60, speaker="A", text="A short line for the bench.")],
)


def run_queue(n: int, rpm: float, latency: float, *, limiter: bool, seed: int) -> dict[str, Any]:
    clock = ScaledClock(scale_for(rpm))
    provider = QuotaProvider(clock, rpm, latency)
    runner = PromptRunner(
        providers=Providers({"bedrock": provider}, default_provider="bedrock", default_model="sim"),
        limiters=RateLimiters(
            lambda _m: RateLimit(requests_per_minute=rpm if limiter else 0.0), clock
        ),
        policy=PromptRetryPolicy(max_attempts=8, backoff_max_seconds=60.0),
        clock=clock,
        rng=random.Random(seed),
    )
    # One consumer: messages in order; a delivery whose retries ran out comes back after the
    # runtime's visibility backoff (5 s, 10 s, 20 s...), after MAX_RECEIVES it is dead-lettered.
    queue = [(i, 1) for i in range(n)]
    completed = dead = redeliveries = 0
    started = clock.now()
    while queue:
        index, receives = queue.pop(0)
        try:
            runner.run(SPEC.model_copy(update={"id": f"p{index}"}), model="default",
                       transcript=TRANSCRIPT, metadata=EpisodeMetadata())  # fmt: skip
            completed += 1
        except ThrottledError:
            if receives >= MAX_RECEIVES:
                dead += 1
            else:
                redeliveries += 1
                clock.sleep(5.0 * 2 ** (receives - 1))
                queue.append((index, receives + 1))
    elapsed = clock.now() - started
    return {
        "elapsed_sim_minutes": round(elapsed / 60, 3),
        "completed": completed,
        "lost": n - completed - dead,
        "dead_lettered": dead,
        "throttled_calls": provider.throttled,
        "redeliveries": redeliveries,
    }


def run_old_design(n: int, latency: float) -> float:
    """Simulate the fixed-sleep loop (only for a small N: it is slow by design)."""
    clock = ScaledClock(MIN_SCALE)
    started = clock.now()
    for i in range(n):
        clock.sleep(latency)
        if i < n - 1:
            clock.sleep(OLD_SLEEP_SECONDS)
    return (clock.now() - started) / 60


def scenario(name: str, n: int, rpm: float, latency: float, *, naive: bool) -> dict[str, Any]:
    theoretical = ((n - 1) * max(60 / rpm, latency) + latency) / 60
    podpipe = run_queue(n, rpm, latency, limiter=True, seed=1)
    result: dict[str, Any] = {
        "scenario": name,
        "prompts": n,
        "quota_requests_per_minute": rpm,
        "model_latency_seconds": latency,
        "real_seconds_per_simulated_minute": scale_for(rpm),
        "n_over_r_minutes": round(n / rpm, 3),
        "theoretical_min_minutes": round(theoretical, 3),
        "podpipe": podpipe,
        "podpipe_vs_theoretical": round(podpipe["elapsed_sim_minutes"] / theoretical, 3),
        "podpipe_within_1_15_of_theoretical": podpipe["elapsed_sim_minutes"] <= 1.15 * theoretical,
        "podpipe_within_1_15_n_over_r": podpipe["elapsed_sim_minutes"] <= 1.15 * n / rpm,
        "old_fixed_sleep_minutes": round((n * latency + (n - 1) * OLD_SLEEP_SECONDS) / 60, 3),
    }
    result["speedup_vs_old"] = round(
        result["old_fixed_sleep_minutes"] / podpipe["elapsed_sim_minutes"], 1
    )
    if naive:
        result["backoff_only"] = run_queue(n, rpm, latency, limiter=False, seed=2)
    print(json.dumps(result), flush=True)
    return result


def main() -> dict[str, Any]:
    """Run every scenario, write bench/results/llm.json, return the report."""
    configure_logging("WARNING")  # one line per backoff would drown the figures
    wall = time.monotonic()
    scenarios = [
        scenario("new account: 1 req/min, one episode's 8 prompts", 8, 1, 20.0, naive=True),
        scenario("raised quota: 10 req/min, 40 prompts", 40, 10, 4.0, naive=True),
        scenario("high quota: 60 req/min, 90 prompts", 90, 60, 0.5, naive=False),
    ]
    simulated_old = run_old_design(3, 20.0)
    report = {
        "bench": "llm",
        "python": platform.python_version(),
        "scenarios": scenarios,
        "old_design_simulated_3_prompts_minutes": round(simulated_old, 3),
        "old_design_computed_3_prompts_minutes": round((3 * 20.0 + 2 * OLD_SLEEP_SECONDS) / 60, 3),
        "all_zero_lost": all(
            s["podpipe"]["lost"] == 0 and s["podpipe"]["dead_lettered"] == 0 for s in scenarios
        ),
        "all_within_1_15": all(s["podpipe_within_1_15_of_theoretical"] for s in scenarios),
        "wall_seconds": round(time.monotonic() - wall, 1),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {RESULTS} in {report['wall_seconds']} s", flush=True)
    return report


if __name__ == "__main__":
    figures = main()
    sys.exit(0 if figures["all_zero_lost"] and figures["all_within_1_15"] else 1)
