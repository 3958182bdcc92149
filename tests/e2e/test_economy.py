"""What a walk costs the server (issue 22), counted by FakeLlamaCloud: waste, polls, 429 share.

Every figure is a count of requests the fake received or refused, never a time.
The rate-limit cases run at 50 requests a second with pages of 10 (a small time
scale) and assert the shares docs/benchmarks.md shows at 5 a second, pages of 100.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest

from llama_batch_async import BatchClient
from llama_batch_async.testing import FakeLlamaCloud

KEY = "economy-key"
SERVERS: dict[str, dict[str, Any]] = {
    "offset-only": {"paging": "offset", "total_size": False},
    "tokens": {"paging": "both", "total_size": False},
    "total_size": {"paging": "offset", "total_size": True},
}


async def sent_by(client: BatchClient, cloud: FakeLlamaCloud, **options: Any) -> int:
    """Requests the fake received for one whole walk of ``client`` (page 100)."""
    before = len(cloud.requests)
    pager = client.list_jobs(page_size=100, **options)
    jobs = await pager.collect()
    assert len(jobs) == len(cloud.jobs)
    assert pager.stats.requests == len(cloud.requests) - before
    return pager.stats.requests


@pytest.mark.parametrize("server", list(SERVERS))
@pytest.mark.parametrize("jobs", [50, 999, 1000, 5000])
async def test_guesses_past_the_end_stay_within_the_bound(server: str, jobs: int) -> None:
    """A first default walk wastes <= max(2, 15% of needed); the same query again, <= 1."""
    async with FakeLlamaCloud(jobs=jobs, **SERVERS[server]) as cloud:
        async with BatchClient(KEY, base_url=cloud.url) as client:
            needed = await sent_by(client, cloud, prefetch=0)
        async with BatchClient(KEY, base_url=cloud.url) as client:
            first = await sent_by(client, cloud)
            pager = client.list_jobs(page_size=100)
            await pager.collect()
            again = pager.stats.requests
    assert first - needed <= max(2, int(0.15 * needed)), (needed, first)
    assert again - needed <= 1, (needed, again)
    # The walk's own count of answers it did not use never exceeds what it sent extra.
    assert pager.stats.wasted <= again - needed + 1


async def test_wasted_counts_the_guesses_past_the_end() -> None:
    """WalkStats.wasted is requests less retries less pages used: the guesses past the end."""
    async with (
        FakeLlamaCloud(jobs=5000, **SERVERS["offset-only"]) as cloud,
        BatchClient(KEY, base_url=cloud.url) as client,
    ):
        pager = client.list_jobs(page_size=100)
        await pager.collect()
    stats = pager.stats
    assert stats.wasted == stats.requests - stats.retries - stats.pages
    assert stats.wasted >= 1  # a first walk with no hint guesses past the end
    assert stats.throttled == 0


async def test_watch_costs_at_most_13_requests_a_poll() -> None:
    """watch_jobs over a 10-page listing (11 needed) sends <= 13 requests a poll."""
    polls = 6
    async with FakeLlamaCloud(jobs=1000, **SERVERS["offset-only"]) as cloud:
        async with BatchClient(KEY, base_url=cloud.url) as client:

            def starts() -> list[float]:
                return [r.time for r in cloud.requests if r.query.get("offset", "0") == "0"]

            async def consume() -> None:
                async for _event in client.watch_jobs(poll_interval=0.01, page_size=100):
                    pass

            task = asyncio.ensure_future(consume())
            for _ in range(1000):  # bounded: 10 s at most
                if len(starts()) > polls or task.done():
                    break
                await asyncio.sleep(0.01)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        cut = starts()[polls]
        sent = sum(1 for r in cloud.requests if r.time < cut)
    assert sent / polls <= 13, sent


@pytest.mark.timeout(60)
@pytest.mark.parametrize("retry_after", ["seconds", "0", None], ids=["1", "0", "absent"])
@pytest.mark.parametrize("prefetch", [None, 0], ids=["default", "prefetch0"])
async def test_a_rate_limited_walk_finds_the_rate(
    retry_after: str | None, prefetch: int | None
) -> None:
    """Against 50 req/s, Retry-After 1, 0 or absent: the walk completes, <= 15% refused."""
    options: dict[str, Any] = {} if prefetch is None else {"prefetch": prefetch}
    async with (
        FakeLlamaCloud(jobs=1000, rate_limit=50, rate_limit_retry_after=retry_after) as cloud,
        BatchClient(KEY, base_url=cloud.url) as client,
    ):
        pager = client.list_jobs(page_size=10, **options)
        jobs = await pager.collect()
    assert len(jobs) == 1000
    refused = len(cloud.throttled)
    assert refused / len(cloud.requests) <= 0.15, (refused, len(cloud.requests))
    assert pager.stats.throttled == refused
    # Nothing was sent inside a pause a 429 announced, but what was on its way.
    assert cloud.inside_pauses(grace=0.05) == 0
