"""The walk state machine, driven without I/O by a simulated listing."""

from __future__ import annotations

import base64
from collections.abc import Callable

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llama_batch_async import BatchJob, JobStatus, JobType, PaginationError
from llama_batch_async._convert import RawPage
from llama_batch_async._paging import PageRequest, Walk
from llama_batch_async._query import JobQuery, decode_cursor, make_query

MAX_STEPS = 10_000


def job(index: int | str) -> BatchJob:
    return BatchJob(
        id=f"job-{index}",
        job_type=JobType.PARSE,
        project_id="proj-1",
        status=JobStatus.RUNNING,
        total_items=1,
    )


def query(page_size: int = 10, max_items: int | None = None, offset: int = 0) -> JobQuery:
    return make_query(
        directory_id=None,
        job_type=None,
        status=None,
        project_id=None,
        organization_id=None,
        page_size=page_size,
        offset=offset,
        max_items=max_items,
    )


@attrs.define
class Listing:
    """A simulated server: what a page request gets back, with configurable quirks."""

    jobs: list[BatchJob]
    cap: int | None = None
    total_size: str = "exact"  # exact | none | over | under
    tokens: bool = False
    insert_between: int = 0  # jobs created at the head before each request after the first
    smallest_page: int = 1 << 30  # the shortest non-empty page served
    insert_for: int = 30  # ...for this many requests: creation that never stops never ends a walk
    requests: list[PageRequest] = attrs.field(factory=list)
    _created: int = 0

    def answer(self, request: PageRequest) -> RawPage:
        if self.requests and self.insert_between and len(self.requests) <= self.insert_for:
            for _ in range(self.insert_between):
                self._created += 1
                self.jobs.insert(0, job(f"new-{self._created}"))
        self.requests.append(request)
        if request.token is not None:
            start = int(base64.b64decode(request.token))
        else:
            assert request.offset is not None
            start = request.offset
        limit = request.limit if self.cap is None else min(request.limit, self.cap)
        items = self.jobs[start : start + limit]
        if items:
            self.smallest_page = min(self.smallest_page, len(items))
        end = start + len(items)
        token = None
        if self.tokens and end < len(self.jobs):
            token = base64.b64encode(str(end).encode()).decode()
        total = {
            "exact": len(self.jobs),
            "none": None,
            "over": len(self.jobs) + 25,
            "under": max(0, len(self.jobs) // 2),
        }[self.total_size]
        return RawPage(items=items, next_page_token=token, total_size=total)


def run(walk: Walk, listing: Listing) -> list[BatchJob]:
    delivered: list[BatchJob] = []
    for _ in range(MAX_STEPS):
        request = walk.next_request()
        if request is None:
            return delivered
        delivered.extend(walk.feed(request, listing.answer(request)))
    raise AssertionError("walk did not end")


def ids(jobs: list[BatchJob]) -> list[str]:
    return [j.id for j in jobs]


@pytest.mark.parametrize("total_size", ["exact", "none", "over", "under"])
@pytest.mark.parametrize("tokens", [False, True], ids=["offset", "token"])
@pytest.mark.parametrize("cap", [None, 7], ids=["uncapped", "capped"])
@pytest.mark.parametrize("count", [0, 1, 9, 10, 11, 70, 73])
def test_every_job_exactly_once(count: int, cap: int | None, tokens: bool, total_size: str) -> None:
    """Offset or token paging, capped or not, with any total_size: every job once, in order."""
    jobs = [job(i) for i in range(count)]
    listing = Listing(list(jobs), cap=cap, tokens=tokens, total_size=total_size)
    if cap is not None and total_size == "under" and not tokens:
        # An underestimating total_size with a capped server: trusting the short
        # page plus total_size is the documented choice, so only check no repeats.
        got = run(Walk(query(10)), listing)
        assert len(set(ids(got))) == len(got)
        return
    assert ids(run(Walk(query(10)), listing)) == ids(jobs)


def test_first_request_sends_limit_and_offset() -> None:
    """Rule 1: every request sends limit; an offset walk sends the offset."""
    walk = Walk(query(25, offset=5))
    assert walk.next_request() == PageRequest(limit=25, offset=5, token=None)


def test_token_request_omits_offset() -> None:
    """Rule 2: after a token, requests send page_token and limit, not offset."""
    listing = Listing([job(i) for i in range(30)], tokens=True)
    walk = Walk(query(10))
    run(walk, listing)
    assert listing.requests[0].offset == 0
    assert all(r.offset is None and r.token for r in listing.requests[1:])


def test_empty_token_ends_token_walk() -> None:
    """Rule 2: once paging by token, an empty token ends the walk even on a full page."""
    walk = Walk(query(2))
    first = walk.next_request()
    assert first is not None
    walk.feed(first, RawPage(items=[job(1), job(2)], next_page_token="t1"))
    second = walk.next_request()
    assert second is not None
    assert second.token == "t1"
    walk.feed(second, RawPage(items=[job(3), job(4)], next_page_token=""))
    assert walk.next_request() is None


def test_offset_advances_by_items_received() -> None:
    """Rule 3: the next offset is the previous offset plus the items received."""
    walk = Walk(query(10, offset=4))
    request = walk.next_request()
    assert request is not None
    walk.feed(request, RawPage(items=[job(i) for i in range(10)]))
    assert walk.next_request() == PageRequest(limit=10, offset=14, token=None)


def test_short_first_page_without_total_size_probes_once() -> None:
    """Rule 4: a short first page with no total_size is confirmed by one more request."""
    listing = Listing([job(i) for i in range(5)], total_size="none")
    assert ids(run(Walk(query(10)), listing)) == ids(listing.jobs)
    assert [r.offset for r in listing.requests] == [0, 5]


def test_short_page_after_full_pages_ends_without_probe() -> None:
    """Rule 4: after full pages, a short page is the end: the server does not cap."""
    listing = Listing([job(i) for i in range(15)], total_size="none")
    assert ids(run(Walk(query(10)), listing)) == ids(listing.jobs)
    assert [r.offset for r in listing.requests] == [0, 10]


def test_short_page_with_total_size_ends_without_probe() -> None:
    """Rule 4: a short page ends the walk when total_size agrees none remain."""
    listing = Listing([job(i) for i in range(15)], total_size="exact")
    run(Walk(query(10)), listing)
    assert [r.offset for r in listing.requests] == [0, 10]


def test_cap_is_learned_and_costs_no_extra_request() -> None:
    """Rule 4: a server cap is learned from the probe; the walk then ends on a shorter page."""
    listing = Listing([job(i) for i in range(23)], cap=5, total_size="none")
    assert ids(run(Walk(query(10)), listing)) == ids(listing.jobs)
    assert [r.offset for r in listing.requests] == [0, 5, 10, 15, 20]


def test_total_size_never_ends_a_walk_alone() -> None:
    """Rule 5: full pages keep a walk going even when total_size says it is over."""
    listing = Listing([job(i) for i in range(40)], total_size="under")
    assert ids(run(Walk(query(10)), listing)) == ids(listing.jobs)


def test_repeated_token_raises() -> None:
    """Rule 6: a token already seen in this walk raises PaginationError."""
    walk = Walk(query(1))
    for n in range(2):
        request = walk.next_request()
        assert request is not None
        walk.feed(request, RawPage(items=[job(n)], next_page_token="same" if n else "t0"))
    request = walk.next_request()
    assert request is not None
    with pytest.raises(PaginationError, match="already sent"):
        walk.feed(request, RawPage(items=[job(9)], next_page_token="t0"))


def test_server_ignoring_offset_raises() -> None:
    """Rule 6: pages of nothing but already-seen ids raise instead of looping."""
    walk = Walk(query(3))
    page = [job(1), job(2), job(3)]
    with pytest.raises(PaginationError, match="already listed"):
        for _ in range(MAX_STEPS):
            request = walk.next_request()
            assert request is not None
            walk.feed(request, RawPage(items=list(page)))


@pytest.mark.parametrize("inserted", [1, 3, 5])
def test_offset_drift_yields_each_job_once(inserted: int) -> None:
    """Rule 7: jobs pushed into the next page by new ones are yielded once."""
    original = [job(i) for i in range(50)]
    listing = Listing(list(original), insert_between=inserted, total_size="none")
    got = ids(run(Walk(query(10)), listing))
    assert len(got) == len(set(got))
    assert set(ids(original)) <= set(got)


@pytest.mark.parametrize("page_size", [10, 1000, 5000])
def test_drift_window_is_bounded(page_size: int) -> None:
    """Rule 7: the repeat window stays bounded (2048 ids, or two pages if larger)."""
    walk = Walk(query(page_size))
    run(walk, Listing([job(i) for i in range(30_000)]))
    assert len(walk._window) <= max(2048, 2 * page_size) + page_size


@pytest.mark.parametrize("max_items", [0, 1, 10, 25])
def test_max_items_asks_only_for_what_is_left(max_items: int) -> None:
    """The last request asks only for what max_items leaves, and no more is yielded."""
    listing = Listing([job(i) for i in range(100)])
    got = run(Walk(query(10, max_items=max_items)), listing)
    assert ids(got) == ids(listing.jobs[:max_items])
    assert sum(r.limit for r in listing.requests) == max_items


@pytest.mark.parametrize("tokens", [False, True], ids=["offset", "token"])
def test_resume_continues_right_after_the_page(tokens: bool) -> None:
    """Rule 8: a walk resumed from a position continues right after that page."""
    jobs = [job(i) for i in range(35)]
    first = Walk(query(10))
    listing = Listing(list(jobs), tokens=tokens)
    head: list[BatchJob] = []
    for _ in range(2):
        request = first.next_request()
        assert request is not None
        page = listing.answer(request)
        head.extend(first.feed(request, page))
    cursor = first.position(tuple(j.id for j in page.items)).encode()
    resumed = Walk(query(10), decode_cursor(cursor, query(10)))
    assert ids(head + run(resumed, Listing(list(jobs), tokens=tokens))) == ids(jobs)


def test_resume_drops_jobs_that_drifted_past_the_cursor() -> None:
    """Rule 7 across a resume: ids of the last page are remembered in the cursor."""
    jobs = [job(i) for i in range(30)]
    walk = Walk(query(10))
    request = walk.next_request()
    assert request is not None
    page = RawPage(items=jobs[:10])
    walk.feed(request, page)
    cursor = walk.position(tuple(j.id for j in page.items)).encode()
    drifted = [job("new"), job("new2"), *jobs]  # two jobs created since the cursor
    resumed = Walk(query(10), decode_cursor(cursor, query(10)))
    assert ids(run(resumed, Listing(drifted))) == ids(jobs[10:])


Behaviour = Callable[[int], int]


@settings(max_examples=150, deadline=None)
@given(
    count=st.integers(0, 120),
    page_size=st.integers(1, 30),
    cap=st.none() | st.integers(1, 30),
    tokens=st.booleans(),
    total_size=st.sampled_from(["exact", "none", "over"]),
    insert_between=st.integers(0, 3),
    max_items=st.none() | st.integers(0, 150),
)
def test_generated_servers_never_lose_repeat_or_loop(
    count: int,
    page_size: int,
    cap: int | None,
    tokens: bool,
    total_size: str,
    insert_between: int,
    max_items: int | None,
) -> None:
    """For generated server behaviours the walk ends, never repeats, never loses a job."""
    original = [job(i) for i in range(count)]
    listing = Listing(
        list(original),
        cap=cap,
        tokens=tokens,
        total_size=total_size,
        insert_between=insert_between if not tokens else 0,
    )
    try:
        got = ids(run(Walk(query(page_size, max_items=max_items)), listing))
    except PaginationError:
        # Only legitimate when jobs were created as fast as pages were read.
        assert insert_between >= listing.smallest_page
        return
    assert len(got) == len(set(got))
    if max_items is None:
        assert set(ids(original)) <= set(got)
    else:
        assert len(got) <= max_items
        if not insert_between:
            assert got == ids(original)[:max_items]
