"""Where an episode stands: the pure core behind `podpipe status`, `podpipe wait` and notify.

Inputs are what S3 and the DLQs say about one episode — the stage records
(``episodes/<id>/stages/*.json``), the prompt manifest written by the LLM dispatcher, the keys
of the artifacts that exist, and the DLQ entries that name the episode. The output is one
state per stage (pending / running / done / failed / in DLQ, with timings) and the episode's
overall state. No I/O here: the CLI and notify gather the inputs, this module decides.

Completion rule (shared by notify's "Episode Completed" and `podpipe wait`):

* **completed** — the audio is transcoded, the transcript exists, the manifest exists and
  every prompt in it is done.
* **failed** — a human must act: the transcode or the transcription failed (at once: there is
  no publishable episode without them), or a prompt failed (or sits in a DLQ) and every other
  stage has ended. A DLQ replay that fixes the stage turns the episode back to running.
* **running** / **pending** — work is still expected.

"Episode Completed" fires once when the episode has *ended with the audio and every prompt
settled* (:func:`ready_for_digest`): the transcode is done and each prompt in the manifest is
done or failed, so one broken prompt never holds back the digest of the others.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from podpipe.layout import EpisodeKeys, StageRecord, StageRecordStatus
from podpipe.stages import prompt_id_of, prompt_stage

IN_DLQ: Final = "in DLQ"
DIGEST_DELIVERY: Final = "episode-completed"
"""notify's delivery id of the "Episode completed" digest (one marker per channel)."""
StageState = Literal[StageRecordStatus, "pending", "in DLQ"]
"""A stage's state as status sees it: its own record's, or pending / sitting in a DLQ."""
EpisodeState = Literal["pending", "running", "completed", "failed"]

CORE_STAGES: tuple[str, ...] = ("transcode", "transcribe", "dispatch")
VIDEO_STAGES: tuple[str, ...] = ("video", "video-subtitles", "youtube")
"""A video episode's own stages: ``video.mp4`` (transcode), the subtitled pair, youtube.md."""
SIDE_STAGES: frozenset[str] = frozenset({"clips", *VIDEO_STAGES})
"""Stages that never decide the episode's state: a bad picture never holds back the audio."""
ENDED: frozenset[StageState] = frozenset({"done", "failed", IN_DLQ})
FAILED: frozenset[StageState] = frozenset({"failed", IN_DLQ})

# The queue whose DLQ holds a stage's message when it is stuck there.
_STAGE_QUEUE = {"transcode": "transcode", "transcribe": "transcribe", "dispatch": "llm-dispatch"}


@dataclass(frozen=True)
class ManifestPrompt:
    prompt_id: str
    model: str = ""


@dataclass(frozen=True)
class DlqEntry:
    """A message in a DLQ that names an episode (decoded by podpipe.dlq)."""

    queue: str
    episode_id: str
    prompt_id: str | None = None
    reason: str = ""


@dataclass(frozen=True)
class StageStatus:
    stage: str
    state: StageState
    started_at: float | None = None
    finished_at: float | None = None
    attempts: int = 0
    reason: str | None = None
    prompt_id: str | None = None
    made_without: tuple[str, ...] = ()
    """Done, but without these dependencies' outputs (they failed): never plain done."""
    waiting_for: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """The state as a host reads it: "done (without chapters)", "running (waiting for …)"."""
        if self.state == "done" and self.made_without:
            return f"done (without {', '.join(self.made_without)})"
        if self.state == "running" and self.waiting_for:
            return f"running (waiting for {', '.join(self.waiting_for)})"
        return self.state

    @property
    def seconds(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return max(0.0, self.finished_at - self.started_at)

    @property
    def ended(self) -> bool:
        return self.state in ENDED

    @property
    def failed(self) -> bool:
        return self.state in FAILED

    def as_dict(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "state": self.state,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "seconds": self.seconds,
            "attempts": self.attempts,
            "reason": self.reason,
            "made_without": list(self.made_without),
            "waiting_for": list(self.waiting_for),
        }


@dataclass(frozen=True)
class EpisodeStatus:
    episode_id: str
    state: EpisodeState
    stages: tuple[StageStatus, ...]
    manifest_prompts: tuple[ManifestPrompt, ...] | None
    completed_marker: bool = False
    exists: bool = True
    notes: tuple[str, ...] = field(default_factory=tuple)
    digest_undelivered: tuple[str, ...] = ()
    """The channels the "Episode completed" digest failed to reach (notify's markers)."""

    def stage(self, name: str) -> StageStatus | None:
        return next((s for s in self.stages if s.stage == name), None)

    @property
    def prompt_stages(self) -> tuple[StageStatus, ...]:
        return tuple(s for s in self.stages if s.prompt_id is not None)

    @property
    def failed_stages(self) -> tuple[StageStatus, ...]:
        return tuple(s for s in self.stages if s.failed)

    @property
    def is_completed(self) -> bool:
        return self.state == "completed"

    @property
    def is_settled(self) -> bool:
        """Nothing more will happen on its own (completed, or failed with all else ended)."""
        return self.state in {"completed", "failed"}

    @property
    def started_at(self) -> float | None:
        starts = [s.started_at for s in self.stages if s.started_at is not None]
        return min(starts) if starts else None

    @property
    def finished_at(self) -> float | None:
        ends = [s.finished_at for s in self.stages if s.finished_at is not None]
        return max(ends) if ends else None

    @property
    def wall_seconds(self) -> float | None:
        start, end = self.started_at, self.finished_at
        return None if start is None or end is None else max(0.0, end - start)

    def as_dict(self) -> dict[str, Any]:
        return {
            "episode_id": self.episode_id,
            "state": self.state,
            "completed_marker": self.completed_marker,
            "wall_seconds": self.wall_seconds,
            "prompts": None
            if self.manifest_prompts is None
            else [p.prompt_id for p in self.manifest_prompts],
            "stages": [s.as_dict() for s in self.stages],
            "notes": list(self.notes),
        }


class ManifestError(ValueError):
    """The prompt manifest is not the JSON the dispatcher writes."""


def parse_manifest(raw: Any) -> tuple[ManifestPrompt, ...]:
    """The prompts of a manifest: ``{"prompts": [{"id"|"prompt_id": ..., "model": ...}]}``.

    Plain strings in the list are accepted too, so a manifest can list bare prompt ids.
    """
    if not isinstance(raw, Mapping) or not isinstance(raw.get("prompts"), list):
        raise ManifestError("manifest has no 'prompts' list")
    prompts: list[ManifestPrompt] = []
    for item in raw["prompts"]:
        if isinstance(item, str):
            prompts.append(ManifestPrompt(item))
        elif isinstance(item, Mapping):
            prompt_id = item.get("id", item.get("prompt_id"))
            if not isinstance(prompt_id, str) or not prompt_id:
                raise ManifestError(f"manifest prompt without an id: {dict(item)!r}")
            prompts.append(ManifestPrompt(prompt_id, str(item.get("model") or "")))
        else:
            raise ManifestError(f"manifest prompt is a {type(item).__name__}")
    return tuple(prompts)


def _from_record(stage: str, record: StageRecord | None, prompt_id: str | None) -> StageStatus:
    if record is None:
        return StageStatus(stage=stage, state="pending", prompt_id=prompt_id)
    state: StageState = "running"
    if record.status == "done":
        state = "done"
    elif record.status == "failed":
        state = "failed"
    return StageStatus(
        stage=stage,
        state=state,
        started_at=record.started_at,
        finished_at=record.finished_at,
        attempts=record.attempts,
        reason=record.reason,
        prompt_id=prompt_id,
        made_without=_names(record.details.get("missing_dependencies")) if state == "done" else (),
        waiting_for=_names(record.details.get("waiting_for")) if state == "running" else (),
    )


def _names(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if isinstance(value, list) else ()


def _artifact_done(stage: str, keys: EpisodeKeys, existing: frozenset[str]) -> bool:
    """A stage whose output exists is done even if its record is missing or stale."""
    if stage == "transcode":
        return keys.audio in existing
    if stage == "transcribe":
        return keys.transcript_json in existing
    if stage == "dispatch":
        return keys.manifest in existing
    if stage == "video":
        return keys.video in existing
    if stage == "video-subtitles":
        return keys.video_subtitles_record in existing
    if stage == "youtube":
        return keys.prompt_output("youtube", "md") in existing
    prompt_id = prompt_id_of(stage)
    if prompt_id is not None:
        try:
            return keys.prompt_metadata(prompt_id) in existing
        except ValueError:
            return False
    return False


def _resolve(
    stage: str,
    record: StageRecord | None,
    keys: EpisodeKeys,
    existing: frozenset[str],
    dlq: Sequence[DlqEntry],
    prompt_id: str | None = None,
) -> StageStatus:
    status = _from_record(stage, record, prompt_id)
    if status.state != "done" and _artifact_done(stage, keys, existing):
        # The output exists: a replay succeeded after the record said failed, or the stage
        # wrote its artifact but not (yet) its record. The artifact is the truth.
        return StageStatus(
            stage=stage,
            state="done",
            started_at=status.started_at,
            finished_at=status.finished_at,
            attempts=status.attempts,
            prompt_id=prompt_id,
        )
    if status.state in {"done", "running"}:
        # A message being replayed or retried is running, whatever the DLQ listing saw.
        return status
    if dlq:
        reason = dlq[0].reason or status.reason
        return StageStatus(
            stage=stage,
            state=IN_DLQ,
            started_at=status.started_at,
            finished_at=status.finished_at,
            attempts=status.attempts,
            reason=reason,
            prompt_id=prompt_id,
        )
    return status


def episode_status(
    episode_id: str,
    *,
    records: Mapping[str, StageRecord],
    manifest: Any | None,
    existing_keys: Iterable[str],
    dlq_entries: Iterable[DlqEntry] = (),
    upload_exists: bool = False,
    undelivered: Iterable[Mapping[str, Any]] = (),
) -> EpisodeStatus:
    """Combine stage records, the manifest, artifact keys and DLQ entries into one status.

    ``undelivered``: notify's delivery markers left failed — what the team was not told.
    """
    keys = EpisodeKeys(episode_id)
    existing = frozenset(existing_keys)
    entries = [e for e in dlq_entries if e.episode_id == episode_id]
    notes: list[str] = []
    for marker in undelivered:
        notes.append(
            f"notification {marker.get('notification', '?')} not delivered to "
            f"{marker.get('channel', '?')}: {marker.get('reason', 'unknown reason')}"
        )
    for entry in entries:
        if entry.queue == "notify":
            what = f" (prompt {entry.prompt_id})" if entry.prompt_id else ""
            notes.append(f"a notification{what} is in the notify DLQ: {entry.reason}")

    prompts: tuple[ManifestPrompt, ...] | None = None
    if manifest is not None:
        try:
            prompts = parse_manifest(manifest)
        except ManifestError as exc:
            notes.append(f"manifest unreadable: {exc}")

    def stage_dlq(stage: str) -> list[DlqEntry]:
        queue = _STAGE_QUEUE.get(stage)
        return [e for e in entries if e.queue == queue]

    stages: list[StageStatus] = [
        _resolve(stage, records.get(stage), keys, existing, stage_dlq(stage))
        for stage in CORE_STAGES
    ]
    prompt_ids = [p.prompt_id for p in prompts] if prompts is not None else []
    # Prompts that ran without being in the manifest (e.g. a manual replay) still show.
    extra = sorted(
        prompt_id
        for prompt_id in (prompt_id_of(name) for name in records)
        if prompt_id is not None and prompt_id not in prompt_ids
    )
    for prompt_id in [*prompt_ids, *extra]:
        stage = prompt_stage(prompt_id)
        prompt_dlq = [e for e in entries if e.queue == "llm" and e.prompt_id == prompt_id]
        stages.append(_resolve(stage, records.get(stage), keys, existing, prompt_dlq, prompt_id))
    if "clips" in records:
        stages.append(_resolve("clips", records["clips"], keys, existing, []))
    if keys.video in existing or any(stage in records for stage in VIDEO_STAGES):
        # A video episode: its video stages show from the start, pending until they run.
        stages += [
            _resolve(stage, records.get(stage), keys, existing, []) for stage in VIDEO_STAGES
        ]

    by_name = {s.stage: s for s in stages}
    has_anything = bool(existing) or bool(records) or upload_exists or bool(entries)
    state = _overall_state(by_name, prompt_ids if prompts is not None else None, has_anything)
    if state == "completed" and keys.completed_marker not in existing:
        notes.append("every stage is done, but 'Episode completed' has not been announced yet")
    return EpisodeStatus(
        episode_id=episode_id,
        state=state,
        stages=tuple(stages),
        manifest_prompts=prompts,
        completed_marker=keys.completed_marker in existing,
        exists=has_anything,
        notes=tuple(notes),
        digest_undelivered=tuple(
            sorted(
                {
                    str(m.get("channel", "?"))
                    for m in undelivered
                    if m.get("notification") == DIGEST_DELIVERY
                }
            )
        ),
    )


def _overall_state(
    stages: Mapping[str, StageStatus], prompt_ids: Sequence[str] | None, has_anything: bool
) -> EpisodeState:
    transcode, transcribe, dispatch = (stages[s] for s in CORE_STAGES)
    prompt_states = [stages[prompt_stage(p)] for p in prompt_ids or ()]
    if (
        transcode.state == "done"
        and transcribe.state == "done"
        and prompt_ids is not None
        and all(p.state == "done" for p in prompt_states)
    ):
        return "completed"

    if transcode.failed or transcribe.failed:
        # No publishable episode without audio and transcript: failed at once (a DLQ replay
        # that fixes the stage turns it back into running, then completed).
        return "failed"
    # Work still expected: a branch that has not ended and is not blocked by a failure.
    expected: list[StageStatus] = [transcode, transcribe]
    if transcribe.state == "done":
        expected.append(dispatch)
        if prompt_ids is not None:
            expected += prompt_states
    any_failed = any(s.failed for s in stages.values() if s.stage not in SIDE_STAGES)
    if any_failed and all(s.ended for s in expected):
        return "failed"
    if not has_anything:
        return "pending"
    return "running"


def ready_for_digest(status: EpisodeStatus) -> bool:
    """True when "Episode Completed" is due: audio done and every manifest prompt ended.

    A failed prompt does not block the digest (it is listed as failed, with its replay
    command sent earlier); a failed transcode or transcription does — there is no episode
    to publish, and the "... Failed" notification already told the team.
    """
    transcode = status.stage("transcode")
    transcribe = status.stage("transcribe")
    if transcode is None or transcode.state != "done":
        return False
    if transcribe is None or transcribe.state != "done":
        return False
    if status.manifest_prompts is None:
        return False
    return all(s.ended for s in status.prompt_stages if s.prompt_id in _ids(status))


def _ids(status: EpisodeStatus) -> frozenset[str]:
    return frozenset(p.prompt_id for p in status.manifest_prompts or ())


def with_event_overlay(
    records: Mapping[str, StageRecord], stage: str, record: StageRecord
) -> dict[str, StageRecord]:
    """Records with one stage overridden by what an event just said (newer than S3 may be)."""
    current = records.get(stage)
    merged = dict(records)
    # "done" is final (the artifact exists); a late duplicate "failed" must not undo it.
    if current is None or current.status != "done":
        merged[stage] = record
    return merged
