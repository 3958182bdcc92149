"""Waiting for v2 batches: end to end against FakeLlamaCloud, and the shared pacing core."""

from __future__ import annotations

import contextlib
import gc
import itertools
import warnings
from collections.abc import AsyncIterator

import pytest

from llama_batch_async import (
    Batch,
    BatchClient,
    BatchEvent,
    BatchNotFoundError,
    BatchStatus,
    WaitTimeoutError,
)
from llama_batch_async._polling._batches import finished_batches
from llama_batch_async._polling._poller import Pacing
from llama_batch_async.testing import BATCHES_PATH, FakeLlamaCloud

KEY = "sk-v2-watch-0123456789"


@pytest.fixture
async def cloud() -> AsyncIterator[FakeLlamaCloud]:
    async with FakeLlamaCloud(
        batches=[
            {"id": "bat-1", "status": "PENDING"},
            {"id": "bat-2", "status": "RUNNING"},
            {"id": "bat-3", "status": "COMPLETED"},
        ],
        api_key=KEY,
        progress=True,
        progress_seconds=0.4,
    ) as server:
        yield server


def batch(batch_id: str, status: str) -> Batch:
    return Batch(
        id=batch_id,
        project_id="p",
        source_directory_id="d",
        status=BatchStatus(status),
        config=None,  # type: ignore[arg-type]
    )


async def test_wait_for_batches_returns_every_final_record(cloud: FakeLlamaCloud) -> None:
    """wait_for_batches polls each id by GET until all are terminal; final records by id."""
    async with BatchClient(KEY, base_url=cloud.url) as client:
        final = await client.wait_for_batches(["bat-2", "bat-1", "bat-3"], poll_interval=0.05)
    assert list(final) == ["bat-2", "bat-1", "bat-3"]
    assert all(record.is_terminal for record in final.values())
    assert {r.path for r in cloud.requests} == {f"{BATCHES_PATH}/bat-{i}" for i in (1, 2, 3)}
    # bat-3 was terminal at the first poll and never asked again
    assert sum(r.path.endswith("/bat-3") for r in cloud.requests) == 1


async def test_watch_batches_yields_each_change_until_all_are_terminal() -> None:
    """watch_batches: added first, then changed with the previous record, then it ends."""
    events: list[BatchEvent] = []
    async with (
        FakeLlamaCloud(batches=[{"id": "bat-1", "status": "PENDING"}], progress=True) as cloud,
        BatchClient(KEY, base_url=cloud.url) as client,
    ):
        watch = client.watch_batches(["bat-1"], poll_interval=0.03, timeout=10)
        async with contextlib.aclosing(watch):
            async for event in watch:
                events.append(event)
    assert events[0].kind == "added"
    assert events[0].previous is None
    assert all(event.kind == "changed" for event in events[1:])
    assert all(e.previous == before.batch for before, e in itertools.pairwise(events))
    assert events[-1].batch.is_terminal
    # progress takes seconds (runs at ~1.0 s, done by ~3.7 s): polls see it move
    assert events[0].batch.status is BatchStatus.PENDING
    assert len(events) >= 2


async def test_a_missing_batch_is_batch_not_found_after_the_grace(cloud: FakeLlamaCloud) -> None:
    """An id that is 404 in three polls in a row: BatchNotFoundError naming it."""
    async with BatchClient(KEY, base_url=cloud.url) as client:
        with pytest.raises(BatchNotFoundError) as caught:
            await client.wait_for_batches(["bat-1", "bat-nope"], poll_interval=0.02)
    assert caught.value.missing == ("bat-nope",)
    assert sum(r.path.endswith("/bat-nope") for r in cloud.requests) == 3


async def test_timeout_carries_the_batches_seen(cloud: FakeLlamaCloud) -> None:
    """A wait that runs out: WaitTimeoutError with .batches and .pending."""
    cloud.stop_progress()
    cloud.update_batch("bat-1", status="THROTTLED")
    cloud._batch_schedules.clear()
    async with BatchClient(KEY, base_url=cloud.url) as client:
        with pytest.raises(WaitTimeoutError, match="1 of 2 batches") as caught:
            await client.wait_for_batches(["bat-1", "bat-3"], poll_interval=0.02, timeout=0.2)
    assert caught.value.pending == ("bat-1",)
    assert caught.value.batches["bat-1"].status is BatchStatus.THROTTLED
    assert caught.value.jobs == {}


async def test_batch_polls_back_off_like_job_polls() -> None:
    """The shared core paces batch polls: x1.5 per quiet poll, capped at 4x, reset on change."""
    statuses = iter(["RUNNING"] * 6 + ["COMPLETED"])
    slept: list[float] = []

    async def get(batch_id: str) -> Batch | None:
        return batch(batch_id, next(statuses))

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    done = [b.id async for b in finished_batches(get, ("bat-x",), Pacing(1.0, sleep=sleep))]
    assert done == ["bat-x"]
    assert slept == [1.0, 1.5, 2.25, 3.375, 4.0, 4.0]


async def test_bad_wait_arguments_are_refused_at_the_call(cloud: FakeLlamaCloud) -> None:
    """A lone string, no ids, a bad interval or timeout: ValueError naming it, nothing sent."""
    async with BatchClient(KEY, base_url=cloud.url) as client:
        with pytest.raises(ValueError, match=r"^batch_ids must be a list"):
            await client.wait_for_batches("bat-1")
        with pytest.raises(ValueError, match=r"^batch_ids must name at least one batch id"):
            client.watch_batches([])
        with pytest.raises(ValueError, match=r"^poll_interval must be"):
            client.finished_batches(["bat-1"], poll_interval=0)
        with pytest.raises(ValueError, match=r"^timeout must be"):
            await client.wait_for_batches(["bat-1"], timeout=-1)
        with pytest.raises(ValueError, match=r"^expand_results must be True or False"):
            client.watch_batches(["bat-1"], expand_results="yes")  # type: ignore[arg-type]
    assert cloud.requests == []


async def test_a_deadline_found_passed_leaves_no_fetch_unawaited() -> None:
    """The deadline checked before a poll's fetches: no fetch coroutine is made and dropped."""
    ticks = itertools.count()  # each clock reading is one second later

    async def get(batch_id: str) -> Batch | None:
        return batch(batch_id, "RUNNING")

    pacing = Pacing(1.0, 1.5, clock=lambda: float(next(ticks)))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(WaitTimeoutError):
            async for _ in finished_batches(get, ("bat-x",), pacing):
                pass
        gc.collect()
    assert [str(w.message) for w in caught if "never awaited" in str(w.message)] == []
