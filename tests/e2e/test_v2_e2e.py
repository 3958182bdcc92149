"""End to end, v2: the real aiohttp client against FakeLlamaCloud's /api/v2/batches."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from typing import Any

import aiohttp
import pytest

from llama_batch_async import (
    Batch,
    BatchClient,
    BatchJobType,
    BatchNotFoundError,
    BatchPage,
    BatchStatus,
    PaginationError,
    ServerError,
)
from llama_batch_async.testing import (
    BATCHES_PATH,
    FakeLlamaCloud,
    ListingTransport,
    make_batch,
    make_batches,
    parse_timestamp,
)

KEY = "sk-v2-secret-0123456789"


@pytest.fixture
async def cloud() -> AsyncIterator[FakeLlamaCloud]:
    async with FakeLlamaCloud(batches=83, seed=5, api_key=KEY) as server:
        yield server


def client_for(cloud: FakeLlamaCloud, **options: Any) -> BatchClient:
    options.setdefault("api_key", KEY)
    return BatchClient(base_url=cloud.url, **options)


def batch_ids(batches: list[Batch]) -> list[str]:
    return [batch.id for batch in batches]


def served_ids(cloud: FakeLlamaCloud) -> list[str]:
    return [batch["id"] for batch in cloud.batches]


@pytest.mark.parametrize("max_limit", [None, 7], ids=["uncapped", "capped"])
@pytest.mark.parametrize("total_size", [True, False], ids=["total", "no-total"])
async def test_walks_every_batch_exactly_once_by_token(
    max_limit: int | None, total_size: bool
) -> None:
    """Capped or not, total_size or not: every batch once, in order, by page_token only."""
    async with (
        FakeLlamaCloud(batches=61, max_limit=max_limit, total_size=total_size) as cloud,
        client_for(cloud) as client,
    ):
        pager = client.list_batches(page_size=10)
        batches = await pager.collect()
    assert batch_ids(batches) == served_ids(cloud)
    pages = -(-61 // (max_limit or 10))
    assert len(cloud.requests) == pages == pager.stats.requests
    assert all(r.path == BATCHES_PATH for r in cloud.requests)
    assert all(r.query["page_size"] == "10" for r in cloud.requests)
    assert all("offset" not in r.query and "limit" not in r.query for r in cloud.requests)
    assert "page_token" not in cloud.requests[0].query
    assert all("page_token" in r.query for r in cloud.requests[1:])
    assert pager.stats.items == 61


async def test_records_are_typed(cloud: FakeLlamaCloud) -> None:
    """Batches come back as frozen records with enums, aware datetimes and nested config."""
    async with client_for(cloud) as client:
        batches = await client.list_batches(max_items=5).collect()
    first = batches[0]
    served = cloud.batches[0]
    assert isinstance(first.status, BatchStatus)
    assert first.status == served["status"]
    assert first.config.job.type in set(BatchJobType)
    assert first.config.job.configuration_id == served["config"]["job"]["configuration_id"]
    assert first.created_at == parse_timestamp(served["created_at"])
    assert first.results is None  # the list does not expand results
    assert first.to_dict()["config"] == served["config"]


async def test_filters_go_on_the_wire_and_select(cloud: FakeLlamaCloud) -> None:
    """status, ids and created_at bounds are sent as the v2 names and values."""
    stamps = [parse_timestamp(batch["created_at"]) for batch in cloud.batches]
    after, before = stamps[60], stamps[10]
    project = cloud.batches[0]["project_id"]
    async with client_for(cloud) as client:
        batches = await client.list_batches(
            status=BatchStatus.COMPLETED,
            project_id=project,
            created_after=after.astimezone(timezone(timedelta(hours=2))),
            created_before=before,
        ).collect()
    query = cloud.requests[0].query
    assert query["status"] == "COMPLETED"
    assert query["project_id"] == project
    assert query["created_at_on_or_after"] == after.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    assert query["created_at_on_or_before"].endswith("Z")
    expected = [
        batch["id"]
        for batch, stamp in zip(cloud.batches, stamps, strict=True)
        if batch["status"] == "COMPLETED"
        and batch["project_id"] == project
        and after <= stamp <= before
    ]
    assert expected  # the seed gives some
    assert batch_ids(batches) == expected


async def test_max_items_is_exact_and_asks_only_what_is_left(cloud: FakeLlamaCloud) -> None:
    """max_items=23 at page 10: 23 batches, the last request asks for 3."""
    async with client_for(cloud) as client:
        batches = await client.list_batches(page_size=10, max_items=23).collect()
    assert batch_ids(batches) == served_ids(cloud)[:23]
    assert [r.query["page_size"] for r in cloud.requests] == ["10", "10", "3"]


async def test_resume_from_a_page_cursor(cloud: FakeLlamaCloud) -> None:
    """A cursor from page 2 resumes right after it, in a new client."""
    async with client_for(cloud) as client:
        pages: list[BatchPage] = []
        async for page in client.list_batches(page_size=20).pages():
            pages.append(page)
            if len(pages) == 2:
                break
    async with client_for(cloud) as client:
        rest = await client.list_batches(page_size=20, resume_from=pages[1].cursor).collect()
    seen = [batch.id for page in pages for batch in page.items]
    assert seen + batch_ids(rest) == served_ids(cloud)


async def test_cursor_of_the_last_page_resumes_to_nothing(cloud: FakeLlamaCloud) -> None:
    """The last page's cursor resumes a walk that sends nothing and yields nothing."""
    async with client_for(cloud) as client:
        pages = [page async for page in client.list_batches(page_size=50).pages()]
        sent = len(cloud.requests)
        rest = await client.list_batches(page_size=50, resume_from=pages[-1].cursor).collect()
    assert rest == []
    assert len(cloud.requests) == sent


async def test_cursors_do_not_cross_listings_or_filters(cloud: FakeLlamaCloud) -> None:
    """A v1 cursor for list_batches, a v2 one for list_jobs, or other filters: ValueError."""
    cloud.set_jobs(30)
    async with client_for(cloud) as client:
        job_page = await anext(aiter(client.list_jobs(page_size=10, prefetch=0).pages()))
        batch_page = await anext(aiter(client.list_batches(page_size=10).pages()))
        sent = len(cloud.requests)
        with pytest.raises(ValueError, match="cursor of list_jobs, not of list_batches"):
            client.list_batches(resume_from=job_page.cursor)
        with pytest.raises(ValueError, match="cursor of list_batches, not of list_jobs"):
            client.list_jobs(resume_from=batch_page.cursor)
        with pytest.raises(ValueError, match="other filters"):
            client.list_batches(status="RUNNING", resume_from=batch_page.cursor)
    assert len(cloud.requests) == sent


async def test_a_repeated_token_is_a_pagination_error_with_cursor() -> None:
    """A server that keeps sending one token: both pages delivered, then PaginationError.

    The cursor resumes right after the second page (issue 24.6): the same server then
    brings nothing new and the resumed walk stops the same way, nothing doubled.
    """
    async with FakeLlamaCloud(batches=40, repeat_token=True) as cloud, client_for(cloud) as client:
        got: list[str] = []
        with pytest.raises(PaginationError, match="already sent") as caught:
            async for batch in client.list_batches(page_size=10):
                got.append(batch.id)
        assert len(cloud.requests) == 2
        assert got == served_ids(cloud)[:20]
        assert caught.value.cursor is not None
        again: list[str] = []
        with pytest.raises(PaginationError, match="already sent"):
            async for batch in client.list_batches(page_size=10, resume_from=caught.value.cursor):
                again.append(batch.id)
    assert again == []


async def test_retries_a_503_at_the_same_token(cloud: FakeLlamaCloud) -> None:
    """A 503 on page 2 is retried with the same page_token: nothing lost or doubled."""
    async with client_for(cloud) as client:
        pager = client.list_batches(page_size=30)
        walk = pager.pages()
        first = await anext(walk)
        cloud.fail_next(503, retry_after="0")
        rest = [batch async for page in walk for batch in page.items]
    assert batch_ids(list(first.items)) + batch_ids(rest) == served_ids(cloud)
    assert cloud.requests[1].query["page_token"] == cloud.requests[2].query["page_token"]
    assert pager.stats.retries == 1


async def test_an_error_carries_the_cursor_to_resume(cloud: FakeLlamaCloud) -> None:
    """A 500 after page 1 with no retries left: the error's cursor resumes after page 1."""
    async with client_for(cloud, max_retries=0) as client:
        walk = client.list_batches(page_size=25).pages()
        first = await anext(walk)
        cloud.fail_next(500, headers={"x-request-id": "req-boom"})
        with pytest.raises(ServerError) as caught:
            await anext(walk)
        error = caught.value
        assert error.request_id == "req-boom"
        assert error.cursor == first.cursor
        rest = await client.list_batches(page_size=25, resume_from=error.cursor).collect()
    assert batch_ids(list(first.items)) + batch_ids(rest) == served_ids(cloud)


async def test_a_429_pauses_v1_walks_of_the_same_client(cloud: FakeLlamaCloud) -> None:
    """A v2 walk's 429 (Retry-After 1) holds a v1 walk of the same client too."""
    cloud.set_jobs(5)
    async with client_for(cloud) as client:
        cloud.fail_next(429, retry_after="1")
        batches = client.list_batches(max_items=5).collect()
        throttled = asyncio.ensure_future(batches)
        while len(cloud.requests) < 1:
            await asyncio.sleep(0.01)
        jobs = await client.list_jobs(prefetch=0).collect()
        assert len(await throttled) == 5
    assert len(jobs) == 5
    limited = cloud.requests[0].time
    v1 = [r for r in cloud.requests if r.path != BATCHES_PATH]
    assert v1
    assert all(r.time >= limited + 0.9 for r in v1)


async def test_get_batch_with_results(cloud: FakeLlamaCloud) -> None:
    """get_batch(expand_results=True) sends expand=results and structures the entries."""
    served = next(b for b in cloud.batches if b["results"])
    async with client_for(cloud) as client:
        plain = await client.get_batch(served["id"])
        full = await client.get_batch(served["id"], expand_results=True)
    assert plain.results is None
    assert "expand" not in cloud.requests[0].query
    assert cloud.requests[1].query["expand"] == "results"
    assert cloud.requests[1].path == f"{BATCHES_PATH}/{served['id']}"
    assert full.results is not None
    assert [r.source_directory_file_id for r in full.results] == [
        r["source_directory_file_id"] for r in served["results"]
    ]
    assert full.to_dict()["results"] == served["results"]


async def test_get_batch_of_a_missing_id_is_batch_not_found(cloud: FakeLlamaCloud) -> None:
    """A 404 for a batch id is BatchNotFoundError, with the id and the request id; no retry."""
    async with client_for(cloud) as client:
        with pytest.raises(BatchNotFoundError) as caught:
            await client.get_batch("bat-missing")
    assert caught.value.missing == ("bat-missing",)
    assert caught.value.status_code == 404
    assert caught.value.request_id == "req-1"
    assert len(cloud.requests) == 1
    assert cloud.requests[0].path.startswith(BATCHES_PATH + "/")


async def test_unknown_status_from_the_server_round_trips(cloud: FakeLlamaCloud) -> None:
    """A status newer than the library is a BatchStatus pseudo-member, kept as sent."""
    cloud.set_batches([{"id": "bat-new", "status": "ARCHIVED"}])
    async with client_for(cloud) as client:
        (batch,) = await client.list_batches().collect()
    assert isinstance(batch.status, BatchStatus)
    assert batch.status == "ARCHIVED"
    assert not batch.status.is_known
    assert not batch.is_terminal
    assert json.loads(json.dumps(batch.to_dict()))["status"] == "ARCHIVED"


@pytest.mark.parametrize(
    ("query", "loc"),
    [
        ({"status": "running"}, "status"),
        ({"created_at_on_or_after": "yesterday"}, "created_at_on_or_after"),
        ({"created_at_on_or_before": "2026-13-01T00:00:00Z"}, "created_at_on_or_before"),
        ({"page_size": "0"}, "page_size"),
    ],
)
async def test_the_fake_validates_v2_query_parameters(
    cloud: FakeLlamaCloud, query: dict[str, str], loc: str
) -> None:
    """The fake answers a bad status, datetime or page_size with 422, as a real server would."""
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            cloud.url + BATCHES_PATH, params=query, headers={"Authorization": f"Bearer {KEY}"}
        ) as response,
    ):
        body = await response.json()
    assert response.status == 422
    assert body["detail"][0]["loc"] == ["query", loc]


@pytest.mark.fake_llama_cloud(jobs=3, batches=0)
async def test_the_pytest_plugin_serves_seeded_batches(
    fake_llama_cloud: FakeLlamaCloud, llama_client: BatchClient
) -> None:
    """set_batches seeds the plugin's fake; llama_client lists and gets them."""
    fake_llama_cloud.set_batches([{"id": "bat-a", "status": "FAILED"}, {"id": "bat-b"}])
    batches = await llama_client.list_batches().collect()
    one = await llama_client.get_batch("bat-a")
    assert batch_ids(batches) == ["bat-a", "bat-b"]
    assert one.status is BatchStatus.FAILED
    assert batches[1].status is BatchStatus.COMPLETED


async def test_bad_input_is_refused_before_any_request(cloud: FakeLlamaCloud) -> None:
    """Naive datetimes, unknown statuses, inverted bounds, bad ids: ValueError, nothing sent."""
    now = datetime.now(timezone.utc)
    async with client_for(cloud) as client:
        with pytest.raises(ValueError, match=r"^created_after must be a timezone-aware datetime"):
            client.list_batches(created_after=datetime(2026, 1, 1))
        with pytest.raises(ValueError, match=r"^created_before must be a timezone-aware"):
            client.list_batches(created_before="2026-01-01")  # type: ignore[arg-type]
        earlier = now - timedelta(seconds=1)
        with pytest.raises(
            ValueError, match=r"^created_before must be at or after created_after"
        ) as bounds:
            client.list_batches(created_after=now, created_before=earlier)
        # Both moments in ISO 8601, as they are sent; no datetime repr.
        assert str(bounds.value).endswith(f"got {earlier.isoformat()!r}")
        assert now.isoformat() in str(bounds.value)
        with pytest.raises(ValueError, match=r"^status must be one of PENDING, THROTTLED"):
            client.list_batches(status="running")
        with pytest.raises(ValueError, match=r"^page_size must be"):
            client.list_batches(page_size=0)
        with pytest.raises(ValueError, match=r"^max_items must be"):
            client.list_batches(max_items=-1)
        with pytest.raises(ValueError, match=r"^source_directory_id must be a non-empty id"):
            client.list_batches(source_directory_id=" ")
        with pytest.raises(ValueError, match=r"^batch_id must be a non-empty id"):
            await client.get_batch("")
        with pytest.raises(ValueError, match=r"^expand_results must be True or False"):
            await client.get_batch("bat-1", expand_results=1)  # type: ignore[arg-type]
    assert cloud.requests == []


@pytest.mark.parametrize("where", ["list", "get"])
async def test_no_secret_in_messages_or_reprs_even_echoed(
    cloud: FakeLlamaCloud, where: str
) -> None:
    """A server echoing the key and cookie into body and request id: masked everywhere."""
    cookie = "sess-v2-cookie-secret-42"
    cloud.fail_next(
        400,
        body={"detail": f"bad key {KEY} cookie {cookie}"},
        headers={"x-request-id": f"req-{KEY}"},
    )
    async with client_for(cloud, session_cookie=cookie) as client:
        pager = client.list_batches()
        with pytest.raises(Exception) as caught:  # noqa: PT011 - the type is not the point
            if where == "list":
                await pager.collect()
            else:
                await client.get_batch("bat-1")
        texts = [str(caught.value), repr(caught.value), repr(client), repr(pager)]
        texts += [str(getattr(caught.value, name, "")) for name in ("body", "request_id")]
    for text in texts:
        assert KEY not in text
        assert cookie not in text
    assert "***" in str(caught.value)


async def test_listing_transport_serves_v2_without_a_socket() -> None:
    """ListingTransport answers the v2 list and one batch from the fake's pure listing."""
    cloud = FakeLlamaCloud(batches=30)
    transport = ListingTransport(cloud)
    async with BatchClient("k", transport=transport) as client:
        batches = await client.list_batches(page_size=7).collect()
        one = await client.get_batch(batches[4].id)
        with pytest.raises(BatchNotFoundError):
            await client.get_batch("bat-none")
    assert batch_ids(batches) == served_ids(cloud)
    assert one == batches[4]
    assert len(transport.requests) == 5 + 2


def test_the_fake_refuses_foreign_tokens_and_unknown_expands() -> None:
    """A token made under other filters is 400; expand=other is 422; a batch id 404."""
    cloud = FakeLlamaCloud(batches=30)
    status, page = cloud.answer_batches({"page_size": "5"})
    assert status == 200
    token = page["next_page_token"]
    assert cloud.answer_batches({"page_token": token, "status": "FAILED"})[0] == 400
    assert cloud.answer_batches({"page_token": "garbage"})[0] == 400
    assert cloud.answer_batch(cloud.batches[0]["id"], {"expand": "files"})[0] == 422
    assert cloud.answer_batch("bat-none", {})[0] == 404
    assert cloud.answer_path("/api/v3/things", {})[0] == 404


def test_the_fake_edits_its_batches() -> None:
    """insert, update, remove and make: the v2 store's helpers, progress included."""
    cloud = FakeLlamaCloud(batches=3, progress=True, progress_seconds=0.01)
    cloud.start_progress()
    made = make_batch(status="PENDING")
    (inserted,) = cloud.insert_batches([made], at=1)
    assert cloud.batches[1] is inserted
    assert cloud.update_batch(made["id"], status="RUNNING")["status"] == "RUNNING"
    with pytest.raises(KeyError):
        cloud.update_batch("bat-none", status="FAILED")
    assert [b["id"] for b in cloud.remove_batches(made["id"])] == [made["id"]]
    assert len(cloud.batches) == 3
    assert all(batch["id"].startswith("bat-") for batch in make_batches(5, seed=2))
    with pytest.raises(ValueError, match="n must be >= 0"):
        make_batches(-1)
