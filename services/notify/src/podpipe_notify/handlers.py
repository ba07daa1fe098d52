"""Notify's handlers: one per event type, each a thin shell over messages and completion.

Every handler first tells the team (if the event is worth a message), then asks the
completion tracker whether this event finished the episode. A delivery failure raises, so the
runtime retries the message and finally moves it to the notify DLQ: nothing is lost silently.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import structlog

from podpipe.artifacts import get_bytes_or_none, presign, read_episode_metadata
from podpipe.events import (
    AudioTranscoded,
    ClipsFailed,
    ClipsRendered,
    EpisodeCompleted,
    EpisodePublished,
    Event,
    PromptCompleted,
    PromptFailed,
    PromptRequested,
    PromptsDispatched,
    ReleaseTimeReached,
    TranscodeFailed,
    TranscriptionFailed,
    TranscriptionStarted,
    TranscriptReady,
)
from podpipe.runtime.errors import PermanentError
from podpipe.runtime.service import Consumer, MessageContext, Route, Service
from podpipe.storage import StageRecord
from podpipe_notify import messages
from podpipe_notify.channels import Fanout, NotificationDeliveryError
from podpipe_notify.completion import CompletionTracker
from podpipe_notify.settings import PromptMessages

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

log = structlog.get_logger()

# Full outputs larger than this are not fetched whole: the message shows the first part.
MAX_OUTPUT_FETCH_BYTES = 200_000


class NotifyHandlers:
    def __init__(
        self,
        *,
        s3: S3Client,
        bucket: str,
        notifier: Fanout,
        completion: CompletionTracker,
        prompt_messages: PromptMessages = "line",
        presign_expiry_seconds: int = 7200,
    ) -> None:
        self._s3 = s3
        self._bucket = bucket
        self._notifier = notifier
        self._completion = completion
        self._prompt_messages = prompt_messages
        self._expiry = presign_expiry_seconds

    # ------------------------------------------------------------------ plumbing

    def _send(self, notification: messages.Notification, ctx: MessageContext) -> None:
        try:
            self._notifier.send(notification, delivery_key=f"{ctx.message_id}:{notification.kind}")
        except NotificationDeliveryError as exc:
            if exc.permanent:
                # A refused webhook or a missing topic will not heal by retrying: straight to
                # the DLQ, where the message waits for a replay once the config is fixed.
                raise PermanentError(f"notification not delivered: {exc}") from None
            raise
        log.info("notify.sent", kind=notification.kind, channels=len(self._notifier.channels))

    def _url(self, key: str) -> str:
        return presign(self._s3, self._bucket, key, self._expiry)[0]

    def _done(
        self,
        episode_id: str,
        ctx: MessageContext,
        stage: str,
        status: str,
        reason: str | None = None,
    ) -> list[Event]:
        now = time.time()
        record = StageRecord(
            stage=stage, status=status, started_at=now, finished_at=now, reason=reason
        )
        return list(self._completion.check(episode_id, ctx, overlay={stage: record}))

    # ------------------------------------------------------------------ handlers

    def audio_transcoded(self, event: AudioTranscoded, ctx: MessageContext) -> Sequence[Event]:
        self._send(messages.audio_ready(event), ctx)
        return self._done(event.episode_id, ctx, "transcode", "done")

    def transcript_ready(self, event: TranscriptReady, ctx: MessageContext) -> Sequence[Event]:
        links = [
            messages.Link("Transcript (text)", self._url(event.transcript_text.key)),
            messages.Link("Subtitles (SRT)", self._url(event.subtitles_srt.key)),
            messages.Link("Subtitles (VTT)", self._url(event.subtitles_vtt.key)),
        ]
        self._send(messages.transcript_ready(event, links), ctx)
        return []

    def prompts_dispatched(self, event: PromptsDispatched, ctx: MessageContext) -> Sequence[Event]:
        # A replayed transcript whose prompts all exist already completes the episode here.
        return self._done(event.episode_id, ctx, "dispatch", "done")

    def prompt_completed(self, event: PromptCompleted, ctx: MessageContext) -> Sequence[Event]:
        if self._prompt_messages != "none":
            url = self._url(event.output.key)
            if self._prompt_messages == "full":
                raw = get_bytes_or_none(self._s3, self._bucket, event.output.key) or b""
                text = raw[:MAX_OUTPUT_FETCH_BYTES].decode("utf-8", "ignore")
                self._send(messages.prompt_output(event, text, url), ctx)
            else:
                self._send(messages.prompt_line(event, url), ctx)
        emitted = self._done(event.episode_id, ctx, f"prompt-{event.prompt_id}", "done")
        if not emitted:
            repaired = self._completion.repaired_by_replay(event.episode_id, event.prompt_id)
            if repaired is not None:
                title = self._episode_title(event.episode_id)
                self._send(messages.all_outputs_ready(repaired, event.prompt_id, title=title), ctx)
        return emitted

    def prompt_failed(self, event: PromptFailed, ctx: MessageContext) -> Sequence[Event]:
        self._send(messages.prompt_failed(event), ctx)
        return self._done(
            event.episode_id, ctx, f"prompt-{event.prompt_id}", "failed", event.failure.reason
        )

    def stage_failed(
        self, event: TranscodeFailed | TranscriptionFailed | ClipsFailed, ctx: MessageContext
    ) -> Sequence[Event]:
        self._send(messages.stage_failed(event), ctx)
        return []

    def clips_rendered(self, event: ClipsRendered, ctx: MessageContext) -> Sequence[Event]:
        self._send(messages.clips_rendered(event), ctx)
        return []

    def episode_completed(self, event: EpisodeCompleted, ctx: MessageContext) -> Sequence[Event]:
        if self._completion.digest_already_sent(event.episode_id):
            log.info("notify.digest_duplicate_skipped", episode_id=event.episode_id)
            return []
        self._send(
            messages.episode_completed(event, title=self._episode_title(event.episode_id)), ctx
        )
        self._completion.mark_notified(event.episode_id)
        return []

    def episode_published(self, event: EpisodePublished, ctx: MessageContext) -> Sequence[Event]:
        # Emitted once per publication (the release's compare-and-swap decides who emits).
        self._send(messages.episode_published(event), ctx)
        return []

    def quiet(self, event: Event, ctx: MessageContext) -> Sequence[Event]:
        """Events nobody needs a message about (progress the other messages already cover)."""
        return []

    def _episode_title(self, episode_id: str) -> str:
        meta = read_episode_metadata(self._s3, self._bucket, episode_id)
        parts = [
            p
            for p in (
                meta.show,
                f"#{meta.episode_number}" if meta.episode_number else "",
                meta.title,
            )
            if p
        ]
        return " ".join(parts)

    # ------------------------------------------------------------------ wiring

    def routes(self) -> list[Route[Any]]:
        # No on_failure: a "Notify Failed" event would come straight back to this queue.
        return [
            Route(AudioTranscoded, self.audio_transcoded),
            Route(TranscriptReady, self.transcript_ready),
            Route(PromptsDispatched, self.prompts_dispatched),
            Route(PromptCompleted, self.prompt_completed),
            Route(PromptFailed, self.prompt_failed),
            Route(TranscodeFailed, self.stage_failed),
            Route(TranscriptionFailed, self.stage_failed),
            Route(ClipsFailed, self.stage_failed),
            Route(ClipsRendered, self.clips_rendered),
            Route(EpisodeCompleted, self.episode_completed),
            Route(EpisodePublished, self.episode_published),
            Route(ReleaseTimeReached, self.quiet),
            Route(TranscriptionStarted, self.quiet),
            Route(PromptRequested, self.quiet),
        ]

    def service(self) -> Service:
        return Service(name="notify", consumers=[Consumer(queue="notify", routes=self.routes())])
