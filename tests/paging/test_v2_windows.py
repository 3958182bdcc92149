"""Windowed v2 walks: created_at windows walked concurrently, yielded in order, each batch once."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from llama_batch_async import BatchClient, BatchPage, ServerError
from llama_batch_async._paging._query import split_range
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
    """With 4 windows, requests of different windows are in flight at the same time.

    A new client's slow start (docs/retries.md) lets two requests go at once, then
    more as answers come: the first two windows start together, all four within a
    few round trips.
    """
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
    starts = sorted(r.time for r in firsts)
    assert starts[1] - starts[0] < 0.05
    assert starts[3] - starts[0] < 0.05 * 4


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


def tamper(cursor: str, **changes: Any) -> str:
    """The cursor with some of its fields replaced, encoded as the library encodes it."""
    doc = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    doc.update(changes)
    raw = json.dumps(doc, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    "window",
    [["soon", "later"], ["2026-01-01T00:00:00", "2026-01-02T00:00:00"], ["2026-01-01T00:00:00Z"]],
    ids=["not-dates", "no-utc-offset", "one-bound"],
)
async def test_a_cursor_with_a_bad_window_is_refused_at_the_call(window: list[str]) -> None:
    """A windowed cursor with bounds not aware ISO 8601: ValueError at the call, not mid-walk."""
    async with (
        FakeLlamaCloud(batches=60) as cloud,
        BatchClient("k", base_url=cloud.url) as client,
    ):
        after, before = bounds(cloud)
        walk = client.list_batches(
            created_after=after, created_before=before, page_size=10, windows=3
        ).pages()
        async with contextlib.aclosing(walk) as stream:
            first = await anext(stream)
        assert "w" in json.loads(base64.urlsafe_b64decode(first.cursor + "==="))
        sent = len(cloud.requests)
        with pytest.raises(ValueError, match=r"^resume_from is not a cursor made by this library"):
            client.list_batches(
                created_after=after,
                created_before=before,
                windows=3,
                resume_from=tamper(first.cursor, w=window),
            )
        assert len(cloud.requests) == sent


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


def cut_at(cursor: str) -> int:
    """How many records of its page a cursor says were delivered (0: not a cut page)."""
    doc = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    skip = doc.get("d", 0)
    assert isinstance(skip, int)
    return skip


async def walk_range(
    client: BatchClient, cloud: FakeLlamaCloud, stop: int | None = None, **options: Any
) -> list[BatchPage]:
    """The pages of a walk over the fake's whole created_at range, up to ``stop`` of them.

    After ``stop`` pages the walk is closed, as a Ctrl-C between pages would close it.
    """
    after, before = bounds(cloud)
    pages: list[BatchPage] = []
    walk = client.list_batches(created_after=after, created_before=before, **options).pages()
    async with contextlib.aclosing(walk) as stream:
        async for page in stream:
            pages.append(page)
            if stop is not None and len(pages) == stop:
                break
    return pages


def batch_ids(pages: list[BatchPage]) -> list[str]:
    return [batch.id for page in pages for batch in page.items]


@pytest.mark.parametrize(("windows", "max_items"), [(2, 58), (3, 41), (5, 27), (8, 99)])
async def test_a_page_cut_by_max_items_resumes_exactly(windows: int, max_items: int) -> None:
    """max_items cuts a windowed page: its cursor resumes at the cut, nothing lost or repeated."""
    async with (
        FakeLlamaCloud(batches=120) as cloud,
        BatchClient("k", base_url=cloud.url) as client,
    ):
        pages = await walk_range(client, cloud, page_size=10, windows=windows, max_items=max_items)
        assert len(batch_ids(pages)) == max_items
        assert cut_at(pages[-1].cursor) > 0  # the walk did end inside a page
        rest = await walk_range(client, cloud, page_size=10, resume_from=pages[-1].cursor)
    assert batch_ids(pages + rest) == [batch["id"] for batch in cloud.batches]


async def test_a_cut_cursor_resumes_again_after_an_error() -> None:
    """Resuming from a cut page's cursor fails at once: the error's cursor is that same cursor."""
    async with (
        FakeLlamaCloud(batches=60) as cloud,
        BatchClient("k", base_url=cloud.url, max_retries=0) as client,
    ):
        head = await walk_range(client, cloud, page_size=10, windows=3, max_items=25)
        assert cut_at(head[-1].cursor) > 0
        cloud.fail_next(500, times=1)
        with pytest.raises(ServerError) as caught:
            await walk_range(client, cloud, resume_from=head[-1].cursor)
        assert caught.value.cursor == head[-1].cursor
        rest = await walk_range(client, cloud, resume_from=caught.value.cursor)
    assert batch_ids(head + rest) == [batch["id"] for batch in cloud.batches]


@pytest.mark.parametrize("stop", [1, 2, 4, 6, 9])
async def test_a_walk_closed_between_pages_resumes_exactly(stop: int) -> None:
    """A windowed walk (itself resumed from a cut) closed after any page resumes exactly."""
    async with (
        FakeLlamaCloud(batches=90) as cloud,
        BatchClient("k", base_url=cloud.url) as client,
    ):
        first = await walk_range(client, cloud, page_size=7, windows=4, max_items=30)
        assert cut_at(first[-1].cursor) > 0
        second = await walk_range(
            client, cloud, stop, page_size=7, windows=4, resume_from=first[-1].cursor
        )
        assert len(second) == stop
        rest = await walk_range(client, cloud, page_size=7, resume_from=second[-1].cursor)
    assert batch_ids(first + second + rest) == [batch["id"] for batch in cloud.batches]


async def test_a_cut_cursor_resumes_exactly_after_a_delivered_batch_is_removed() -> None:
    """A batch of the cut page's delivered part is removed before the resume: none lost."""
    async with (
        FakeLlamaCloud(batches=120) as cloud,
        BatchClient("k", base_url=cloud.url) as client,
    ):
        pages = await walk_range(client, cloud, page_size=10, windows=3, max_items=45)
        assert cut_at(pages[-1].cursor) > 1
        head = batch_ids(pages)
        cloud.remove_batches(pages[-1].items[0].id)
        rest = await walk_range(client, cloud, page_size=10, resume_from=pages[-1].cursor)
    # the removed batch was delivered already; every other one once, in order
    assert head + batch_ids(rest) == [*head, *(b["id"] for b in cloud.batches[len(head) - 1 :])]


def _truncating_listing(batches: list[dict[str, Any]]) -> Any:
    """A v2 listing that truncates the created_at bounds it is sent to whole milliseconds."""
    from llama_batch_async import Request, Response  # noqa: PLC0415 - this test only

    def truncated(text: str) -> datetime:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return moment.replace(microsecond=moment.microsecond // 1000 * 1000)

    def handler(request: Request) -> Response:
        query = dict(request.params)
        low = truncated(query["created_at_on_or_after"])
        high = truncated(query["created_at_on_or_before"])
        inside = [b for b in batches if low <= datetime.fromisoformat(b["created_at"]) <= high]
        start = int(query.get("page_token", "0"))
        end = start + int(query["page_size"])
        body = {
            "items": inside[start:end],
            "next_page_token": str(end) if end < len(inside) else None,
        }
        return Response(status=200, headers={}, body=json.dumps(body).encode())

    return handler


@pytest.mark.parametrize("windows", [2, 7])
async def test_windows_lose_nothing_on_a_server_that_truncates_bounds(windows: int) -> None:
    """Issue 24.7: bounds cut to milliseconds by the server lose no batch, in any window."""
    from llama_batch_async.testing import MockTransport, make_batches  # noqa: PLC0415

    batches = make_batches(1081)
    for k, batch in enumerate(batches):  # newest first, 37 us apart: many per millisecond
        batch["created_at"] = (START - timedelta(microseconds=37 * k)).isoformat()
    transport = MockTransport(_truncating_listing(batches))
    async with BatchClient("k", base_url="https://api.example.test", transport=transport) as c:
        pager = c.list_batches(
            created_after=START - timedelta(microseconds=37 * 1080),
            created_before=START,
            page_size=100,
            windows=windows,
        )
        got = [batch.id for batch in await pager.collect()]
    assert got == [batch["id"] for batch in batches]
    assert pager.stats.anomalies == 0
