"""Notify's handlers: one per event type, each a thin shell over messages and completion.

Every handler first records the progress the event reports and asks the completion tracker
whether it finished the episode, THEN tells the team, channel by channel. So a channel that
is down never holds back "Episode Completed", the digest or another channel: the decided
events travel on the RetryableError (or PermanentError) a delivery failure raises, the
runtime publishes them and retries the message for the channels still owed it, and finally
dead-letters it with the channel's real error. Each (episode, notification, channel) is
delivered once, across retries, processes and replays (:mod:`podpipe_notify.delivery`).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import structlog

from podpipe.episodes import DIGEST_DELIVERY
from podpipe.events import (
    AudioTranscoded,
    BriefPrepared,
    ClipsFailed,
    ClipsRendered,
    EpisodeCompleted,
    EpisodePublished,
    EpisodeUnpublished,
    EpisodeVersionStarted,
    Event,
    PromotionFailed,
    PromotionItemDue,
    PromotionPosted,
    PromotionReadyToPost,
    PromptCompleted,
    PromptFailed,
    PromptRequested,
    PromptsDispatched,
    ReleaseTimeReached,
    TranscodeFailed,
    TranscriptionFailed,
    TranscriptionStarted,
    TranscriptReady,
    UploadRejected,
    VideoFailed,
    VideoSubtitled,
    VideoTranscoded,
    YoutubePrepared,
)
from podpipe.layout import StageRecord, StageRecordStatus
from podpipe.runtime.errors import PermanentError, RetryableError
from podpipe.runtime.service import Consumer, MessageContext, Route, Service
from podpipe.stages import prompt_stage
from podpipe_notify import messages
from podpipe_notify.channels import Channel, ChannelError, Fanout, NotificationDeliveryError
from podpipe_notify.completion import CompletionTracker
from podpipe_notify.settings import PromptMessages

if TYPE_CHECKING:
    from podpipe_notify.store import NotifyStore

log = structlog.get_logger()

# Full outputs larger than this are not fetched whole: the message shows the first part.
MAX_OUTPUT_FETCH_BYTES = 200_000


class NotifyHandlers:
    def __init__(
        self,
        *,
        store: NotifyStore,
        notifier: Fanout,
        completion: CompletionTracker,
        prompt_messages: PromptMessages = "line",
        presign_expiry_seconds: int = 7200,
        guest_channel: Callable[[str], Channel] | None = None,
    ) -> None:
        self._store = store
        self._notifier = notifier
        # One channel per guest address (the guests topic); None: guests are not e-mailed.
        self._guest_channel = guest_channel
        self._completion = completion
        self._prompt_messages = prompt_messages
        self._expiry = presign_expiry_seconds

    # ------------------------------------------------------------------ plumbing

    def _deliver(
        self,
        ctx: MessageContext,
        sends: Sequence[tuple[messages.Notification, str]],
        decided: Sequence[Event] = (),
        *,
        notifiers: Sequence[Fanout] = (),
    ) -> list[Event]:
        """Send each notification to every channel; ``decided`` is published whatever the
        channels do (returned, or carried by the error that retries the message).
        ``notifiers``: one per send, instead of the team's channels (a guest's own)."""
        failures: list[ChannelError] = []
        for n, (notification, delivery_id) in enumerate(sends):
            notifier = notifiers[n] if n < len(notifiers) else self._notifier
            try:
                delivered = notifier.send(
                    notification, delivery_id=delivery_id, owner=ctx.message_id
                )
            except NotificationDeliveryError as exc:
                failures.extend(exc.failures)
                continue
            log.info("notify.sent", kind=notification.kind, channels=delivered)
        if not failures:
            return list(decided)
        reason = "notification not delivered: " + "; ".join(str(f) for f in failures)
        if all(f.permanent for f in failures):
            # A refused webhook or a missing topic will not heal by retrying: straight to the
            # DLQ, where the message waits for a replay once the config is fixed.
            raise PermanentError(reason, events=decided)
        raise RetryableError(reason, events=decided)

    def _url(self, key: str) -> str:
        return self._store.presign(key, self._expiry)

    def _done(
        self,
        episode_id: str,
        ctx: MessageContext,
        stage: str,
        status: StageRecordStatus,
        reason: str | None = None,
    ) -> list[Event]:
        now = time.time()
        record = StageRecord(
            stage=stage, status=status, started_at=now, finished_at=now, reason=reason
        )
        return list(self._completion.check(episode_id, ctx, overlay={stage: record}))

    # ------------------------------------------------------------------ handlers

    def audio_transcoded(self, event: AudioTranscoded, ctx: MessageContext) -> Sequence[Event]:
        decided = self._done(event.episode_id, ctx, "transcode", "done")
        # Keyed on the recording: an identical re-upload re-announces nothing.
        recording = event.source_etag or event.audio.key
        delivery = f"audio-ready-{_short(recording)}"
        return self._deliver(ctx, [(messages.audio_ready(event), delivery)], decided)

    def transcript_ready(self, event: TranscriptReady, ctx: MessageContext) -> Sequence[Event]:
        links = [
            messages.Link("Transcript (text)", self._url(event.transcript_text.key)),
            messages.Link("Subtitles (SRT)", self._url(event.subtitles_srt.key)),
            messages.Link("Subtitles (VTT)", self._url(event.subtitles_vtt.key)),
        ]
        return self._deliver(ctx, [(messages.transcript_ready(event, links), "transcript-ready")])

    def prompts_dispatched(self, event: PromptsDispatched, ctx: MessageContext) -> Sequence[Event]:
        # A replayed transcript whose prompts all exist already completes the episode here.
        return self._done(event.episode_id, ctx, "dispatch", "done")

    def prompt_completed(self, event: PromptCompleted, ctx: MessageContext) -> Sequence[Event]:
        decided = self._done(event.episode_id, ctx, prompt_stage(event.prompt_id), "done")
        sends: list[tuple[messages.Notification, str]] = []
        if self._prompt_messages != "none":
            url = self._url(event.output.key)
            if self._prompt_messages == "full":
                raw = self._store.get_bytes(event.output.key) or b""
                text = raw[:MAX_OUTPUT_FETCH_BYTES].decode("utf-8", "ignore")
                note = messages.prompt_output(event, text, url)
            else:
                note = messages.prompt_line(event, url)
            sends.append((note, f"prompt-completed-{event.prompt_id}"))
        if not decided:
            repaired = self._completion.repaired_by_replay(event.episode_id, event.prompt_id)
            if repaired is not None:
                title = self._episode_title(event.episode_id)
                sends.append(
                    (
                        messages.all_outputs_ready(repaired, event.prompt_id, title=title),
                        f"all-outputs-ready-{event.prompt_id}",
                    )
                )
        return self._deliver(ctx, sends, decided)

    def prompt_failed(self, event: PromptFailed, ctx: MessageContext) -> Sequence[Event]:
        decided = self._done(
            event.episode_id, ctx, prompt_stage(event.prompt_id), "failed", event.failure.reason
        )
        # Every failure is news (a replay that fails again too): keyed on the event itself.
        delivery = f"prompt-failed-{event.prompt_id}-{_short(ctx.event_id or ctx.message_id)}"
        return self._deliver(ctx, [(messages.prompt_failed(event), delivery)], decided)

    def stage_failed(
        self, event: messages.StageFailedEvent, ctx: MessageContext
    ) -> Sequence[Event]:
        note = messages.stage_failed(event)
        delivery = f"{note.kind}-{_short(ctx.event_id or ctx.message_id)}"
        return self._deliver(ctx, [(note, delivery)])

    def version_started(self, event: EpisodeVersionStarted, ctx: MessageContext) -> Sequence[Event]:
        note = messages.version_started(event)
        return self._deliver(ctx, [(note, f"version-started-{event.version}")])

    def upload_rejected(self, event: UploadRejected, ctx: MessageContext) -> Sequence[Event]:
        # No episode folder: the markers live beside the upload's record under rejected/, so
        # a channel that is down is retried alone and the others are not told twice.
        delivery = f"upload-rejected-{_short(ctx.event_id or ctx.message_id)}"
        return self._deliver(ctx, [(messages.upload_rejected(event), delivery)])

    def brief_prepared(self, event: BriefPrepared, ctx: MessageContext) -> Sequence[Event]:
        # No episode exists yet: the delivery markers live under prep/<date>/notifications/,
        # so the team and every guest get the brief once, across retries and replays.
        team = messages.brief_prepared(event, self._url(event.brief_markdown.key))
        sends: list[tuple[messages.Notification, str]] = [(team, "brief-prepared")]
        notifiers: list[Fanout] = [self._notifier]
        if event.guests and self._guest_channel is not None:
            raw = self._store.get_bytes(event.brief_markdown.key) or b""
            markdown = raw[:MAX_OUTPUT_FETCH_BYTES].decode("utf-8", "ignore")
            for guest in event.guests:
                note = messages.brief_for_guest(event, guest, markdown)
                sends.append((note, f"brief-guest-{_short(guest.email.lower())}"))
                notifiers.append(Fanout([self._guest_channel(guest.email)], self._notifier.ledger))
        elif event.guests:
            log.warning("notify.guests_not_configured", guests=len(event.guests))
        return self._deliver(ctx, sends, notifiers=notifiers)

    def clips_rendered(self, event: ClipsRendered, ctx: MessageContext) -> Sequence[Event]:
        delivery = f"clips-rendered-{_short(ctx.event_id or ctx.message_id)}"
        return self._deliver(ctx, [(messages.clips_rendered(event), delivery)])

    def episode_completed(self, event: EpisodeCompleted, ctx: MessageContext) -> Sequence[Event]:
        # Seen on the bus: the claiming message need not re-emit it on a retry.
        self._completion.mark_received(event.episode_id)
        note = messages.episode_completed(event, title=self._episode_title(event.episode_id))
        self._deliver(ctx, [(note, DIGEST_DELIVERY)])
        self._completion.mark_notified(event.episode_id)
        return []

    def episode_published(self, event: EpisodePublished, ctx: MessageContext) -> Sequence[Event]:
        # Emitted once per publication (the release's compare-and-swap decides who emits);
        # the delivery key makes a redelivery or a replay send nothing twice.
        delivery = f"episode-published-{int(event.published_at.timestamp())}"
        return self._deliver(ctx, [(messages.episode_published(event), delivery)])

    def episode_unpublished(
        self, event: EpisodeUnpublished, ctx: MessageContext
    ) -> Sequence[Event]:
        # Sent on every unpublish; the delivery key makes a redelivery or a replay send once.
        delivery = f"episode-unpublished-{int(event.unpublished_at.timestamp())}"
        return self._deliver(ctx, [(messages.episode_unpublished(event), delivery)])

    def promotion_ready(self, event: PromotionReadyToPost, ctx: MessageContext) -> Sequence[Event]:
        # The item's marker makes the promote service emit this once; the delivery key covers
        # a redelivery of this message.
        delivery = f"promotion-ready-{event.item_id}"
        return self._deliver(ctx, [(messages.promotion_ready(event), delivery)])

    def promotion_posted(self, event: PromotionPosted, ctx: MessageContext) -> Sequence[Event]:
        delivery = f"promotion-posted-{event.item_id}"
        return self._deliver(ctx, [(messages.promotion_posted(event), delivery)])

    def promotion_failed(self, event: PromotionFailed, ctx: MessageContext) -> Sequence[Event]:
        delivery = f"promotion-failed-{event.item_id}-{_short(ctx.event_id or ctx.message_id)}"
        return self._deliver(ctx, [(messages.promotion_failed(event), delivery)])

    def quiet(self, event: Event, ctx: MessageContext) -> Sequence[Event]:
        """Events nobody needs a message about (progress the other messages already cover)."""
        return []

    def _episode_title(self, episode_id: str) -> str:
        meta = self._store.episode_metadata(episode_id)
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
            Route(VideoFailed, self.stage_failed),
            Route(ClipsRendered, self.clips_rendered),
            Route(UploadRejected, self.upload_rejected),
            Route(EpisodeVersionStarted, self.version_started),
            Route(EpisodeCompleted, self.episode_completed),
            Route(EpisodePublished, self.episode_published),
            Route(BriefPrepared, self.brief_prepared),
            Route(ReleaseTimeReached, self.quiet),
            Route(EpisodeUnpublished, self.episode_unpublished),
            Route(PromotionReadyToPost, self.promotion_ready),
            Route(PromotionPosted, self.promotion_posted),
            Route(PromotionFailed, self.promotion_failed),
            Route(PromotionItemDue, self.quiet),
            Route(TranscriptionStarted, self.quiet),
            Route(PromptRequested, self.quiet),
            # Video episodes' outputs: listed by `podpipe outputs`, no message of their own.
            Route(VideoTranscoded, self.quiet),
            Route(VideoSubtitled, self.quiet),
            Route(YoutubePrepared, self.quiet),
        ]

    def service(self) -> Service:
        return Service(name="notify", consumers=[Consumer(queue="notify", routes=self.routes())])


def _short(value: str) -> str:
    """A stable, key-safe token for an ETag or event id in a delivery id."""
    return hashlib.sha256(value.encode()).hexdigest()[:16]
