"""Prefetch: several page requests in flight, jobs still in order and each once."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
from helpers import all_ids, ids

from llama_batch_async import BatchClient, BatchJob, ServerError
from llama_batch_async.testing import FakeLlamaCloud, PagingKind

KEY = "sk-prefetch"


@pytest.fixture
async def cloud() -> AsyncIterator[FakeLlamaCloud]:
    async with FakeLlamaCloud(jobs=203, seed=5) as server:
        yield server


def other_tasks() -> list[str]:
    """The client's tasks still alive (the fake server's own tasks share the loop)."""
    names = []
    for task in asyncio.all_tasks():
        code = getattr(task.get_coro(), "cr_code", None)
        if code is None or task is asyncio.current_task():
            continue
        if "llama_batch_async" in code.co_filename and "testing" not in code.co_filename:
            names.append(code.co_name)
    return names


@pytest.mark.parametrize("prefetch", [1, 4])
@pytest.mark.parametrize("page_tokens", [False, True], ids=["offset", "token"])
@pytest.mark.parametrize("total_size", [True, False], ids=["total", "no-total"])
@pytest.mark.parametrize("max_limit", [None, 9], ids=["uncapped", "capped"])
async def test_every_job_once_in_order(
    prefetch: int, page_tokens: bool, total_size: bool, max_limit: int | None
) -> None:
    """With prefetch, any paging style still yields every job once, in order."""
    async with FakeLlamaCloud(
        jobs=97, page_tokens=page_tokens, total_size=total_size, max_limit=max_limit
    ) as cloud:
        async with BatchClient(KEY, base_url=cloud.url) as client:
            pager = client.list_jobs(page_size=10, prefetch=prefetch)
            jobs = await pager.collect()
        assert ids(jobs) == all_ids(cloud)
        assert not other_tasks()


def most_at_once(times: list[float], latency: float) -> int:
    """The most requests in flight at once, each taking ``latency`` on the server."""
    return max(sum(start <= t < start + latency for t in times) for start in times)


@pytest.mark.parametrize("paging", ["offset", "both", "token-ignored"])
async def test_requests_are_in_flight_together(paging: PagingKind) -> None:
    """prefetch=4: the first page alone, then up to five requests in flight, never more."""
    latency = 0.3
    async with FakeLlamaCloud(jobs=400, latency=latency, paging=paging) as cloud:
        async with BatchClient(KEY, base_url=cloud.url) as client:
            jobs = await client.list_jobs(page_size=20, prefetch=4).collect()
        assert len(jobs) == 400
        times = [r.time for r in cloud.requests]
        assert sum(t < times[0] + latency * 0.9 for t in times) == 1
        assert most_at_once(times, latency * 0.9) == 5


async def test_guesses_overlap_by_one_job(cloud: FakeLlamaCloud) -> None:
    """An offset guess starts one job early, so the pager can check it."""
    async with BatchClient(KEY, base_url=cloud.url) as client:
        pager = client.list_jobs(page_size=50, prefetch=2)
        await pager.collect()
    offsets = sorted({int(r.query["offset"]) for r in cloud.requests})
    assert offsets[:3] == [0, 50, 99]
    assert pager.stats.duplicates_dropped == 0


async def test_break_cancels_requests_in_flight() -> None:
    """Leaving a prefetching walk early cancels what is in flight; no task is left."""
    cloud = FakeLlamaCloud(jobs=300, latency=0.2)
    async with cloud, BatchClient(KEY, base_url=cloud.url) as client:
        pages = client.list_jobs(page_size=10, prefetch=6).pages()
        async with contextlib.aclosing(pages):
            async for page in pages:
                assert len(page.items) == 10
                break
        assert not other_tasks()
        sent = len(cloud.requests)
        await asyncio.sleep(0.3)
        assert len(cloud.requests) == sent
        # the client is still usable after the abandoned walk
        assert len(await client.list_jobs(max_items=5).collect()) == 5


async def test_cancellation_cancels_everything_in_flight() -> None:
    """Cancelling the consumer task cancels its prefetches too."""
    cloud = FakeLlamaCloud(jobs=300, latency=0.3)
    async with cloud, BatchClient(KEY, base_url=cloud.url) as client:
        task = asyncio.create_task(client.list_jobs(page_size=10, prefetch=4).collect())
        while len(cloud.requests) < 5:
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not other_tasks()


async def test_max_items_never_overfetches_beyond_one_page(cloud: FakeLlamaCloud) -> None:
    """With prefetch, requests never ask for more than max_items plus one page."""
    async with BatchClient(KEY, base_url=cloud.url) as client:
        jobs = await client.list_jobs(page_size=10, prefetch=8, max_items=35).collect()
    assert ids(jobs) == all_ids(cloud)[:35]
    assert sum(int(r.query["limit"]) for r in cloud.requests) <= 35 + 10 + len(cloud.requests)


async def test_fault_under_prefetch_is_retried_in_place(cloud: FakeLlamaCloud) -> None:
    """A failed prefetched page is retried; nothing is lost or doubled."""
    cloud.fail_next(503, retry_after="0", times=2)
    async with BatchClient(KEY, base_url=cloud.url) as client:
        jobs = await client.list_jobs(page_size=10, prefetch=4).collect()
    assert ids(jobs) == all_ids(cloud)


async def test_error_under_prefetch_carries_cursor_and_cancels_the_rest() -> None:
    """A page that fails for good ends the walk with a cursor and no stray task."""
    async with FakeLlamaCloud(jobs=100) as cloud:
        async with BatchClient(KEY, base_url=cloud.url, max_retries=0) as client:
            seen: list[BatchJob] = []
            with pytest.raises(ServerError) as caught:
                async for page in client.list_jobs(page_size=10, prefetch=3).pages():
                    seen.extend(page.items)
                    if len(seen) >= 30 and not cloud.faults:
                        cloud.fail_next(500, times=20)
            assert not other_tasks()
            cloud.clear_faults()
            rest = await client.list_jobs(page_size=10, resume_from=caught.value.cursor).collect()
        assert ids(seen + rest) == all_ids(cloud)


async def test_drift_under_prefetch_loses_nothing(cloud: FakeLlamaCloud) -> None:
    """Jobs created mid-walk make guesses miss; the walk re-asks and loses nothing."""
    original = all_ids(cloud)
    seen: list[BatchJob] = []
    async with BatchClient(KEY, base_url=cloud.url) as client:
        pager = client.list_jobs(page_size=20, prefetch=3)
        async for page in pager.pages():
            seen.extend(page.items)
            cloud.insert_jobs(2)
    got = ids(seen)
    assert len(got) == len(set(got))
    assert set(original) <= set(got)


async def test_prefetch_out_of_range_is_refused(cloud: FakeLlamaCloud) -> None:
    """A prefetch outside 0 to 32 is refused."""
    async with BatchClient(KEY, base_url=cloud.url) as client:
        for bad in (-1, 33, 1.5):
            with pytest.raises(ValueError, match="prefetch"):
                client.list_jobs(prefetch=bad)  # type: ignore[arg-type]
