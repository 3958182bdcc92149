"""The polling core shared by every wait and watch: deadline, back-off, pause, missing ids.

What one poll looks at differs (a walk of the v1 listing for jobs, one
``get_batch`` per id for v2 batches); how polls are paced and when a wait
gives up does not, and lives here once:

    poll_changes(scan, wait)      the loop behind finished_jobs / wait_for_jobs /
      loop:                       wait_for_batches / watch_batches
        scan                      one poll: records of the ids still pending, each
                                  with the record it had before (None: first seen)
        yield                     each record that changed; a terminal one leaves
                                  ``pending``
        settle                    absent ids count polls (the not-found error)
        sleep                     poll_interval, x1.5 while nothing changes (up to
                                  x4), never less than the client's 429 pause, never
                                  past the deadline

`Pacing` is how a wait polls (interval, deadline, the client's limiter, and the sleep
and clock tests replace), checked once at the call; `Wait` holds the deadline,
the latest record of each id and what is pending; the scans put what they see
into it, so a deadline that cuts a poll short still reports it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable
from typing import Generic, Protocol, TypeVar

import attrs

from llama_batch_async._errors import LlamaBatchError, WaitTimeoutError
from llama_batch_async._http._limiter import Limiter
from llama_batch_async._http._retry import Sleep
from llama_batch_async._tasks import cancel_all
from llama_batch_async._validate import check_id

__all__ = [
    "MISSING_GRACE_WALKS",
    "Pacing",
    "Record",
    "Scan",
    "Wait",
    "check_ids",
    "check_initial",
    "check_interval",
    "check_pacing",
    "check_timeout",
    "collect_final",
    "fetch_all",
    "name_ids",
    "next_delay",
    "pause_for",
    "poll_changes",
    "terminal",
]

logger = logging.getLogger(__name__)

MISSING_GRACE_WALKS = 2
"""Complete polls an id may be absent from, after the first, before a wait gives
up on it: a job or batch created a moment ago may not be visible yet."""

# Polls back off while nothing changes: x1.5 per quiet poll, up to x4 the interval.
_BACKOFF_FACTOR = 1.5
_BACKOFF_CAP = 4.0
# Ids named in an error message; the attribute carries all of them.
_IDS_IN_MESSAGE = 5


class Record(Protocol):
    """What the core needs of a record: an id, and whether it is final."""

    @property
    def id(self) -> str: ...

    @property
    def is_terminal(self) -> bool: ...


_R = TypeVar("_R", bound=Record)


# ---------------------------------------------------------------- validation


def check_ids(name: str, noun: str, ids: object) -> tuple[str, ...]:
    """The ids to wait for, deduplicated in order; ValueError naming ``name``."""
    if isinstance(ids, str | bytes) or not isinstance(ids, Iterable):
        raise ValueError(
            f"{name} must be a list (or other iterable) of {noun} id strings, got {ids!r}"
        )
    given = tuple(ids)
    if not given:
        raise ValueError(f"{name} must name at least one {noun} id, got none")
    for one in given:
        # issue 24.9: each id becomes a path segment (get_job, get_batch)
        check_id(name, one)
    return tuple(dict.fromkeys(given))


def check_interval(poll_interval: object) -> float:
    """``poll_interval`` as a float; ValueError unless a finite number > 0."""
    if (
        isinstance(poll_interval, bool)
        or not isinstance(poll_interval, int | float)
        or not math.isfinite(poll_interval)
        or poll_interval <= 0
    ):
        raise ValueError(f"poll_interval must be a number of seconds > 0, got {poll_interval!r}")
    return float(poll_interval)


def check_timeout(timeout: object) -> float | None:
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


def check_initial(initial: object) -> bool:
    """``initial`` as given; ValueError unless a bool."""
    if not isinstance(initial, bool):
        raise ValueError(f"initial must be True or False, got {initial!r}")
    return initial


# ---------------------------------------------------------------- pacing


@attrs.frozen
class Pacing:
    """How a wait or a watch polls: what every loop here is handed, instead of six keywords.

    Attributes:
        poll_interval: Seconds between polls while records change.
        timeout: Seconds the whole wait may take; None for no limit.
        limiter: The client's limiter: its pause is never slept through too early.
        sleep: The sleep between polls (tests record instead of waiting).
        clock: A monotonic clock in seconds, for the deadline.
        grace_walks: Complete polls an absent id is forgiven beyond the first.
    """

    poll_interval: float
    timeout: float | None = None
    limiter: Limiter | None = None
    sleep: Sleep = asyncio.sleep
    clock: Callable[[], float] = time.monotonic
    grace_walks: int = MISSING_GRACE_WALKS


def check_pacing(poll_interval: object, timeout: object, limiter: Limiter | None) -> Pacing:
    """A `Pacing` from a public method's arguments: ValueError naming the bad one."""
    return Pacing(check_interval(poll_interval), check_timeout(timeout), limiter)


def next_delay(delay: float, poll_interval: float, *, changed: bool) -> float:
    """The pause before the next poll: reset on change, else back off up to the cap."""
    if changed:
        return poll_interval
    return min(delay * _BACKOFF_FACTOR, poll_interval * _BACKOFF_CAP)


def pause_for(delay: float, limiter: Limiter | None) -> float:
    """The sleep before the next poll: ``delay``, or longer while the client is paused."""
    if limiter is not None and limiter.remaining > delay:
        # spec: retry - a 429 pauses the whole client; polling sooner is pointless
        return limiter.remaining
    return delay


def name_ids(ids: Iterable[str]) -> str:
    """The first few ids, and how many more, for a message."""
    listed = list(ids)
    text = ", ".join(listed[:_IDS_IN_MESSAGE])
    if len(listed) > _IDS_IN_MESSAGE:
        text += f" and {len(listed) - _IDS_IN_MESSAGE} more"
    return text


# ---------------------------------------------------------------- one wait

_T = TypeVar("_T")


@attrs.define
class Wait(Generic[_R]):
    """What one wait knows: the last record of each id, what is pending, the deadline.

    Attributes:
        ids: The ids waited for, deduplicated, in order.
        pacing: The interval, deadline, limiter, sleep and clock of the wait.
        noun: ``"jobs"`` or ``"batches"``, for messages.
        not_found: Builds the error for ids absent too long.
        timeout_error: Builds `WaitTimeoutError` from the latest records and pending ids.
    """

    ids: tuple[str, ...]
    pacing: Pacing
    noun: str
    not_found: Callable[[tuple[str, ...], int, dict[str, _R]], LlamaBatchError]
    timeout_error: Callable[[str, dict[str, _R], tuple[str, ...], float], WaitTimeoutError]
    deadline: float | None = attrs.field(init=False)
    latest: dict[str, _R] = attrs.field(factory=dict)
    pending: dict[str, None] = attrs.field(init=False)  # an ordered set: not yielded yet
    absent: dict[str, int] = attrs.field(factory=dict)

    def __attrs_post_init__(self) -> None:
        self.pending = dict.fromkeys(self.ids)
        timeout = self.pacing.timeout
        self.deadline = None if timeout is None else self.pacing.clock() + timeout

    def remaining(self) -> float | None:
        """Seconds left before the deadline (None: no limit); `timed_out` once none are."""
        if self.deadline is None:
            return None
        remaining = self.deadline - self.pacing.clock()
        if remaining <= 0:
            raise self.timed_out()
        return remaining

    def timed_out(self) -> WaitTimeoutError:
        """The error for a deadline that passed, with what the wait saw."""
        seen = {key: self.latest[key] for key in self.ids if key in self.latest}
        waiting = tuple(self.pending)
        timeout = self.pacing.timeout or 0.0
        message = (
            f"timed out after {timeout:g} s waiting for {len(waiting)} of "
            f"{len(self.ids)} {self.noun} to finish: {name_ids(waiting)}"
        )
        return self.timeout_error(message, seen, waiting, timeout)

    def missing(self) -> LlamaBatchError | None:
        """After a complete poll: the error for ids absent too long, if any."""
        grace_walks = self.pacing.grace_walks
        gone = tuple(key for key in self.ids if self.absent.get(key, 0) > grace_walks)
        if not gone:
            return None
        seen = {key: self.latest[key] for key in self.ids if key in self.latest}
        return self.not_found(gone, grace_walks + 1, seen)

    def settle(self, wanted: Iterable[str], seen: set[str]) -> None:
        """After a complete poll: an id seen starts its absent count over, an unseen one adds."""
        # spec: wait - an incomplete poll ended in an error and never gets here
        for key in wanted:
            if key in seen:
                self.absent.pop(key, None)
            elif key in self.pending:
                self.absent[key] = self.absent.get(key, 0) + 1

    def see(self, record: _R) -> _R | None:
        """Record ``record``; return what it replaced (None on first sight)."""
        previous = self.latest.get(record.id)
        self.latest[record.id] = record
        return previous

    async def bounded(self, step: Callable[[], Awaitable[_T]]) -> _T:
        """Await ``step()``, or raise `timed_out` if the deadline passes first.

        ``step`` is called only once the deadline is known not to have passed: an
        awaitable made before a deadline found passed would never be awaited (a
        "never awaited" RuntimeWarning, an error under the tests' warning filter).
        """
        remaining = self.remaining()
        if remaining is None:
            return await step()
        try:
            return await asyncio.wait_for(step(), remaining)
        except asyncio.TimeoutError:
            # The step was still running at the deadline: it is cancelled, and what
            # the poll saw is in `latest`.
            raise self.timed_out() from None


Scan = Callable[["Wait[_R]", set[str]], AsyncGenerator[_R, None]]
"""One poll: yields each record it sees of an id pending at its start (adding the id
to the set) and calls `Wait.settle` once it has looked at every one."""


async def poll_changes(
    scan: Callable[[Wait[_R], set[str]], AsyncGenerator[_R, None]],
    wait: Wait[_R],
) -> AsyncGenerator[tuple[_R, _R | None], None]:
    """Poll until every id is terminal, yielding ``(record, previous)`` for each change.

    ``previous`` is None the first time an id is seen. A terminal record leaves
    ``wait.pending`` as it is yielded, so it is yielded once and polled no more.

    Args:
        scan: One poll (see `Scan`).
        wait: The wait's state: ids, pacing, deadline, records.

    Raises:
        WaitTimeoutError: The deadline passed first.
        LlamaBatchError: An id was absent too long (``wait.not_found``), or a
            poll failed after its retries.
    """
    poll_interval = wait.pacing.poll_interval
    delay = poll_interval
    polls = 0
    while True:
        wait.remaining()  # the deadline may have passed during the sleep
        seen: set[str] = set()
        changed = False
        async with contextlib.aclosing(scan(wait, seen)) as records:
            async for record in records:
                previous = wait.see(record)
                if previous == record:
                    continue
                changed = True
                if record.is_terminal:
                    del wait.pending[record.id]
                yield record, previous
        polls += 1
        if not wait.pending:
            logger.debug("wait: all %d %s finished after %d polls", len(wait.ids), wait.noun, polls)
            return
        error = wait.missing()
        if error is not None:
            raise error
        delay = next_delay(delay, poll_interval, changed=changed)
        pause = pause_for(delay, wait.pacing.limiter)
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
        await wait.pacing.sleep(pause)


async def fetch_all(
    get: Callable[[str], Awaitable[_T]], ids: Iterable[str], *, at_once: int
) -> list[_T]:
    """``get`` each id, ``at_once`` at a time, in order; the first failure cancels the rest.

    Each ``get`` is one request through the client's `Sender`, so the client's
    limiter paces them; ``at_once`` only bounds this poll's own fan-out.
    """
    gate = asyncio.Semaphore(at_once)

    async def one(record_id: str) -> _T:
        async with gate:
            return await get(record_id)

    tasks = [asyncio.ensure_future(one(record_id)) for record_id in ids]
    try:
        return list(await asyncio.gather(*tasks))
    finally:
        await cancel_all(tasks)


async def terminal(
    changes: AsyncGenerator[tuple[_R, _R | None], None],
) -> AsyncGenerator[_R, None]:
    """Each record of ``changes`` that is completed, failed or cancelled, as it comes.

    The ``finished_jobs`` / ``finished_batches`` filter over `poll_changes`;
    closing this closes ``changes``.
    """
    async with contextlib.aclosing(changes):
        async for record, _previous in changes:
            if record.is_terminal:
                yield record


async def collect_final(records: AsyncGenerator[_R, None], ids: Iterable[str]) -> dict[str, _R]:
    """Every record ``records`` yields, by id, in the order of ``ids``.

    The ``wait_for_jobs`` / ``wait_for_batches`` collection over `terminal`.
    """
    done: dict[str, _R] = {}
    async with contextlib.aclosing(records):
        async for record in records:
            done[record.id] = record
    return {record_id: done[record_id] for record_id in ids}
