"""The studio's imperative shell: what a page needs, read through the SAME functions the CLI
uses, and every change made by the SAME operations.

* status: ``podpipe_cli.status`` (recent episodes, DLQ entries) and ``podpipe.episodes_s3``
  over the pure core in ``podpipe.episodes`` — nothing recomputed here;
* replay: ``podpipe.dlq.DeadLetters.replay`` — what `podpipe dlq replay` calls;
* release: ``podpipe.release.operations.ReleaseDesk``, built by ``podpipe.release.wiring``
  exactly as for `podpipe release` / `publish`;
* upload: ``podpipe_cli.upload.send_episode`` (sidecar first, then the audio);
* running order: ``podpipe_llm.prep.service.save_running_order`` — what `podpipe prep
  choose` calls;
* promotion: ``podpipe_promote.desk.PromotionDesk``, built by ``podpipe_promote.wiring``
  exactly as for `podpipe promote EP` (its plan, and ``skip`` as `--skip N`).

Media reach the browser as presigned S3 URLs; nothing here puts credentials in a page.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from podpipe.dlq import DeadLetters, DlqError, ReplayReport, Selection
from podpipe.documents import Segment, Transcript
from podpipe.episodes import DlqEntry
from podpipe.episodes_s3 import EpisodeSnapshot, StoredObject, read_episode
from podpipe.layout import (
    AUDIO_EXTENSIONS,
    PREP_DATE_PATTERN,
    PREP_PREFIX,
    EpisodeKeys,
    EpisodeMetadata,
    prep_brief_key,
    slugify_episode_id,
    validate_episode_id,
)
from podpipe.release.model import Release, feed_key, parse_when
from podpipe.release.operations import Draft, PublishOutcome, ReleaseDesk, utc_now
from podpipe.release.wiring import ReleaseSettings, desk_for_session
from podpipe.s3io import get_bytes_or_none, read_episode_metadata
from podpipe_cli.context import AwsContext, describe
from podpipe_cli.status import dlq_entries, recent_episode_ids
from podpipe_cli.upload import episode_metadata, send_episode
from podpipe_llm.prep.models import BriefItem
from podpipe_llm.prep.service import ChoiceError, SavedRunningOrder, save_running_order
from podpipe_llm.prep.store import S3PrepStore
from podpipe_promote.desk import PromotionDesk
from podpipe_promote.plan import PlanError, PromotionPlan
from podpipe_promote.wiring import desk_for_session as promotion_desk_for_session
from podpipe_studio.views import OutputView, output_view

VIDEO_EXTENSIONS = (".mp4", ".webm")
PAGE_LINK_SECONDS = 3600
DLQ_READ_SECONDS = 10.0


class StudioError(Exception):
    """Something the operator asked for that cannot be done, in words they can act on."""


def explain(exc: BaseException) -> str | None:
    """One actionable line for a known error (the CLI's own mapping), None for a bug."""
    if isinstance(exc, StudioError | DlqError):
        return str(exc)
    return describe(exc)


@dataclass(frozen=True)
class EpisodeRow:
    snapshot: EpisodeSnapshot
    metadata: EpisodeMetadata


@dataclass(frozen=True)
class MediaFile:
    name: str
    url: str
    video: bool


@dataclass(frozen=True)
class EpisodePage:
    episode_id: str
    snapshot: EpisodeSnapshot
    metadata: EpisodeMetadata
    dlq: list[DlqEntry]
    audio_url: str | None
    chapters: list[tuple[float, str]]
    segments: list[Segment]
    outputs: list[OutputView]
    clips: list[MediaFile]
    subtitles_vtt: str | None
    subtitle_links: dict[str, str]
    draft: Draft | None
    draft_error: str | None
    notes_markdown: str = ""
    files: list[StoredObject] = field(default_factory=list)
    promotion: PromotionPlan | None = None
    promotion_error: str | None = None


class Studio:
    """One operator's view of one account (the CLI's settings and credentials)."""

    def __init__(
        self,
        aws: AwsContext,
        desk: ReleaseDesk,
        *,
        presign_seconds: int,
        promotion: PromotionDesk | None = None,
    ) -> None:
        self.aws = aws
        self.desk = desk
        self.promotion = promotion
        self._presign_seconds = presign_seconds
        # Listing a DLQ hides its messages for a moment; a replay must not run meanwhile.
        self._dlq_lock = threading.Lock()
        self._dlq_read: tuple[float, list[DlqEntry]] | None = None

    @classmethod
    def from_context(cls, aws: AwsContext) -> Studio:
        settings = ReleaseSettings()
        desk = desk_for_session(aws.session, aws.s3, settings)
        # A page is looked at for minutes: its media links need not live for hours.
        seconds = min(settings.presign_expiry_seconds, PAGE_LINK_SECONDS)
        promotion = promotion_desk_for_session(aws.session, aws.s3)
        return cls(aws, desk, presign_seconds=seconds, promotion=promotion)

    @property
    def bucket(self) -> str:
        return self.aws.bucket

    def presign(self, key: str) -> str:
        return self.aws.s3.generate_presigned_url(
            "get_object",
            Params={"Bucket": self.bucket, "Key": key},
            ExpiresIn=self._presign_seconds,
        )

    # ------------------------------------------------------------------ episodes

    def _dlq_entries(self, episode_id: str | None = None) -> list[DlqEntry]:
        """What the DLQs hold, read at most once per DLQ_READ_SECONDS whatever the number of
        open pages polling (each read hides the messages for a moment, and takes seconds)."""
        with self._dlq_lock:
            now = time.monotonic()
            if self._dlq_read is None or now - self._dlq_read[0] > DLQ_READ_SECONDS:
                self._dlq_read = (now, dlq_entries(self.aws))
            entries = self._dlq_read[1]
        return [e for e in entries if episode_id is None or e.episode_id == episode_id]

    def episodes(self, limit: int = 50) -> list[EpisodeRow]:
        entries = self._dlq_entries()
        rows: list[EpisodeRow] = []
        for episode_id in recent_episode_ids(self.aws, limit):
            snapshot = read_episode(
                self.aws.s3,
                self.bucket,
                episode_id,
                dlq_entries=[e for e in entries if e.episode_id == episode_id],
            )
            rows.append(EpisodeRow(snapshot, self.metadata(episode_id)))
        return rows

    def metadata(self, episode_id: str) -> EpisodeMetadata:
        return read_episode_metadata(self.aws.s3, self.bucket, episode_id)

    def snapshot(self, episode_id: str) -> tuple[EpisodeSnapshot, list[DlqEntry]]:
        episode_id = validate_episode_id(episode_id)
        entries = self._dlq_entries(episode_id)
        snapshot = read_episode(self.aws.s3, self.bucket, episode_id, dlq_entries=entries)
        if not snapshot.status.exists:
            raise StudioError(f"no such episode {episode_id!r} in bucket {self.bucket!r}")
        return snapshot, entries

    def _json(self, key: str) -> Any:
        raw = get_bytes_or_none(self.aws.s3, self.bucket, key)
        if raw is None:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            return None

    def episode(self, episode_id: str) -> EpisodePage:
        snapshot, entries = self.snapshot(episode_id)
        keys = EpisodeKeys(snapshot.status.episode_id)
        present = {o.key for o in snapshot.objects}
        draft: Draft | None = None
        draft_error: str | None = None
        try:
            draft = self.desk.draft(keys.episode_id)
        except Exception as exc:
            draft_error = explain(exc)
            if draft_error is None:
                raise
        return EpisodePage(
            episode_id=keys.episode_id,
            snapshot=snapshot,
            metadata=self.metadata(keys.episode_id),
            dlq=entries,
            audio_url=self.presign(keys.audio) if keys.audio in present else None,
            chapters=self._chapters(keys),
            segments=self._segments(keys, present),
            outputs=self._outputs(keys, snapshot.objects),
            clips=self._clips(keys, snapshot.objects),
            subtitles_vtt=self._text(keys.subtitles_vtt) if keys.subtitles_vtt in present else None,
            subtitle_links={
                name: self.presign(key)
                for name, key in (("SRT", keys.subtitles_srt), ("VTT", keys.subtitles_vtt))
                if key in present
            },
            draft=draft,
            draft_error=draft_error,
            notes_markdown=(draft.notes or "") if draft else "",
            files=list(snapshot.objects),
            **self._promotion(keys.episode_id),
        )

    # ------------------------------------------------------------------ promotion

    def _promotion(self, episode_id: str) -> dict[str, Any]:
        """The episode's promotion plan for its page (None before it is made)."""
        if self.promotion is None:
            return {}
        try:
            return {"promotion": self.promotion.plan(episode_id)}
        except ValidationError:
            return {"promotion_error": f"{episode_id}: its promotion/plan.json is not a plan"}

    def skip_promotion_item(self, episode_id: str, number: int) -> PromotionPlan:
        """Exactly `podpipe promote EP --skip N`: the item will not go out."""
        if self.promotion is None:
            raise StudioError("promotion is not available in this studio")
        try:
            return self.promotion.skip(validate_episode_id(episode_id), number)
        except PlanError as exc:
            raise StudioError(str(exc)) from None

    # ------------------------------------------------------------------ prep

    def brief_dates(self) -> list[str]:
        """The dates of the briefs `podpipe prep` wrote, newest first."""
        paginator = self.aws.s3.get_paginator("list_objects_v2")
        dates = [
            name
            for page in paginator.paginate(Bucket=self.bucket, Prefix=PREP_PREFIX, Delimiter="/")
            for prefix in page.get("CommonPrefixes", [])
            if PREP_DATE_PATTERN.fullmatch(name := prefix.get("Prefix", "")[len(PREP_PREFIX) : -1])
        ]
        return sorted(dates, reverse=True)

    def brief(self, date: str) -> str | None:
        """A brief's Markdown (rendered by the page through markdown-it + nh3)."""
        return self._text(prep_brief_key(date, "md"))

    def brief_items(self, date: str) -> list[BriefItem]:
        """The items of a brief the host can tick (from its brief.json)."""
        found = self._prep().read_brief(date) if PREP_DATE_PATTERN.fullmatch(date) else None
        return list(found.items) if found else []

    def save_running_order(self, date: str, episode_id: str, ranks: list[int]) -> SavedRunningOrder:
        """The episode's running order: `podpipe prep choose`'s own operation."""
        try:
            return save_running_order(self._prep(), episode_id, ranks, date=date)
        except ChoiceError as exc:
            raise StudioError(str(exc)) from None

    def _prep(self) -> S3PrepStore:
        return S3PrepStore(self.aws.s3, self.bucket)

    def subtitles_vtt(self, episode_id: str) -> str | None:
        return self._text(EpisodeKeys(validate_episode_id(episode_id)).subtitles_vtt)

    def _text(self, key: str) -> str | None:
        raw = get_bytes_or_none(self.aws.s3, self.bucket, key)
        return None if raw is None else raw.decode("utf-8", "replace")

    def _chapters(self, keys: EpisodeKeys) -> list[tuple[float, str]]:
        raw = self._json(keys.prompt_output("chapters", "json"))
        chapters = raw.get("chapters", []) if isinstance(raw, dict) else []
        return [
            (float(c.get("startTime", 0) or 0), str(c.get("title", "")))
            for c in chapters
            if isinstance(c, dict)
        ]

    def _segments(self, keys: EpisodeKeys, present: set[str]) -> list[Segment]:
        if keys.transcript_json not in present:
            return []
        raw = self._json(keys.transcript_json)
        try:
            return Transcript.model_validate(raw).segments
        except ValidationError:
            return []

    def _outputs(self, keys: EpisodeKeys, objects: tuple[StoredObject, ...]) -> list[OutputView]:
        views: list[OutputView] = []
        for obj in objects:
            if not obj.key.startswith(keys.outputs_prefix) or obj.key.endswith(".meta.json"):
                continue
            name = obj.key[len(keys.outputs_prefix) :]
            if "/" in name or "." not in name:
                continue
            prompt_id, extension = name.rsplit(".", 1)
            body = get_bytes_or_none(self.aws.s3, self.bucket, obj.key) or b""
            meta = self._json(keys.prompt_metadata(prompt_id))
            views.append(output_view(prompt_id, extension, body, meta, self.presign(obj.key)))
        return views

    def _clips(self, keys: EpisodeKeys, objects: tuple[StoredObject, ...]) -> list[MediaFile]:
        clips: list[MediaFile] = []
        for obj in objects:
            if not obj.key.startswith(keys.clips_prefix):
                continue
            name = obj.key[len(keys.clips_prefix) :]
            if name.endswith(VIDEO_EXTENSIONS):
                clips.append(MediaFile(name, self.presign(obj.key), video=True))
        # The trailer last, clips in order.
        return sorted(clips, key=lambda c: (c.name.startswith("trailer"), c.name))

    # ------------------------------------------------------------------ replay

    def replay(
        self, episode_id: str, queue: str, prompt_id: str | None, model: str | None
    ) -> ReplayReport:
        """Exactly `podpipe dlq replay --queue Q --episode E [--prompt P] [--model M]`."""
        dead = DeadLetters(self.aws.sqs, self.aws.settings)
        dead.queues(queue)  # validates the name before touching AWS
        if prompt_id and queue != "llm":
            raise DlqError("--prompt only applies to the llm queue")
        with self._dlq_lock:
            report = dead.replay(
                queue,
                Selection(episode_id=validate_episode_id(episode_id), prompt_id=prompt_id or None),
                model=model or None,
            )
            self._dlq_read = None  # the next page reads the DLQs again
        if not report.replayed:
            raise StudioError(
                f"no dead-lettered message matched ({report.kept} left untouched in the DLQ)"
            )
        return report

    # ------------------------------------------------------------------ release

    def approve(
        self,
        episode_id: str,
        *,
        title_number: int | None,
        title_text: str | None,
        notes_markdown: str | None,
    ) -> Release:
        current = self.desk.draft(episode_id)
        if notes_markdown is not None and _same_text(notes_markdown, current.notes):
            notes_markdown = None  # unchanged: keep the version it already is
        return self.desk.approve(
            episode_id,
            title_number=title_number,
            title_text=title_text,
            notes_markdown=notes_markdown,
        )

    def publish(self, episode_id: str, at: str | None) -> PublishOutcome:
        when = parse_when(at, utc_now()) if at else None
        return self.desk.publish(episode_id, at=when)

    def unpublish(self, episode_id: str) -> Release:
        return self.desk.unpublish(episode_id)

    def feed(self, show_id: str) -> str | None:
        """The show's current feed XML (from the bucket the release module writes)."""
        return self._text(feed_key(show_id))

    # ------------------------------------------------------------------ upload

    def upload(
        self,
        path: Path,
        *,
        episode_id: str,
        title: str,
        show: str,
        number: int | None,
        hosts: str,
        guests: str,
        on_progress: Callable[[int], None] | None = None,
    ) -> tuple[str, str]:
        """What `podpipe upload` does with a file: returns (episode id, audio key)."""
        if path.suffix.lower() not in AUDIO_EXTENSIONS:
            known = ", ".join(sorted(AUDIO_EXTENSIONS))
            raise StudioError(f"{path.name}: not an audio file podpipe takes ({known})")
        chosen = validate_episode_id(episode_id) if episode_id else slugify_episode_id(path.stem)
        metadata = episode_metadata(title, show, number, hosts, guests)
        key = send_episode(
            self.aws.s3, self.bucket, path, chosen, metadata, on_progress=on_progress
        )
        return chosen, key


def _same_text(a: str, b: str | None) -> bool:
    return b is not None and a.replace("\r\n", "\n").strip() == b.replace("\r\n", "\n").strip()
