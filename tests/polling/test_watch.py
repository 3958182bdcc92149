"""wait_for_jobs and watch_jobs: scripted walks with a fake clock, and end to end."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import sys
import time
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, TypeVar

import pytest

from llama_batch_async import (
    BatchClient,
    BatchJob,
    JobEvent,
    JobNotFoundError,
    JobPage,
    JobStatus,
    JobType,
    LlamaBatchError,
    ServerError,
    WaitTimeoutError,
)
from llama_batch_async._http._limiter import LocalLimiter
from llama_batch_async._polling._jobs import poll_events, poll_until_terminal
from llama_batch_async._polling._poller import MISSING_GRACE_WALKS, Pacing
from llama_batch_async.testing import FakeLlamaCloud, make_job, make_jobs

T = TypeVar("T")

TERMINAL = {"completed", "failed", "cancelled"}
ACTIVE = {"pending", "dispatched", "running"}
# With FakeLlamaCloud(seed=0), this job's progress schedule ends in "failed".
FAILING_ID = "bjb-wait-04"
LIMIT = 10.0  # seconds any end-to-end loop in this module may take


# ---------------------------------------------------------------- helpers


def in_flight_jobs(n: int = 12) -> list[dict[str, Any]]:
    """Jobs in flight with fixed ids, so their progress schedules are reproducible."""
    return [
        make_job(id=f"bjb-wait-{i:02d}", status="pending" if i % 2 else "running") for i in range(n)
    ]


def client_for(cloud: FakeLlamaCloud, **options: Any) -> BatchClient:
    return BatchClient("sk-watch-test", base_url=cloud.url, **options)


async def bounded(awaitable: Awaitable[T], seconds: float = LIMIT) -> T:
    return await asyncio.wait_for(awaitable, seconds)


async def until(condition: Callable[[], bool], seconds: float = LIMIT) -> None:
    """Poll a condition every 5 ms, for at most ``seconds``."""

    async def loop() -> None:
        while not condition():
            await asyncio.sleep(0.005)

    await bounded(loop(), seconds)


def job(job_id: str, status: str = "running", processed: int = 0) -> BatchJob:
    return BatchJob(
        id=job_id,
        job_type=JobType.PARSE,
        project_id="proj-1",
        status=JobStatus(status),
        total_items=10,
        processed_items=processed,
    )


class _Position:
    def encode(self) -> str:
        return ""


def page(*jobs: BatchJob) -> JobPage:
    return JobPage(
        items=jobs, next_page_token=None, total_size=None, offset=0, position=_Position()
    )


Walk = Sequence[JobPage | BaseException]


class ScriptedWalks:
    """Serves one scripted walk per call (the last one repeats) and records their fate."""

    def __init__(self, *walks: Walk) -> None:
        self.walks = list(walks)
        self.started = 0
        self.closed = 0
        self.pages_served = 0

    def __call__(self) -> AsyncIterator[JobPage]:
        steps = self.walks[min(self.started, len(self.walks) - 1)]
        self.started += 1
        return self._walk(steps)

    async def _walk(self, steps: Walk) -> AsyncIterator[JobPage]:
        try:
            for step in steps:
                if isinstance(step, BaseException):
                    raise step
                self.pages_served += 1
                yield step
        finally:
            self.closed += 1


class FakeTime:
    """A clock that only moves when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.now += seconds

    def pacing(
        self,
        poll_interval: float,
        timeout: float | None = None,
        *,
        gate: LocalLimiter | None = None,
        grace_walks: int = MISSING_GRACE_WALKS,
    ) -> Pacing:
        """Polls paced on this clock: sleeps recorded, never waited."""
        return Pacing(poll_interval, timeout, gate, self.sleep, self.clock, grace_walks)


# ---------------------------------------------------------------- wait: the loop


async def test_wait_backs_off_while_nothing_changes_and_resets_on_change() -> None:
    """Quiet polls stretch the interval x1.5 up to x4; a changed record resets it."""
    quiet = [page(job("a", processed=1))]
    walks = ScriptedWalks(
        *([quiet] * 6),
        [page(job("a", processed=5))],
        [page(job("a", "completed", processed=10))],
    )
    fake = FakeTime()
    result = await poll_until_terminal(walks, ("a",), fake.pacing(1.0))
    assert result["a"].status == JobStatus.COMPLETED
    assert fake.sleeps == [1.0, 1.5, 2.25, 3.375, 4.0, 4.0, 1.0]
    assert walks.started == walks.closed == 8


async def test_wait_stops_walking_once_every_pending_id_was_seen() -> None:
    """A poll ends (and closes its walk) on the page where the last pending id shows up."""
    walks = ScriptedWalks(
        [page(job("x"), job("a", "completed")), page(job("b", "failed")), page(job("y"))]
    )
    fake = FakeTime()
    result = await poll_until_terminal(walks, ("b", "a"), fake.pacing(1.0))
    assert list(result) == ["b", "a"]
    assert walks.pages_served == 2
    assert walks.closed == 1
    assert fake.sleeps == []


async def test_wait_never_polls_before_the_clients_rate_limit_pause_ends() -> None:
    """While the client is paused by a 429, the next poll waits out the pause."""
    fake = FakeTime()
    gate = LocalLimiter(clock=fake.clock)
    gate.pause(30.0)
    walks = ScriptedWalks([page(job("a"))], [page(job("a", "cancelled"))])
    await poll_until_terminal(
        walks,
        ("a",),
        fake.pacing(1.0, gate=gate),
    )
    assert fake.sleeps == [30.0]


async def test_wait_deadline_cuts_the_last_sleep_short_then_raises() -> None:
    """The last sleep ends at the deadline; the error carries the records and the pending ids."""
    walks = ScriptedWalks([page(job("a"), job("b", "completed"))])
    fake = FakeTime()
    with pytest.raises(WaitTimeoutError) as caught:
        await poll_until_terminal(
            walks,
            ("a", "b", "c"),
            fake.pacing(1.0, 10.0, grace_walks=100),
        )
    assert fake.sleeps == [1.0, 1.5, 2.25, 3.375, 1.875]
    error = caught.value
    assert error.pending == ("a", "c")
    assert list(error.jobs) == ["a", "b"]
    assert error.timeout == 10.0
    assert "2 of 3 jobs" in str(error)


@pytest.mark.parametrize(
    ("walks", "raises_after"),
    [
        ([[page(job("a"))]], 3),  # never listed
        ([[page(job("a"), job("b"))], [page(job("a"))]], 4),  # listed once, then gone
        ([[page(job("a"))], [page(job("a"))], [page(job("b", "completed"), job("a"))]], None),
    ],
    ids=["never-listed", "vanished", "late-within-grace"],
)
async def test_wait_gives_absent_ids_two_extra_walks(
    walks: list[Walk], raises_after: int | None
) -> None:
    """An id absent from three complete walks in a row is reported missing; a late one is not."""
    script = ScriptedWalks(*walks)
    fake = FakeTime()
    run = poll_until_terminal(script, ("a", "b"), fake.pacing(1.0, 60.0))
    if raises_after is None:
        with pytest.raises(WaitTimeoutError) as timed_out:
            await run
        assert timed_out.value.pending == ("a",)
        return
    with pytest.raises(JobNotFoundError) as caught:
        await run
    assert caught.value.missing == ("b",)
    assert "a" in caught.value.jobs
    assert script.started == raises_after
    assert "b" in str(caught.value)


async def test_wait_lets_a_failed_walk_propagate() -> None:
    """A walk that fails for good ends the wait with the pager's error."""
    walks = ScriptedWalks([page(job("a")), ServerError("HTTP 503", status_code=503)])
    fake = FakeTime()
    with pytest.raises(ServerError):
        await poll_until_terminal(walks, ("a", "b"), fake.pacing(1.0))
    assert walks.closed == 1


@pytest.mark.skipif(sys.version_info < (3, 13), reason="3.13 warns of a dropped anext()")
async def test_a_deadline_found_passed_leaves_no_page_request_unawaited() -> None:
    """The deadline checked before each page: no ``anext(walk)`` is made and dropped."""
    ticks = itertools.count()  # each clock reading is one second later
    walks = ScriptedWalks([page(job("a")), page(job("b"))])
    pacing = Pacing(1.0, 1.5, clock=lambda: float(next(ticks)))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(WaitTimeoutError):
            await poll_until_terminal(walks, ("a", "b"), pacing)
        gc.collect()
    assert [str(w.message) for w in caught if "never awaited" in str(w.message)] == []
    assert (walks.started, walks.pages_served) == (1, 0)  # the walk made, no page asked


# ---------------------------------------------------------------- wait: end to end


async def test_wait_returns_the_final_record_of_every_job() -> None:
    """Jobs in flight all finish: one final record per id, in order, as the server has it."""
    jobs = in_flight_jobs()
    ids = [item["id"] for item in jobs]
    others = make_jobs(20, seed=5)  # listed too, progressing, but not waited for
    async with (
        FakeLlamaCloud(jobs=[*jobs, *others], progress=True, progress_seconds=0.5) as cloud,
        client_for(cloud) as client,
    ):
        result = await bounded(client.wait_for_jobs(ids, poll_interval=0.05, timeout=LIMIT))
    assert list(result) == ids
    assert all(record.is_terminal for record in result.values())
    assert {k: v.to_dict() for k, v in result.items()} == {i: cloud.get_job(i) for i in ids}


async def test_wait_reports_failures_in_the_final_records() -> None:
    """A job that fails is returned like the others, its status and error message final."""
    jobs = in_flight_jobs(6)
    ids = [FAILING_ID, "bjb-wait-01", "bjb-wait-02"]
    async with (
        FakeLlamaCloud(jobs=jobs, progress=True, progress_seconds=0.5) as cloud,
        client_for(cloud) as client,
    ):
        result = await bounded(client.wait_for_jobs(ids, poll_interval=0.05))
    failed = result[FAILING_ID]
    assert failed.status == JobStatus.FAILED
    assert failed.error_message
    assert failed.failed_items
    assert failed.to_dict() == cloud.get_job(FAILING_ID)
    assert [r.status for r in result.values()][1:] == [JobStatus.COMPLETED] * 2


async def test_wait_times_out_with_what_it_saw() -> None:
    """Jobs still running at the deadline: WaitTimeoutError, a TimeoutError, with records."""
    jobs = [
        make_job(id="bjb-slow-1", status="pending"),
        make_job(id="bjb-slow-2", status="running"),
        make_job(id="bjb-done", status="completed"),
    ]
    ids = [j["id"] for j in jobs]
    async with (
        FakeLlamaCloud(jobs=jobs, progress=True, progress_seconds=60.0) as cloud,
        client_for(cloud) as client,
    ):
        started = time.monotonic()
        with pytest.raises(TimeoutError) as caught:
            await bounded(client.wait_for_jobs(ids, poll_interval=0.05, timeout=0.3))
        elapsed = time.monotonic() - started
    error = caught.value
    assert isinstance(error, WaitTimeoutError)
    assert isinstance(error, LlamaBatchError)
    assert 0.25 < elapsed < 1.5
    assert error.pending == ("bjb-slow-1", "bjb-slow-2")
    assert list(error.jobs) == ids
    assert error.jobs["bjb-done"].status == JobStatus.COMPLETED
    assert not error.jobs["bjb-slow-1"].is_terminal
    assert len(cloud.requests) >= 3


async def test_wait_deadline_cancels_a_walk_in_flight() -> None:
    """A walk still waiting for the server at the deadline is abandoned at once."""
    async with (
        FakeLlamaCloud(jobs=[make_job(id="bjb-1", status="running")]) as cloud,
        client_for(cloud) as client,
    ):
        cloud.delay_next(5.0)
        started = time.monotonic()
        with pytest.raises(WaitTimeoutError) as caught:
            await bounded(client.wait_for_jobs(["bjb-1"], timeout=0.2))
        assert time.monotonic() - started < 1.0
    assert caught.value.jobs == {}
    assert caught.value.pending == ("bjb-1",)


async def test_wait_with_zero_timeout_sends_nothing() -> None:
    """timeout=0 has no time for a poll: it raises at once, before any request."""
    async with FakeLlamaCloud(jobs=3) as cloud, client_for(cloud) as client:
        with pytest.raises(WaitTimeoutError):
            await client.wait_for_jobs([cloud.jobs[0]["id"]], timeout=0)
        assert cloud.requests == []


async def test_wait_names_ids_that_never_appear() -> None:
    """Unknown ids: JobNotFoundError naming them after three polls that answered 404."""
    async with FakeLlamaCloud(jobs=10) as cloud, client_for(cloud) as client:
        known = next(j["id"] for j in cloud.jobs if j["status"] in TERMINAL)
        with pytest.raises(JobNotFoundError) as caught:
            await bounded(client.wait_for_jobs(["bjb-nope", known], poll_interval=0.01))
        # Per id: both ids, then the missing one twice more (its grace); no walk.
        asked = [r.path.rpartition("/")[2] for r in cloud.requests]
        assert sorted(asked[:2]) == sorted(["bjb-nope", known])
        assert asked[2:] == ["bjb-nope", "bjb-nope"]
    assert caught.value.missing == ("bjb-nope",)
    assert list(caught.value.jobs) == [known]
    assert "bjb-nope" in str(caught.value)


async def test_wait_finds_a_job_listed_after_the_first_poll() -> None:
    """A just-created job that is listed a poll late is still waited for."""
    async with FakeLlamaCloud(jobs=5) as cloud, client_for(cloud) as client:
        waiting = asyncio.ensure_future(
            client.wait_for_jobs(["bjb-late"], poll_interval=0.05, timeout=LIMIT)
        )
        await until(lambda: len(cloud.requests) >= 1)
        cloud.insert_jobs([make_job(id="bjb-late", status="completed")])
        result = await bounded(waiting)
    assert result["bjb-late"].status == JobStatus.COMPLETED


async def test_wait_stops_the_walk_at_the_page_of_the_last_id() -> None:
    """Against a server that caps pages at 10, ids in the first two pages take two requests."""
    async with FakeLlamaCloud(jobs=60, max_limit=10) as cloud, client_for(cloud) as client:
        for index in (3, 12):
            cloud.jobs[index]["status"] = "cancelled"
        ids = [cloud.jobs[12]["id"], cloud.jobs[3]["id"]]
        result = await bounded(client.wait_for_jobs(ids))
        assert len(cloud.requests) == 2
    assert list(result) == ids


async def test_wait_survives_faults_mid_poll() -> None:
    """A 503 in the middle of a later walk is retried by the pager; the wait succeeds."""
    jobs = in_flight_jobs()
    ids = [item["id"] for item in jobs]
    async with (
        # progress takes 3 s, so the wait is still polling when the faults are queued
        FakeLlamaCloud(jobs=jobs, progress=True, progress_seconds=3.0, max_limit=5) as cloud,
        client_for(cloud) as client,
    ):
        waiting = asyncio.ensure_future(client.wait_for_jobs(ids, poll_interval=0.05))
        await until(lambda: len(cloud.requests) >= 4)
        cloud.fail_next(503, retry_after="0", times=2)
        result = await bounded(waiting)
    assert sum(r.fault is not None for r in cloud.requests) == 2
    assert all(record.is_terminal for record in result.values())
    assert {k: v.to_dict() for k, v in result.items()} == {i: cloud.get_job(i) for i in ids}


@pytest.mark.parametrize("while_", ["sleeping", "walking"])
async def test_wait_cancels_promptly_and_sends_nothing_after(while_: str) -> None:
    """Cancelling the waiting task ends it at once, between polls or mid-request."""
    async with (
        FakeLlamaCloud(jobs=in_flight_jobs(3), progress=True, progress_seconds=60.0) as cloud,
        client_for(cloud) as client,
    ):
        if while_ == "walking":
            cloud.delay_next(30.0)
        # The walking case also has a deadline: the walk then runs under asyncio.wait_for.
        timeout = LIMIT if while_ == "walking" else None
        task = asyncio.ensure_future(
            client.wait_for_jobs(["bjb-wait-00"], poll_interval=0.05, timeout=timeout)
        )
        await until(lambda: len(cloud.requests) >= (1 if while_ == "walking" else 2))
        await asyncio.sleep(0.01)
        started = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await bounded(task)
        assert time.monotonic() - started < 0.5
        sent = len(cloud.requests)
        await asyncio.sleep(0.2)
        assert len(cloud.requests) == sent


@pytest.mark.parametrize(
    ("job_ids", "options", "name"),
    [
        ([], {}, "job_ids"),
        ([""], {}, "job_ids"),
        (["bjb-1", "  "], {}, "job_ids"),
        ("bjb-1", {}, "job_ids"),
        (["bjb-1"], {"poll_interval": 0}, "poll_interval"),
        (["bjb-1"], {"poll_interval": -1.0}, "poll_interval"),
        (["bjb-1"], {"poll_interval": float("nan")}, "poll_interval"),
        (["bjb-1"], {"timeout": -0.5}, "timeout"),
        (["bjb-1"], {"timeout": float("nan")}, "timeout"),
        (["bjb-1"], {"project_id": ""}, "project_id"),
        (["bjb-1"], {"directory_id": "  "}, "directory_id"),
    ],
)
async def test_wait_refuses_bad_input_before_any_request(
    job_ids: Any, options: dict[str, Any], name: str
) -> None:
    """Bad arguments: ValueError naming the parameter, and nothing sent."""
    async with FakeLlamaCloud(jobs=3) as cloud, client_for(cloud) as client:
        with pytest.raises(ValueError, match=name):
            await client.wait_for_jobs(job_ids, **options)
        assert cloud.requests == []


# ---------------------------------------------------------------- finished_jobs


async def test_finished_jobs_yields_each_job_once_as_it_finishes() -> None:
    """Every id is yielded once, terminal, as the server has it; the first before the last ends."""
    jobs = in_flight_jobs()
    ids = [item["id"] for item in jobs]
    others = make_jobs(20, seed=5)  # listed too, progressing, but not waited for
    async with (
        FakeLlamaCloud(jobs=[*jobs, *others], progress=True, progress_seconds=1.0) as cloud,
        client_for(cloud) as client,
    ):
        yielded: list[BatchJob] = []
        still_running_at_first = 0

        async def consume() -> None:
            nonlocal still_running_at_first
            async with contextlib.aclosing(
                client.finished_jobs([*ids, ids[0]], poll_interval=0.05, timeout=LIMIT)
            ) as finished:
                async for record in finished:
                    if not yielded:
                        still_running_at_first = sum(
                            cloud.get_job(i)["status"] in ACTIVE for i in ids
                        )
                    yielded.append(record)

        await bounded(consume())
        final = {i: cloud.get_job(i) for i in ids}
    assert sorted(record.id for record in yielded) == sorted(ids)  # the repeat id once
    assert all(record.is_terminal for record in yielded)
    assert {record.id: record.to_dict() for record in yielded} == final
    assert still_running_at_first > 0  # yielded as they finish, not all at the end


async def test_finished_jobs_checks_arguments_at_the_call_and_sends_nothing() -> None:
    """A bad argument is a ValueError from finished_jobs itself; nothing is sent."""
    async with FakeLlamaCloud(jobs=3) as cloud, client_for(cloud) as client:
        with pytest.raises(ValueError, match="job_ids"):
            client.finished_jobs([])
        with pytest.raises(ValueError, match="poll_interval"):
            client.finished_jobs(["bjb-1"], poll_interval=0)
        with pytest.raises(ValueError, match="timeout"):
            client.finished_jobs(["bjb-1"], timeout=-1)
        finished = client.finished_jobs(["bjb-1"])
        await finished.aclose()
        assert cloud.requests == []


async def test_finished_jobs_closed_early_stops_polling() -> None:
    """Closing the iterator after the first job ends the polls: no request after it."""
    jobs = in_flight_jobs(4)
    async with (
        FakeLlamaCloud(jobs=jobs, progress=True, progress_seconds=1.0) as cloud,
        client_for(cloud) as client,
    ):
        ids = [item["id"] for item in jobs]
        finished = client.finished_jobs(ids, poll_interval=0.05, timeout=LIMIT)
        first = await bounded(anext(finished))
        await finished.aclose()
        sent = len(cloud.requests)
        await asyncio.sleep(0.2)
        assert len(cloud.requests) == sent
    assert first.id in ids
    assert first.is_terminal


async def test_finished_jobs_timeout_names_only_the_jobs_not_yielded() -> None:
    """At the deadline, WaitTimeoutError.pending holds the ids not yielded, in order."""
    jobs = [
        make_job(id="bjb-slow-1", status="pending"),
        make_job(id="bjb-done", status="completed"),
        make_job(id="bjb-slow-2", status="running"),
    ]
    async with (
        FakeLlamaCloud(jobs=jobs, progress=True, progress_seconds=60.0) as cloud,
        client_for(cloud) as client,
    ):
        yielded: list[str] = []
        with pytest.raises(WaitTimeoutError) as caught:
            finished = client.finished_jobs(
                [j["id"] for j in jobs], poll_interval=0.05, timeout=0.3
            )
            async with contextlib.aclosing(finished):
                async for record in finished:
                    yielded.append(record.id)
    assert yielded == ["bjb-done"]
    assert caught.value.pending == ("bjb-slow-1", "bjb-slow-2")


# ---------------------------------------------------------------- watch: the loop


async def test_watch_diffs_only_complete_walks() -> None:
    """A walk that fails part way yields no false removals; its error propagates."""
    walks = ScriptedWalks(
        [page(job("a"), job("b")), page(job("c"))],
        [page(job("a", processed=3)), ServerError("HTTP 503", status_code=503)],
    )
    fake = FakeTime()
    events: list[JobEvent] = []
    with pytest.raises(ServerError):
        async for event in poll_events(walks, fake.pacing(1.0)):
            events.append(event)
    assert [(e.kind, e.job.id) for e in events] == [("added", "a"), ("added", "b"), ("added", "c")]
    assert walks.closed == 2


async def test_watch_diff_kinds_and_backoff() -> None:
    """Each kind between polls (changed carries the previous record); quiet polls back off."""
    a0, a1, b, c = job("a"), job("a", processed=4), job("b"), job("c")
    walks = ScriptedWalks([page(a0, b)], [page(a0, b)], [page(c, a1)], [page(c, a1)])
    fake = FakeTime()
    events: list[JobEvent] = []
    gen = poll_events(walks, fake.pacing(2.0))
    async with contextlib.aclosing(gen):
        async for event in gen:
            events.append(event)
            if len(events) == 5:
                break
    assert events == [
        JobEvent("added", a0),
        JobEvent("added", b),
        JobEvent("added", c),
        JobEvent("changed", a1, a0),
        JobEvent("removed", b),
    ]
    assert fake.sleeps == [2.0, 3.0]
    assert walks.started == walks.closed == 3


# ---------------------------------------------------------------- watch: end to end


async def test_watch_yields_exactly_the_transitions_that_happened() -> None:
    """Replaying the events rebuilds the server's final state; each job reaches its end once."""
    jobs = in_flight_jobs()
    async with (
        FakeLlamaCloud(jobs=jobs, progress=True, progress_seconds=0.5) as cloud,
        client_for(cloud) as client,
    ):
        events: list[JobEvent] = []
        state: dict[str, BatchJob] = {}

        async def consume() -> None:
            async with contextlib.aclosing(client.watch_jobs(poll_interval=0.05)) as watch:
                async for event in watch:
                    events.append(event)
                    assert event.previous == state.get(event.job.id)
                    state[event.job.id] = event.job
                    if len(state) == len(jobs) and all(j.is_terminal for j in state.values()):
                        break

        await bounded(consume())
    assert {k: v.to_dict() for k, v in state.items()} == {j["id"]: j for j in cloud.jobs}
    assert {e.kind for e in events} <= {"added", "changed"}
    assert len({(e.kind, e.job) for e in events}) == len(events)
    started_active = {e.job.id for e in events if e.kind == "added" and not e.job.is_terminal}
    assert started_active
    for job_id in started_active:
        into_terminal = [
            e for e in events if e.job.id == job_id and e.kind == "changed" and e.job.is_terminal
        ]
        assert len(into_terminal) == 1
        assert into_terminal[0].previous is not None
        assert not into_terminal[0].previous.is_terminal
    assert state[FAILING_ID].status == JobStatus.FAILED


async def test_watch_reports_jobs_leaving_the_status_filter_as_removed() -> None:
    """Watching status="running", a job that completes or fails is removed, last seen running."""
    async with (
        FakeLlamaCloud(jobs=in_flight_jobs(), progress=True, progress_seconds=0.5) as cloud,
        client_for(cloud) as client,
    ):
        events: list[JobEvent] = []
        present: set[str] = set()

        async def consume() -> None:
            watch = client.watch_jobs(status="running", poll_interval=0.05)
            async with contextlib.aclosing(watch):
                async for event in watch:
                    events.append(event)
                    if event.kind == "removed":
                        present.discard(event.job.id)
                    else:
                        present.add(event.job.id)

        # A job may finish between two polls without being seen running, so no
        # event marks the end: stop once the server has settled and the watch
        # has removed every job it saw running.
        consuming = asyncio.ensure_future(consume())
        try:
            await until(lambda: all(j["status"] in TERMINAL for j in cloud.jobs))
            await until(lambda: not present)
        finally:
            consuming.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await bounded(consuming)
    removed = [e for e in events if e.kind == "removed"]
    assert removed
    assert all(e.job.status == JobStatus.RUNNING and e.previous is None for e in removed)
    assert all(cloud.get_job(e.job.id)["status"] in TERMINAL for e in removed)
    assert all(e.job.status == JobStatus.RUNNING for e in events)
    added = [e.job.id for e in events if e.kind == "added"]
    assert sorted(added) == sorted(e.job.id for e in removed)


async def test_watch_without_initial_reports_only_later_changes() -> None:
    """initial=False: the first poll is silent; later adds, changes and removals come."""
    async with FakeLlamaCloud(jobs=5) as cloud, client_for(cloud) as client:
        first, second = cloud.jobs[0]["id"], cloud.jobs[1]["id"]
        events: list[JobEvent] = []

        async def consume() -> None:
            watch = client.watch_jobs(poll_interval=0.05, initial=False)
            async with contextlib.aclosing(watch):
                async for event in watch:
                    events.append(event)
                    if len(events) == 3:
                        break

        consuming = asyncio.ensure_future(consume())
        await until(lambda: len(cloud.requests) >= 1)
        old_status = cloud.get_job(first)["status"]
        new_status = "failed" if old_status == "cancelled" else "cancelled"
        cloud.update_job(first, status=new_status, error_message="stopped by test")
        cloud.insert_jobs([make_job(id="bjb-new", status="pending")])
        cloud.remove_jobs(second)
        await bounded(consuming)
    assert [(e.kind, e.job.id) for e in events] == [
        ("added", "bjb-new"),
        ("changed", first),
        ("removed", second),
    ]
    changed = events[1]
    assert changed.job.status == new_status
    assert changed.previous is not None
    assert changed.previous.status == old_status
    assert events[2].job.id == second


async def test_watch_survives_a_fault_mid_walk_without_false_events() -> None:
    """A retried 503 mid-walk changes nothing: the only event is the real change."""
    async with FakeLlamaCloud(jobs=25) as cloud, client_for(cloud) as client:
        target = cloud.jobs[20]["id"]
        watch = client.watch_jobs(page_size=10, poll_interval=0.02)
        async with contextlib.aclosing(watch):
            initial = [await bounded(anext(watch)) for _ in range(25)]
            cloud.delay_next(0.0)  # the next walk's first page is served as usual ...
            cloud.fail_next(503, retry_after="0")  # ... and its second page fails once
            cloud.update_job(target, workflow_id="wf-changed-by-test")
            event = await bounded(anext(watch))
    assert {e.kind for e in initial} == {"added"}
    assert (event.kind, event.job.id) == ("changed", target)
    assert event.job.workflow_id == "wf-changed-by-test"
    assert any(r.fault is not None and r.fault.kind == "status" for r in cloud.requests)


async def test_watch_error_after_retries_propagates_without_removals() -> None:
    """With no retries left, a mid-walk failure ends the watch with the error, no removals."""
    async with (
        FakeLlamaCloud(jobs=25) as cloud,
        client_for(cloud, max_retries=0) as client,
    ):
        watch = client.watch_jobs(page_size=10, poll_interval=0.02)
        events: list[JobEvent] = []
        with pytest.raises(ServerError):
            async with contextlib.aclosing(watch):
                for _ in range(25):
                    events.append(await bounded(anext(watch)))
                cloud.delay_next(0.0)
                cloud.fail_next(503)
                events.append(await bounded(anext(watch)))
    assert len(events) == 25
    assert all(e.kind == "added" for e in events)


async def test_closing_the_watch_stops_polling() -> None:
    """Nothing is sent before iteration, and nothing after aclose() or a closed break."""
    async with FakeLlamaCloud(jobs=3) as cloud, client_for(cloud) as client:
        watch = client.watch_jobs(poll_interval=0.01)
        await asyncio.sleep(0.05)
        assert cloud.requests == []
        await bounded(anext(watch))
        await watch.aclose()
        sent = len(cloud.requests)
        await asyncio.sleep(0.1)
        assert len(cloud.requests) == sent

        async with contextlib.aclosing(client.watch_jobs(poll_interval=0.01)) as again:
            async for _event in again:
                break
        sent = len(cloud.requests)
        await asyncio.sleep(0.1)
        assert len(cloud.requests) == sent


@pytest.mark.parametrize(
    ("options", "name"),
    [
        ({"poll_interval": 0}, "poll_interval"),
        ({"poll_interval": float("inf")}, "poll_interval"),
        ({"status": "finished"}, "status"),
        ({"job_type": "index"}, "job_type"),
        ({"page_size": 0}, "page_size"),
        ({"organization_id": ""}, "organization_id"),
        ({"initial": "yes"}, "initial"),
    ],
)
async def test_watch_refuses_bad_input_at_the_call(options: dict[str, Any], name: str) -> None:
    """Bad arguments: ValueError from watch_jobs itself, before any iteration or request."""
    async with FakeLlamaCloud(jobs=3) as cloud, client_for(cloud) as client:
        with pytest.raises(ValueError, match=name):
            client.watch_jobs(**options)
        assert cloud.requests == []
