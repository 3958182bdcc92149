"""Waits ask only about the awaited jobs: per id when cheaper than a walk (counts, not times).

End to end against FakeLlamaCloud, as benchmarks/wait_cost.py measures it:
the polls are counted by ``on_seen`` calls for the first awaited id, the
requests by the fake; after a few polls every awaited job completes.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from typing import Any

import pytest

from llama_batch_async import BatchClient, BatchJob, WaitTimeoutError
from llama_batch_async._polling._jobs import PER_ID_FIRST, PollChoice
from llama_batch_async.testing import ENDPOINT_PATH, FakeLlamaCloud, make_jobs

KEY = "sk-wait-cost-0123456789"
LIMIT = 30.0


def running(count: int) -> list[dict[str, Any]]:
    jobs = make_jobs(count, seed=7)
    for job in jobs:
        job.update(status="running", completed_at=None)
    return jobs


async def wait_counting(
    cloud: FakeLlamaCloud, awaited: list[str], polls: int
) -> tuple[int, list[str]]:
    """Wait for ``awaited``; after ``polls`` polls they complete. (polls seen, paths asked)."""
    seen = 0

    def on_seen(job: BatchJob) -> None:
        nonlocal seen
        if job.id == awaited[0]:
            seen += 1
            if seen == polls:
                for job_id in awaited:
                    cloud.update_job(job_id, status="completed")

    async with BatchClient(KEY, base_url=cloud.url) as client:
        finished = client.finished_jobs(awaited, poll_interval=0.001, on_seen=on_seen)
        async with contextlib.aclosing(finished) as stream:
            done = await asyncio.wait_for(_ids(stream), LIMIT)
    assert sorted(done) == sorted(awaited)
    return seen, [request.path for request in cloud.requests]


async def _ids(stream: Any) -> list[str]:
    return [job.id async for job in stream]


async def test_three_jobs_deep_in_a_capped_listing_cost_three_requests_a_poll() -> None:
    """3 jobs on page 100 of 5,000 (server cap 50): 3 status requests a poll, no walk (was 810)."""
    jobs = running(5000)
    awaited = [job["id"] for job in jobs[-3:]]
    async with FakeLlamaCloud(jobs, api_key=KEY, max_limit=50) as cloud:
        polls, paths = await wait_counting(cloud, awaited, polls=4)
    assert polls == 5
    assert len(paths) == 3 * polls
    assert ENDPOINT_PATH not in paths  # never the listing


async def test_four_hundred_of_five_hundred_jobs_walk_the_listing() -> None:
    """400 of 500 jobs: each poll is a walk of 5 pages, not 400 status requests."""
    jobs = running(500)
    awaited = [job["id"] for job in random.Random(1).sample(jobs, 400)]  # noqa: S311
    async with FakeLlamaCloud(jobs, api_key=KEY) as cloud:
        polls, paths = await wait_counting(cloud, awaited, polls=4)
    assert polls == 5
    assert set(paths) == {ENDPOINT_PATH}
    assert len(paths) <= 5 * polls + 8  # a walk a poll (+ what a prefetch guessed)


async def test_a_wait_switches_to_per_id_once_few_ids_are_left() -> None:
    """Walks while many ids are pending; once fewer than a walk's requests remain, per id."""
    jobs = running(300)
    awaited = [job["id"] for job in jobs[-20:]]  # on the third page: a walk costs 3 or more
    async with FakeLlamaCloud(jobs, api_key=KEY) as cloud:
        polls = 0

        def on_seen(job: BatchJob) -> None:
            nonlocal polls
            if job.id == awaited[-1]:
                polls += 1
                if polls == 1:  # all but the last finish after the first walk
                    for job_id in awaited[:-1]:
                        cloud.update_job(job_id, status="failed")
                if polls == 3:
                    cloud.update_job(awaited[-1], status="completed")

        async with BatchClient(KEY, base_url=cloud.url) as client:
            finished = client.finished_jobs(awaited, poll_interval=0.001, on_seen=on_seen)
            async with contextlib.aclosing(finished) as stream:
                done = await asyncio.wait_for(_ids(stream), LIMIT)
        paths = [request.path for request in cloud.requests]
    assert sorted(done) == sorted(awaited)
    listing = [index for index, path in enumerate(paths) if path == ENDPOINT_PATH]
    per_id = [index for index, path in enumerate(paths) if path != ENDPOINT_PATH]
    assert listing  # the first polls walked: 20 ids > PER_ID_FIRST
    assert per_id
    assert max(listing) < min(per_id)  # and once 1 id was left, per id only
    assert all(path.endswith(awaited[-1]) for path in paths[min(per_id) :])


@pytest.mark.parametrize(
    ("walk_cost", "pending", "per_id"),
    [
        (None, 1, True),
        (None, PER_ID_FIRST, True),
        (None, PER_ID_FIRST + 1, False),
        (5, 4, True),
        (5, 5, False),
        (100, 99, True),
        (1, 1, False),
    ],
)
def test_the_per_poll_rule(walk_cost: int | None, pending: int, per_id: bool) -> None:
    """Per id when pending < the last walk's requests; before any walk, up to PER_ID_FIRST."""
    assert PollChoice(walk_cost=walk_cost).per_id(pending) is per_id


async def test_a_per_id_wait_times_out_with_the_pending_records() -> None:
    """A per-id wait keeps its deadline: WaitTimeoutError with the latest record of each id."""
    jobs = running(50)
    awaited = [jobs[0]["id"], jobs[1]["id"]]
    async with (
        FakeLlamaCloud(jobs, api_key=KEY) as cloud,
        BatchClient(KEY, base_url=cloud.url) as client,
    ):
        with pytest.raises(WaitTimeoutError) as caught:
            await asyncio.wait_for(
                client.wait_for_jobs(awaited, poll_interval=0.01, timeout=0.2), LIMIT
            )
        assert ENDPOINT_PATH not in {request.path for request in cloud.requests}
    assert caught.value.pending == tuple(awaited)
    assert list(caught.value.jobs) == awaited


async def test_a_per_id_wait_is_cancelled_promptly() -> None:
    """Cancelling a per-id wait cancels its requests in flight; nothing runs after."""
    jobs = running(10)
    async with (
        FakeLlamaCloud(jobs, api_key=KEY, latency=5.0) as cloud,
        BatchClient(KEY, base_url=cloud.url) as client,
    ):
        task = asyncio.ensure_future(client.wait_for_jobs([jobs[0]["id"]], poll_interval=0.01))
        while not cloud.requests:
            await asyncio.sleep(0.005)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, LIMIT)
        assert len(cloud.requests) == 1
