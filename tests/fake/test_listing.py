"""The fake's pure parts: listing answers, paging kinds, tokens, progress and faults, no server."""

from __future__ import annotations

import ast
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from llama_batch_async import BatchClient
from llama_batch_async.testing import (
    PAGING_KINDS,
    Fault,
    Listing,
    ListingTransport,
    MockTransport,
    Request,
    Response,
    _faults,
    _listing,
    _progress,
)
from llama_batch_async.testing._faults import FaultScript


def walk(listing: Listing, limit: int, **filters: str) -> list[str]:
    """Follow next_page_token (or offsets) to the end; bounded."""
    seen: list[str] = []
    query: dict[str, str] = {"limit": str(limit), **filters}
    for _ in range(1000):
        status, page = listing.answer(query)
        assert status == 200
        seen.extend(job["id"] for job in page["items"])
        token = page.get("next_page_token")
        if token is not None:
            query = {"limit": str(limit), "page_token": token, **filters}
        elif len(page["items"]) == limit:
            query = {"limit": str(limit), "offset": str(len(seen)), **filters}
        else:
            return seen
    raise AssertionError("walk did not end")


@pytest.mark.parametrize("paging", PAGING_KINDS)
def test_every_paging_kind_walks_once_where_it_can(paging: Any) -> None:
    """Each paging kind serves every job once to a walk that follows its tokens."""
    listing = Listing(23, paging=paging)
    expected = [job["id"] for job in listing.jobs]
    if paging == "token-ignored":
        status, first = listing.answer({"limit": "5"})
        status, again = listing.answer({"limit": "5", "page_token": first["next_page_token"]})
        assert status == 200
        assert again["items"] == first["items"]  # the token is ignored: the head again
    else:
        assert walk(listing, 5) == expected


def test_offset_kind_sends_no_token_and_total_size() -> None:
    """paging='offset' sends no next_page_token; total_size is the filtered count."""
    listing = Listing(12)
    status, page = listing.answer({"limit": "5", "offset": "10"})
    assert status == 200
    assert "next_page_token" not in page
    assert [job["id"] for job in page["items"]] == [job["id"] for job in listing.jobs[10:]]
    assert page["total_size"] == 12


def test_token_kind_ignores_offset() -> None:
    """paging='token' serves the head for any offset without a token."""
    listing = Listing(8, paging="token")
    _, page = listing.answer({"limit": "3", "offset": "5"})
    assert [job["id"] for job in page["items"]] == [job["id"] for job in listing.jobs[:3]]


def test_filters_select_by_equality_and_token_is_bound_to_them() -> None:
    """Filters select by equality; a token issued under other filters gives 400."""
    listing = Listing(60, paging="both")
    status_value = listing.jobs[0]["status"]
    ids = walk(listing, 7, status=status_value)
    assert ids == [job["id"] for job in listing.jobs if job["status"] == status_value]
    _, page = listing.answer({"limit": "1"})
    status, body = listing.answer(
        {"limit": "1", "page_token": page["next_page_token"], "status": status_value}
    )
    assert status == 400
    assert "filters" in body["detail"]


@pytest.mark.parametrize(
    ("query", "kind", "name"),
    [
        ({"limit": "x"}, "int_parsing", "limit"),
        ({"offset": "-1"}, "greater_than_equal", "offset"),
        ({"status": "nope"}, "enum", "status"),
        ({"job_type": "nope"}, "enum", "job_type"),
    ],
)
def test_bad_query_gives_422_details(query: dict[str, str], kind: str, name: str) -> None:
    """A malformed limit/offset or unknown enum gives FastAPI-style 422 details."""
    status, body = Listing(3).answer(query)
    assert status == 422
    (detail,) = body["detail"]
    assert (detail["type"], detail["loc"]) == (kind, ["query", name])


def test_forged_token_gives_400() -> None:
    """A token the listing did not issue gives 400 Invalid page_token."""
    status, body = Listing(3, paging="both").answer({"page_token": "bm9wZQ"})
    assert (status, body) == (400, {"detail": "Invalid page_token"})


def test_max_limit_caps_and_repeat_token_repeats() -> None:
    """max_limit caps the page; repeat_token sends the same token every time."""
    listing = Listing(10, max_limit=4, repeat_token=True)
    _, first = listing.answer({"limit": "9"})
    _, second = listing.answer({"limit": "9", "offset": "4"})
    assert len(first["items"]) == 4
    assert first["next_page_token"] == second["next_page_token"]


def test_progress_settles_jobs_on_the_fake_clock() -> None:
    """With progress on, every job in flight has settled once progress_seconds pass."""
    now = [0.0]
    listing = Listing(40, progress=True, progress_seconds=10, clock=lambda: now[0])
    listing.start_progress()
    now[0] = 10.0
    _, page = listing.answer({"limit": "100"})
    assert {job["status"] for job in page["items"]} <= {"completed", "failed", "cancelled"}


def test_fault_script_queues_in_order_then_draws_seeded_chaos() -> None:
    """Queued faults come first, in order; then a seeded rate draws the same faults."""
    script = FaultScript()
    script.fail_next(503, times=2)
    script.reset_next()
    assert [script._next_fault() for _ in range(3)] == [
        Fault("status", status=503, body=b'{"detail":"Service Unavailable"}'),
    ] * 2 + [Fault("reset")]
    draws = []
    for _ in range(2):
        script.fault_rate(0.5, seed=7)
        draws.append([script._next_fault() for _ in range(20)])
    assert draws[0] == draws[1]
    assert any(draws[0])
    assert not all(draws[0])


async def test_listing_transport_serves_the_listing() -> None:
    """ListingTransport answers a Request from the listing, 404 off the endpoint."""
    listing = Listing(3)
    transport = ListingTransport(listing)
    url = "http://fake.test/api/v1/beta/batch-processing"
    response = await transport.send(Request(url=url, params=(("limit", "2"),), headers={}))
    assert response.status == 200
    assert response.body.count(b'"id"') == 2
    missing = await transport.send(Request(url="http://fake.test/x", params=(), headers={}))
    assert missing.status == 404
    assert transport.requests[0].params == (("limit", "2"),)


@pytest.mark.parametrize("is_async", [False, True])
async def test_mock_transport_calls_sync_or_async_handlers(is_async: bool) -> None:
    """MockTransport records requests and returns the handler's Response, awaited if async."""
    answer = Response(status=204, headers={}, body=b"")

    def handler(request: Request) -> Response:
        return answer

    async def async_handler(request: Request) -> Response:
        return answer

    transport = MockTransport(async_handler if is_async else handler)
    request = Request(url="http://fake.test/", params=(), headers={})
    assert await transport.send(request) is answer
    assert transport.requests == [request]
    await transport.aclose()
    assert transport.closed


@pytest.mark.parametrize("paging", ["offset", "both", "token"])
async def test_client_walks_the_listing_without_a_socket(paging: Any) -> None:
    """BatchClient(transport=ListingTransport(...)) walks every job once, prefetching."""
    listing = Listing(57, paging=paging)
    transport = ListingTransport(listing)
    async with BatchClient("k", base_url="https://fake.test", transport=transport) as client:
        jobs = await client.list_jobs(page_size=10).collect()
    assert [job.id for job in jobs] == [job["id"] for job in listing.jobs]
    assert all(dict(r.params)["limit"] == "10" for r in transport.requests)


async def test_client_closes_the_transport_it_was_given() -> None:
    """aclose() closes a transport passed with transport=."""
    transport = MockTransport(lambda request: Response(status=200, headers={}, body=b"{}"))
    client = BatchClient("k", transport=transport)
    await client.aclose()
    assert transport.closed


def test_session_and_transport_are_exclusive() -> None:
    """session= with transport= raises ValueError naming both."""
    transport = MockTransport(lambda request: Response(status=200, headers={}, body=b"{}"))
    with pytest.raises(ValueError, match=r"session.*transport"):
        BatchClient("k", session=object(), transport=transport)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="trust_env"):
        BatchClient("k", transport=transport, trust_env=True)


@pytest.mark.parametrize("module", [_faults, _listing, _progress])
def test_pure_parts_import_no_aiohttp(module: ModuleType) -> None:
    """The listing, progress and fault modules do no I/O: they never import aiohttp."""
    tree = ast.parse(Path(str(module.__file__)).read_text(encoding="utf-8"))
    imported: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.append(node.module or "")
    assert imported
    assert not [name for name in imported if name.split(".")[0] in {"aiohttp", "multidict"}]


def test_demo_failure_ratio_message_matches_the_counts() -> None:
    """A synthetic job says 'failure ratio above 20%' only when more than 20% of items failed."""
    from llama_batch_async.testing import make_jobs  # noqa: PLC0415 - this test only

    jobs = [job for seed in range(5) for job in make_jobs(500, seed=seed)]
    ratio = [job for job in jobs if "ratio above 20%" in (job["error_message"] or "")]
    assert ratio  # the message is still made
    assert all(job["failed_items"] * 5 > job["total_items"] for job in ratio)
