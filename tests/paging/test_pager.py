"""The pager over a scripted transport (the transport= seam): retries, cursors, resume, stats."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

import attrs
import pytest
from helpers import ids

from llama_batch_async import (
    APIConnectionError,
    AuthenticationError,
    BatchClient,
    JobPager,
    RateLimitError,
    ResponseValidationError,
    ServerError,
)
from llama_batch_async._http._limiter import LocalLimiter
from llama_batch_async.testing import Request, Response

KEY = "sk-pager-secret-key"

Step = Response | BaseException | Callable[[Request], Response]


def item(n: int) -> dict[str, Any]:
    return {
        "id": f"job-{n}",
        "job_type": "parse",
        "project_id": "proj-1",
        "status": "running",
        "total_items": 3,
    }


def ok(*numbers: int, token: str | None = None, total: int | None = None) -> Response:
    body: dict[str, Any] = {"items": [item(n) for n in numbers]}
    if token is not None:
        body["next_page_token"] = token
    if total is not None:
        body["total_size"] = total
    return Response(status=200, headers={}, body=json.dumps(body).encode())


def status(code: int, **headers: str) -> Response:
    return Response(status=code, headers=headers, body=b'{"detail": "nope"}')


class ScriptedTransport:
    """Answers requests from a script, in order, and records what it was sent."""

    def __init__(self, *steps: Step) -> None:
        self.steps = list(steps)
        self.requests: list[dict[str, str]] = []

    async def send(self, request: Request) -> Response:
        self.requests.append(dict(request.params))
        step = self.steps.pop(0)
        if isinstance(step, BaseException):
            raise step
        if callable(step):
            return step(request)
        return step

    async def aclose(self) -> None:
        pass


class RecordingSleep:
    """Records waits instead of waiting; moves a fake clock if given one."""

    def __init__(self, clock: list[float] | None = None) -> None:
        self.waits: list[float] = []
        self.clock = clock

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        if self.clock is not None:
            self.clock[0] += seconds


def make_pager(
    transport: ScriptedTransport,
    *,
    page_size: int = 2,
    max_items: int | None = None,
    resume_from: str | None = None,
    max_retries: int = 4,
    gate: LocalLimiter | None = None,
    sleep: RecordingSleep | None = None,
    status_filter: str | None = None,
) -> JobPager:
    client = BatchClient(
        KEY,
        base_url="https://api.example.test",
        transport=transport,
        timeout=5,
        max_retries=max_retries,
    )
    # The one test hook past the seam: waits are recorded, and walks may share a fake clock.
    client._context = attrs.evolve(
        client._context,
        limiter=gate or LocalLimiter(),
        sleep=sleep or RecordingSleep(),
    )
    return client.list_jobs(
        status=status_filter,
        page_size=page_size,
        max_items=max_items,
        resume_from=resume_from,
        prefetch=0,
    )


async def test_nothing_is_sent_until_iterated() -> None:
    """list_jobs is lazy: building a pager sends no request."""
    transport = ScriptedTransport()
    make_pager(transport)
    assert transport.requests == []


async def test_failed_page_is_retried_at_the_same_position() -> None:
    """Rule 8: a retried page is asked again at the same offset; nothing lost or doubled."""
    sleep = RecordingSleep()
    transport = ScriptedTransport(
        ok(1, 2),
        status(503),
        APIConnectionError("reset"),
        ok(3, 4),
        ok(5),
    )
    jobs = await make_pager(transport, sleep=sleep).collect()
    assert ids(jobs) == ["job-1", "job-2", "job-3", "job-4", "job-5"]
    assert [r["offset"] for r in transport.requests] == ["0", "2", "2", "2", "4"]
    assert len(sleep.waits) == 2


async def test_items_and_pages_are_two_views_of_one_walk() -> None:
    """Iterating items and iterating pages yield the same jobs in the same order."""
    script = (ok(1, 2), ok(3, 4), ok(5))
    items = [job async for job in make_pager(ScriptedTransport(*script))]
    pages = [page async for page in make_pager(ScriptedTransport(*script)).pages()]
    assert ids(items) == [job.id for page in pages for job in page.items]
    assert [page.offset for page in pages] == [0, 2, 4]


async def test_each_iteration_is_a_new_walk() -> None:
    """Iterating a pager twice walks twice from its start."""
    transport = ScriptedTransport(ok(1, total=1), ok(1, total=1))
    pager = make_pager(transport)
    assert ids(await pager.collect()) == ids(await pager.collect()) == ["job-1"]


async def test_error_before_first_page_has_no_cursor() -> None:
    """An error before any page carries cursor None: start the walk again."""
    with pytest.raises(AuthenticationError) as caught:
        await make_pager(ScriptedTransport(status(401))).collect()
    assert caught.value.cursor is None


async def test_error_mid_walk_carries_the_resume_cursor() -> None:
    """Rule 8: the error that ends a walk carries the cursor after the last page."""
    transport = ScriptedTransport(ok(1, 2), ok(3, 4), status(503))
    pages = []
    with pytest.raises(ServerError) as caught:
        async for page in make_pager(transport, max_retries=0).pages():
            pages.append(page)
    assert caught.value.cursor == pages[-1].cursor
    resumed = make_pager(ScriptedTransport(ok(5, 6), ok()), resume_from=caught.value.cursor)
    assert ids(await resumed.collect()) == ["job-5", "job-6"]


async def test_resumed_walk_error_before_a_page_keeps_its_cursor() -> None:
    """A resumed walk that fails at once hands back the cursor it was given."""
    first = await anext(make_pager(ScriptedTransport(ok(1, 2))).pages())
    with pytest.raises(ServerError) as caught:
        await make_pager(
            ScriptedTransport(status(500)), resume_from=first.cursor, max_retries=0
        ).collect()
    assert caught.value.cursor == first.cursor


async def test_resume_sends_the_next_offset() -> None:
    """Rule 8: a resumed walk asks by offset right after the cursor's page."""
    first = await anext(make_pager(ScriptedTransport(ok(1, 2, token="tok-2"))).pages())
    transport = ScriptedTransport(ok(3))
    await make_pager(transport, resume_from=first.cursor).collect()
    assert transport.requests[0] == {"limit": "2", "offset": "2"}


async def test_resume_by_token_once_the_server_was_seen_to_honour_it() -> None:
    """Rule 8: a cursor taken while the walk followed honoured tokens resumes by token."""
    walked = ScriptedTransport(
        ok(1, 2, token="tok-2"), ok(1, 2, token="tok-2b"), ok(3, 4, token="tok-4"), ok(5)
    )
    pages = [page async for page in make_pager(walked).pages()]
    assert [job.id for page in pages for job in page.items] == [f"job-{n}" for n in range(1, 6)]
    pages = pages[:2]
    assert walked.requests[2] == {"limit": "2", "page_token": "tok-2"}  # offset was ignored
    transport = ScriptedTransport(ok(5))
    await make_pager(transport, resume_from=pages[-1].cursor).collect()
    assert transport.requests[0] == {"limit": "2", "page_token": "tok-4"}


async def test_cursor_under_other_filters_is_refused() -> None:
    """Rule 8: a cursor made under other filters raises ValueError before any request."""
    first = await anext(make_pager(ScriptedTransport(ok(1, 2))).pages())
    transport = ScriptedTransport()
    with pytest.raises(ValueError, match="other filters"):
        make_pager(transport, resume_from=first.cursor, status_filter="failed")
    assert transport.requests == []


async def test_validation_error_carries_cursor_and_is_not_retried() -> None:
    """A malformed page ends the walk at once, with the resume cursor."""
    bad = Response(status=200, headers={}, body=b'{"items": [{"id": 3}]}')
    transport = ScriptedTransport(ok(1, 2), bad)
    pages = []
    with pytest.raises(ResponseValidationError, match=r"\$\.items\[0\]\.job_type") as caught:
        async for page in make_pager(transport).pages():
            pages.append(page)
    assert len(transport.requests) == 2
    assert caught.value.cursor == pages[0].cursor


async def test_retry_after_is_waited_and_pauses_other_walks() -> None:
    """A 429's Retry-After is slept by its walk and pauses the client's other walks."""
    now = [1000.0]
    gate = LocalLimiter(clock=lambda: now[0])
    sleep_a, sleep_b = RecordingSleep(now), RecordingSleep(now)
    walk_a = make_pager(
        ScriptedTransport(status(429, **{"retry-after": "7"}), ok(1, total=1)),
        gate=gate,
        sleep=sleep_a,
    )
    walk_b = make_pager(ScriptedTransport(ok(2, total=1)), gate=gate, sleep=sleep_b)
    assert ids(await walk_a.collect()) == ["job-1"]
    assert sleep_a.waits == [7.0]
    now[0] -= 3  # as if walk B starts 4 s into walk A's pause
    assert ids(await walk_b.collect()) == ["job-2"]
    assert sleep_b.waits == [pytest.approx(3.0)]


async def test_long_retry_after_raises_at_once() -> None:
    """A Retry-After past the cap raises RateLimitError with retry_after, no sleep."""
    sleep = RecordingSleep()
    transport = ScriptedTransport(status(429, **{"retry-after": "3600", "x-request-id": "r-9"}))
    with pytest.raises(RateLimitError) as caught:
        await make_pager(transport, sleep=sleep).collect()
    assert caught.value.retry_after == 3600.0
    assert caught.value.request_id == "r-9"
    assert caught.value.status_code == 429
    assert sleep.waits == []
    assert len(transport.requests) == 1


async def test_long_retry_after_stops_other_walks_without_a_request() -> None:
    """After a 429 past the cap, other walks of the client raise at once, unsent."""
    now = [50.0]
    gate = LocalLimiter(clock=lambda: now[0])
    first = ScriptedTransport(status(429, **{"retry-after": "600"}))
    with pytest.raises(RateLimitError):
        await make_pager(first, gate=gate).collect()
    now[0] += 100
    other = ScriptedTransport(ok(1, total=1))
    with pytest.raises(RateLimitError) as caught:
        await make_pager(other, gate=gate).collect()
    assert other.requests == []
    assert caught.value.retry_after == pytest.approx(500.0)
    assert caught.value.cursor is None


async def test_max_retries_bounds_attempts_per_page() -> None:
    """max_retries=2: at most three requests for one page, then the typed error."""
    transport = ScriptedTransport(*(status(502) for _ in range(5)))
    with pytest.raises(ServerError):
        await make_pager(transport, max_retries=2).collect()
    assert len(transport.requests) == 3


async def test_each_page_has_its_own_retry_budget() -> None:
    """Retries are counted per page request, not per walk."""
    transport = ScriptedTransport(status(503), ok(1, 2), status(503), ok(3, total=3))
    assert ids(await make_pager(transport, max_retries=1).collect()) == ["job-1", "job-2", "job-3"]


async def test_cancellation_ends_the_walk_with_no_further_request() -> None:
    """Cancelling a walk mid-request raises CancelledError and sends nothing more."""
    started = asyncio.Event()

    class Hanging(ScriptedTransport):
        async def send(self, request: Request) -> Response:
            self.requests.append(dict(request.params))
            started.set()
            await asyncio.Event().wait()
            raise AssertionError("unreachable")

    transport = Hanging()
    task = asyncio.create_task(make_pager(transport).collect())
    await asyncio.wait_for(started.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(transport.requests) == 1


async def test_stats_count_the_walk() -> None:
    """Stats counts pages, items, requests, retries and dropped repeats."""
    transport = ScriptedTransport(ok(1, 2, total=4), status(500), ok(2, 3, total=4), ok(total=4))
    pager = make_pager(transport)
    await pager.collect()
    stats = pager.stats
    assert (stats.pages, stats.items, stats.requests, stats.retries) == (3, 3, 4, 1)
    assert stats.duplicates_dropped == 1
    assert stats.total_size == 4
    assert stats.elapsed >= 0


async def test_first_page_is_yielded_even_when_empty() -> None:
    """An empty listing still yields one page, so total_size can be shown."""
    pages = [page async for page in make_pager(ScriptedTransport(ok(total=0))).pages()]
    assert len(pages) == 1
    assert pages[0].items == ()
    assert pages[0].total_size == 0


async def test_logs_one_debug_line_per_request_without_secrets(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """One DEBUG line per request, one for the walk's cost, a WARNING per retry; no key."""
    caplog.set_level(logging.DEBUG, logger="llama_batch_async")
    await make_pager(ScriptedTransport(status(503), ok(1, total=1))).collect()
    debug = [r for r in caplog.records if r.levelno == logging.DEBUG]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [r.name for r in debug] == [
        "llama_batch_async._http._sender",
        "llama_batch_async._http._sender",
        "llama_batch_async._paging._pager",
    ]
    assert debug[-1].getMessage() == (
        "walk: 1 pages, 2 requests (0 unused, 0 refused with 429, 1 retries)"
    )
    assert len(warnings) == 1
    assert "retrying in" in warnings[0].getMessage()
    assert all(KEY not in r.getMessage() for r in caplog.records)
