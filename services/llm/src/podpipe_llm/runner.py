"""Run one prompt against one episode: pacing, retries, map-reduce and output validation.

The pure-ish core the worker, ``podpipe prompts test`` and the bench share. Every model
call goes through the model's rate limiter and a tenacity retry loop (exponential backoff
with full jitter on throttling and transient errors; a refused request fails at once).
A transcript longer than the context budget is condensed chunk by chunk (map) and the
prompt runs on the notes (reduce), recursively if the notes are still too long. JSON
answers are validated against their schema and the transcript; a Markdown answer loses the
sentences that copy its own instructions and must say something besides them. An invalid
answer is sent back with the problems, a bounded number of times.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import structlog
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt

from podpipe.documents import Transcript
from podpipe.layout import EpisodeMetadata
from podpipe.pricing import llm_cost
from podpipe_llm.catalog import (
    DEFAULT_SYSTEM,
    OUTPUT_PREFIX,
    PromptSpec,
    episode_variables,
    render,
    transcript_lines,
)
from podpipe_llm.copying import drop_copied_instructions, has_content
from podpipe_llm.providers.base import (
    Completion,
    CompletionRequest,
    ContextTooLongError,
    LlmProvider,
    Message,
    PromptTask,
    RefusedError,
    ThrottledError,
    TransientError,
    estimate_tokens,
)
from podpipe_llm.providers.registry import Providers, bare_model
from podpipe_llm.ratelimit import Clock, RateLimiters, SystemClock
from podpipe_llm.schemas import OutputValidationError, decoding_schema, validate_json_output

log = structlog.get_logger()

MAX_REDUCE_LEVELS = 4
MAP_TEMPLATE = """You are condensing part {part} of {parts} of the transcript of the podcast episode "{title}" ({show}).
A later step will use your notes to write: {purpose}.

Write compact notes of at most {words} words:
- keep the [hh:mm:ss] timestamp of every topic change and of every notable line;
- keep the speakers' names, numbers, and the names of people, books, tools, companies and links exactly as said;
- quote the most striking sentences word for word, with their timestamp.
Write only the notes.

Transcript part {part}/{parts}:
{chunk}
"""
# Every prompt of an episode starts with exactly these bytes (system message), the task
# comes last: llama.cpp's prompt cache and Bedrock's cachePoint then process the transcript
# once per episode instead of once per prompt.
SHARED_PREFIX = """{system}

The podcast is "{show}". This episode: "{title}", {duration} long ({duration_seconds} seconds).
Hosts: {hosts}. Guests: {guests}. Language: {language}.

Transcript (timestamps are [hh:mm:ss], one line per speaker turn):
{transcript}
"""
CONDENSED_HEADER = (
    "(The full transcript was too long for one request: these are notes condensed from it in "
    "{parts} parts, with timestamps.)\n\n"
)


class InvalidOutputError(Exception):
    """The model kept answering outside the schema; ``problems`` are the last ones seen."""

    def __init__(self, prompt_id: str, attempts: int, problems: list[str]) -> None:
        super().__init__(
            f"prompt {prompt_id!r}: no valid answer after {attempts} tries: " + "; ".join(problems)
        )
        self.problems = problems
        self.attempts = attempts


@dataclass
class RunStats:
    calls: int = 0
    attempts: int = 0
    throttled: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0
    rate_wait_seconds: float = 0.0
    backoff_seconds: float = 0.0
    map_calls: int = 0
    reduce_levels: int = 0
    answers: int = 0


@dataclass(frozen=True)
class RunResult:
    prompt_id: str
    model: str
    text: str
    output_format: str
    stats: RunStats
    latency_seconds: float
    missing_dependencies: tuple[str, ...] = ()

    @property
    def cost_usd(self) -> float:
        return llm_cost(
            bare_model(self.model),
            self.stats.input_tokens,
            self.stats.output_tokens,
            cached_input_tokens=self.stats.cached_input_tokens,
            cache_write_tokens=self.stats.cache_write_tokens,
        )


@dataclass(frozen=True)
class PromptRetryPolicy:
    max_attempts: int = 8
    backoff_max_seconds: float = 60.0
    backoff_multiplier: float = 1.0
    json_attempts: int = 3


@dataclass
class PromptRunner:
    providers: Providers
    limiters: RateLimiters
    context_tokens: int = 100_000
    max_output_tokens: int = 0  # 0 = each prompt's own limit; else a cap over all of them
    policy: PromptRetryPolicy = field(default_factory=PromptRetryPolicy)
    clock: Clock = field(default_factory=SystemClock)
    rng: random.Random = field(default_factory=random.Random)
    # Called with the model each time the provider throttles a call (the llm service turns
    # it into the "Throttled" CloudWatch metric its alarm watches).
    on_throttle: Callable[[str], None] | None = None

    # ----------------------------------------------------------------- public

    def run(
        self,
        spec: PromptSpec,
        *,
        model: str,
        transcript: Transcript,
        metadata: EpisodeMetadata,
        dependency_outputs: Mapping[str, str] | None = None,
        missing_dependencies: tuple[str, ...] = (),
        extra_variables: Mapping[str, str] | None = None,
    ) -> RunResult:
        """``extra_variables`` add to (or replace) the episode's own, for prompts that are not about
        an episode's transcript (``podpipe prep`` passes an article as ``transcript``)."""
        started = time.monotonic()
        canonical = self.providers.resolve(model)
        provider, bare = self.providers.provider_for(canonical)
        stats = RunStats()
        variables = {**episode_variables(transcript, metadata), **(extra_variables or {})}
        for dep, text in (dependency_outputs or {}).items():
            variables[OUTPUT_PREFIX + dep] = text
        budget = self.context_tokens
        while True:
            try:
                text = self._run_with_budget(
                    spec, provider, canonical, bare, transcript, metadata, variables, budget, stats
                )
                break
            except ContextTooLongError:
                # Our estimate was optimistic for this model's tokenizer: halve and condense.
                if budget <= self.context_tokens // 4 or not provider.needs_context_budget:
                    raise
                budget //= 2
                log.info("llm.context_too_long_retrying_smaller", budget=budget)
        return RunResult(
            prompt_id=spec.id,
            model=canonical,
            text=text,
            output_format=spec.output,
            stats=stats,
            latency_seconds=time.monotonic() - started,
            missing_dependencies=missing_dependencies,
        )

    # ----------------------------------------------------------------- steps

    def _run_with_budget(
        self,
        spec: PromptSpec,
        provider: LlmProvider,
        canonical: str,
        bare: str,
        transcript: Transcript,
        metadata: EpisodeMetadata,
        variables: dict[str, str],
        budget: int,
        stats: RunStats,
    ) -> str:
        max_tokens = self.output_limit(spec)
        if provider.needs_context_budget:
            without_transcript = render(spec, {**variables, "transcript": ""})
            if spec.shares_prefix:
                without_transcript += SHARED_PREFIX.format(
                    **{**variables, "transcript": "", "system": DEFAULT_SYSTEM}
                )
            room = budget - estimate_tokens(spec.system + without_transcript) - max_tokens
            if room < 500:
                raise RefusedError(
                    f"prompt {spec.id!r} needs more than the context budget of {budget} tokens "
                    "even without the transcript; raise PODPIPE_LLM_CONTEXT_TOKENS"
                )
            if estimate_tokens(variables["transcript"]) > room:
                variables = {
                    **variables,
                    "transcript": self._condense(
                        spec, provider, canonical, bare, transcript, metadata, budget, room, stats
                    ),
                }
        prompt, system = layout(spec, variables)
        if max_tokens < spec.max_output_tokens:
            # Say the budget, so the model writes a shorter complete answer instead of
            # being cut off mid-sentence.
            prompt += (
                f"\nKeep the whole answer under about {int(max_tokens * 0.7)} words: "
                "shorter than asked above, but complete.\n"
            )
        task = PromptTask(
            prompt_id=spec.id,
            output_format=spec.output,
            schema_name=spec.output_schema,
            transcript=transcript,
            metadata=metadata,
            variables={k: v for k, v in variables.items()},
        )
        return self._answer(spec, provider, canonical, bare, task, prompt, system, stats)

    def output_limit(self, spec: PromptSpec) -> int:
        # The cap shortens prose; a JSON answer cut off is worthless, and its size is bounded
        # by its schema, so JSON prompts keep their own limit.
        if self.max_output_tokens and spec.output == "markdown":
            return min(spec.max_output_tokens, self.max_output_tokens)
        return spec.max_output_tokens

    def _answer(
        self,
        spec: PromptSpec,
        provider: LlmProvider,
        canonical: str,
        bare: str,
        task: PromptTask,
        prompt: str,
        system: str,
        stats: RunStats,
    ) -> str:
        messages: list[Message] = [Message("user", prompt)]
        problems: list[str] = []
        schema = (
            decoding_schema(spec.output_schema, task.transcript) if spec.output_schema else None
        )
        for _ in range(self.policy.json_attempts):
            completion = self._call(
                provider,
                canonical,
                CompletionRequest(
                    model=bare,
                    messages=tuple(messages),
                    max_tokens=self.output_limit(spec),
                    temperature=spec.temperature,
                    task=task,
                    system=system,
                    cache_system=spec.shares_prefix,
                    json_schema=schema,
                ),
                stats,
            )
            stats.answers += 1
            try:
                return self._validated(spec, completion, task.transcript)
            except OutputValidationError as exc:
                problems = exc.problems
                log.info(
                    "llm.invalid_answer_fed_back",
                    prompt_id=spec.id,
                    problems=problems[:3],
                )
                feedback = "Your answer was not accepted:\n" + "\n".join(f"- {p}" for p in problems)
                if completion.stop_reason in {"max_tokens", "length"}:
                    feedback += "\n- it was cut off at the output token limit: be more concise"
                feedback += "\nAnswer again with the complete, corrected answer only."
                messages += [
                    Message("assistant", completion.text or "(empty)"),
                    Message("user", feedback),
                ]
        raise InvalidOutputError(spec.id, stats.answers, problems)

    @staticmethod
    def _validated(spec: PromptSpec, completion: Completion, transcript: Transcript) -> str:
        if spec.output == "json":
            assert spec.output_schema is not None  # checked when the catalog loaded
            return validate_json_output(spec.output_schema, completion.text, transcript)
        text = completion.text.strip()
        if not text:
            raise OutputValidationError(["the answer was empty"])
        text, dropped = drop_copied_instructions(spec.template, text)
        if dropped:
            log.info("llm.copied_instructions_dropped", prompt_id=spec.id, sentences=dropped)
        # A phrase of them inside a sentence of content stays (the evaluation scores it).
        if not has_content(text):
            raise OutputValidationError(
                [
                    f'it only copies the instructions ("{dropped[0]}"): write the content they ask for'
                ]
                if dropped
                else ["it has nothing under its headings"]
            )
        return text + "\n"

    def _condense(
        self,
        spec: PromptSpec,
        provider: LlmProvider,
        canonical: str,
        bare: str,
        transcript: Transcript,
        metadata: EpisodeMetadata,
        budget: int,
        room: int,
        stats: RunStats,
    ) -> str:
        """Map-reduce: condense chunks to notes until the notes fit ``room`` tokens."""
        lines = transcript_lines(transcript, metadata)
        overhead = estimate_tokens(
            spec.system
            + MAP_TEMPLATE.format(
                part=99,
                parts=99,
                title=metadata.title,
                show=metadata.show,
                purpose=spec.description,
                words=9999,
                chunk="",
            )
        )
        parts = 0
        for level in range(1, MAX_REDUCE_LEVELS + 1):
            stats.reduce_levels = level
            # Leave half of what is left for the notes of a chunk, the rest for the chunk.
            chunk_tokens = max(500, (budget - overhead) * 2 // 3)
            chunks = _chunk_lines(lines, chunk_tokens)
            parts = len(chunks)
            notes_tokens = max(200, min(2000, room // parts, (budget - overhead - chunk_tokens)))
            notes: list[str] = []
            for index, chunk in enumerate(chunks, 1):
                prompt = MAP_TEMPLATE.format(
                    part=index,
                    parts=parts,
                    title=metadata.title or transcript.episode_id,
                    show=metadata.show or "the show",
                    purpose=spec.description,
                    words=int(notes_tokens * 0.7),
                    chunk="\n".join(chunk),
                )
                task = PromptTask(
                    prompt_id=spec.id,
                    output_format="markdown",
                    schema_name=None,
                    transcript=_sub_transcript(transcript, chunk) if level == 1 else transcript,
                    metadata=metadata,
                    stage="map",
                )
                completion = self._call(
                    provider,
                    canonical,
                    CompletionRequest(
                        model=bare,
                        messages=(Message("user", prompt),),
                        max_tokens=notes_tokens,
                        temperature=0.2,
                        task=task,
                        system=spec.system,
                    ),
                    stats,
                )
                stats.map_calls += 1
                first, last = _span(chunk)
                notes.append(f"## Part {index}/{parts} [{first}–{last}]\n{completion.text.strip()}")
            lines = "\n\n".join(notes).splitlines()
            condensed = CONDENSED_HEADER.format(parts=parts) + "\n".join(lines)
            if estimate_tokens(condensed) <= room:
                return condensed
        raise RefusedError(
            f"prompt {spec.id!r}: the transcript does not fit {budget} tokens even after "
            f"{MAX_REDUCE_LEVELS} rounds of condensing; raise PODPIPE_LLM_CONTEXT_TOKENS"
        )

    def _call(
        self, provider: LlmProvider, canonical: str, request: CompletionRequest, stats: RunStats
    ) -> Completion:
        limiter = self.limiters.for_model(canonical) if provider.rate_limited else None
        estimate = estimate_tokens(request.system + "".join(m.text for m in request.messages))

        def attempt() -> Completion:
            stats.attempts += 1
            reserved = 0
            if limiter is not None:
                before = limiter.waited_seconds
                reserved = limiter.acquire(estimate + request.max_tokens)
                stats.rate_wait_seconds += limiter.waited_seconds - before
            try:
                completion = provider.complete(request)
            except ThrottledError:
                stats.throttled += 1
                if self.on_throttle is not None:
                    self.on_throttle(canonical)
                if limiter is not None:
                    limiter.settle(reserved, 0)
                    limiter.refund_request()
                raise
            if limiter is not None:
                limiter.settle(reserved, completion.input_tokens + completion.output_tokens)
            stats.calls += 1
            stats.input_tokens += completion.input_tokens
            stats.output_tokens += completion.output_tokens
            stats.cached_input_tokens += completion.cached_input_tokens
            stats.cache_write_tokens += completion.cache_write_tokens
            return completion

        def wait(state: RetryCallState) -> float:
            # Full jitter: uniform(0, min(cap, multiplier * 2^n)); never less than Retry-After.
            ceiling = min(
                self.policy.backoff_max_seconds,
                self.policy.backoff_multiplier * 2**state.attempt_number,
            )
            seconds = self.rng.uniform(0, ceiling)
            outcome = state.outcome
            error = outcome.exception() if outcome is not None else None
            if isinstance(error, ThrottledError) and error.retry_after:
                seconds = max(seconds, error.retry_after)
            stats.backoff_seconds += seconds
            log.info(
                "llm.model_call_failed_backing_off",
                model=canonical,
                error=str(error)[:200],
                attempt=state.attempt_number,
                wait_seconds=round(seconds, 2),
            )
            return seconds

        retrying = Retrying(
            stop=stop_after_attempt(self.policy.max_attempts),
            wait=wait,
            retry=retry_if_exception_type((ThrottledError, TransientError)),
            sleep=self.clock.sleep,
            reraise=True,
        )
        return retrying(attempt)


def layout(spec: PromptSpec, variables: Mapping[str, str]) -> tuple[str, str]:
    """(user message, system message) of a prompt.

    A prompt that does not place ``{{ transcript }}`` itself gets the episode's shared prefix
    (instructions + metadata + transcript) as its system message and only its task as the
    user message; a prompt with its own system text puts that at the top of the task, so the
    prefix stays byte-identical across prompts. A prompt that places the transcript itself
    keeps the older inline layout (nothing shared, nothing cached).
    """
    prompt = render(spec, variables)
    if not spec.shares_prefix:
        return prompt, spec.system
    if spec.system != DEFAULT_SYSTEM:
        prompt = f"{spec.system}\n\n{prompt}"
    return prompt, SHARED_PREFIX.format(**{**variables, "system": DEFAULT_SYSTEM})


def _chunk_lines(lines: list[str], max_tokens: int) -> list[list[str]]:
    chunks: list[list[str]] = []
    current: list[str] = []
    size = 0
    for line in lines:
        pieces = [line]
        if estimate_tokens(line) > max_tokens:  # one enormous line: cut it by characters
            width = max_tokens * 4
            pieces = [line[i : i + width] for i in range(0, len(line), width)]
        for piece in pieces:
            cost = estimate_tokens(piece) + 1
            if current and size + cost > max_tokens:
                chunks.append(current)
                current, size = [], 0
            current.append(piece)
            size += cost
    if current:
        chunks.append(current)
    return chunks or [[]]


def _span(chunk: list[str]) -> tuple[str, str]:
    stamps = [line[1:9] for line in chunk if line.startswith("[") and line[9:10] == "]"]
    return (stamps[0], stamps[-1]) if stamps else ("?", "?")


def _sub_transcript(transcript: Transcript, chunk: list[str]) -> Transcript:
    first, last = _span(chunk)
    if first == "?":
        return transcript
    lo, hi = _seconds(first), _seconds(last)
    segments = [s for s in transcript.segments if lo <= int(s.start) <= hi]
    return transcript.model_copy(update={"segments": segments or transcript.segments})


def _seconds(stamp: str) -> int:
    h, m, s = (int(x) for x in stamp.split(":"))
    return h * 3600 + m * 60 + s
