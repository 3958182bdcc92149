"""Polling built on the pager and the status endpoint: wait for jobs, watch a listing change.

The loops use what the client hands them: ``pages``, a callable that starts
one walk over the listing (`JobPager.pages` of a pager the client made, with
its filters), and ``get``, one job's status by id (`BatchClient.get_job`), so
every poll inherits the client's retries, limiter and typed records, and
nothing here calls back into the client. Nothing runs in the background: a
wait polls while it is iterated or awaited, a watch polls while it is iterated.

    finished(pages, ids, get) BatchClient.finished_jobs (validated by check_wait)
      loop:
        choose                per id or a walk, from what the last poll cost
                              (`PollChoice`)
        ask                   per id: one status request per pending id, 4 at a
                              time; or a walk: pages(), closed as soon as every
                              id still pending was seen (bounded by the deadline)
        yield                 each wanted job the moment a poll shows it terminal
        settle                absent ids count complete walks (JobNotFoundError)
        sleep                 poll_interval, x1.5 while nothing changes (up to
                              x4), never less than the client's 429 pause
    poll_until_terminal       BatchClient.wait_for_jobs: `finished`, collected

    poll_events(pages)        BatchClient.watch_jobs (validated by check_watch)
      loop:
        walk                  a complete walk into {id: job}
        diff                  added / changed / removed against the last walk
        yield events, sleep   as above

The pacing, deadline and missing-id grace are the shared core's
(`_polling.poll_changes`, also behind the v2 batch waits in `_batch_watch`);
this module supplies only what one poll of the job listing is (a walk).

The seams (``pages``, and the `Pacing`'s ``sleep``, ``clock`` and ``limiter``) are
injectable so the loops are tested with scripted walks and a fake clock as well
as end to end.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterable, Mapping
from typing import Literal

import attrs

from llama_batch_async._errors import JobNotFoundError, WaitTimeoutError
from llama_batch_async._http._limiter import Limiter
from llama_batch_async._models import BatchJob, JobPage, JobProgress
from llama_batch_async._validate import must_be

from ._poller import (
    Pacing,
    Wait,
    check_ids,
    check_initial,
    check_pacing,
    collect_final,
    fetch_all,
    name_ids,
    next_delay,
    pause_for,
    poll_changes,
    terminal,
)

__all__ = [
    "PER_ID_AT_ONCE",
    "PER_ID_FIRST",
    "EventKind",
    "GetJob",
    "JobEvent",
    "PollChoice",
    "WalkPages",
    "check_on_seen",
    "check_wait",
    "check_watch",
    "finished",
    "job_getter",
    "observed",
    "poll_events",
    "poll_until_terminal",
]

logger = logging.getLogger(__name__)


EventKind = Literal["added", "changed", "removed"]
"""What happened to a job between two polls of `BatchClient.watch_jobs`."""

WalkPages = Callable[[], AsyncIterator[JobPage]]
"""Starts one walk over the listing: `JobPager.pages` (a scripted walk in tests)."""

GetJob = Callable[[str], Awaitable["BatchJob | None"]]
"""Fetches one job's record by id (`BatchClient.get_job`), or None for a 404."""

PER_ID_FIRST = 8
"""Ids a wait asks about one by one before any walk has told it what a walk costs."""

PER_ID_AT_ONCE = 4
"""Status requests in flight at once within one poll (the client's limiter paces them)."""


def job_getter(get_job: Callable[[str], Awaitable[JobProgress]]) -> GetJob:
    """A `GetJob` over ``get_job`` (`BatchClient.get_job`, scoped): a 404 becomes None."""

    async def get(job_id: str) -> BatchJob | None:
        try:
            return (await get_job(job_id)).job
        except JobNotFoundError:
            return None  # absent: the wait's grace counts it, as an id a walk did not show

    return get


@attrs.define
class PollChoice:
    """How each poll of a job wait asks: per id (`get_job`) or by a walk of the listing.

    The rule, per poll: ask per id when that costs fewer requests than the
    last walk did (``pending < walk_cost``); before any walk, when at most
    `PER_ID_FIRST` ids are pending. Otherwise walk, and remember what the
    walk cost (its requests, retries and guesses included) for the next
    poll. Pending ids only shrink, so a wait that went per id stays per id;
    a wait for many ids walks until few are left.

    Attributes:
        walk_cost: Requests the latest walk took; None before any walk.
        per_id_polls: Polls asked per id so far.
        walks: Polls that walked so far.
    """

    walk_cost: int | None = None
    per_id_polls: int = 0
    walks: int = 0

    def per_id(self, pending: int) -> bool:
        """True when this poll should ask per id."""
        if self.walk_cost is None:
            return pending <= PER_ID_FIRST
        return pending < self.walk_cost


@attrs.frozen(slots=True)
class JobEvent:
    """One change of the watched listing, as `BatchClient.watch_jobs` yields it.

    Attributes:
        kind: ``"added"``: a job matching the filters appeared (or was there at
            the first poll); ``"changed"``: its record moved (status, counters,
            timestamps, any field); ``"removed"``: it no longer matches the
            filters (it left ``status="running"``, or was deleted).
        job: The job's new record; for ``"removed"``, its last known record.
        previous: For ``"changed"``, the record it had at the poll before;
            None otherwise.
    """

    kind: EventKind
    job: BatchJob
    previous: BatchJob | None = None


# ---------------------------------------------------------------- validation


def check_watch(
    poll_interval: object, initial: object, limiter: Limiter | None
) -> tuple[Pacing, bool]:
    """The arguments of a watch, validated: ValueError naming the bad one, before any I/O."""
    return check_pacing(poll_interval, None, limiter), check_initial(initial)


def check_wait(
    job_ids: object, poll_interval: object, timeout: object, limiter: Limiter | None
) -> tuple[tuple[str, ...], Pacing]:
    """The arguments of a wait, validated: ValueError naming the bad one, before any I/O.

    Returns:
        The ids deduplicated in order, and how to poll for them.
    """
    return check_ids("job_ids", "job", job_ids), check_pacing(poll_interval, timeout, limiter)


def check_on_seen(on_seen: object) -> None:
    """``finished_jobs``' ``on_seen``, validated: None or a callable, else ValueError naming it."""
    if on_seen is not None and not callable(on_seen):
        raise must_be("on_seen", "None or a callable taking a BatchJob", on_seen)


# ---------------------------------------------------------------- wait


def observed(
    pages: Callable[[], AsyncGenerator[JobPage, None]],
    job_ids: Iterable[str],
    on_seen: Callable[[BatchJob], object] | None,
) -> Callable[[], AsyncGenerator[JobPage, None]]:
    """``pages``, telling ``on_seen`` each wanted record a page holds before passing it on.

    Without ``on_seen``, ``pages`` itself.
    """
    if on_seen is None:
        return pages
    wanted = frozenset(job_ids)

    async def walk() -> AsyncGenerator[JobPage, None]:
        async with contextlib.aclosing(pages()) as inner:
            async for page in inner:
                for job in page.items:
                    if job.id in wanted:
                        on_seen(job)
                yield page

    return walk


@contextlib.asynccontextmanager
async def _walk(pages: WalkPages) -> AsyncIterator[AsyncIterator[JobPage]]:
    """Start a walk and close it on the way out, early exits and errors included.

    `contextlib.aclosing` for any async iterator: closing the pager's
    generator cancels its requests in flight at once instead of whenever the
    generator is collected.
    """
    walk = pages()
    try:
        yield walk
    finally:
        if isinstance(walk, AsyncGenerator):
            await walk.aclose()


def _job_wait(job_ids: tuple[str, ...], pacing: Pacing) -> Wait[BatchJob]:
    def not_found(
        missing: tuple[str, ...], walks: int, seen: dict[str, BatchJob]
    ) -> JobNotFoundError:
        return JobNotFoundError(
            f"{len(missing)} job ids not found in {walks} complete polls in a row "
            f"(absent from the listing or HTTP 404): {name_ids(missing)} (check the "
            "ids and the project_id / directory_id filters)",
            missing=missing,
            jobs=seen,
        )

    def timed_out(
        message: str, seen: dict[str, BatchJob], pending: tuple[str, ...], limit: float
    ) -> WaitTimeoutError:
        return WaitTimeoutError(message, jobs=seen, pending=pending, timeout=limit)

    return Wait(job_ids, pacing, "jobs", not_found, timed_out)


def _scanner(
    pages: WalkPages,
    get: GetJob | None,
    choice: PollChoice,
    cost: Callable[[], int] | None,
    on_seen: Callable[[BatchJob], object] | None,
) -> Callable[[Wait[BatchJob], set[str]], AsyncGenerator[BatchJob, None]]:
    async def walk_scan(wait: Wait[BatchJob], seen: set[str]) -> AsyncGenerator[BatchJob, None]:
        """One poll: walk until every id pending at its start was seen (or the listing ends)."""
        wanted = frozenset(wait.pending)
        walked = 0
        try:
            async with _walk(pages) as walk:
                # Once every id still pending is accounted for, the rest of the listing
                # cannot tell us anything: stop walking (and close).
                while len(seen) < len(wanted):
                    try:
                        page = await wait.bounded(lambda: anext(walk))
                    except StopAsyncIteration:
                        break
                    walked += 1
                    for job in page.items:
                        if job.id in wanted and job.id not in seen:
                            seen.add(job.id)
                            if on_seen is not None:
                                on_seen(job)
                            yield job
        finally:
            choice.walks += 1
            choice.walk_cost = max(1, cost() if cost is not None else walked)
        wait.settle(wanted, seen)

    async def id_scan(wait: Wait[BatchJob], seen: set[str]) -> AsyncGenerator[BatchJob, None]:
        """One poll: each id pending at its start, fetched by id, in the order given."""
        assert get is not None  # noqa: S101 - only chosen with a getter
        wanted = list(wait.pending)
        choice.per_id_polls += 1
        found = await wait.bounded(lambda: fetch_all(get, wanted, at_once=PER_ID_AT_ONCE))
        for job in found:
            if job is not None:
                seen.add(job.id)
                if on_seen is not None:
                    on_seen(job)
                yield job
        wait.settle(wanted, seen)

    def scan(wait: Wait[BatchJob], seen: set[str]) -> AsyncGenerator[BatchJob, None]:
        if get is not None and choice.per_id(len(wait.pending)):
            logger.debug("wait: %d ids pending, asking per id", len(wait.pending))
            return id_scan(wait, seen)
        return walk_scan(wait, seen)

    return scan


async def finished(
    pages: WalkPages,
    job_ids: tuple[str, ...],
    pacing: Pacing,
    *,
    get: GetJob | None = None,
    choice: PollChoice | None = None,
    cost: Callable[[], int] | None = None,
    on_seen: Callable[[BatchJob], object] | None = None,
) -> AsyncGenerator[BatchJob, None]:
    """Poll, yielding each job the moment a poll shows it terminal: `finished_jobs`.

    Each poll asks per id or walks, as `PollChoice` decides from the last
    walk's cost (always a walk without ``get``). A walk stops once every id
    still pending was seen (and is closed). The deadline bounds the whole
    wait, requests included: one still running when it passes is cancelled.

    Args:
        pages: Starts one walk (`JobPager.pages`): what the client lists with.
        job_ids: The ids, validated and deduplicated.
        pacing: Interval, deadline, the client's limiter, sleep and clock.
        get: One job by id, None for a 404 (`BatchClient.get_job`).
        choice: The per-poll choice, kept by the caller to read afterwards.
        cost: The requests the latest walk took (its pager's ``stats.requests``);
            None: count its pages.
        on_seen: Called with every wanted record a poll sees, finished or not.

    Raises:
        WaitTimeoutError: The deadline passed first; ``.pending`` names the ids
            not yielded.
        JobNotFoundError: Ids were absent from too many complete walks in a row.
        LlamaBatchError: A walk failed after its retries.
    """
    scan = _scanner(pages, get, choice or PollChoice(), cost, on_seen)
    jobs = terminal(poll_changes(scan, _job_wait(job_ids, pacing)))
    async with contextlib.aclosing(jobs):
        async for job in jobs:
            yield job


async def poll_until_terminal(
    pages: WalkPages,
    job_ids: tuple[str, ...],
    pacing: Pacing,
    *,
    get: GetJob | None = None,
    choice: PollChoice | None = None,
    cost: Callable[[], int] | None = None,
) -> dict[str, BatchJob]:
    """Every job's final record, in the order of ``job_ids``: `wait_for_jobs` over `finished`.

    Args and raises as `finished`.
    """
    records = finished(pages, job_ids, pacing, get=get, choice=choice, cost=cost)
    return await collect_final(records, job_ids)


# ---------------------------------------------------------------- watch


def _diff(known: Mapping[str, BatchJob], current: Mapping[str, BatchJob]) -> list[JobEvent]:
    """The events that turn ``known`` into ``current``: listing order, removals last."""
    events: list[JobEvent] = []
    for job_id, job in current.items():
        previous = known.get(job_id)
        if previous is None:
            events.append(JobEvent("added", job))
        elif previous != job:
            events.append(JobEvent("changed", job, previous))
    events.extend(
        JobEvent("removed", job) for job_id, job in known.items() if job_id not in current
    )
    return events


async def poll_events(
    pages: WalkPages, pacing: Pacing, *, initial: bool = True
) -> AsyncGenerator[JobEvent, None]:
    """Poll complete walks and yield what changed: the loop behind `watch_jobs`.

    Only a complete walk is compared with the one before, so a walk that
    fails part way never reports the jobs it did not reach as removed; its
    error propagates (the pager has already retried it).

    Args:
        pages: Starts one walk (`JobPager.pages`).
        pacing: Interval, the client's limiter and sleep (a watch has no deadline).
        initial: Yield ``added`` for every job of the first poll.

    Raises:
        LlamaBatchError: A walk failed after its retries.
    """
    known: dict[str, BatchJob] | None = None
    poll_interval = pacing.poll_interval
    delay = poll_interval
    polls = 0
    while True:
        current: dict[str, BatchJob] = {}
        async with _walk(pages) as walk:
            async for page in walk:
                for job in page.items:
                    current[job.id] = job
        polls += 1
        if known is None:
            events = [JobEvent("added", job) for job in current.values()] if initial else []
            changed = True
        else:
            events = _diff(known, current)
            changed = bool(events)
        known = current  # memory: the matching jobs of one walk, plus the walk in progress
        delay = next_delay(delay, poll_interval, changed=changed)
        pause = pause_for(delay, pacing.limiter)
        logger.debug(
            "watch: poll %d listed %d jobs, %d events; next poll in %.2f s",
            polls,
            len(current),
            len(events),
            pause,
        )
        for event in events:
            yield event
        await pacing.sleep(pause)
