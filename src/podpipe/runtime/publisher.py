"""The EventBridge publisher: PutEvents in batches, retrying only the entries that failed.

PutEvents is not all-or-nothing: a 200 reply can carry ``FailedEntryCount > 0`` with a
per-entry ``ErrorCode`` (throttling, internal errors). Treating the call as a success would
silently drop those events, so the publisher re-sends exactly the failed entries with
backoff and raises :class:`PublishError` if any still fail — it never drops one.

The batching and the failed-entry selection are pure functions shared by the async publisher
(aiobotocore, used by the worker runtime) and the sync one (boto3, used by CLI tools); the
two classes only differ in how they await the call.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, cast

from botocore.exceptions import BotoCoreError, ClientError
from tenacity import (
    AsyncRetrying,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)
from tenacity.wait import wait_base

from podpipe.events import Event, put_events_entry

if TYPE_CHECKING:
    # The boto3 stubs' entry type, so real (typed) clients satisfy the Protocols below.
    from mypy_boto3_events.type_defs import PutEventsRequestEntryTypeDef

MAX_ENTRIES_PER_CALL = 10
MAX_BYTES_PER_CALL = 256 * 1024
_TIME_FIELD_BYTES = 14  # how EventBridge counts a Time field, whatever its value

Entry = Mapping[str, Any]


class PublishError(Exception):
    """Some events could not be put on the bus; the caller must not ack its message."""

    def __init__(self, message: str, failed: Sequence[FailedEntry] = ()) -> None:
        super().__init__(message)
        self.failed = tuple(failed)


class EntryTooLargeError(PublishError):
    """One event is over EventBridge's 256 KB limit (events carry S3 pointers, not data)."""


@dataclass(frozen=True)
class FailedEntry:
    entry: Entry
    error_code: str
    error_message: str


class _EntriesFailedError(Exception):
    """Internal: some entries of a call failed; tenacity retries just those."""

    def __init__(self, failed: Sequence[FailedEntry]) -> None:
        super().__init__(f"{len(failed)} entries failed")
        self.failed = tuple(failed)


# --------------------------------------------------------------------------- pure core


def entry_size(entry: Entry) -> int:
    """An entry's size as EventBridge counts it against the 256 KB request limit."""
    size = _TIME_FIELD_BYTES if entry.get("Time") is not None else 0
    for key in ("Source", "DetailType", "Detail"):
        value = entry.get(key)
        if value:
            size += len(str(value).encode("utf-8"))
    for resource in entry.get("Resources") or ():
        size += len(str(resource).encode("utf-8"))
    return size


def batch_entries(
    entries: Iterable[Entry],
    *,
    max_entries: int = MAX_ENTRIES_PER_CALL,
    max_bytes: int = MAX_BYTES_PER_CALL,
) -> list[list[Entry]]:
    """Split entries into PutEvents calls of at most ``max_entries`` and ``max_bytes``, in order."""
    batches: list[list[Entry]] = []
    current: list[Entry] = []
    current_bytes = 0
    for entry in entries:
        size = entry_size(entry)
        if size > max_bytes:
            raise EntryTooLargeError(
                f"{entry.get('DetailType')!r} event is {size} bytes, over the {max_bytes} byte limit"
            )
        if current and (len(current) >= max_entries or current_bytes + size > max_bytes):
            batches.append(current)
            current, current_bytes = [], 0
        current.append(entry)
        current_bytes += size
    if current:
        batches.append(current)
    return batches


def failed_entries(sent: Sequence[Entry], response: Mapping[str, Any]) -> list[FailedEntry]:
    """The entries of ``sent`` that PutEvents did not accept (by position in the reply)."""
    results = list(response.get("Entries") or [])
    failed_count = int(response.get("FailedEntryCount") or 0)
    if len(results) != len(sent):
        # A reply that does not line up with the request cannot say which entries landed;
        # re-sending all of them is safer than dropping any (consumers are idempotent).
        if failed_count == 0 and not results:
            return []
        return [FailedEntry(e, "MismatchedReply", "reply does not match the request") for e in sent]
    return [
        FailedEntry(entry, str(result["ErrorCode"]), str(result.get("ErrorMessage", "")))
        for entry, result in zip(sent, results, strict=True)
        if result.get("ErrorCode")
    ]


class _PendingBatch:
    """One batch's entries still to send: after each reply only the failed ones remain."""

    def __init__(self, entries: Sequence[Entry]) -> None:
        self.entries: list[Entry] = list(entries)

    def record(self, response: Mapping[str, Any]) -> None:
        failed = failed_entries(self.entries, response)
        self.entries = [f.entry for f in failed]
        if failed:
            raise _EntriesFailedError(failed)


def _publish_error(exc: BaseException, pending: Sequence[Entry]) -> PublishError:
    if isinstance(exc, _EntriesFailedError):
        codes = sorted({f.error_code for f in exc.failed})
        return PublishError(
            f"{len(exc.failed)} event(s) still failed after retries: {', '.join(codes)}",
            exc.failed,
        )
    failed = [FailedEntry(e, type(exc).__name__, str(exc)) for e in pending]
    return PublishError(f"PutEvents failed after retries: {exc}", failed)


@dataclass(frozen=True)
class PublishRetryPolicy:
    """How hard the publisher tries before giving up on an entry."""

    attempts: int = 5
    wait: wait_base = field(
        default_factory=lambda: wait_exponential_jitter(multiplier=0.2, max=5.0, jitter=0.5)
    )

    def tenacity_kwargs(self) -> dict[str, Any]:
        return {
            "stop": stop_after_attempt(self.attempts),
            "wait": self.wait,
            "retry": retry_if_exception_type((_EntriesFailedError, ClientError, BotoCoreError)),
            "reraise": True,
        }


# --------------------------------------------------------------------------- clients


class AsyncEventsClient(Protocol):
    async def put_events(
        self,
        *,
        Entries: Sequence[PutEventsRequestEntryTypeDef],  # noqa: N803
    ) -> Mapping[str, Any]: ...


class SyncEventsClient(Protocol):
    def put_events(
        self,
        *,
        Entries: Sequence[PutEventsRequestEntryTypeDef],  # noqa: N803
    ) -> Mapping[str, Any]: ...


def _typed(entries: list[Entry]) -> list[PutEventsRequestEntryTypeDef]:
    # Entries are built by put_events_entry (or given by the caller) in the API's shape.
    return cast("list[PutEventsRequestEntryTypeDef]", entries)


class AsyncEventPublisher:
    """Publishes events on a bus through an aiobotocore EventBridge client."""

    def __init__(
        self, client: AsyncEventsClient, bus_name: str, *, policy: PublishRetryPolicy | None = None
    ) -> None:
        self._client = client
        self._bus_name = bus_name
        self._policy = policy or PublishRetryPolicy()

    async def publish(self, events: Sequence[Event]) -> None:
        await self.put_entries([put_events_entry(e, self._bus_name) for e in events])

    async def put_entries(self, entries: Sequence[Entry]) -> None:
        for batch in batch_entries(entries):
            pending = _PendingBatch(batch)
            try:
                async for attempt in AsyncRetrying(**self._policy.tenacity_kwargs()):
                    with attempt:
                        pending.record(
                            await self._client.put_events(Entries=_typed(pending.entries))
                        )
            except (_EntriesFailedError, ClientError, BotoCoreError) as exc:
                raise _publish_error(exc, pending.entries) from exc


class EventPublisher:
    """The same publisher over a boto3 EventBridge client, for synchronous callers."""

    def __init__(
        self, client: SyncEventsClient, bus_name: str, *, policy: PublishRetryPolicy | None = None
    ) -> None:
        self._client = client
        self._bus_name = bus_name
        self._policy = policy or PublishRetryPolicy()

    def publish(self, events: Sequence[Event]) -> None:
        self.put_entries([put_events_entry(e, self._bus_name) for e in events])

    def put_entries(self, entries: Sequence[Entry]) -> None:
        for batch in batch_entries(entries):
            pending = _PendingBatch(batch)
            try:
                for attempt in Retrying(**self._policy.tenacity_kwargs()):
                    with attempt:
                        pending.record(self._client.put_events(Entries=_typed(pending.entries)))
            except (_EntriesFailedError, ClientError, BotoCoreError) as exc:
                raise _publish_error(exc, pending.entries) from exc
