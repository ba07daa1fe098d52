"""On "Prompt Requested": run one prompt for one episode, write its output, say so.

The llm queue has one consumer and a concurrency of 1: pacing lives in the rate limiter and
the retry loop inside :class:`PromptRunner`, while the runtime's heartbeat keeps the message
invisible however long that takes.

Dependencies (a prompt using ``{{ outputs.chapters }}``): if the output is not there yet
(redelivery, a crashed worker or a replay broke the dispatcher's order), the prompt does not
burn its receives waiting — a dependency held invisible by a crashed worker comes back only
after the queue's visibility timeout, longer than any retry budget. Instead it parks: its
stage record says ``running``, ``waiting_for`` the dependency, with the request needed to
run it, and the message is done. When the dependency ends (completed, or failed for good),
the worker that ended it re-requests every prompt parked on it. Parking writes first and
then looks again, ending writes first and then looks for parked prompts, so one of the two
always sees the other.

Versions: a request names the episode version it was made for (its transcript's). A request
for a version that a newer recording replaced is dropped, and so is its output when the
replacement arrived while the model was running: it never lands among the new version's
outputs, where the new run would take it for done. An output records its version, and only an
output of the same version counts as existing (or as a dependency's output).

A dependency that failed for good does not block: the prompt runs without it, says so in
the variable, and the output is flagged (``missing_dependencies`` in its metadata, its stage
record and "Prompt Completed"), so status and the digest never call it plain done.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import structlog

from podpipe.events import (
    Event,
    Failure,
    PromptCompleted,
    PromptFailed,
    PromptRequested,
    S3Location,
)
from podpipe.layout import EpisodeKeys
from podpipe.runtime.errors import PermanentError, RetryableError
from podpipe.runtime.service import MessageContext
from podpipe.stages import (
    StageLedger,
    pinned_version,
    prompt_stage,
    record_failure,
    replay_command,
    same_version,
    superseded,
)
from podpipe_llm.catalog import Catalog, CatalogError, PromptSpec
from podpipe_llm.prep.links import ShowNotesLinks
from podpipe_llm.providers.base import RefusedError, ThrottledError, TransientError
from podpipe_llm.providers.registry import split_model
from podpipe_llm.runner import InvalidOutputError, PromptRunner, RunResult
from podpipe_llm.store import CatalogSource, EpisodeStore

log = structlog.get_logger()
PREVIEW_CHARS = 300


WAITING_FOR = "waiting_for"
PARKED_REQUEST = "parked_request"


def missing_dependency_text(prompt_id: str, why: str) -> str:
    return f"(The {prompt_id} output is not available: {why}. Work from the transcript alone.)"


class PromptWorker:
    def __init__(
        self,
        store: EpisodeStore,
        catalog: CatalogSource,
        runner: PromptRunner,
        links: ShowNotesLinks | None = None,
        *,
        ledger: StageLedger,
    ) -> None:
        self._store = store
        self._ledger = ledger
        self._catalog = catalog
        self._runner = runner
        # The chosen prep items the episode discussed, as real links in the show notes.
        self._links = links

    # ----------------------------------------------------------------- handler

    def handle(self, event: PromptRequested, ctx: MessageContext) -> Sequence[Event]:
        episode_id, prompt_id = event.episode_id, event.prompt_id
        structlog.contextvars.bind_contextvars(prompt_id=prompt_id, model=event.model)
        try:
            catalog = self._catalog.load()
            spec = catalog.get(prompt_id)
        except CatalogError as exc:
            raise PermanentError(f"prompt {prompt_id!r} cannot run: {exc}") from exc
        if not spec.enabled:
            raise PermanentError(f"prompt {prompt_id!r} is disabled in the catalog")
        work = prompt_stage(prompt_id)
        if superseded(self._ledger, episode_id, event.version, work=work):
            return []
        event = event.model_copy(
            update={"version": pinned_version(self._ledger, episode_id, event.version)}
        )

        stored = self._store.read_output_metadata(episode_id, prompt_id)
        if (
            stored is not None
            and not event.replay
            and same_version(stored.get("version"), event.version)
        ):
            # Redelivered after the output was written: announce it again, call no model
            # (and release what waits on it, in case the first time died before that).
            log.info("llm.output_exists")
            return [
                self._completed_from_metadata(event, spec, stored),
                *self._release_dependents(catalog, episode_id, prompt_id),
            ]

        transcript = self._store.read_transcript(episode_id)
        if transcript is None:
            raise PermanentError(
                f"no transcript at {EpisodeKeys(episode_id).transcript_json}: "
                "transcribe the episode first"
            )
        metadata = self._store.read_metadata(episode_id)
        dependencies, missing, waiting = self._dependencies(catalog, spec, event)
        if waiting:
            self._park(event, waiting, ctx)
            # Looked at again after parking: a dependency that ended meanwhile released
            # nobody (it did not see this record yet), so run now instead of waiting.
            dependencies, missing, waiting = self._dependencies(catalog, spec, event)
            if waiting:
                log.info("llm.prompt_parked", waiting_for=waiting)
                return []

        started = time.time()
        self._ledger.record(
            episode_id,
            prompt_stage(prompt_id),
            "running",
            started_at=started,
            attempts=ctx.receive_count,
            details={"model": event.model},
        )
        try:
            result = self._runner.run(
                spec,
                model=event.model,
                transcript=transcript,
                metadata=metadata,
                dependency_outputs=dependencies,
                missing_dependencies=tuple(missing),
            )
        except (RefusedError, InvalidOutputError) as exc:
            reason = f"{event.model} could not produce {prompt_id!r}: {exc}"
            failure = Failure(
                reason=reason, error_type=type(exc).__name__, attempts=ctx.receive_count
            )
            self._record_failure(event, failure, started)
            raise PermanentError(reason) from exc
        except (ThrottledError, TransientError) as exc:
            # Backoff inside this delivery is exhausted: let SQS redeliver later (and, after
            # maxReceiveCount, move the message to the DLQ; on_failure reports it).
            raise RetryableError(f"{event.model} kept failing: {exc}") from exc
        if superseded(self._ledger, episode_id, event.version, work=work):
            # A new recording arrived while the model ran: this output is of the old one.
            return []
        if self._links is not None:
            text = self._links.apply(episode_id, prompt_id, result.text, transcript)
            result = dataclasses.replace(result, text=text)
        completed = self._write(event, spec, result, ctx, started)
        return [completed, *self._release_dependents(catalog, episode_id, prompt_id)]

    def on_failure(self, event: PromptRequested, failure: Failure) -> Sequence[Event]:
        """Final failure (permanent, or the last delivery): record it, say how to replay."""
        if superseded(
            self._ledger, event.episode_id, event.version, work=prompt_stage(event.prompt_id)
        ):
            return []  # the new version's prompt is not failed: it runs on its own request
        released: list[Event] = []
        if self._record_failure(event, failure, None):
            try:
                # Prompts parked on this one run now, without it (and flagged as such).
                released = self._release_dependents(
                    self._catalog.load(), event.episode_id, event.prompt_id
                )
            except Exception:  # the failure event matters more than the parked prompts
                log.exception("llm.parked_prompts_release_failed")
        return [
            PromptFailed(
                episode_id=event.episode_id,
                prompt_id=event.prompt_id,
                model=event.model,
                failure=failure,
                replay_command=replay_command(event.episode_id, event.prompt_id),
            ),
            *released,
        ]

    # ----------------------------------------------------------------- steps

    def _dependencies(
        self, catalog: Catalog, spec: PromptSpec, event: PromptRequested
    ) -> tuple[dict[str, str], list[str], list[str]]:
        """Outputs to use, dependencies that failed for good, dependencies still to come
        (an output of another version is still to come)."""
        episode_id = event.episode_id
        outputs: dict[str, str] = {}
        missing: list[str] = []
        waiting: list[str] = []
        for dep_id in spec.depends_on:
            dep = catalog.get(dep_id)
            text = None
            meta = self._store.read_output_metadata(episode_id, dep_id)
            if meta is not None and same_version(meta.get("version"), event.version):
                text = self._store.read_output(episode_id, dep_id, dep.extension)
            if text is not None:
                outputs[dep_id] = text
                continue
            record = self._ledger.read(episode_id, prompt_stage(dep_id))
            if record is not None and record.status == "failed":
                outputs[dep_id] = missing_dependency_text(dep_id, "that prompt failed")
                missing.append(dep_id)
            else:
                waiting.append(dep_id)
        return outputs, missing, waiting

    def _park(self, event: PromptRequested, waiting: list[str], ctx: MessageContext) -> None:
        """Record the request on the stage record; the dependency's end re-requests it."""
        self._ledger.record(
            event.episode_id,
            prompt_stage(event.prompt_id),
            "running",
            attempts=ctx.receive_count,
            details={
                "model": event.model,
                WAITING_FOR: waiting,
                PARKED_REQUEST: event.model_dump(mode="json"),
            },
        )

    def _release_dependents(self, catalog: Catalog, episode_id: str, ended: str) -> list[Event]:
        """A "Prompt Requested" for every prompt parked on ``ended`` (its output now exists,
        or it failed for good)."""
        released: list[Event] = []
        for spec in catalog.enabled():
            if ended not in spec.depends_on:
                continue
            record = self._ledger.read(episode_id, prompt_stage(spec.id))
            if record is None or record.status != "running":
                continue
            if ended not in record.details.get(WAITING_FOR, []):
                continue
            request = PromptRequested.model_validate(record.details[PARKED_REQUEST])
            log.info("llm.parked_prompt_released", released=spec.id, dependency=ended)
            released.append(request)
        return released

    def _write(
        self,
        event: PromptRequested,
        spec: PromptSpec,
        result: RunResult,
        ctx: MessageContext,
        started: float,
    ) -> PromptCompleted:
        stats = result.stats
        provider, _bare = split_model(result.model)
        metadata: dict[str, Any] = {
            "episode_id": event.episode_id,
            "prompt_id": spec.id,
            "description": spec.description,
            "model": result.model,
            "provider": provider,
            "output_format": spec.output,
            "schema": spec.output_schema,
            "input_tokens": stats.input_tokens,
            "cached_input_tokens": stats.cached_input_tokens,
            "cache_write_tokens": stats.cache_write_tokens,
            "output_tokens": stats.output_tokens,
            "prompt_layout": "shared-prefix" if spec.shares_prefix else "inline",
            "latency_seconds": round(result.latency_seconds, 3),
            "attempts": stats.attempts,
            "calls": stats.calls,
            "throttled": stats.throttled,
            "answers": stats.answers,
            "map_calls": stats.map_calls,
            "reduce_levels": stats.reduce_levels,
            "rate_limit_wait_seconds": round(stats.rate_wait_seconds, 3),
            "backoff_seconds": round(stats.backoff_seconds, 3),
            "receive_count": ctx.receive_count,
            "estimated_cost_usd": round(result.cost_usd, 6),
            "missing_dependencies": list(result.missing_dependencies),
            "replay": event.replay,
            "version": event.version,
            "prompt_source": spec.source,
            "completed_at": datetime.now(UTC).isoformat(),
        }
        output, meta = self._store.write_output(
            event.episode_id, spec.id, spec.extension, result.text, metadata
        )
        self._ledger.record(
            event.episode_id,
            prompt_stage(spec.id),
            "done",
            started_at=started,
            attempts=ctx.receive_count,
            details={
                k: metadata[k]
                for k in (
                    "model",
                    "input_tokens",
                    "cached_input_tokens",
                    "output_tokens",
                    "attempts",
                    "estimated_cost_usd",
                    "missing_dependencies",
                )
            },
        )
        log.info(
            "llm.prompt_completed",
            tokens_in=stats.input_tokens,
            tokens_cached=stats.cached_input_tokens,
            tokens_out=stats.output_tokens,
            attempts=stats.attempts,
            map_calls=stats.map_calls,
        )
        return PromptCompleted(
            episode_id=event.episode_id,
            prompt_id=spec.id,
            model=result.model,
            output=output,
            metadata=meta,
            output_format=spec.output,
            preview=preview(result.text),
            input_tokens=stats.input_tokens,
            cached_input_tokens=stats.cached_input_tokens,
            output_tokens=stats.output_tokens,
            latency_seconds=round(result.latency_seconds, 3),
            attempts=stats.attempts,
            estimated_cost_usd=round(result.cost_usd, 6),
            missing_dependencies=list(result.missing_dependencies),
            version=event.version,
        )

    def _completed_from_metadata(
        self, event: PromptRequested, spec: PromptSpec, stored: dict[str, Any]
    ) -> PromptCompleted:
        keys = EpisodeKeys(event.episode_id)
        text = self._store.read_output(event.episode_id, spec.id, spec.extension) or ""
        return PromptCompleted(
            episode_id=event.episode_id,
            prompt_id=spec.id,
            model=str(stored.get("model", event.model)),
            output=_loc(self._store.bucket, keys.prompt_output(spec.id, spec.extension)),
            metadata=_loc(self._store.bucket, keys.prompt_metadata(spec.id)),
            output_format=spec.output,
            preview=preview(text),
            input_tokens=int(stored.get("input_tokens", 0)),
            cached_input_tokens=int(stored.get("cached_input_tokens", 0)),
            output_tokens=int(stored.get("output_tokens", 0)),
            latency_seconds=float(stored.get("latency_seconds", 0.0)),
            attempts=int(stored.get("attempts", 1)),
            estimated_cost_usd=float(stored.get("estimated_cost_usd", 0.0)),
            missing_dependencies=[str(d) for d in stored.get("missing_dependencies", [])],
            version=event.version,
        )

    def _record_failure(
        self, event: PromptRequested, failure: Failure, started: float | None
    ) -> bool:
        return record_failure(
            self._ledger,
            event.episode_id,
            prompt_stage(event.prompt_id),
            failure,
            started_at=started,
            reason_chars=1000,
            details={
                "model": event.model,
                "replay_command": replay_command(event.episode_id, event.prompt_id),
            },
        )


def preview(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= PREVIEW_CHARS else flat[: PREVIEW_CHARS - 1] + "…"


def _loc(bucket: str, key: str) -> S3Location:
    return S3Location(bucket=bucket, key=key)
