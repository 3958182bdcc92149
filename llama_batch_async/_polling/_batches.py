"""Waiting for v2 batches: each poll fetches every pending batch by id (`get_batch`).

A batch id is cheap to poll, unlike a v1 job deep in a listing, so a poll is
one ``GET /api/v2/batches/{id}`` per pending id, a few at a time, instead of a
walk. Pacing, deadline, back-off and the missing-id grace are the shared core's
(`_polling.poll_changes`), the same as `wait_for_jobs`'s.

    finished_batches(get, ids)    BatchClient.finished_batches / wait_for_batches
    batch_events(get, ids)        BatchClient.watch_batches: every change, until
                                  every batch is terminal
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Literal

import attrs

from llama_batch_async._errors import BatchNotFoundError, WaitTimeoutError
from llama_batch_async._http._limiter import Limiter
from llama_batch_async._models import Batch
from llama_batch_async._validate import check_flag

from ._poller import (
    Pacing,
    Wait,
    check_ids,
    check_pacing,
    collect_final,
    fetch_all,
    name_ids,
    poll_changes,
    terminal,
)

__all__ = [
    "BatchEvent",
    "BatchEventKind",
    "GetBatch",
    "batch_events",
    "batch_getter",
    "check_batch_wait",
    "finished_batches",
    "wait_batches",
]

GetBatch = Callable[[str], Awaitable["Batch | None"]]
"""Fetches one batch by id, or None when it does not exist (a 404)."""


def batch_getter(get_batch: Callable[..., Awaitable[Batch]], expand_results: object) -> GetBatch:
    """A `GetBatch` over ``get_batch`` (`BatchClient.get_batch`): a 404 becomes None.

    ``expand_results`` is checked here, at the call, before any request.
    """
    expand = check_flag("expand_results", expand_results)

    async def get(batch_id: str) -> Batch | None:
        try:
            return await get_batch(batch_id, expand_results=expand)
        except BatchNotFoundError:
            return None

    return get


# Batches fetched at once within one poll: enough to poll a few dozen quickly,
# few enough not to look like a burst to the server (each is one request).
_FETCHES_AT_ONCE = 8

BatchEventKind = Literal["added", "changed"]
"""What `BatchClient.watch_batches` saw: a batch's first record, or a new one."""


@attrs.frozen(slots=True)
class BatchEvent:
    """One change of a watched batch, as `BatchClient.watch_batches` yields it.

    Attributes:
        kind: ``"added"`` at the first poll that sees the batch; ``"changed"``
            when a later poll sees any field differ (status, ``updated_at``,
            results).
        batch: The batch's new record.
        previous: For ``"changed"``, the record of the poll before; else None.
    """

    kind: BatchEventKind
    batch: Batch
    previous: Batch | None = None


def check_batch_wait(
    batch_ids: object, poll_interval: object, timeout: object, limiter: Limiter | None
) -> tuple[tuple[str, ...], Pacing]:
    """The arguments of a batch wait, validated: ValueError naming the bad one."""
    return check_ids("batch_ids", "batch", batch_ids), check_pacing(poll_interval, timeout, limiter)


def _batch_wait(batch_ids: tuple[str, ...], pacing: Pacing) -> Wait[Batch]:
    def not_found(
        missing: tuple[str, ...], polls: int, seen: dict[str, Batch]
    ) -> BatchNotFoundError:
        return BatchNotFoundError(
            f"{len(missing)} batch ids not found (HTTP 404) in {polls} polls in a row: "
            f"{name_ids(missing)} (check the ids, and project_id / organization_id)",
            missing=missing,
            batches=seen,
        )

    def timed_out(
        message: str, seen: dict[str, Batch], pending: tuple[str, ...], limit: float
    ) -> WaitTimeoutError:
        return WaitTimeoutError(message, jobs={}, batches=seen, pending=pending, timeout=limit)

    return Wait(batch_ids, pacing, "batches", not_found, timed_out)


def _fetcher(get: GetBatch) -> Callable[[Wait[Batch], set[str]], AsyncGenerator[Batch, None]]:
    async def scan(wait: Wait[Batch], seen: set[str]) -> AsyncGenerator[Batch, None]:
        """One poll: every batch pending at its start, fetched by id, in the order given."""
        wanted = list(wait.pending)
        found = await wait.bounded(lambda: fetch_all(get, wanted, at_once=_FETCHES_AT_ONCE))
        for batch in found:
            if batch is not None:
                seen.add(batch.id)
                yield batch
        wait.settle(wanted, seen)

    return scan


def _changes(
    get: GetBatch, batch_ids: tuple[str, ...], pacing: Pacing
) -> AsyncGenerator[tuple[Batch, Batch | None], None]:
    return poll_changes(_fetcher(get), _batch_wait(batch_ids, pacing))


async def finished_batches(
    get: GetBatch, batch_ids: tuple[str, ...], pacing: Pacing
) -> AsyncGenerator[Batch, None]:
    """Poll the batches, yielding each the moment it is completed, failed or cancelled.

    Args:
        get: Fetches one batch (None for a 404): the client's `get_batch`.
        batch_ids: The ids, validated and deduplicated.
        pacing: Interval, deadline, the client's limiter, sleep and clock.

    Raises:
        WaitTimeoutError: The deadline passed first; ``.batches`` holds the last
            record seen of each, ``.pending`` the ids not yielded.
        BatchNotFoundError: Ids were missing from too many polls in a row.
        LlamaBatchError: A request failed after its retries.
    """
    batches = terminal(_changes(get, batch_ids, pacing))
    async with contextlib.aclosing(batches):
        async for batch in batches:
            yield batch


async def wait_batches(
    get: GetBatch, batch_ids: tuple[str, ...], pacing: Pacing
) -> dict[str, Batch]:
    """Every batch's final record, in the order of ``batch_ids``: `finished_batches`, collected."""
    return await collect_final(finished_batches(get, batch_ids, pacing), batch_ids)


async def batch_events(
    get: GetBatch, batch_ids: tuple[str, ...], pacing: Pacing
) -> AsyncGenerator[BatchEvent, None]:
    """Poll the batches and yield a `BatchEvent` for every change, until all are terminal.

    Args and raises as `finished_batches`.
    """
    changes = _changes(get, batch_ids, pacing)
    async with contextlib.aclosing(changes):
        async for batch, previous in changes:
            yield BatchEvent("added" if previous is None else "changed", batch, previous)
