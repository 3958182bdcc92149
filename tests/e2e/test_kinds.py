"""End to end: every kind of server the reference allows, walked exactly once.

The reference documents ``limit``/``offset`` and a ``next_page_token`` that "can be
sent as page_token", which is not among its query parameters. So a server may send
tokens and honour both (``both``), send tokens and ignore ``page_token``
(``token-ignored``), or send none (``offset``); a fourth, ``token``, honours only the
token. Each test runs the main walks against each kind, sequential and prefetching.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from helpers import ids

from llama_batch_async import BatchClient, PaginationError
from llama_batch_async.testing import PAGING_KINDS, FakeLlamaCloud, PagingKind

KEY = "sk-kinds"
JOBS = 61
PREFETCH = [0, None]  # None: the library's default
PREFETCH_IDS = ["sequential", "default-prefetch"]


def walk_options(prefetch: int | None, **options: Any) -> dict[str, Any]:
    """list_jobs options, leaving prefetch at the library's default when None."""
    return options if prefetch is None else {**options, "prefetch": prefetch}


def listed(cloud: FakeLlamaCloud) -> list[str]:
    return [job["id"] for job in cloud.jobs]


@pytest.fixture(params=PAGING_KINDS)
async def cloud(request: pytest.FixtureRequest) -> AsyncIterator[FakeLlamaCloud]:
    async with FakeLlamaCloud(jobs=JOBS, seed=5, api_key=KEY, paging=request.param) as server:
        yield server


@pytest.fixture
async def client(cloud: FakeLlamaCloud) -> AsyncIterator[BatchClient]:
    async with BatchClient(KEY, base_url=cloud.url) as client:
        yield client


@pytest.mark.parametrize("prefetch", PREFETCH, ids=PREFETCH_IDS)
@pytest.mark.parametrize("total_size", [True, False], ids=["total", "no-total"])
@pytest.mark.parametrize("max_limit", [None, 7], ids=["uncapped", "capped"])
async def test_every_job_once_through_each_view(
    cloud: FakeLlamaCloud,
    client: BatchClient,
    prefetch: int | None,
    total_size: bool,
    max_limit: int | None,
) -> None:
    """collect(), async for and pages() all yield every job once, in order, on every kind."""
    cloud.total_size = total_size
    cloud.max_limit = max_limit
    options = walk_options(prefetch, page_size=10)
    collected = await client.list_jobs(**options).collect()
    iterated = [job async for job in client.list_jobs(**options)]
    paged = [job async for page in client.list_jobs(**options).pages() for job in page.items]
    assert ids(collected) == ids(iterated) == ids(paged) == listed(cloud)


@pytest.mark.parametrize("prefetch", PREFETCH, ids=PREFETCH_IDS)
async def test_drift_mid_walk_loses_and_repeats_nothing(
    cloud: FakeLlamaCloud, client: BatchClient, prefetch: int | None
) -> None:
    """Jobs created at the head during the walk shift pages; each original job comes once."""
    original = listed(cloud)
    seen: list[str] = []
    async for page in client.list_jobs(**walk_options(prefetch, page_size=10)).pages():
        seen.extend(job.id for job in page.items)
        cloud.insert_jobs(3)
    assert len(seen) == len(set(seen))
    assert set(original) <= set(seen)


@pytest.mark.parametrize("prefetch", PREFETCH, ids=PREFETCH_IDS)
@pytest.mark.parametrize("max_items", [1, 25, 60])
async def test_max_items_is_exact(
    cloud: FakeLlamaCloud, client: BatchClient, prefetch: int | None, max_items: int
) -> None:
    """max_items yields exactly that many jobs, the first ones of the listing."""
    pager = client.list_jobs(**walk_options(prefetch, page_size=10, max_items=max_items))
    assert ids(await pager.collect()) == listed(cloud)[:max_items]


@pytest.mark.parametrize("prefetch", PREFETCH, ids=PREFETCH_IDS)
@pytest.mark.parametrize("stop_after", [1, 3])
async def test_cursor_resumes_on_the_same_server(
    cloud: FakeLlamaCloud, client: BatchClient, prefetch: int | None, stop_after: int
) -> None:
    """A cursor taken on any kind resumes right after its page, by a new client."""
    head: list[str] = []
    cursor = ""
    async for page in client.list_jobs(**walk_options(prefetch, page_size=10)).pages():
        head.extend(job.id for job in page.items)
        cursor = page.cursor
        if len(head) >= 10 * stop_after:
            break
    async with BatchClient(KEY, base_url=cloud.url) as other:
        rest = await other.list_jobs(
            **walk_options(prefetch, page_size=10, resume_from=cursor)
        ).collect()
    assert head + ids(rest) == listed(cloud)


async def test_token_sending_servers_cost_one_request_per_page(
    cloud: FakeLlamaCloud, client: BatchClient
) -> None:
    """With tokens and offsets honoured, a default walk sends at most one extra request."""
    pager = client.list_jobs(page_size=10)
    await pager.collect()
    pages = -(-JOBS // 10)
    # offset: the walk ends on an empty page; token: the request (and the one guess
    # beside it) that find the server ignores offset
    extra = {"offset": 1, "both": 0, "token-ignored": 0, "token": 2}[cloud.paging]
    assert pager.stats.requests <= pages + extra


@pytest.mark.parametrize("paging", ["offset", "token-ignored"])
async def test_server_ignoring_offset_and_page_token_raises_quickly(paging: PagingKind) -> None:
    """A server that honours neither parameter raises PaginationError within a few requests."""
    async with FakeLlamaCloud(jobs=JOBS, paging=paging, ignore_offset=True) as cloud:
        async with BatchClient(KEY, base_url=cloud.url) as client:
            with pytest.raises(PaginationError, match="already listed") as caught:
                await client.list_jobs(page_size=10).collect()
        assert caught.value.cursor is not None
        assert len(cloud.requests) <= 6


async def test_an_end_the_earlier_pages_contradict_is_confirmed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An empty page where total_size promised more is asked again: counted, one WARNING."""
    async with FakeLlamaCloud(jobs=25, paging="both") as cloud:
        async with BatchClient(KEY, base_url=cloud.url) as client:
            pager = client.list_jobs(page_size=10, prefetch=0)
            seen: list[str] = []
            with caplog.at_level(logging.WARNING, logger="llama_batch_async"):
                async for page in pager.pages():
                    seen.extend(job.id for job in page.items)
                    if len(seen) == 10:
                        # a stray answer, as a proxy might write on a pooled connection
                        cloud.respond_next(200, body={"items": [], "total_size": 3})
        assert seen == listed(cloud)
    assert pager.stats.anomalies == 1
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "total_size 25" in warnings[0].getMessage()
