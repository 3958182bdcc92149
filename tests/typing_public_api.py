"""Never run: type-checked with mypy --strict to keep the public annotations right.

It uses the API as users write it; a wrong annotation in the package makes
mypy fail here. (Not collected by pytest: the name does not start with test_.)
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import datetime

import aiohttp
from typing_extensions import assert_type

from llama_batch_async import (
    APIStatusError,
    Batch,
    BatchClient,
    BatchJob,
    BatchJobType,
    BatchNotFoundError,
    BatchPage,
    BatchPager,
    BatchResult,
    BatchStatus,
    JobEvent,
    JobPage,
    JobPager,
    JobStatus,
    JobType,
    Limiter,
    LlamaBatchError,
    LocalLimiter,
    RateLimitError,
    WaitTimeoutError,
    WalkStats,
)
from llama_batch_async.testing import (
    FakeLlamaCloud,
    ListingTransport,
    MockTransport,
    RecordedRequest,
    Request,
    Response,
)


async def service(client: BatchClient) -> list[BatchJob]:
    pager = client.list_jobs(status=JobStatus.FAILED, job_type="parse", max_items=500)
    assert_type(pager, JobPager)
    jobs = await pager.collect()
    assert_type(jobs, list[BatchJob])
    assert_type(pager.stats, WalkStats)
    return jobs


class QuietLimiter:
    """A third-party limiter: never waits, ignores 429s."""

    async def acquire(self, sleep: Callable[[float], Awaitable[None]], *, cap: float) -> None:
        del sleep, cap

    async def rate_limited(self, seconds: float) -> None:
        del seconds


def limiters() -> list[BatchClient]:
    local = LocalLimiter()
    shared: Limiter = local
    assert_type(local.remaining, float)
    return [
        BatchClient("key", limiter=shared),
        BatchClient("key", limiter=QuietLimiter()),
    ]


async def worker(client: BatchClient, cursor: str | None) -> str | None:
    pager = client.list_jobs(page_size=200, resume_from=cursor)
    async with contextlib.aclosing(pager.pages()) as pages:
        async for page in pages:
            assert_type(page, JobPage)
            assert_type(page.items, tuple[BatchJob, ...])
            assert_type(page.total_size, int | None)
            cursor = page.cursor
            for job in page.items:
                assert_type(job.status, JobStatus)
                assert_type(job.job_type, JobType)
                assert_type(job.created_at, datetime | None)
                assert_type(job.total_items, int)
                assert_type(job.is_terminal, bool)
    return cursor


async def errors(client: BatchClient) -> float | None:
    try:
        async for job in client.list_jobs(prefetch=4):
            assert_type(job, BatchJob)
    except RateLimitError as exc:
        assert_type(exc.retry_after, float | None)
        return exc.retry_after
    except APIStatusError as exc:
        assert_type(exc.status_code, int)
        assert_type(exc.request_id, str | None)
    except LlamaBatchError as exc:
        assert_type(exc.cursor, str | None)
    return None


async def waiting(client: BatchClient) -> None:
    try:
        final = await client.wait_for_jobs(["bjb-1"], timeout=60)
        assert_type(final, dict[str, BatchJob])
    except WaitTimeoutError as exc:
        assert_type(exc.pending, tuple[str, ...])
    seen: list[BatchJob] = []
    finished = client.finished_jobs(
        ["bjb-1", "bjb-2"], project_id="proj-1", timeout=60.0, on_seen=seen.append
    )
    async with contextlib.aclosing(finished):
        async for job in finished:
            assert_type(job, BatchJob)
    async for event in client.watch_jobs(status="running", poll_interval=2.0):
        assert_type(event, JobEvent)
        assert_type(event.previous, BatchJob | None)


async def overrides(client: BatchClient) -> list[BatchJob]:
    patient = client.with_options(timeout=120.0, max_retries=8, retry_after_cap=300.0)
    assert_type(patient, BatchClient)
    pager = patient.list_jobs(status="failed", extra_query={"created_after": "2026-11-01"})
    return await pager.collect()


async def testing_kit() -> None:
    async with FakeLlamaCloud(jobs=10, page_tokens=True) as cloud:
        cloud.fail_next(429, retry_after="0")
        async with aiohttp.ClientSession() as session:
            client = BatchClient("key", base_url=cloud.url, session=session, timeout=5.0)
            await service(client)
            await client.aclose()
        request = cloud.requests[0]
        assert_type(request, RecordedRequest)
        assert_type(request.query, dict[str, str])


def answer(request: Request) -> Response:
    return Response(status=200, headers={}, body=b'{"items": []}')


async def answer_later(request: Request) -> Response:
    return answer(request)


async def transports() -> None:
    mock = MockTransport(answer)
    async with BatchClient("key", transport=mock) as client:
        await service(client)
    assert_type(mock.requests, list[Request])
    BatchClient("key", transport=MockTransport(answer_later))
    BatchClient("key", transport=ListingTransport(FakeLlamaCloud(jobs=3)))


if __name__ == "__main__":
    asyncio.run(testing_kit())


async def batches(client: BatchClient, since: datetime) -> list[Batch]:
    pager = client.list_batches(status=BatchStatus.RUNNING, created_after=since, max_items=50)
    assert_type(pager, BatchPager)
    assert_type(pager.stats, WalkStats)
    async with contextlib.aclosing(pager.pages()) as pages:
        async for page in pages:
            assert_type(page, BatchPage)
            assert_type(page.cursor, str)
            for batch in page.items:
                assert_type(batch.status, BatchStatus)
                assert_type(batch.config.job.type, BatchJobType)
                assert_type(batch.results, tuple[BatchResult, ...] | None)
                if batch.status == "RUNNING" or batch.status is BatchStatus.FAILED:
                    pass
    try:
        one = await client.get_batch("bat-1", expand_results=True)
    except BatchNotFoundError as exc:
        assert_type(exc.missing, tuple[str, ...])
        raise
    assert_type(one, Batch)
    return await client.list_batches(status="COMPLETED").collect()
