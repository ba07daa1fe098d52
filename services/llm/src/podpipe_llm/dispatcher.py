"""On "Transcript Ready": write the prompt manifest and request one message per prompt.

The requests are returned as "Prompt Requested" events; the ``prompts-to-llm`` rule routes
them to the single-consumer ``llm`` queue. Messages carry pointers only. Prompts are
requested dependencies first (chapters before the blog post that uses them): with one
consumer that order usually holds, and the worker copes when it does not.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime

import structlog

from podpipe.events import Event, PromptRequested, PromptsDispatched, TranscriptReady
from podpipe.runtime.errors import PermanentError
from podpipe.runtime.service import MessageContext
from podpipe.stages import StageLedger, pinned_version, same_version, superseded
from podpipe_llm.catalog import CatalogError
from podpipe_llm.providers.base import RefusedError
from podpipe_llm.providers.registry import Providers
from podpipe_llm.store import CatalogSource, EpisodeStore

log = structlog.get_logger()
DISPATCH_STAGE = "dispatch"


class Dispatcher:
    def __init__(
        self,
        store: EpisodeStore,
        catalog: CatalogSource,
        providers: Providers,
        *,
        ledger: StageLedger,
    ) -> None:
        self._store = store
        self._ledger = ledger
        self._catalog = catalog
        self._providers = providers

    def handle(self, event: TranscriptReady, ctx: MessageContext) -> Sequence[Event]:
        started = time.time()
        episode_id = event.episode_id
        if superseded(self._ledger, episode_id, event.version, work=DISPATCH_STAGE):
            return []  # the transcript of a replaced recording: the new one dispatches anew
        version = pinned_version(self._ledger, episode_id, event.version)
        try:
            catalog = self._catalog.load()
            planned = [(spec, self._providers.resolve(spec.model)) for spec in catalog.ordered()]
        except (CatalogError, RefusedError) as exc:
            raise PermanentError(f"the prompt catalog cannot be used: {exc}") from exc
        requests: list[PromptRequested] = []
        existing: list[str] = []
        entries = []
        for spec, model in planned:
            stored = self._store.read_output_metadata(episode_id, spec.id)
            # An output counts only for the version it was made for (podpipe.stages).
            done = stored is not None and same_version(stored.get("version"), version)
            if done:
                existing.append(spec.id)
            else:
                requests.append(
                    PromptRequested(
                        episode_id=episode_id,
                        prompt_id=spec.id,
                        model=model,
                        transcript_json=event.transcript_json,
                        version=version,
                    )
                )
            entries.append(
                {
                    "id": spec.id,
                    "description": spec.description,
                    "model": model,
                    "output_format": spec.output,
                    "schema": spec.output_schema,
                    "depends_on": spec.depends_on,
                    "source": spec.source,
                    "status": "existing" if done else "requested",
                }
            )
        manifest = self._store.write_manifest(
            episode_id,
            {
                "episode_id": episode_id,
                "dispatched_at": datetime.now(UTC).isoformat(),
                "transcript": event.transcript_json.uri,
                "duration_seconds": event.duration_seconds,
                "catalog_sources": list(catalog.sources),
                "prompts": entries,
            },
        )
        self._ledger.record(
            episode_id,
            DISPATCH_STAGE,
            "done",
            started_at=started,
            attempts=ctx.receive_count,
            details={"requested": [r.prompt_id for r in requests], "existing": existing},
        )
        log.info("llm.prompts_dispatched", requested=len(requests), existing=len(existing))
        dispatched = PromptsDispatched(
            episode_id=episode_id,
            manifest=manifest,
            prompt_ids=[r.prompt_id for r in requests],
            skipped_existing=existing,
        )
        return [dispatched, *requests]
