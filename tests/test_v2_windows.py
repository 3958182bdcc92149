"""Windowed v2 walks: created_at windows walked concurrently, yielded in order, each batch once."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from datetime import datetime, timedelta, timezone

import pytest

from llama_batch_async import BatchClient, BatchPage, ServerError
from llama_batch_async._query import split_range
from llama_batch_async.testing import FakeLlamaCloud, format_timestamp, parse_timestamp

START = datetime(2026, 1, 1, tzinfo=timezone.utc)


def bounds(cloud: FakeLlamaCloud) -> tuple[datetime, datetime]:
    return (
        parse_timestamp(cloud.batches[-1]["created_at"]),
        parse_timestamp(cloud.batches[0]["created_at"]),
    )


@pytest.mark.parametrize("windows", [1, 2, 5, 8])
async def test_windows_yield_exactly_the_sequential_walk(windows: int) -> None:
    """Any number of windows: the same batches in the same order, a few requests more at most."""
    async with (
        FakeLlamaCloud(batches=230, max_limit=20) as cloud,
        BatchClient("k", base_url=cloud.url) as client,
    ):
        after, before = bounds(cloud)
        pager = client.list_batches(
            created_after=after, created_before=before, page_size=25, windows=windows
        )
        got = [batch.id for batch in await pager.collect()]
    assert got == [batch["id"] for batch in cloud.batches]
    assert pager.stats.items == 230
    assert pager.stats.requests == len(cloud.requests)
    # 12 pages of 20; each extra window may end on one short or empty page
    assert 12 <= pager.stats.requests <= 12 + windows


async def test_windows_walk_concurrently() -> None:
    """With 4 windows, requests of different windows are in flight at the same time."""
    async with (
        FakeLlamaCloud(batches=200, latency=0.05) as cloud,
        BatchClient("k", base_url=cloud.url) as client,
    ):
        after, before = bounds(cloud)
        await client.list_batches(
            created_after=after, created_before=before, page_size=50, windows=4
        ).collect()
    firsts = [r for r in cloud.requests if "page_token" not in r.query]
    assert len(firsts) == 4
    assert max(r.time for r in firsts) - min(r.time for r in firsts) < 0.05


async def test_max_items_is_exact_across_windows() -> None:
    """max_items=33 over 3 windows: the newest 33 batches, once each."""
    async with (
        FakeLlamaCloud(batches=100) as cloud,
        BatchClient("k", base_url=cloud.url) as client,
    ):
        after, before = bounds(cloud)
        got = await client.list_batches(
            created_after=after, created_before=before, page_size=10, windows=3, max_items=33
        ).collect()
    assert [batch.id for batch in got] == [batch["id"] for batch in cloud.batches[:33]]


async def test_batches_created_during_the_walk_appear_at_most_once() -> None:
    """Batches created inside the range while windows are walked: none twice, none lost."""
    async with (
        FakeLlamaCloud(batches=150, max_limit=10) as cloud,
        BatchClient("k", base_url=cloud.url) as client,
    ):
        after, before = bounds(cloud)
        original = [batch["id"] for batch in cloud.batches]
        seen: list[str] = []
        walk = client.list_batches(
            created_after=after, created_before=before, page_size=10, windows=3
        ).pages()
        async with contextlib.aclosing(walk) as pages:
            async for page in pages:
                seen += [batch.id for batch in page.items]
                if len(seen) == 10:
                    # new batches at the head of the listing, inside the range
                    middle = parse_timestamp(cloud.batches[75]["created_at"])
                    cloud.insert_batches(
                        [
                            {"id": f"bat-new-{i}", "created_at": format_timestamp(middle)}
                            for i in range(15)
                        ]
                    )
    assert len(seen) == len(set(seen))
    assert set(original) <= set(seen)


async def test_resume_from_a_windowed_cursor() -> None:
    """A cursor from a windowed walk finishes its window, then the older rest: each batch once."""
    async with (
        FakeLlamaCloud(batches=120) as cloud,
        BatchClient("k", base_url=cloud.url) as client,
    ):
        after, before = bounds(cloud)
        pages: list[BatchPage] = []
        walk = client.list_batches(
            created_after=after, created_before=before, page_size=15, windows=4
        ).pages()
        async with contextlib.aclosing(walk) as stream:
            async for page in stream:
                pages.append(page)
                if len(pages) == 3:
                    break
        rest = await client.list_batches(
            created_after=after, created_before=before, page_size=15, resume_from=pages[-1].cursor
        ).collect()
    got = [batch.id for page in pages for batch in page.items] + [batch.id for batch in rest]
    assert got == [batch["id"] for batch in cloud.batches]


async def test_an_error_in_a_window_carries_the_cursor() -> None:
    """A window's request fails for good: the error's cursor resumes after the last page."""
    async with (
        FakeLlamaCloud(batches=90, latency=0.05) as cloud,
        BatchClient("k", base_url=cloud.url, max_retries=0) as client,
    ):
        after, before = bounds(cloud)
        delivered: list[str] = []
        walk = client.list_batches(
            created_after=after, created_before=before, page_size=5, windows=3
        ).pages()
        # 18 pages at 50 ms each: requests still come after the first page is in
        with pytest.raises(ServerError) as caught:
            async with contextlib.aclosing(walk) as pages:
                async for page in pages:
                    delivered += [batch.id for batch in page.items]
                    cloud.fail_next(500, times=50)
        cloud.faults.clear()
        await asyncio.sleep(0)
        rest = await client.list_batches(
            created_after=after,
            created_before=before,
            page_size=10,
            resume_from=caught.value.cursor,
        ).collect()
    assert delivered
    assert delivered + [batch.id for batch in rest] == [batch["id"] for batch in cloud.batches]


async def test_windows_need_created_after_and_a_sane_count() -> None:
    """Windows > 1 without created_after, or out of 1..32: ValueError before any request."""
    async with FakeLlamaCloud(batches=3) as cloud, BatchClient("k", base_url=cloud.url) as client:
        with pytest.raises(ValueError, match="windows > 1 needs created_after"):
            client.list_batches(windows=2)
        with pytest.raises(ValueError, match=r"^windows must be an int from 1 to 32"):
            client.list_batches(created_after=START, windows=0)
        with pytest.raises(ValueError, match=r"^windows must be an int from 1 to 32"):
            client.list_batches(created_after=START, windows=33)
    assert cloud.requests == []


@pytest.mark.parametrize("count", [1, 2, 3, 7])
def test_split_range_is_disjoint_and_covers(count: int) -> None:
    """The windows cover [after, before], newest first, one microsecond apart."""
    after, before = START, START + timedelta(hours=5, microseconds=3)
    ranges = split_range(after, before, count)
    assert len(ranges) == count
    assert ranges[0][1] == before
    assert ranges[-1][0] == after
    for (low, high), (older_low, older_high) in itertools.pairwise(ranges):
        assert older_high + timedelta(microseconds=1) == low
        assert older_low <= older_high < low <= high
