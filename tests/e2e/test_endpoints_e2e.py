"""End to end: a job's status, its items, cancel and create (v1), cancel and create (v2).

The real aiohttp client against FakeLlamaCloud on 127.0.0.1, port 0.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from llama_batch_async import (
    Batch,
    BatchClient,
    BatchItem,
    BatchJob,
    BatchNotFoundError,
    BatchStatus,
    ConflictError,
    ItemPage,
    ItemStatus,
    JobCancellation,
    JobNotFoundError,
    JobProgress,
    JobStatus,
    NotFoundError,
    RateLimitError,
    Response,
    ServerError,
)
from llama_batch_async.testing import (
    FakeLlamaCloud,
    ListingTransport,
    MockTransport,
    make_batch,
    make_job,
)

KEY = "sk-endpoints-secret-0123456789"


def running_job(job_id: str, total: int, processed: int = 0, **fields: Any) -> dict[str, Any]:
    return make_job(
        id=job_id,
        status="running",
        total_items=total,
        processed_items=processed,
        failed_items=0,
        skipped_items=0,
        **fields,
    )


@pytest.fixture
async def cloud() -> AsyncIterator[FakeLlamaCloud]:
    jobs = [
        running_job("bjb-run", 40, 10),
        make_job(
            id="bjb-done",
            status="failed",
            total_items=30,
            processed_items=10,
            failed_items=7,
            skipped_items=3,
        ),
    ]
    batches = [
        make_batch(id="bat-run", status="RUNNING"),
        make_batch(id="bat-done", status="COMPLETED"),
    ]
    async with FakeLlamaCloud(jobs, batches=batches, api_key=KEY) as server:
        yield server


@pytest.fixture
async def client(cloud: FakeLlamaCloud) -> AsyncIterator[BatchClient]:
    async with BatchClient(KEY, base_url=cloud.url, max_retries=2) as one:
        yield one


async def test_get_job_returns_the_job_and_its_progress(
    cloud: FakeLlamaCloud, client: BatchClient
) -> None:
    """get_job is one GET of the job's path: the same BatchJob a listing yields, and a float."""
    progress = await client.get_job("bjb-run")
    assert isinstance(progress, JobProgress)
    assert isinstance(progress.job, BatchJob)
    assert progress.job.id == "bjb-run"
    assert progress.job.status is JobStatus.RUNNING
    assert progress.progress_percentage == 25.0
    assert [r.path for r in cloud.requests] == ["/api/v1/beta/batch-processing/bjb-run"]
    listed = [job async for job in client.list_jobs() if job.id == "bjb-run"]
    assert listed == [progress.job]


async def test_get_job_of_an_unknown_id_is_job_not_found(
    cloud: FakeLlamaCloud, client: BatchClient
) -> None:
    """A 404 is JobNotFoundError, a NotFoundError carrying the id and the request id; no retry."""
    with pytest.raises(JobNotFoundError) as info:
        await client.get_job("bjb-nope")
    assert isinstance(info.value, NotFoundError)
    assert info.value.missing == ("bjb-nope",)
    assert info.value.status_code == 404
    assert info.value.request_id == "req-1"
    assert len(cloud.requests) == 1


async def test_get_job_retries_and_honours_the_429_pause(
    cloud: FakeLlamaCloud, client: BatchClient
) -> None:
    """A 503 is retried and a 429's Retry-After carried, as for a page."""
    cloud.fail_next(503)
    assert (await client.get_job("bjb-run")).job.id == "bjb-run"
    assert len(cloud.requests) == 2
    cloud.fail_next(429, retry_after="120")  # past the cap: raised at once, carrying it
    with pytest.raises(RateLimitError) as info:
        await client.get_job("bjb-run")
    assert info.value.retry_after == 120


async def test_items_are_listed_with_their_statuses_and_filter(client: BatchClient) -> None:
    """Items come as BatchItem with open ItemStatus; status= filters them on the server."""
    items = await client.list_job_items("bjb-done").collect()
    assert len(items) == 30
    assert all(isinstance(item, BatchItem) for item in items)
    counts = {status: sum(item.status == status for item in items) for status in ItemStatus}
    assert counts[ItemStatus.FAILED] == 7
    assert counts[ItemStatus.SKIPPED] == 3
    assert counts[ItemStatus.COMPLETED] == 10
    assert counts[ItemStatus.CANCELLED] == 10
    failed = await client.list_job_items("bjb-done", status="failed").collect()
    assert [item.item_id for item in failed] == [i.item_id for i in items if i.status == "failed"]
    assert all(item.error_message for item in failed)


async def test_items_are_walked_exactly_once_under_a_cap_and_resume_from_a_cursor(
    cloud: FakeLlamaCloud, client: BatchClient
) -> None:
    """Under a server cap of 7, a walk stopped after 2 pages resumes from its cursor: once each."""
    cloud.set_jobs([running_job("bjb-big", 100, 0)])
    cloud.max_limit = 7
    pager = client.list_job_items("bjb-big", page_size=20, prefetch=0)
    first: list[BatchItem] = []
    cursor = None
    async for page in pager.pages():
        assert isinstance(page, ItemPage)
        first.extend(page.items)
        cursor = page.cursor
        if len(first) >= 14:
            break
    assert cursor is not None
    rest = await client.list_job_items("bjb-big", page_size=20, resume_from=cursor).collect()
    ids = [item.item_id for item in first + rest]
    assert len(ids) == 100
    assert len(set(ids)) == 100
    with pytest.raises(ValueError, match="resume_from"):
        client.list_job_items("bjb-run", resume_from=cursor)
    with pytest.raises(ValueError, match="resume_from"):
        client.list_job_items("bjb-big", status="failed", resume_from=cursor)


async def test_an_items_walk_error_carries_its_cursor(
    cloud: FakeLlamaCloud, client: BatchClient
) -> None:
    """A walk that fails after a page says where to resume: the cursor of that page."""
    pager = client.list_job_items("bjb-done", page_size=10, prefetch=0)
    pages = pager.pages()
    page = await anext(pages)
    for _ in range(3):
        cloud.fail_next(500)
    with pytest.raises(ServerError) as info:
        await anext(pages)
    await pages.aclose()
    assert info.value.cursor == page.cursor
    rest = await client.list_job_items("bjb-done", resume_from=info.value.cursor).collect()
    assert len(page.items) + len(rest) == 30


async def test_items_of_an_unknown_job_is_job_not_found(client: BatchClient) -> None:
    """Walking the items of an unknown job ends in JobNotFoundError naming it."""
    with pytest.raises(JobNotFoundError) as info:
        await client.list_job_items("bjb-nope").collect()
    assert info.value.status_code == 404


async def test_cancel_job_moves_the_job_and_its_pending_items(
    cloud: FakeLlamaCloud, client: BatchClient
) -> None:
    """cancel_job POSTs a JSON body; the job and its pending items become cancelled."""
    result = await client.cancel_job("bjb-run", reason="wrong config")
    assert result == JobCancellation(
        job_id="bjb-run", status="cancelled", processed_items=10, message="Batch job cancelled"
    )
    sent = cloud.requests[-1]
    assert sent.method == "POST"
    assert sent.path == "/api/v1/beta/batch-processing/bjb-run/cancel"
    assert sent.headers["Content-Type"] == "application/json"
    assert (await client.get_job("bjb-run")).job.status is JobStatus.CANCELLED
    items = await client.list_job_items("bjb-run").collect()
    assert {item.status for item in items[10:]} == {ItemStatus.CANCELLED}


async def test_cancel_job_sends_a_body_without_a_reason() -> None:
    """Without a reason the body is {} (the endpoint requires a body); with one, {"reason": ...}."""
    answer = b'{"job_id": "bjb-1", "status": "cancelled", "processed_items": 0, "message": "ok"}'
    transport = MockTransport(lambda _request: Response(status=200, headers={}, body=answer))
    async with BatchClient(KEY, transport=transport) as client:
        await client.cancel_job("bjb-1")
        await client.cancel_job("bjb-1", reason="stop")
    assert [r.body for r in transport.requests] == [b"{}", b'{"reason":"stop"}']
    assert {r.method for r in transport.requests} == {"POST"}
    assert all(r.idempotent for r in transport.requests)


async def test_cancelling_a_finished_job_is_a_conflict_not_retried(
    cloud: FakeLlamaCloud, client: BatchClient
) -> None:
    """A 409 for a finished job is ConflictError at once: a write's 409 is never retried."""
    with pytest.raises(ConflictError, match="already finished") as info:
        await client.cancel_job("bjb-done")
    assert info.value.status_code == 409
    assert len(cloud.requests) == 1


async def test_cancel_is_retried_as_it_is_idempotent(
    cloud: FakeLlamaCloud, client: BatchClient
) -> None:
    """A cancel that meets a 502 is sent again (the server treats a second cancel as the first)."""
    cloud.fail_next(502)
    assert (await client.cancel_job("bjb-run")).status is JobStatus.CANCELLED
    assert [r.method for r in cloud.requests] == ["POST", "POST"]


async def test_create_job_returns_a_job_that_then_progresses(
    cloud: FakeLlamaCloud, client: BatchClient
) -> None:
    """create_job POSTs job_config and directory_id; the 201 job is listed, found and progresses."""
    config = {"job_name": "parse_raw_file_job", "parameters": {"lang": "en"}}
    job = await client.create_job(job_config=config, directory_id="dir-1")
    assert job.status is JobStatus.PENDING
    assert job.directory_id == "dir-1"
    sent = cloud.requests[-1]
    assert (sent.method, sent.path) == ("POST", "/api/v1/beta/batch-processing")
    assert (await client.get_job(job.id)).job == job
    cloud.update_job(job.id, status="running", processed_items=4)
    items = await client.list_job_items(job.id).collect()
    assert [item.status for item in items[:5]] == ["completed"] * 4 + ["processing"]
    by_items = await client.create_job(job_config=config, item_ids=["itm-1", "itm-2"])
    assert by_items.total_items == 2


async def test_create_job_is_not_retried_after_a_503_without_retry_after(
    cloud: FakeLlamaCloud, client: BatchClient
) -> None:
    """A 503 that does not say when to come back may follow the work: raised, not resent."""
    cloud.fail_next(503)
    with pytest.raises(ServerError):
        await client.create_job(job_config={"job_name": "x"}, directory_id="dir-1")
    assert len(cloud.requests) == 1


async def test_create_job_is_retried_after_a_429(
    cloud: FakeLlamaCloud, client: BatchClient
) -> None:
    """A 429 (refused before any work) is retried once the pause passes: one job is made."""
    before = len(cloud.jobs)
    cloud.fail_next(429, retry_after="0")
    await client.create_job(job_config={"job_name": "x"}, directory_id="dir-1")
    assert len(cloud.requests) == 2
    assert len(cloud.jobs) == before + 1


async def test_cancel_batch_returns_the_batch_and_refuses_a_terminal_one(
    cloud: FakeLlamaCloud, client: BatchClient
) -> None:
    """cancel_batch POSTs to the batch's cancel path; a COMPLETED batch is ConflictError, once."""
    batch = await client.cancel_batch("bat-run")
    assert isinstance(batch, Batch)
    assert batch.status is BatchStatus.CANCELLED
    assert (await client.get_batch("bat-run")).status is BatchStatus.CANCELLED
    count = len(cloud.requests)
    with pytest.raises(ConflictError, match="bat-done"):
        await client.cancel_batch("bat-done")
    assert len(cloud.requests) == count + 1
    with pytest.raises(BatchNotFoundError):
        await client.cancel_batch("bat-nope")


async def test_create_batch_sends_the_v2_body(cloud: FakeLlamaCloud, client: BatchClient) -> None:
    """create_batch POSTs source directory, job type and configuration; the 201 batch is listed."""
    batch = await client.create_batch(
        source_directory_id="dir-9",
        job_type="parse_v2",
        configuration_id="cfg-1",
        webhook_configurations=[{"webhook_url": "https://example.com/hook"}],
    )
    assert batch.status is BatchStatus.PENDING
    assert batch.config.job.configuration_id == "cfg-1"
    assert (await client.get_batch(batch.id)).id == batch.id
    assert cloud.requests[0].headers["Content-Type"] == "application/json"


async def test_the_listing_transport_serves_the_record_endpoints_without_a_socket() -> None:
    """ListingTransport answers status, items, cancel and create from the same fake."""
    cloud = FakeLlamaCloud(
        [running_job("bjb-1", 5, 2)], batches=[make_batch(id="bat-1", status="RUNNING")]
    )
    async with BatchClient(KEY, transport=ListingTransport(cloud)) as client:
        assert (await client.get_job("bjb-1")).progress_percentage == 40.0
        assert len(await client.list_job_items("bjb-1", status="pending").collect()) == 2
        assert (await client.cancel_job("bjb-1")).status is JobStatus.CANCELLED
        created = await client.create_job(job_config={"job_name": "x"}, directory_id="d")
        assert (await client.get_job(created.id)).job.id == created.id
        assert (await client.cancel_batch("bat-1")).status is BatchStatus.CANCELLED
