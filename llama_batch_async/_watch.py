"""Polling built on the pager: wait for jobs to finish, watch a listing change.

Both loops only ever walk the one endpoint this package wraps, through a
`JobPager`, so every poll inherits its retries, its exactly-once walk and its
typed records. Nothing runs in the background: a wait polls while it is
awaited, a watch polls while it is iterated.

    wait_for_jobs(ids)        validate (ValueError before any I/O)
      loop:
        walk                  pager.pages(), closed as soon as every id still
                              pending was seen (contextlib.aclosing)
        settle                terminal ids are done; absent ids count walks
        sleep                 poll_interval, x1.5 while nothing changes (up to
                              x4), never less than the client's 429 pause

    watch_jobs(**filters)     validate
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
from ._models import BatchJob, JobPage, JobStatus, JobType
from ._pager import JobPager
from ._retry import RateLimitGate, Sleep

__all__ = [
    "MISSING_GRACE_WALKS",
    "EventKind",
    "JobEvent",
    "poll_events",
    "poll_until_terminal",
    "wait_for_jobs",
    "watch_jobs",
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

ListJobs = Callable[..., JobPager]
"""`BatchClient.list_jobs`: makes the pager the loops walk."""


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


async def _scan(
    pages: WalkPages, wanted: frozenset[str], latest: dict[str, BatchJob]
) -> tuple[set[str], bool]:
    """One poll: walk until every wanted id was seen (or the listing ends).

    Records of wanted ids go into ``latest`` as they come, so a deadline that
    cuts the walk short still reports what it saw.

    Returns:
        The wanted ids seen, and whether any record was new or different.
    """
    seen: set[str] = set()
    changed = False
    async with _walk(pages) as walk:
        async for page in walk:
            for job in page.items:
                if job.id in wanted:
                    seen.add(job.id)
                    if latest.get(job.id) != job:
                        latest[job.id] = job
                        changed = True
            if len(seen) == len(wanted):
                # Every id still pending is accounted for: the rest of the
                # listing cannot tell us anything, so stop walking (and close).
                break
    return seen, changed


def _settle(
    wanted: frozenset[str],
    seen: set[str],
    latest: Mapping[str, BatchJob],
    pending: dict[str, None],
    absent: dict[str, int],
) -> None:
    """After a poll: seen terminal ids are done; count the walks each unseen id missed."""
    for job_id in wanted:
        if job_id in seen:
            absent.pop(job_id, None)
            if latest[job_id].is_terminal:
                del pending[job_id]
        else:
            absent[job_id] = absent.get(job_id, 0) + 1


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
    """Poll walks until every id is terminal: the loop behind `wait_for_jobs`.

    Args:
        pages: Starts one walk (`JobPager.pages`).
        job_ids: The ids, validated and deduplicated.
        poll_interval: Seconds between polls while jobs change.
        timeout: Seconds the whole wait may take, walks included; None for no limit.
        gate: The client's rate-limit pause, never slept through too early.
        sleep: The sleep between polls (tests record instead of waiting).
        clock: A monotonic clock in seconds, for the deadline.
        grace_walks: Complete walks an absent id is forgiven beyond the first.

    Returns:
        The final record of each id, in the order of ``job_ids``.

    Raises:
        WaitTimeoutError: ``timeout`` passed first.
        JobNotFoundError: Ids were absent from too many complete walks in a row.
        LlamaBatchError: A walk failed after its retries.
    """
    latest: dict[str, BatchJob] = {}
    pending = dict.fromkeys(job_ids)  # an ordered set
    absent: dict[str, int] = {}
    deadline = None if timeout is None else clock() + timeout
    delay = poll_interval
    polls = 0

    def timed_out() -> WaitTimeoutError:
        jobs = {job_id: latest[job_id] for job_id in job_ids if job_id in latest}
        waiting = tuple(pending)
        return WaitTimeoutError(
            f"timed out after {timeout:g} s waiting for {len(waiting)} of "
            f"{len(job_ids)} jobs to finish: {_name_ids(waiting)}",
            jobs=jobs,
            pending=waiting,
            timeout=timeout or 0.0,
        )

    while True:
        wanted = frozenset(pending)
        if deadline is None:
            seen, changed = await _scan(pages, wanted, latest)
        else:
            remaining = deadline - clock()
            if remaining <= 0:
                raise timed_out()
            try:
                seen, changed = await asyncio.wait_for(_scan(pages, wanted, latest), remaining)
            except asyncio.TimeoutError:
                # The walk was still running at the deadline; it is cancelled
                # and closed, and what it saw is in `latest`.
                raise timed_out() from None
        polls += 1
        _settle(wanted, seen, latest, pending, absent)
        if not pending:
            logger.debug("wait: all %d jobs finished after %d polls", len(job_ids), polls)
            return {job_id: latest[job_id] for job_id in job_ids}
        missing = tuple(job_id for job_id in job_ids if absent.get(job_id, 0) > grace_walks)
        if missing:
            raise JobNotFoundError(
                f"{len(missing)} job ids not in the listing after {grace_walks + 1} "
                f"complete walks: {_name_ids(missing)} (check the ids and the "
                "project_id / directory_id filters)",
                missing=missing,
                jobs={job_id: latest[job_id] for job_id in job_ids if job_id in latest},
            )
        delay = _next_delay(delay, poll_interval, changed=changed)
        pause = _pause(delay, gate)
        if deadline is not None:
            pause = min(pause, max(0.0, deadline - clock()))
        logger.debug(
            "wait: poll %d saw %d of %d unfinished ids, %d still pending; next poll in %.2f s",
            polls,
            len(seen),
            len(wanted),
            len(pending),
            pause,
        )
        await sleep(pause)


async def wait_for_jobs(
    list_jobs: ListJobs,
    job_ids: Iterable[str],
    *,
    project_id: str | None,
    directory_id: str | None,
    poll_interval: float,
    timeout: float | None,
    gate: RateLimitGate | None = None,
    sleep: Sleep = asyncio.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, BatchJob]:
    """Validate, make the pager, and poll: `BatchClient.wait_for_jobs`.

    Args:
        list_jobs: `BatchClient.list_jobs`.
        job_ids: The ids to wait for.
        project_id: Walk only this project's jobs.
        directory_id: Walk only this directory's jobs.
        poll_interval: Seconds between polls while jobs change.
        timeout: Seconds the whole wait may take; None for no limit.
        gate: The client's rate-limit pause.
        sleep: The sleep between polls.
        clock: A monotonic clock in seconds.

    Raises:
        ValueError: A bad argument, named in the message, before any request.
    """
    ids = _check_ids(job_ids)
    interval = _check_interval(poll_interval)
    limit = _check_timeout(timeout)
    pager = list_jobs(project_id=project_id, directory_id=directory_id)
    return await poll_until_terminal(
        pager.pages,
        ids,
        poll_interval=interval,
        timeout=limit,
        gate=gate,
        sleep=sleep,
        clock=clock,
    )


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


def watch_jobs(
    list_jobs: ListJobs,
    *,
    directory_id: str | None,
    job_type: JobType | str | None,
    status: JobStatus | str | None,
    project_id: str | None,
    organization_id: str | None,
    page_size: int,
    poll_interval: float,
    initial: bool,
    gate: RateLimitGate | None = None,
    sleep: Sleep = asyncio.sleep,
) -> AsyncGenerator[JobEvent, None]:
    """Validate at once, make the pager, and return the poll loop: `BatchClient.watch_jobs`.

    Args:
        list_jobs: `BatchClient.list_jobs`.
        directory_id: Only jobs of this directory.
        job_type: Only jobs of this type.
        status: Only jobs in this status.
        project_id: Only jobs of this project.
        organization_id: Only jobs of this organization.
        page_size: Jobs per request.
        poll_interval: Seconds between polls while the listing changes.
        initial: Yield ``added`` for every job of the first poll.
        gate: The client's rate-limit pause.
        sleep: The sleep between polls.

    Raises:
        ValueError: A bad argument, named in the message, before any request.
    """
    interval = _check_interval(poll_interval)
    first = _check_initial(initial)
    pager = list_jobs(
        directory_id=directory_id,
        job_type=job_type,
        status=status,
        project_id=project_id,
        organization_id=organization_id,
        page_size=page_size,
    )
    return poll_events(pager.pages, poll_interval=interval, initial=first, gate=gate, sleep=sleep)
