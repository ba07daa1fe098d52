"""The one "Episode Completed" per episode: decide (pure core), claim (S3 conditional write).

Any notify worker handling any event of an episode may find the episode ready for its digest;
they race to create ``episodes/<id>/completed.json`` with ``If-None-Match: *``. S3 lets exactly
one create win, so duplicate deliveries and parallel workers still produce one event.

One gap is closed on purpose: the winner might crash between claiming the marker and the
runtime publishing its event. The marker records the claiming SQS message id; when that same
message comes back (receive count > 1) before notify has seen the event on the bus (state
still "claimed"), it re-emits.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog

from podpipe.episodes import EpisodeStatus, ready_for_digest
from podpipe.episodes_s3 import EpisodeSnapshot
from podpipe.events import EpisodeCompleted, OutputLink, S3Location, StageTiming
from podpipe.layout import EpisodeKeys, StageRecord
from podpipe.pricing import compute_cost, llm_cost, transcription_cost
from podpipe.runtime.service import MessageContext
from podpipe.stages import prompt_id_of

if TYPE_CHECKING:
    from podpipe_notify.store import NotifyStore

log = structlog.get_logger()

# Fargate task sizes (vCPU, GB) the compute estimate assumes per stage (infra/terraform sizes).
TASK_SIZES: dict[str, tuple[float, float]] = {
    "transcode": (1.0, 2.0),
    "transcribe": (2.0, 4.0),
    "dispatch": (0.25, 0.5),
    "prompt": (0.5, 1.0),
    "clips": (1.0, 2.0),
}


@dataclass(frozen=True)
class EpisodeCosts:
    transcription: float
    llm: float
    compute: float

    @property
    def total(self) -> float:
        return self.transcription + self.llm + self.compute

    def breakdown(self) -> dict[str, float]:
        return {
            "transcription": round(self.transcription, 6),
            "llm": round(self.llm, 6),
            "compute": round(self.compute, 6),
        }


def estimate_costs(
    status: EpisodeStatus,
    *,
    transcription_backend: str,
    audio_seconds: float,
    prompt_metadata: Mapping[str, Any],
) -> EpisodeCosts:
    """Transcription by the minute, LLM tokens per prompt, Fargate seconds per stage."""
    llm = 0.0
    for meta in prompt_metadata.values():
        if not isinstance(meta, Mapping):
            continue
        if isinstance(meta.get("estimated_cost_usd"), int | float):
            llm += float(meta["estimated_cost_usd"])
        else:
            llm += llm_cost(
                str(meta.get("model", "")),
                int(meta.get("input_tokens", 0) or 0),
                int(meta.get("output_tokens", 0) or 0),
                cached_input_tokens=int(meta.get("cached_input_tokens", 0) or 0),
                cache_write_tokens=int(meta.get("cache_write_tokens", 0) or 0),
            )
    compute = 0.0
    for stage in status.stages:
        if stage.seconds is None:
            continue
        size = (
            TASK_SIZES["prompt" if stage.prompt_id else stage.stage]
            if (stage.prompt_id or stage.stage in TASK_SIZES)
            else None
        )
        if size:
            compute += compute_cost(size[0], size[1], stage.seconds)
    return EpisodeCosts(
        transcription=transcription_cost(transcription_backend, audio_seconds),
        llm=llm,
        compute=compute,
    )


def timings(status: EpisodeStatus) -> list[StageTiming]:
    return [
        StageTiming(
            stage=s.stage, status="done" if s.state == "done" else "failed", seconds=s.seconds
        )
        for s in status.stages
        if s.ended and s.seconds is not None
    ]


def output_name(keys: EpisodeKeys, key: str) -> str:
    return key[len(keys.root) :]


def is_deliverable(keys: EpisodeKeys, key: str) -> bool:
    """Artifacts a host wants a link to (not stage records, markers or manifests)."""
    name = output_name(keys, key)
    return not (
        name.startswith(("stages/", "prompts/", "notifications/", "versions/"))
        or name.endswith(".meta.json")
        or key in {keys.completed_marker, keys.audio_info, keys.version_record}
    )


class CompletionTracker:
    """Reads the episode, decides whether the digest is due and claims the marker."""

    def __init__(self, store: NotifyStore, *, presign_expiry_seconds: int) -> None:
        self._store = store
        self._expiry = presign_expiry_seconds

    def marker(self, episode_id: str) -> dict[str, Any] | None:
        raw = self._store.get_json(EpisodeKeys(episode_id).completed_marker)
        return raw if isinstance(raw, dict) else None

    def check(
        self,
        episode_id: str,
        ctx: MessageContext,
        overlay: Mapping[str, StageRecord] | None = None,
    ) -> list[EpisodeCompleted]:
        """The EpisodeCompleted to publish for this message: [] or exactly one, once."""
        keys = EpisodeKeys(episode_id)
        existing = self.marker(episode_id)
        if existing is not None and not self._may_reemit(existing, ctx):
            return []
        snapshot = self._store.read_episode(episode_id, overlay=overlay)
        if not ready_for_digest(snapshot.status):
            return []
        event = self.build_event(snapshot)
        claim = {
            "episode_id": episode_id,
            "claimed_by_message": ctx.message_id,
            "claimed_at": time.time(),
            "state": "claimed",
            "failed_prompts": event.failed_prompts,
        }
        if self._store.put_json_if_absent(keys.completed_marker, claim):
            log.info("notify.episode_completed_claimed", episode_id=episode_id)
            return [event]
        # Lost the race, or this is a redelivery of the message that claimed it earlier.
        existing = self.marker(episode_id)
        if existing is not None and self._may_reemit(existing, ctx):
            log.warning("notify.episode_completed_reemitted", episode_id=episode_id)
            return [event]
        return []

    @staticmethod
    def _may_reemit(marker: Mapping[str, Any], ctx: MessageContext) -> bool:
        # Only while the event has not been seen on the bus: notify marks the marker
        # "received" as soon as "Episode Completed" reaches it.
        return (
            marker.get("claimed_by_message") == ctx.message_id
            and ctx.receive_count > 1
            and marker.get("state") == "claimed"
        )

    def digest_already_sent(self, episode_id: str) -> bool:
        marker = self.marker(episode_id)
        return marker is not None and marker.get("state") == "notified"

    def mark_received(self, episode_id: str) -> None:
        marker = self.marker(episode_id) or {"episode_id": episode_id}
        if marker.get("state") in (None, "claimed"):
            marker.update(state="received", received_at=time.time())
            self._store.put_json(EpisodeKeys(episode_id).completed_marker, marker)

    def mark_notified(self, episode_id: str) -> None:
        marker = self.marker(episode_id) or {"episode_id": episode_id}
        marker.update(state="notified", notified_at=time.time())
        self._store.put_json(EpisodeKeys(episode_id).completed_marker, marker)

    def repaired_by_replay(self, episode_id: str, prompt_id: str) -> EpisodeCompleted | None:
        """After the digest listed ``prompt_id`` as failed and a replay completed it: the
        refreshed digest when no failed prompt remains, else None. Not an event to publish
        ("Episode Completed" stays exactly-once); the marker remembers what was repaired."""
        marker = self.marker(episode_id)
        if marker is None:
            return None
        failed = list(marker.get("failed_prompts", []))
        repaired = list(marker.get("repaired_prompts", []))
        if prompt_id not in failed and prompt_id not in repaired:
            return None
        remaining = [p for p in failed if p != prompt_id]
        if prompt_id in failed:
            # Recorded before the follow-up is sent; a retry of this message finds it under
            # repaired_prompts and sends the follow-up again (delivery markers dedupe it).
            marker["failed_prompts"] = remaining
            marker["repaired_prompts"] = [*repaired, prompt_id]
            self._store.put_json(EpisodeKeys(episode_id).completed_marker, marker)
        if remaining:
            return None
        snapshot = self._store.read_episode(episode_id)
        return self.build_event(snapshot) if snapshot.status.is_completed else None

    def build_event(self, snapshot: EpisodeSnapshot) -> EpisodeCompleted:
        status = snapshot.status
        keys = EpisodeKeys(status.episode_id)
        outputs = []
        for obj in sorted(snapshot.objects, key=lambda o: o.key):
            if not is_deliverable(keys, obj.key):
                continue
            outputs.append(
                OutputLink(
                    name=output_name(keys, obj.key),
                    location=S3Location(bucket=self._store.bucket, key=obj.key),
                    url=self._store.presign(obj.key, self._expiry),
                )
            )
        backend, audio_seconds = self._transcription_facts(snapshot)
        prompt_meta = {
            s.prompt_id: self._store.get_json(keys.prompt_metadata(s.prompt_id))
            for s in status.prompt_stages
            if s.prompt_id and s.state == "done"
        }
        for stage, record in snapshot.records.items():
            # Prompt costs recorded on the stage record count when no metadata file says more.
            prompt_id = prompt_id_of(stage)
            if prompt_id is not None and prompt_meta.get(prompt_id) is None and record.details:
                prompt_meta[prompt_id] = record.details
        costs = estimate_costs(
            status,
            transcription_backend=backend,
            audio_seconds=audio_seconds,
            prompt_metadata=prompt_meta,
        )
        failed = [s.prompt_id for s in status.prompt_stages if s.prompt_id and s.failed]
        made_without = {
            s.prompt_id: list(s.made_without)
            for s in status.prompt_stages
            if s.prompt_id and s.state == "done" and s.made_without
        }
        return EpisodeCompleted(
            made_without=made_without,
            episode_id=status.episode_id,
            outputs=outputs,
            failed_prompts=failed,
            timings=timings(status),
            estimated_cost_usd=round(costs.total, 6),
            cost_breakdown=costs.breakdown(),
            wall_seconds=round(status.wall_seconds or 0.0, 3),
        )

    def _transcription_facts(self, snapshot: EpisodeSnapshot) -> tuple[str, float]:
        """Backend and audio length, from the stage record or else the transcript itself."""
        record = snapshot.records.get("transcribe")
        details = record.details if record else {}
        backend = details.get("backend")
        seconds = details.get("duration_seconds", details.get("audio_seconds"))
        if isinstance(backend, str) and isinstance(seconds, int | float):
            return backend, float(seconds)
        transcript = self._store.get_json(EpisodeKeys(snapshot.status.episode_id).transcript_json)
        if isinstance(transcript, dict):
            return str(transcript.get("backend", "")), float(transcript.get("duration_seconds", 0))
        return "", 0.0
