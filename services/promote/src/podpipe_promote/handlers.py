"""The promote queue's handlers: "Episode Published" makes the plan, "Episode Unpublished"
cancels it, "Promotion Item Due" delivers one item. A network that stays down after the
desk's own retries, or that refuses the post (rate limit, too-long text, bad credentials), is
retried by the runtime's redelivery with backoff (the queue's max_receive_count), then
dead-lettered alone: a refusal is not retried within the message, but a host who fixes the
text meanwhile sees the next attempt post it. Then "Promotion Failed" tells the team, and
`podpipe dlq replay --queue promote` posts it once."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import structlog

from podpipe.events import (
    EpisodePublished,
    EpisodeUnpublished,
    Event,
    Failure,
    PromotionFailed,
    PromotionItemDue,
)
from podpipe.runtime.errors import PermanentError, RetryableError
from podpipe.runtime.service import Consumer, MessageContext, Route, Service
from podpipe_promote.desk import ItemBusyError, PromotionDesk
from podpipe_promote.plan import PlanError
from podpipe_promote.posting import PostRefusedError, PostUnavailableError

log = structlog.get_logger()

PROMOTE_QUEUE = "promote"


class PromoteHandlers:
    def __init__(self, desk: PromotionDesk) -> None:
        self._desk = desk

    def episode_published(self, event: EpisodePublished, ctx: MessageContext) -> Sequence[Event]:
        try:
            self._desk.make_plan(event.episode_id, episode_link=event.episode_url)
        except PlanError as exc:
            # No social posts yet, no show file: nothing to plan; `podpipe promote EP` later.
            log.warning("promote.not_planned", episode_id=event.episode_id, reason=str(exc))
        return []

    def episode_unpublished(
        self, event: EpisodeUnpublished, ctx: MessageContext
    ) -> Sequence[Event]:
        cancelled = self._desk.unpublished(event.episode_id)
        log.info("promote.unpublished", cancelled=cancelled)
        return []

    def item_due(self, event: PromotionItemDue, ctx: MessageContext) -> Sequence[Event]:
        try:
            delivery = self._desk.deliver(event.episode_id, event.item_id, ctx.message_id)
        except (PostRefusedError, PostUnavailableError, ItemBusyError) as exc:
            raise RetryableError(str(exc)) from None
        except PlanError as exc:
            raise PermanentError(str(exc)) from None
        log.info("promote.item_due", item_id=event.item_id, outcome=delivery.outcome)
        return list(delivery.events)

    def item_failed(self, event: PromotionItemDue, failure: Failure) -> Sequence[Event]:
        network = event.item_id.split("-", 1)[-1]
        return [
            PromotionFailed(
                episode_id=event.episode_id,
                item_id=event.item_id,
                network=network,
                failure=failure,
            )
        ]

    def service(self) -> Service:
        routes: list[Route[Any]] = [
            Route(EpisodePublished, self.episode_published),
            Route(EpisodeUnpublished, self.episode_unpublished),
            Route(PromotionItemDue, self.item_due, on_failure=self.item_failed),
        ]
        return Service(name="promote", consumers=[Consumer(queue=PROMOTE_QUEUE, routes=routes)])
