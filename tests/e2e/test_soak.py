"""Chaos soak: a long walk through random faults and offset drift loses nothing, stays flat.

The fake server injects seeded random faults (503, 502 with an HTML page, 429
with ``Retry-After: 0``, connection resets, truncated bodies) into a share of
the requests and inserts new jobs at the head of the listing between pages.
The walk must still deliver every job of the original listing exactly once,
finish, and keep the client's memory flat.

``LLAMA_BATCH_SOAK_JOBS`` sets the listing's size: small in the normal suite,
200,000 under ``nox -s soak``. Run with ``-s`` to see the figures.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
import tracemalloc
from collections.abc import Iterator
from typing import Any

import attrs
import pytest

from llama_batch_async import BatchClient, WalkStats
from llama_batch_async._http._limiter import LocalLimiter
from llama_batch_async._http._retry import RetryPolicy
from llama_batch_async.testing import DEFAULT_CHAOS_KINDS, FakeLlamaCloud

KEY = "sk-soak-secret"
JOBS = int(os.environ.get("LLAMA_BATCH_SOAK_JOBS", "10000"))
PAGE_SIZE = 100
FAULT_RATE = 0.1
INSERT_EVERY = 7  # pages between two insertions of new jobs at the head
INSERTED = 2  # jobs inserted each time: later offset pages shift by that much
# Seconds the whole walk may take: generous (a loaded CI box walks ~1,000 jobs a
# second under tracemalloc), so only a hung walk trips it.
BUDGET = 60.0 + JOBS / 500
# Pages before memory is measured: the client's window of recent ids (2,048 at
# least) fills up, pools and caches settle.
WARM_UP_PAGES = 30
# Late peak over early peak, at most. The absolute slack also absorbs the fake
# server's own growth: the jobs it inserts (about 0.3 MB per half at 200,000).
MEMORY_SLACK = 1.25
MEMORY_SLACK_BYTES = 512 * 1024


def fast_retries(client: BatchClient) -> None:
    """Test-speed knob: the same retry budget as asked, with millisecond backoff.

    Resets and truncated bodies have no ``Retry-After``, so the default backoff
    (full jitter from 0.5 s) would make the soak sleep for minutes. The private
    `WalkContext` is frozen; swap in one whose policy backs off in milliseconds.
    """
    policy = RetryPolicy(max_retries=10, backoff_base=0.001, backoff_max=0.01)
    # Chaos 429s are random, not a rate: a limiter that paced by them would walk at a
    # few requests a second (issue 22's congestion control). Pauses and the window of
    # requests in flight still apply.
    limiter = LocalLimiter(pace=False)
    client._context = attrs.evolve(client._context, policy=policy, limiter=limiter)


@attrs.define
class Tally:
    """What a walk delivered, in memory allocated before tracing starts.

    The original listing's ids map to slots of a preallocated bytearray, so
    counting deliveries allocates nothing that grows with the walk; the few
    jobs inserted during the walk go to a set.
    """

    slots: dict[str, int]
    counts: bytearray
    extra: set[str] = attrs.field(factory=set)
    repeats: int = 0

    @classmethod
    def of(cls, ids: list[str]) -> Tally:
        return cls(slots={job_id: n for n, job_id in enumerate(ids)}, counts=bytearray(len(ids)))

    def add(self, job_id: str) -> None:
        slot = self.slots.get(job_id)
        if slot is None:
            if job_id in self.extra:
                self.repeats += 1
            self.extra.add(job_id)
        elif self.counts[slot]:
            self.repeats += 1
        else:
            self.counts[slot] = 1

    @property
    def missing(self) -> int:
        return self.counts.count(0)


class CountingHandler(logging.Handler):
    """Formats and counts the client's log records, and keeps none of them.

    pytest's own capture keeps every record until the test ends, and a retry
    warning's record holds its exception, whose traceback holds the frames of
    the failed attempt: that would be pytest's memory growing, not the client's.
    """

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.warnings = 0

    def emit(self, record: logging.LogRecord) -> None:
        record.getMessage()
        self.warnings += record.levelno == logging.WARNING


@contextlib.contextmanager
def counted_logs(monkeypatch: pytest.MonkeyPatch) -> Iterator[CountingHandler]:
    """Route the package's log records to a `CountingHandler` only."""
    logger = logging.getLogger("llama_batch_async")
    handler = CountingHandler()
    monkeypatch.setattr(logger, "propagate", False)
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


@attrs.define
class Figures:
    """The soak's measurements."""

    pages: int = 0
    inserted: int = 0
    server_requests: int = 0
    early_peak: int = 0
    late_peak: int = 0


async def soak(
    cloud: FakeLlamaCloud, client: BatchClient, tally: Tally, **options: Any
) -> tuple[Figures, WalkStats]:
    """Walk the listing page by page, inserting jobs between pages; measure memory.

    The traced peak of the walk's first measured half (after the warm-up) is
    compared with that of its second half: anything kept per job would make
    the second one grow.
    """
    figures = Figures()
    pager = client.list_jobs(page_size=PAGE_SIZE, **options)
    midpoint = (WARM_UP_PAGES + JOBS // PAGE_SIZE) // 2
    tracemalloc.start()
    try:
        async for page in pager.pages():
            for job in page.items:
                tally.add(job.id)
            figures.pages += 1
            # The fake records every request; count and forget them, or the
            # record itself would grow with the walk.
            figures.server_requests += len(cloud.requests)
            cloud.requests.clear()
            if figures.pages % INSERT_EVERY == 0:
                figures.inserted += len(cloud.insert_jobs(INSERTED))
            if figures.pages == WARM_UP_PAGES:
                tracemalloc.reset_peak()
            elif figures.pages == midpoint:
                figures.early_peak = tracemalloc.get_traced_memory()[1]
                tracemalloc.reset_peak()
        figures.late_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    figures.server_requests += len(cloud.requests)
    return figures, pager.stats


@pytest.mark.timeout(BUDGET + 30)
@pytest.mark.parametrize(
    ("page_tokens", "prefetch"),
    [(False, 0), (True, 0), (False, 4)],
    ids=["offset", "token", "prefetch4"],
)
async def test_chaos_soak_loses_nothing_and_stays_flat(
    page_tokens: bool, prefetch: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Random faults and head inserts: every original job once, the walk ends, memory flat."""
    assert JOBS >= 3 * WARM_UP_PAGES * PAGE_SIZE, "too few jobs to compare memory"
    async with FakeLlamaCloud(jobs=JOBS, seed=11, page_tokens=page_tokens) as cloud:
        tally = Tally.of([job["id"] for job in cloud.jobs])
        cloud.fault_rate(FAULT_RATE, seed=1234, kinds=DEFAULT_CHAOS_KINDS)
        async with BatchClient(KEY, base_url=cloud.url) as client:
            fast_retries(client)
            started = time.monotonic()
            with counted_logs(monkeypatch) as logs:
                figures, stats = await asyncio.wait_for(
                    soak(cloud, client, tally, prefetch=prefetch), BUDGET
                )
            elapsed = time.monotonic() - started
    print(  # noqa: T201 - the soak's figures, shown with -s
        f"\nsoak jobs={JOBS} mode={'token' if page_tokens else 'offset'} prefetch={prefetch}: "
        f"pages={figures.pages} requests={stats.requests} (server saw "
        f"{figures.server_requests}) retries={stats.retries} "
        f"duplicates_dropped={stats.duplicates_dropped} "
        f"missed_prefetches={stats.missed_prefetches} inserted={figures.inserted} "
        f"elapsed={elapsed:.1f}s early_peak={figures.early_peak / 1e6:.2f}MB "
        f"late_peak={figures.late_peak / 1e6:.2f}MB"
    )
    assert tally.missing == 0
    assert tally.repeats == 0
    assert stats.retries > 0, "the chaos never struck: the soak proved nothing"
    assert logs.warnings == stats.retries  # one WARNING per retry
    assert figures.late_peak <= figures.early_peak * MEMORY_SLACK + MEMORY_SLACK_BYTES
