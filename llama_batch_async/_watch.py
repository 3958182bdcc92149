"""Polling built on the pager: wait for jobs to finish, watch a listing change.

The loops walk what the client hands them: ``pages``, a callable that starts
one walk over the listing (`JobPager.pages` of a pager the client made, with
its filters), so every poll inherits the pager's retries, its exactly-once
walk and its typed records, and nothing here calls back into the client.
Nothing runs in the background: a wait polls while it is iterated or
awaited, a watch polls while it is iterated.

    finished(pages, ids)      BatchClient.finished_jobs (validated by check_wait)
      loop:
        walk                  pages(), closed as soon as every id still pending
                              was seen (each page bounded by the deadline)
        yield                 each wanted job the moment a walk shows it terminal
        settle                absent ids count complete walks (JobNotFoundError)
        sleep                 poll_interval, x1.5 while nothing changes (up to
                              x4), never less than the client's 429 pause
    poll_until_terminal       BatchClient.wait_for_jobs: `finished`, collected

    poll_events(pages)        BatchClient.watch_jobs (validated by check_watch)
      loop:
        walk                  a complete walk into {id: job}
        diff                  added / changed / removed against the last walk
        yield events, sleep   as above

The seams (``pages``, ``sleep``, ``clock``, ``gate``) are injectable so the
loops are tested with scripted walks and a fake clock as well as end to end.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable, Mapping
from typing import Literal

import attrs

from ._errors import JobNotFoundError, WaitTimeoutError
from ._models import BatchJob, JobPage
from ._retry import RateLimitGate, Sleep

__all__ = [
    "MISSING_GRACE_WALKS",
    "EventKind",
    "JobEvent",
    "WalkPages",
    "check_wait",
    "check_watch",
    "finished",
    "poll_events",
    "poll_until_terminal",
]

logger = logging.getLogger(__name__)

MISSING_GRACE_WALKS = 2
"""Complete walks an id may be absent from, after the first, before `wait_for_jobs`
gives up on it: a job created a moment ago may not be listed yet."""

# Polls back off while nothing changes: x1.5 per quiet poll, up to x4 the interval.
_BACKOFF_FACTOR = 1.5
_BACKOFF_CAP = 4.0
# Ids named in an error message; the attribute carries all of them.
_IDS_IN_MESSAGE = 5

EventKind = Literal["added", "changed", "removed"]
"""What happened to a job between two polls of `BatchClient.watch_jobs`."""

WalkPages = Callable[[], AsyncIterator[JobPage]]
"""Starts one walk over the listing: `JobPager.pages` (a scripted walk in tests)."""


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


def _check_ids(job_ids: object) -> tuple[str, ...]:
    """The ids to wait for, deduplicated in order; ValueError naming ``job_ids``."""
    if isinstance(job_ids, str | bytes) or not isinstance(job_ids, Iterable):
        raise ValueError(
            f"job_ids must be a list (or other iterable) of job id strings, got {job_ids!r}"
        )
    ids = tuple(job_ids)
    if not ids:
        raise ValueError("job_ids must name at least one job id, got none")
    for job_id in ids:
        if not isinstance(job_id, str) or not job_id.strip():
            raise ValueError(f"job_ids must hold non-empty id strings, got {job_id!r}")
    return tuple(dict.fromkeys(ids))


def _check_interval(poll_interval: object) -> float:
    """``poll_interval`` as a float; ValueError unless a finite number > 0."""
    if (
        isinstance(poll_interval, bool)
        or not isinstance(poll_interval, int | float)
        or not math.isfinite(poll_interval)
        or poll_interval <= 0
    ):
        raise ValueError(f"poll_interval must be a number of seconds > 0, got {poll_interval!r}")
    return float(poll_interval)


def _check_timeout(timeout: object) -> float | None:
    """``timeout`` as a float (None and infinity: no limit); ValueError if < 0."""
    if timeout is None:
        return None
    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, int | float)
        or math.isnan(timeout)
        or timeout < 0
    ):
        raise ValueError(f"timeout must be None or a number of seconds >= 0, got {timeout!r}")
    return None if math.isinf(timeout) else float(timeout)


def _check_initial(initial: object) -> bool:
    if not isinstance(initial, bool):
        raise ValueError(f"initial must be True or False, got {initial!r}")
    return initial


def check_watch(poll_interval: object, initial: object) -> tuple[float, bool]:
    """The arguments of a watch, validated: ValueError naming the bad one, before any I/O."""
    return _check_interval(poll_interval), _check_initial(initial)


# ---------------------------------------------------------------- shared steps


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


def _next_delay(delay: float, poll_interval: float, *, changed: bool) -> float:
    """The pause before the next poll: reset on change, else back off up to the cap."""
    if changed:
        return poll_interval
    return min(delay * _BACKOFF_FACTOR, poll_interval * _BACKOFF_CAP)


def _pause(delay: float, gate: RateLimitGate | None) -> float:
    """The sleep before the next poll: ``delay``, or longer while the client is paused."""
    if gate is not None and gate.remaining > delay:
        # spec: retry - a 429 pauses the whole client; polling sooner is pointless
        return gate.remaining
    return delay


def _name_ids(ids: Iterable[str]) -> str:
    listed = list(ids)
    text = ", ".join(listed[:_IDS_IN_MESSAGE])
    if len(listed) > _IDS_IN_MESSAGE:
        text += f" and {len(listed) - _IDS_IN_MESSAGE} more"
    return text


# ---------------------------------------------------------------- wait


def check_wait(
    job_ids: object, poll_interval: object, timeout: object
) -> tuple[tuple[str, ...], float, float | None]:
    """The arguments of a wait, validated: ValueError naming the bad one, before any I/O.

    Returns:
        The ids deduplicated in order, the poll interval, and the timeout
        (None for no limit).
    """
    return _check_ids(job_ids), _check_interval(poll_interval), _check_timeout(timeout)


@attrs.define
class _Wait:
    """What one wait knows: the last record of each id, what is pending, the deadline."""

    job_ids: tuple[str, ...]
    timeout: float | None
    clock: Callable[[], float]
    deadline: float | None = attrs.field(init=False)
    latest: dict[str, BatchJob] = attrs.field(factory=dict)
    pending: dict[str, None] = attrs.field(init=False)  # an ordered set: not yielded yet
    absent: dict[str, int] = attrs.field(factory=dict)

    def __attrs_post_init__(self) -> None:
        self.pending = dict.fromkeys(self.job_ids)
        self.deadline = None if self.timeout is None else self.clock() + self.timeout

    def remaining(self) -> float | None:
        """Seconds left before the deadline (None: no limit); `timed_out` once none are."""
        if self.deadline is None:
            return None
        remaining = self.deadline - self.clock()
        if remaining <= 0:
            raise self.timed_out()
        return remaining

    def timed_out(self) -> WaitTimeoutError:
        jobs = {job_id: self.latest[job_id] for job_id in self.job_ids if job_id in self.latest}
        waiting = tuple(self.pending)
        return WaitTimeoutError(
            f"timed out after {self.timeout:g} s waiting for {len(waiting)} of "
            f"{len(self.job_ids)} jobs to finish: {_name_ids(waiting)}",
            jobs=jobs,
            pending=waiting,
            timeout=self.timeout or 0.0,
        )

    def missing(self, grace_walks: int) -> JobNotFoundError | None:
        """After a complete poll: the error for ids absent too long, if any."""
        missing = tuple(
            job_id for job_id in self.job_ids if self.absent.get(job_id, 0) > grace_walks
        )
        if not missing:
            return None
        return JobNotFoundError(
            f"{len(missing)} job ids not in the listing after {grace_walks + 1} "
            f"complete walks: {_name_ids(missing)} (check the ids and the "
            "project_id / directory_id filters)",
            missing=missing,
            jobs={job_id: self.latest[job_id] for job_id in self.job_ids if job_id in self.latest},
        )

    async def next_page(self, walk: AsyncIterator[JobPage]) -> JobPage:
        """The walk's next page, or `timed_out` if the deadline passes first."""
        remaining = self.remaining()
        if remaining is None:
            return await anext(walk)
        try:
            return await asyncio.wait_for(anext(walk), remaining)
        except asyncio.TimeoutError:
            # The page was still coming at the deadline: its request is cancelled,
            # the walk closed on the way out, and what it saw is in `latest`.
            raise self.timed_out() from None


async def _scan(
    pages: WalkPages, wait: _Wait, seen: set[str]
) -> AsyncGenerator[tuple[BatchJob, bool], None]:
    """One poll: walk until every id pending at its start was seen (or the listing ends).

    Yields each wanted record seen, with whether it is new or different; records
    go into ``wait.latest`` as they come, so a deadline that cuts the walk short
    still reports what it saw.
    """
    wanted = frozenset(wait.pending)
    async with _walk(pages) as walk:
        # Once every id still pending is accounted for, the rest of the listing
        # cannot tell us anything: stop walking (and close).
        while len(seen) < len(wanted):
            try:
                page = await wait.next_page(walk)
            except StopAsyncIteration:
                break
            for job in page.items:
                if job.id in wanted and job.id not in seen:
                    seen.add(job.id)
                    changed = wait.latest.get(job.id) != job
                    wait.latest[job.id] = job
                    yield job, changed
    # spec: wait - an id seen starts its count of absent walks over; an unseen one
    # missed a complete walk (an incomplete one ended in an error above).
    for job_id in wanted:
        if job_id in seen:
            wait.absent.pop(job_id, None)
        elif job_id in wait.pending:
            wait.absent[job_id] = wait.absent.get(job_id, 0) + 1


async def finished(
    pages: WalkPages,
    job_ids: tuple[str, ...],
    *,
    poll_interval: float,
    timeout: float | None,
    gate: RateLimitGate | None = None,
    sleep: Sleep = asyncio.sleep,
    clock: Callable[[], float] = time.monotonic,
    grace_walks: int = MISSING_GRACE_WALKS,
) -> AsyncGenerator[BatchJob, None]:
    """Poll walks, yielding each job the moment a walk shows it terminal: `finished_jobs`.

    Each poll walks only until every id still pending was seen, then stops
    (and closes the walk). The deadline bounds the whole wait, walks included:
    a page still coming when it passes is cancelled, and the walk closed.

    Args:
        pages: Starts one walk (`JobPager.pages`): what the client lists with.
        job_ids: The ids, validated and deduplicated.
        poll_interval: Seconds between polls while jobs change.
        timeout: Seconds the whole wait may take, walks included; None for no limit.
        gate: The client's rate-limit pause, never slept through too early.
        sleep: The sleep between polls (tests record instead of waiting).
        clock: A monotonic clock in seconds, for the deadline.
        grace_walks: Complete walks an absent id is forgiven beyond the first.

    Raises:
        WaitTimeoutError: ``timeout`` passed first; ``.pending`` names the ids
            not yielded.
        JobNotFoundError: Ids were absent from too many complete walks in a row.
        LlamaBatchError: A walk failed after its retries.
    """
    wait = _Wait(job_ids, timeout, clock)
    delay = poll_interval
    polls = 0
    while True:
        wait.remaining()  # the deadline may have passed during the sleep
        seen: set[str] = set()
        changed = False
        async with contextlib.aclosing(_scan(pages, wait, seen)) as scan:
            async for job, different in scan:
                changed = changed or different
                if job.is_terminal:
                    del wait.pending[job.id]
                    yield job
        polls += 1
        if not wait.pending:
            logger.debug("wait: all %d jobs finished after %d polls", len(job_ids), polls)
            return
        error = wait.missing(grace_walks)
        if error is not None:
            raise error
        delay = _next_delay(delay, poll_interval, changed=changed)
        pause = _pause(delay, gate)
        remaining = wait.remaining()
        if remaining is not None:
            pause = min(pause, remaining)
        logger.debug(
            "wait: poll %d saw %d unfinished ids, %d still pending; next poll in %.2f s",
            polls,
            len(seen),
            len(wait.pending),
            pause,
        )
        await sleep(pause)


async def poll_until_terminal(
    pages: WalkPages,
    job_ids: tuple[str, ...],
    *,
    poll_interval: float,
    timeout: float | None,
    gate: RateLimitGate | None = None,
    sleep: Sleep = asyncio.sleep,
    clock: Callable[[], float] = time.monotonic,
    grace_walks: int = MISSING_GRACE_WALKS,
) -> dict[str, BatchJob]:
    """Every job's final record, in the order of ``job_ids``: `wait_for_jobs` over `finished`.

    Args and raises as `finished`.
    """
    done: dict[str, BatchJob] = {}
    jobs = finished(
        pages,
        job_ids,
        poll_interval=poll_interval,
        timeout=timeout,
        gate=gate,
        sleep=sleep,
        clock=clock,
        grace_walks=grace_walks,
    )
    async with contextlib.aclosing(jobs):
        async for job in jobs:
            done[job.id] = job
    return {job_id: done[job_id] for job_id in job_ids}


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
    pages: WalkPages,
    *,
    poll_interval: float,
    initial: bool = True,
    gate: RateLimitGate | None = None,
    sleep: Sleep = asyncio.sleep,
) -> AsyncGenerator[JobEvent, None]:
    """Poll complete walks and yield what changed: the loop behind `watch_jobs`.

    Only a complete walk is compared with the one before, so a walk that
    fails part way never reports the jobs it did not reach as removed; its
    error propagates (the pager has already retried it).

    Args:
        pages: Starts one walk (`JobPager.pages`).
        poll_interval: Seconds between polls while the listing changes.
        initial: Yield ``added`` for every job of the first poll.
        gate: The client's rate-limit pause, never slept through too early.
        sleep: The sleep between polls (tests record instead of waiting).

    Raises:
        LlamaBatchError: A walk failed after its retries.
    """
    known: dict[str, BatchJob] | None = None
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
        delay = _next_delay(delay, poll_interval, changed=changed)
        pause = _pause(delay, gate)
        logger.debug(
            "watch: poll %d listed %d jobs, %d events; next poll in %.2f s",
            polls,
            len(current),
            len(events),
            pause,
        )
        for event in events:
            yield event
        await sleep(pause)
