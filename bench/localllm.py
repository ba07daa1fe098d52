"""Bench: podpipe's prompts on a real open-weights model (the local llama.cpp server).

Measured on the sample episode's Whisper transcript (samples/*.transcript.json), each
figure a ratio within one run:

- tokens/s: prompt processing and generation of each packaged model (llama.cpp's timings);
- the LLM stage of the demo: the whole catalog with the demo's model and output cap;
- prompt tokens actually processed per episode (prompt tokens minus those read from the
  server's cache) with the shared-prefix layout (transcript first, task last) against the
  older inline layout (task first, transcript last), same model, same prompts;
- JSON answers valid on the first try, with and without constrained decoding
  (``response_format: json_schema``), over the four JSON prompts of the sample
  (both samples with PODPIPE_BENCH_JSON_EPISODES=all).

Writes bench/results/localllm.json.
"""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import httpx

from podpipe.logging import configure_logging
from podpipe_llm.catalog import Catalog, PromptSpec, load_catalog
from podpipe_llm.evaluate import EvalEpisode, load_eval_set
from podpipe_llm.runner import InvalidOutputError, PromptRunner
from podpipe_llm.service import build_providers, build_runner
from podpipe_llm.settings import LlmSettings
from podpipe_local.llm import (
    DEMO_MODEL,
    LOCAL_MAX_OUTPUT_TOKENS,
    SMALL_MODEL,
    LocalLlmServer,
    model_alias,
)
from podpipe_local.supervisor import StateDir

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "localllm.json"
PORT = 8934
INLINE_TAIL = (
    "\nTranscript (timestamps are [hh:mm:ss], one line per speaker turn):\n{{ transcript }}\n"
)
SEED = 11
# The layout figure counts prompt tokens, which the answers' length barely moves: Markdown
# answers are capped short there (JSON answers are never capped) to keep the bench in minutes.
LAYOUT_CAP = int(os.environ.get("PODPIPE_BENCH_LAYOUT_CAP", "64"))
# Episodes for the JSON first-try rate: "episode" (the sample) or "all" (the whole eval set).
JSON_EPISODES = os.environ.get("PODPIPE_BENCH_JSON_EPISODES", "episode")
# Which parts of the small model's figures to measure ("layout,json"); a part not run keeps
# its figures from the last results file.
PARTS = set(os.environ.get("PODPIPE_BENCH_LOCALLLM_PARTS", "layout,json").split(","))


def runner_for(
    server: LocalLlmServer, *, json_schema: bool = True, cap: int, json_attempts: int = 3
) -> PromptRunner:
    settings = LlmSettings(
        llm_provider="openai",
        llm_openai_base_url=server.base_url,
        llm_requests_per_minute=0,
        llm_max_output_tokens=cap,
        llm_openai_json_schema=json_schema,
        llm_seed=SEED,
        llm_json_attempts=json_attempts,
    )
    return build_runner(settings, build_providers(settings, bedrock_client=object()))


def inline(spec: PromptSpec) -> PromptSpec:
    """The same prompt in the older layout: its task first, the transcript last."""
    return spec.model_copy(update={"template": spec.template.rstrip("\n") + "\n" + INLINE_TAIL})


def speed(server: LocalLlmServer) -> dict[str, float]:
    """Prompt and generation tokens/s of one fixed request (cache off for the prompt)."""
    text = (REPO / "samples" / "episode.txt").read_text()
    body = {
        "messages": [
            {"role": "system", "content": text},
            {"role": "user", "content": "Summarise this conversation in one paragraph."},
        ],
        "max_tokens": 128,
        "temperature": 0.0,
        "cache_prompt": False,
        "seed": SEED,
    }
    reply = httpx.post(f"{server.base_url}/chat/completions", json=body, timeout=600).json()
    timings = reply.get("timings", {})
    return {
        "prompt_tokens": timings.get("prompt_n", 0),
        "prompt_tokens_per_second": round(timings.get("prompt_per_second", 0.0), 1),
        "generated_tokens": timings.get("predicted_n", 0),
        "generation_tokens_per_second": round(timings.get("predicted_per_second", 0.0), 1),
    }


def run_catalog(
    runner: PromptRunner, model: str, specs: list[PromptSpec], episode: EvalEpisode
) -> dict[str, Any]:
    answers: dict[str, str] = {}
    rows = []
    started = time.monotonic()
    for spec in specs:
        deps = {d: answers.get(d, "(not available)") for d in spec.depends_on}
        try:
            result = runner.run(
                spec,
                model=model,
                transcript=episode.transcript,
                metadata=episode.metadata,
                dependency_outputs=deps,
            )
        except InvalidOutputError as exc:
            rows.append({"prompt": spec.id, "failed": str(exc)[:200]})
            continue
        answers[spec.id] = result.text
        s = result.stats
        rows.append(
            {
                "prompt": spec.id,
                "prompt_tokens": s.input_tokens,
                "cached_prompt_tokens": s.cached_input_tokens,
                "processed_prompt_tokens": s.input_tokens - s.cached_input_tokens,
                "output_tokens": s.output_tokens,
                "answers": s.answers,
                "seconds": round(result.latency_seconds, 1),
            }
        )
    done = [r for r in rows if "failed" not in r]
    return {
        "seconds": round(time.monotonic() - started, 1),
        "prompts": len(specs),
        "failed": len(rows) - len(done),
        "prompt_tokens": sum(r["prompt_tokens"] for r in done),
        "processed_prompt_tokens": sum(r["processed_prompt_tokens"] for r in done),
        "output_tokens": sum(r["output_tokens"] for r in done),
        "rows": rows,
    }


def layout(
    server: LocalLlmServer, model: str, alias: str, specs: list[PromptSpec], sample: EvalEpisode
) -> dict[str, Any]:
    """The catalog in each layout, each run on a freshly started server (an empty cache), so
    neither layout inherits the other's cached transcript."""
    runs: dict[str, dict[str, Any]] = {}
    for name, chosen in (("shared_prefix", specs), ("inline", [inline(s) for s in specs])):
        server.stop()
        server.start(model)
        runs[name] = run_catalog(runner_for(server, cap=LAYOUT_CAP), alias, chosen, sample)
    shared, old = runs["shared_prefix"], runs["inline"]
    return {
        "shared_prefix": {k: v for k, v in shared.items() if k != "rows"},
        "inline": {k: v for k, v in old.items() if k != "rows"},
        "processed_prompt_tokens_inline_over_shared": round(
            old["processed_prompt_tokens"] / max(1, shared["processed_prompt_tokens"]), 2
        ),
        "markdown_output_cap": LAYOUT_CAP,
        "shared_prefix_rows": shared["rows"],
        "inline_rows": old["rows"],
    }


def json_first_try(
    runner: PromptRunner, model: str, catalog: Catalog, episodes: list[EvalEpisode]
) -> dict[str, Any]:
    tries = valid = 0
    for episode in episodes:
        for spec in (s for s in catalog.enabled() if s.output == "json"):
            tries += 1
            try:
                result = runner.run(
                    spec, model=model, transcript=episode.transcript, metadata=episode.metadata
                )
            except InvalidOutputError:
                continue
            valid += result.stats.answers == 1
    return {"answers": tries, "valid_first_try": valid, "rate": round(valid / tries, 3)}


def main() -> dict[str, Any]:
    configure_logging("WARNING")
    catalog = load_catalog()
    episodes = load_eval_set([REPO / "samples"])
    sample = next(e for e in episodes if e.episode_id == "episode")
    specs = catalog.ordered()
    state = StateDir(REPO / ".podpipe" / "bench")
    result: dict[str, Any] = {
        "bench": "localllm",
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "models": {},
    }
    previous = json.loads(RESULTS.read_text()).get("models", {}) if RESULTS.exists() else {}
    # PODPIPE_BENCH_LOCAL_MODELS=qwen2.5-coder-0.5b-instruct runs the small model alone.
    chosen = os.environ.get("PODPIPE_BENCH_LOCAL_MODELS", f"{SMALL_MODEL},{DEMO_MODEL}")
    for model in [m.strip() for m in chosen.split(",") if m.strip()]:
        server = LocalLlmServer(state, port=PORT)
        server.start(model)
        alias = f"openai:{model_alias(model)}"
        try:
            figures: dict[str, Any] = {"speed": speed(server)}
            if model == DEMO_MODEL:
                runner = runner_for(server, cap=LOCAL_MAX_OUTPUT_TOKENS)
                figures["demo_llm_stage"] = run_catalog(runner, alias, specs, sample)
            else:
                figures = {**previous.get(model, {}), **figures}
                if "layout" in PARTS:
                    figures["layout"] = layout(server, model, alias, specs, sample)
                    _write({**result, "models": {**result["models"], model: figures}})
                if "json" in PARTS:
                    json_set = episodes if JSON_EPISODES == "all" else [sample]
                    figures["json_first_try"] = {
                        # Only the first answer counts, so each JSON prompt gets one attempt.
                        mode: json_first_try(
                            runner_for(
                                server,
                                json_schema=mode == "constrained",
                                cap=LOCAL_MAX_OUTPUT_TOKENS,
                                json_attempts=1,
                            ),
                            alias,
                            catalog,
                            json_set,
                        )
                        for mode in ("constrained", "json_object")
                    }
            result["models"][model] = figures
            _write(result)
        finally:
            # The layout part restarts the server, so stop whatever runs from our state dir.
            server.stop()
    result["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    _write(result)
    return result


def _write(result: dict[str, Any]) -> None:
    """Written after each part, so a run cut short still leaves what it measured."""
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
