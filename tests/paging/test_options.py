"""Per-call overrides: ``list_jobs(extra_query=...)`` and ``client.with_options(...)``."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from typing import Any

import pytest

from llama_batch_async import APITimeoutError, BatchClient, BatchJob, ServerError, WaitTimeoutError
from llama_batch_async.testing import FakeLlamaCloud, MockTransport, Request, Response

KEY = "sk-options-secret-0123456789"
EMPTY = Response(status=200, headers={}, body=b'{"items": [], "total_size": 0}')


@pytest.fixture
async def cloud() -> AsyncIterator[FakeLlamaCloud]:
    async with FakeLlamaCloud(jobs=25, seed=5, api_key=KEY) as server:
        yield server


def client_for(cloud: FakeLlamaCloud, **options: Any) -> BatchClient:
    return BatchClient(api_key=KEY, base_url=cloud.url, **options)


# ------------------------------------------------------------------ extra_query


async def test_extra_query_is_sent_on_every_request(cloud: FakeLlamaCloud) -> None:
    """Each request of the walk carries the extra parameters beside the paging ones."""
    async with client_for(cloud) as client:
        pager = client.list_jobs(page_size=10, extra_query={"created_after": "2026-01-01", "x": ""})
        jobs = await pager.collect()
    assert len(jobs) == 25
    list_requests = [r for r in cloud.requests if r.path.endswith("batch-processing")]
    assert len(list_requests) >= 3
    for request in list_requests:
        assert request.query["created_after"] == "2026-01-01"
        assert request.query["x"] == ""
        assert "limit" in request.query


@pytest.mark.parametrize(
    "extra",
    [
        {"created_after": 1},
        {1: "a"},
        {"": "a"},
        ["created_after", "x"],
        "created_after=x",
        {"status": "failed"},
        {"offset": "5"},
        {"limit": "5"},
        {"page_token": "t"},
        {"page_size": "5"},
        {"project_id": "p"},
    ],
)
async def test_extra_query_refused_before_any_request(cloud: FakeLlamaCloud, extra: Any) -> None:
    """A non-str key or value, a non-mapping, or a reserved name: ValueError naming extra_query."""
    async with client_for(cloud) as client:
        with pytest.raises(ValueError, match=r"^extra_query must be "):
            client.list_jobs(extra_query=extra)
    assert cloud.requests == []


async def test_extra_query_reserved_message_lists_names(cloud: FakeLlamaCloud) -> None:
    """The refusal of a paging name says which names are the walk's own."""
    async with client_for(cloud) as client:
        with pytest.raises(ValueError, match="offset") as info:
            client.list_jobs(extra_query={"offset": "3"})
    assert "page_token" in str(info.value)
    assert "{'offset': '3'}" in str(info.value)


async def test_cursor_refused_under_other_extra_query(cloud: FakeLlamaCloud) -> None:
    """A cursor made under one extra filter resumes under it, and is refused under another."""
    async with client_for(cloud) as client:
        pages = client.list_jobs(page_size=10, extra_query={"tag": "a"}).pages()
        first = await anext(pages)
        await pages.aclose()
        rest = await client.list_jobs(
            page_size=10, extra_query={"tag": "a"}, resume_from=first.cursor
        ).collect()
        assert len(first.items) + len(rest) == 25
        for other in ({"tag": "b"}, None, {"tag": "a", "more": "x"}):
            with pytest.raises(ValueError, match="resume_from"):
                client.list_jobs(page_size=10, extra_query=other, resume_from=first.cursor)


async def test_no_extra_query_keeps_old_cursors() -> None:
    """An empty extra_query is the same walk as none: the cursor of one resumes the other."""
    transport = MockTransport(lambda _: EMPTY)
    async with BatchClient(api_key=KEY, transport=transport) as client:
        page = await anext(client.list_jobs(extra_query={}).pages())
        client.list_jobs(resume_from=page.cursor)  # accepted: same fingerprint
    assert len(transport.requests) == 1


# ------------------------------------------------------------------ with_options


async def test_with_options_shares_session_and_changes_timeout(cloud: FakeLlamaCloud) -> None:
    """A copy with a short timeout times out where the original, on the same session, waits."""
    async with client_for(cloud, timeout=5.0, max_retries=0) as client:
        quick = client.with_options(timeout=0.2)
        cloud.delay_next(1.0)
        with pytest.raises(APITimeoutError, match=r"within 0\.2 s"):
            await quick.list_jobs(max_items=1).collect()
        cloud.delay_next(0.4)
        assert len(await client.list_jobs(max_items=1).collect()) == 1
        await quick.aclose()
        assert quick.closed
        assert not client.closed
        # The shared session is still open: the original keeps working.
        assert len(await client.list_jobs(max_items=2).collect()) == 2
        with pytest.raises(RuntimeError, match="closed"):
            quick.list_jobs()


async def test_with_options_max_retries(cloud: FakeLlamaCloud) -> None:
    """max_retries=0 on the copy fails at the first 503; the original retries it."""
    async with client_for(cloud, max_retries=2, retry_after_cap=0) as client:
        once = client.with_options(max_retries=0)
        cloud.fail_next(503, retry_after="0")
        with pytest.raises(ServerError):
            await once.list_jobs(max_items=1).collect()
        cloud.fail_next(503, retry_after="0")
        jobs: list[BatchJob] = await client.list_jobs(max_items=1).collect()
        assert len(jobs) == 1
    statuses = [r.fault is not None for r in cloud.requests]
    assert statuses == [True, True, False]


async def test_closing_original_closes_copy(cloud: FakeLlamaCloud) -> None:
    """Closing the original closes the shared session, and the copy reports closed."""
    client = client_for(cloud)
    copy = client.with_options(max_retries=1)
    copy_of_copy = copy.with_options(timeout=3.0)
    await client.aclose()
    assert copy.closed
    assert copy_of_copy.closed
    assert "closed" in repr(copy)
    with pytest.raises(RuntimeError, match="closed"):
        copy.list_jobs()
    with pytest.raises(RuntimeError, match="closed"):
        copy.with_options(timeout=1.0)
    # The v2 calls too: a clear RuntimeError, never the closed session's own error.
    with pytest.raises(RuntimeError, match="closed"):
        await copy.get_batch("bat-1")
    with pytest.raises(RuntimeError, match="closed"):
        await copy.wait_for_batches(["bat-1"])
    with pytest.raises(RuntimeError, match="closed"):
        copy.list_batches()


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("timeout", math.inf, r"^timeout must be a finite number of seconds > 0, got inf$"),
        ("timeout", 0, r"^timeout must be"),
        ("timeout", "5", r"^timeout must be"),
        ("max_retries", -1, r"^max_retries must be >= 0, got -1$"),
        ("max_retries", True, r"^max_retries must be an int >= 0"),
        ("retry_after_cap", -1.0, r"^retry_after_cap must be"),
    ],
)
def test_with_options_validates_as_the_constructor(
    option: str, value: object, message: str
) -> None:
    """with_options refuses what the constructor refuses, in the same words."""
    client = BatchClient(api_key=KEY, transport=MockTransport(lambda _: EMPTY))
    options: dict[str, Any] = {option: value}
    with pytest.raises(ValueError, match=message):
        client.with_options(**options)
    with pytest.raises(ValueError, match=message):
        BatchClient(api_key=KEY, **options)


async def test_with_options_timeout_reaches_custom_transport() -> None:
    """A custom transport sees each client's timeout in Request.timeout; the key stays out."""
    seen: list[float | None] = []

    def handler(request: Request) -> Response:
        seen.append(request.timeout)
        return EMPTY

    async with BatchClient(api_key=KEY, transport=MockTransport(handler), timeout=7.0) as client:
        await client.list_jobs().collect()
        await client.with_options(timeout=2.5).list_jobs().collect()
        copy = client.with_options(max_retries=3)
        await copy.list_jobs().collect()
        assert KEY not in repr(copy)
    assert seen == [7.0, 2.5, 7.0]


# ------------------------------------------------------------------ on_seen


async def test_finished_jobs_on_seen_reports_unfinished_records(cloud: FakeLlamaCloud) -> None:
    """on_seen gets the record of every wanted job a poll shows, running ones included."""
    cloud.set_jobs(
        [{"id": "a", "status": "running"}, {"id": "b", "status": "completed"}, {"id": "c"}]
    )
    seen: list[tuple[str, str]] = []
    yielded = []
    async with client_for(cloud) as client:
        jobs = client.finished_jobs(
            ["a", "b"],
            poll_interval=0.05,
            timeout=0.3,
            on_seen=lambda job: seen.append((job.id, str(job.to_dict()["status"]))),
        )
        with pytest.raises(WaitTimeoutError):
            async for job in jobs:
                yielded.append(job.id)
                assert ("b", "completed") in seen  # told before it is yielded
    assert yielded == ["b"]
    assert ("a", "running") in seen
    assert all(job_id in {"a", "b"} for job_id, _ in seen)


async def test_finished_jobs_on_seen_must_be_callable(cloud: FakeLlamaCloud) -> None:
    """A non-callable on_seen is a ValueError naming it, before any request."""
    async with client_for(cloud) as client:
        with pytest.raises(ValueError, match=r"^on_seen must be None or a callable"):
            client.finished_jobs(["a"], on_seen="print")  # type: ignore[arg-type]
    assert cloud.requests == []
