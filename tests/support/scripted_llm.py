"""Deterministic test doubles for the LLM service: a scripted provider, a fake clock, an
in-memory episode store and a synthetic transcript generator.

The scripted provider answers like a well-behaved model (it borrows the extractive writer,
so its answers pass every schema) unless a script says otherwise: refuse the first N calls
as throttled, refuse one prompt for good (a poison prompt), answer invalid JSON a number of
times, or reject inputs longer than a context window. It records every request.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from podpipe.documents import Segment, Transcript
from podpipe.events import S3Location
from podpipe.layout import EpisodeMetadata
from podpipe_llm.catalog import Catalog, load_catalog
from podpipe_llm.providers.base import (
    Completion,
    CompletionRequest,
    ContextTooLongError,
    RefusedError,
    ThrottledError,
    TransientError,
    estimate_tokens,
)
from podpipe_llm.providers.extractive import ExtractiveProvider
from tests.support.stage_ledger import MemoryStageLedger


class FakeClock:
    """Virtual time: sleeping advances the clock instantly (and is recorded)."""

    def __init__(self, start: float = 1000.0) -> None:
        self.t = start
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        with self._lock:
            if seconds > 0:
                self.sleeps.append(seconds)
                self.t += seconds


@dataclass
class ScriptedProvider:
    """A model that follows a script. Register it under any provider name (e.g. "bedrock")."""

    name: str = "scripted"
    rate_limited: bool = True
    needs_context_budget: bool = True
    throttle_calls: int = 0
    transient_calls: int = 0
    poison: dict[str, str] = field(default_factory=dict)
    invalid_answers: dict[str, int] = field(default_factory=dict)
    context_window: int | None = None
    answer: Callable[[CompletionRequest], str] | None = None
    requests: list[CompletionRequest] = field(default_factory=list)
    refusals: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def complete(self, request: CompletionRequest) -> Completion:
        with self._lock:
            self.requests.append(request)
            prompt_id = request.task.prompt_id
            if self.throttle_calls > 0:
                self.throttle_calls -= 1
                self.refusals["throttled"] += 1
                raise ThrottledError("ThrottlingException: Too many requests, please wait")
            if self.transient_calls > 0:
                self.transient_calls -= 1
                self.refusals["transient"] += 1
                raise TransientError("ServiceUnavailableException: try again")
            if prompt_id in self.poison:
                self.refusals["poison"] += 1
                raise RefusedError(self.poison[prompt_id])
            size = estimate_tokens(request.system + "".join(m.text for m in request.messages))
            if self.context_window is not None and size + request.max_tokens > self.context_window:
                raise ContextTooLongError(
                    f"ValidationException: Input is too long ({size} tokens) for this model"
                )
            if request.task.stage == "final" and self.invalid_answers.get(prompt_id, 0) > 0:
                self.invalid_answers[prompt_id] -= 1
                text = '{"clips": [{"start": "soon", "title": ""}]'  # truncated, wrong types
            elif self.answer is not None:
                text = self.answer(request)
            else:
                text = ExtractiveProvider().complete(request).text
        return Completion(text=text, input_tokens=size, output_tokens=estimate_tokens(text))

    def calls_for(self, prompt_id: str, stage: str = "final") -> list[CompletionRequest]:
        return [r for r in self.requests if r.task.prompt_id == prompt_id and r.task.stage == stage]


class InMemoryEpisodeStore:
    """The EpisodeStore port over dicts (S3 keys as in production)."""

    def __init__(self, bucket: str = "test-bucket") -> None:
        self.bucket = bucket
        self.transcripts: dict[str, Transcript] = {}
        self.metadata: dict[str, EpisodeMetadata] = {}
        self.outputs: dict[tuple[str, str], str] = {}
        self.output_meta: dict[tuple[str, str], dict[str, Any]] = {}
        self.manifests: dict[str, dict[str, Any]] = {}
        self.writes = 0

    def read_transcript(self, episode_id: str) -> Transcript | None:
        return self.transcripts.get(episode_id)

    def read_metadata(self, episode_id: str) -> EpisodeMetadata:
        return self.metadata.get(episode_id, EpisodeMetadata())

    def read_output(self, episode_id: str, prompt_id: str, extension: str) -> str | None:
        return self.outputs.get((episode_id, prompt_id))

    def read_output_metadata(self, episode_id: str, prompt_id: str) -> dict[str, Any] | None:
        return self.output_meta.get((episode_id, prompt_id))

    def write_output(
        self, episode_id: str, prompt_id: str, extension: str, text: str, metadata: dict[str, Any]
    ) -> tuple[S3Location, S3Location]:
        self.writes += 1
        self.outputs[(episode_id, prompt_id)] = text
        self.output_meta[(episode_id, prompt_id)] = json.loads(json.dumps(metadata))
        base = f"episodes/{episode_id}/outputs/{prompt_id}"
        return (
            S3Location(bucket=self.bucket, key=f"{base}.{extension}"),
            S3Location(bucket=self.bucket, key=f"{base}.meta.json"),
        )

    def write_manifest(self, episode_id: str, manifest: dict[str, Any]) -> S3Location:
        self.manifests[episode_id] = manifest
        return S3Location(bucket=self.bucket, key=f"episodes/{episode_id}/prompts/manifest.json")


class StaticCatalog:
    """A CatalogSource that always returns the same catalog (the packaged one by default)."""

    def __init__(self, catalog: Catalog | None = None) -> None:
        self.catalog = catalog or load_catalog()

    def load(self) -> Catalog:
        return self.catalog


_TOPICS = [
    (
        "audio loudness",
        "We measure integrated loudness in LUFS because podcast apps normalise to minus sixteen, "
        "and a true peak above minus one clips on cheap earbuds after the encoder runs.",
    ),
    (
        "remote recording",
        "Remote recording works when every guest records a local track, because the call audio "
        "drops syllables whenever the network hiccups during a long interview.",
    ),
    (
        "show notes",
        "Good show notes list every book and tool mentioned, since listeners search for the "
        "resources long after the episode has gone out to the feed.",
    ),
    (
        "sponsorship",
        "Sponsorship revenue depends on downloads in the first thirty days, so release timing and "
        "a reliable weekly schedule matter more than fancy artwork for the show.",
    ),
    (
        "transcripts",
        "Transcripts make the episode searchable and accessible, and captions on short video clips "
        "double the number of people who watch them to the end on social media.",
    ),
    (
        "rate limits",
        "Rate limits on a new cloud account are tiny, so a pipeline has to pace its requests and "
        "back off with jitter instead of sleeping a fixed two minutes between prompts.",
    ),
]


def synthetic_transcript(
    episode_id: str = "ep-synthetic",
    duration_seconds: float = 1800.0,
    *,
    segment_seconds: float = 15.0,
    speakers: tuple[str, ...] = ("SPEAKER_00", "SPEAKER_01"),
    topic_minutes: float = 10.0,
) -> Transcript:
    """A deterministic conversation that changes topic every ``topic_minutes`` minutes."""
    segments: list[Segment] = []
    t = 0.0
    index = 0
    while t + 1.0 <= duration_seconds:
        end = min(t + segment_seconds - 0.6, duration_seconds)  # a short pause between turns
        topic, line = _TOPICS[int(t // (topic_minutes * 60)) % len(_TOPICS)]
        text = (
            f"{line} That is what I keep telling people about {topic}, point number {index % 7 + 1}. "
            f"Honestly the part about {topic} surprised me most."
        )
        segments.append(
            Segment(
                start=round(t, 2),
                end=round(end, 2),
                speaker=speakers[index % len(speakers)],
                text=text,
            )
        )
        t += segment_seconds
        index += 1
    return Transcript(
        episode_id=episode_id,
        language="en",
        duration_seconds=duration_seconds,
        backend="synthetic",
        segments=segments,
    )


# --------------------------------------------------------------------------- harness


def transcript_ready(
    episode_id: str,
    duration_seconds: float = 1800.0,
    bucket: str = "test-bucket",
    *,
    version: int | None = None,
) -> Any:
    """A "Transcript Ready" event pointing at the episode's standard keys."""
    from podpipe.events import TranscriptReady
    from podpipe.layout import EpisodeKeys

    keys = EpisodeKeys(episode_id)

    def loc(key: str) -> S3Location:
        return S3Location(bucket=bucket, key=key)

    return TranscriptReady(
        episode_id=episode_id,
        source=loc(f"uploads/{episode_id}.m4a"),
        transcript_json=loc(keys.transcript_json),
        transcript_text=loc(keys.transcript_text),
        subtitles_srt=loc(keys.subtitles_srt),
        subtitles_vtt=loc(keys.subtitles_vtt),
        podcasting20_json=loc(keys.podcasting20_json),
        duration_seconds=duration_seconds,
        word_count=1000,
        language="en",
        backend="synthetic",
        version=version,
    )


@dataclass
class Harness:
    """Dispatcher + worker over the in-memory store, a scripted model and virtual time.

    ``drain`` plays the llm queue the way SQS and the runtime would: a retryable error puts
    the message back with one more receive, a permanent error or the last receive moves it
    to the DLQ list (after on_failure), success publishes the returned events.
    """

    provider: ScriptedProvider
    store: InMemoryEpisodeStore
    ledger: MemoryStageLedger
    clock: FakeClock
    dispatcher: Any
    worker: Any
    runner: Any
    published: list[Any] = field(default_factory=list)
    dead_letters: list[tuple[Any, str]] = field(default_factory=list)

    @classmethod
    def build(
        cls,
        provider: ScriptedProvider | None = None,
        *,
        catalog: Catalog | None = None,
        context_tokens: int = 100_000,
        requests_per_minute: float = 0.0,
        max_attempts: int = 8,
        json_attempts: int = 3,
    ) -> Harness:
        from podpipe_llm.dispatcher import Dispatcher
        from podpipe_llm.providers.registry import Providers
        from podpipe_llm.ratelimit import RateLimiters
        from podpipe_llm.runner import PromptRetryPolicy, PromptRunner
        from podpipe_llm.settings import RateLimit
        from podpipe_llm.worker import PromptWorker

        provider = provider or ScriptedProvider()
        provider.name = "bedrock"
        clock = FakeClock()
        providers = Providers(
            {"bedrock": provider, "extractive": ExtractiveProvider()},
            default_provider="bedrock",
            default_model="test-model",
        )
        runner = PromptRunner(
            providers=providers,
            limiters=RateLimiters(
                lambda _m: RateLimit(requests_per_minute=requests_per_minute), clock
            ),
            context_tokens=context_tokens,
            policy=PromptRetryPolicy(max_attempts=max_attempts, json_attempts=json_attempts),
            clock=clock,
        )
        store = InMemoryEpisodeStore()
        ledger = MemoryStageLedger()
        source = StaticCatalog(catalog)
        return cls(
            provider=provider,
            store=store,
            ledger=ledger,
            clock=clock,
            dispatcher=Dispatcher(store, source, providers, ledger=ledger),
            worker=PromptWorker(store, source, runner, ledger=ledger),
            runner=runner,
        )

    def add_episode(self, episode_id: str = "ep-1", duration_seconds: float = 1800.0) -> Transcript:
        transcript = synthetic_transcript(episode_id, duration_seconds)
        self.store.transcripts[episode_id] = transcript
        self.store.metadata[episode_id] = EpisodeMetadata(
            title="Loud and Clear",
            show="Pod Talk",
            hosts=["Alice"],
            guests=["Bob"],
            speaker_names={"SPEAKER_00": "Alice", "SPEAKER_01": "Bob"},
        )
        return transcript

    def dispatch(self, episode_id: str = "ep-1", *, version: int | None = None) -> list[Any]:
        from podpipe.runtime.service import MessageContext

        duration = self.store.transcripts[episode_id].duration_seconds
        events = list(
            self.dispatcher.handle(
                transcript_ready(episode_id, duration, version=version),
                MessageContext("m-dispatch", "llm-dispatch", 1, 5),
            )
        )
        self.published += events
        return events

    def drain(self, requests: list[Any], *, max_receive_count: int = 4) -> None:
        from podpipe.events import Failure, PromptRequested
        from podpipe.runtime.errors import PermanentError
        from podpipe.runtime.service import MessageContext

        queue: list[tuple[Any, int]] = [(r, 1) for r in requests if isinstance(r, PromptRequested)]

        def publish(events: list[Any]) -> None:
            self.published += events
            # The prompts-to-llm rule: a request the worker publishes comes back to the queue.
            queue.extend((e, 1) for e in events if isinstance(e, PromptRequested))

        while queue:
            event, receives = queue.pop(0)
            ctx = MessageContext(f"m-{event.prompt_id}", "llm", receives, max_receive_count)
            try:
                publish(list(self.worker.handle(event, ctx)))
            except PermanentError as exc:
                failure = Failure(reason=exc.reason, error_type="PermanentError", attempts=receives)
                publish(list(self.worker.on_failure(event, failure)))
                self.dead_letters.append((event, exc.reason))
            except Exception as exc:
                if ctx.is_last_attempt:
                    failure = Failure(
                        reason=str(exc),
                        error_type=type(exc).__name__,
                        retryable=True,
                        attempts=receives,
                    )
                    publish(list(self.worker.on_failure(event, failure)))
                    self.dead_letters.append((event, str(exc)))
                else:
                    queue.append((event, receives + 1))  # visibility timeout ends: redelivered

    def new_recording(self, episode_id: str = "ep-1", duration_seconds: float = 60.0) -> None:
        """What podpipe.versions does when a different recording arrives under the same name:
        the next version is current, the old one's outputs and records are moved aside, and
        the new transcript (here shorter) is written."""
        self.ledger.versions[episode_id] = self.ledger.versions.get(episode_id, 1) + 1
        for key in [k for k in self.ledger.records if k[0] == episode_id]:
            del self.ledger.records[key]
        for outputs in (self.store.outputs, self.store.output_meta):
            for key in [k for k in outputs if k[0] == episode_id]:
                del outputs[key]
        self.store.manifests.pop(episode_id, None)
        self.add_episode(episode_id, duration_seconds)

    def completed(self) -> dict[str, Any]:
        from podpipe.events import PromptCompleted

        return {e.prompt_id: e for e in self.published if isinstance(e, PromptCompleted)}

    def failed(self) -> dict[str, Any]:
        from podpipe.events import PromptFailed

        return {e.prompt_id: e for e in self.published if isinstance(e, PromptFailed)}
