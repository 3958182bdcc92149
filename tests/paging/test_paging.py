"""The walk state machine, driven without I/O by a simulated listing."""

from __future__ import annotations

import base64
from collections.abc import Callable

import attrs
import pytest
from helpers import ids
from hypothesis import given, settings
from hypothesis import strategies as st

from llama_batch_async import BatchJob, JobStatus, JobType, PaginationError
from llama_batch_async._convert import RawPage
from llama_batch_async._paging._cursor import PageRequest, decode_cursor
from llama_batch_async._paging._query import JobQuery, make_batch_query, make_query
from llama_batch_async._paging._walk import EMPTY_PAGE_LIMIT, RECENT_TOKENS, RecentTokens, Walk

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
    # offset | both | token-ignored | token-only | neither (what the server honours)
    kind: str = ""
    insert_between: int = 0  # jobs created at the head before each request after the first
    smallest_page: int = 1 << 30  # the shortest non-empty page served
    insert_for: int = 30  # ...for this many requests: creation that never stops never ends a walk
    requests: list[PageRequest] = attrs.field(factory=list)
    _created: int = 0

    def __attrs_post_init__(self) -> None:
        if not self.kind:
            self.kind = "both" if self.tokens else "offset"
        self.tokens = self.kind != "offset"

    def answer(self, request: PageRequest) -> RawPage[BatchJob]:
        if self.requests and self.insert_between and len(self.requests) <= self.insert_for:
            for _ in range(self.insert_between):
                self._created += 1
                self.jobs.insert(0, job(f"new-{self._created}"))
        self.requests.append(request)
        if request.token is not None and self.kind in {"both", "token-only"}:
            start = int(base64.b64decode(request.token.split(":")[0]))
        elif request.token is None and self.kind in {"offset", "both", "token-ignored"}:
            assert request.offset is not None
            start = request.offset
        else:
            start = 0  # the parameter sent is ignored: the first page again
        limit = request.limit if self.cap is None else min(request.limit, self.cap)
        items = self.jobs[start : start + limit]
        if items:
            self.smallest_page = min(self.smallest_page, len(items))
        end = start + len(items)
        token = None
        if self.tokens and end < len(self.jobs):
            # unique per page served, as a salted token would be
            token = base64.b64encode(str(end).encode()).decode() + f":{len(self.requests)}"
        total = {
            "exact": len(self.jobs),
            "none": None,
            "over": len(self.jobs) + 25,
            "under": max(0, len(self.jobs) // 2),
        }[self.total_size]
        return RawPage(items=items, next_page_token=token, total_size=total)


def run(walk: Walk[BatchJob], listing: Listing) -> list[BatchJob]:
    delivered: list[BatchJob] = []
    for _ in range(MAX_STEPS):
        request = walk.next_request()
        if request is None:
            return delivered
        delivered.extend(walk.feed(request, listing.answer(request)))
    raise AssertionError("walk did not end")


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


KINDS = ["offset", "both", "token-ignored", "token-only"]


@pytest.mark.parametrize("kind", ["both", "token-ignored"])
def test_walk_pages_by_offset_while_tokens_say_more_follow(kind: str) -> None:
    """Rule 2: a server honouring offset is walked by offset; its tokens only signal more."""
    listing = Listing([job(i) for i in range(30)], kind=kind, total_size="none")
    assert ids(run(Walk(query(10)), listing)) == ids(listing.jobs)
    assert [(r.offset, r.token) for r in listing.requests] == [(0, None), (10, None), (20, None)]


def test_missing_token_ends_the_walk_without_a_probe() -> None:
    """Rule 2: once tokens were sent, a page without one is the last, even a full one."""
    listing = Listing([job(i) for i in range(20)], kind="both", total_size="none")
    run(Walk(query(10)), listing)
    assert len(listing.requests) == 2


def test_server_ignoring_offset_is_walked_by_token_after_one_wasted_request() -> None:
    """Rule 2/6: offset ignored but tokens honoured: one wasted request, then the tokens."""
    listing = Listing([job(i) for i in range(35)], kind="token-only")
    walk = Walk(query(10))
    assert ids(run(walk, listing)) == ids(listing.jobs)
    assert len(listing.requests) == 5  # 4 pages + the one that came back as page 1
    assert [r.token is not None for r in listing.requests] == [False, False, True, True, True]


def test_server_ignoring_page_token_costs_no_request() -> None:
    """Rule 2: a server that sends tokens but ignores page_token walks without waste."""
    listing = Listing([job(i) for i in range(35)], kind="token-ignored", cap=7)
    assert ids(run(Walk(query(10)), listing)) == ids(listing.jobs)
    assert len(listing.requests) == 5


def test_token_request_answered_with_a_known_page_falls_back_to_offset() -> None:
    """Rule 2: a token request that brings back a page the walk has switches to offset."""
    walk = Walk(query(3))
    first = walk.next_request()
    assert first is not None
    page = [job(1), job(2), job(3)]
    walk.feed(first, RawPage(items=[], next_page_token="t0"))  # empty page + token: follow it
    request = walk.next_request()
    assert request == PageRequest(limit=3, offset=None, token="t0")
    walk.feed(request, RawPage(items=list(page), next_page_token="t1"))
    request = walk.next_request()
    assert request is not None
    assert request.token == "t1"
    walk.feed(request, RawPage(items=list(page), next_page_token="t2"))  # page_token ignored
    assert walk.next_request() == PageRequest(limit=3, offset=3, token=None)


def test_server_ignoring_offset_and_page_token_raises_quickly() -> None:
    """Rule 6: a server that ignores both parameters raises within four requests."""
    listing = Listing([job(i) for i in range(30)], kind="neither")
    with pytest.raises(PaginationError, match="already listed"):
        run(Walk(query(10)), listing)
    assert len(listing.requests) <= 4


def test_empty_page_with_token_is_followed_and_counted() -> None:
    """Rule 4: an empty offset page that comes with a token follows the token, counted."""
    walk = Walk(query(2))
    first = walk.next_request()
    assert first is not None
    walk.feed(first, RawPage(items=[], next_page_token="t1"))
    assert walk.anomalies == 1
    assert walk.next_request() == PageRequest(limit=2, offset=None, token="t1")


def test_total_size_beyond_the_last_token_page_is_checked_once() -> None:
    """Rule 4: no token but total_size says more: one more request, counted, then the end."""
    listing = Listing([job(i) for i in range(20)], kind="both", total_size="over")
    walk = Walk(query(10))
    assert ids(run(walk, listing)) == ids(listing.jobs)
    assert [r.offset for r in listing.requests] == [0, 10, 20]
    assert walk.anomalies == 1


def test_empty_pages_that_keep_promising_more_raise() -> None:
    """Rule 6: a long run of empty pages, each with a fresh token, raises PaginationError."""
    walk = Walk(query(5))
    with pytest.raises(PaginationError, match="empty pages"):
        for n in range(MAX_STEPS):
            request = walk.next_request()
            assert request is not None
            walk.feed(request, RawPage(items=[], next_page_token=f"t{n}"))
    assert walk.offset == 0


def test_short_page_with_token_is_a_cap_not_the_end() -> None:
    """Rule 4: a short page with a token is the server's cap; no probe request is needed."""
    listing = Listing([job(i) for i in range(23)], kind="both", cap=5, total_size="none")
    assert ids(run(Walk(query(10)), listing)) == ids(listing.jobs)
    assert [r.offset for r in listing.requests] == [0, 5, 10, 15, 20]


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
    """Rule 6: a token already followed ends the walk with PaginationError, after its page."""
    walk = Walk(query(1))
    for n, token in enumerate(["t0", "t1"]):
        request = walk.next_request()
        assert request is not None
        walk.feed(request, RawPage(items=[], next_page_token=token))
        assert walk.next_request() == PageRequest(limit=1, offset=None, token=token)
        follow = walk.next_request()
        assert follow is not None
        walk.feed(follow, RawPage(items=[job(n)], next_page_token=f"{token}x"))
    request = walk.next_request()
    assert request is not None
    # The page that repeats a token is delivered; the walk then ends with the error.
    assert walk.feed(request, RawPage(items=[job(9)], next_page_token="t0")) == [job(9)]
    assert walk.next_request() is None
    assert isinstance(walk.failure, PaginationError)
    assert "already sent" in str(walk.failure)


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
    # 5000: above list_jobs' bound (make_query refuses it), as a v2 walk may ask.
    walk = Walk(attrs.evolve(query(10), page_size=page_size))
    run(walk, Listing([job(i) for i in range(30_000)]))
    assert len(walk._recent) <= max(2048, 2 * page_size) + page_size


@pytest.mark.parametrize("max_items", [0, 1, 10, 25])
def test_max_items_asks_only_for_what_is_left(max_items: int) -> None:
    """The last request asks only for what max_items leaves, and no more is yielded."""
    listing = Listing([job(i) for i in range(100)])
    got = run(Walk(query(10, max_items=max_items)), listing)
    assert ids(got) == ids(listing.jobs[:max_items])
    assert sum(r.limit for r in listing.requests) == max_items


@pytest.mark.parametrize("pages_before", [1, 2])
@pytest.mark.parametrize("kind", KINDS)
def test_resume_continues_right_after_the_page(kind: str, pages_before: int) -> None:
    """Rule 8: a walk resumed from a position continues right after that page, on any kind."""
    jobs = [job(i) for i in range(35)]
    first = Walk(query(10))
    listing = Listing(list(jobs), kind=kind)
    head: list[BatchJob] = []
    while len(head) < 10 * pages_before:
        request = first.next_request()
        assert request is not None
        page = listing.answer(request)
        head.extend(first.feed(request, page))
    cursor = first.position(tuple(j.id for j in page.items)).encode()
    resumed = Walk(query(10), decode_cursor(cursor, query(10)))
    assert ids(head + run(resumed, Listing(list(jobs), kind=kind))) == ids(jobs)


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
    kind=st.sampled_from(KINDS),
    total_size=st.sampled_from(["exact", "none", "over"]),
    insert_between=st.integers(0, 3),
    max_items=st.none() | st.integers(0, 150),
)
def test_generated_servers_never_lose_repeat_or_loop(
    count: int,
    page_size: int,
    cap: int | None,
    kind: str,
    total_size: str,
    insert_between: int,
    max_items: int | None,
) -> None:
    """For generated server kinds and behaviours the walk ends, never repeats, never loses."""
    original = [job(i) for i in range(count)]
    listing = Listing(
        list(original),
        cap=cap,
        kind=kind,
        total_size=total_size,
        insert_between=insert_between,
    )
    try:
        got = ids(run(Walk(query(page_size, max_items=max_items)), listing))
    except PaginationError:
        # Only legitimate when jobs were created as fast as pages were read, or on
        # a server that ignores offset: it never sent a token to follow instead, or
        # its tokens (offsets, like the fake's) drift so that a token page held only
        # repeats, which is what a server ignoring page_token too would answer.
        never_sent_a_token = count <= min(page_size, cap or page_size)
        assert insert_between >= listing.smallest_page or (
            kind == "token-only"
            and (insert_between > 0 or (never_sent_a_token and total_size != "exact"))
        )
        return
    assert len(got) == len(set(got))
    if max_items is None:
        assert set(ids(original)) <= set(got)
    else:
        assert len(got) <= max_items
        if not insert_between:
            assert got == ids(original)[:max_items]


def test_end_contradicting_the_earlier_total_size_is_confirmed_once() -> None:
    """Rule 4: an empty page where earlier pages promised more is asked once more, then ends."""
    walk = Walk(query(10))
    first = walk.next_request()
    assert first is not None
    walk.feed(first, RawPage(items=[job(i) for i in range(10)], total_size=30))
    second = walk.next_request()
    assert second == PageRequest(limit=10, offset=10, token=None)
    walk.feed(second, RawPage(items=[], total_size=10))  # e.g. a stray response
    assert walk.next_request() == second
    assert walk.anomalies == 1
    walk.feed(second, RawPage(items=[], total_size=10))
    assert walk.next_request() is None


def test_token_memory_is_bounded() -> None:
    """Rule 7: the tokens a walk remembers are a window; the oldest are forgotten."""
    window = RecentTokens()
    for n in range(RECENT_TOKENS + 10):
        window.add(f"t{n}")
    assert "t0" not in window
    assert f"t{RECENT_TOKENS + 9}" in window
    assert len(window._seen) == RECENT_TOKENS


# ---------------------------------------------------------------- v2: token only


def batch_query(page_size: int = 10, max_items: int | None = None) -> JobQuery:
    return make_batch_query(
        status=None,
        project_id=None,
        organization_id=None,
        source_directory_id=None,
        created_after=None,
        created_before=None,
        page_size=page_size,
        max_items=max_items,
    )


def test_v2_walk_sends_neither_offset_nor_token_first_then_tokens() -> None:
    """A v2 walk asks page_size first, then follows each token; never an offset."""
    listing = Listing([job(i) for i in range(25)], kind="token-only")
    got = run(Walk(batch_query(10)), listing)
    assert ids(got) == ids(listing.jobs)
    assert listing.requests[0] == PageRequest(limit=10, offset=None, token=None)
    assert all(r.offset is None and r.token is not None for r in listing.requests[1:])


def test_v2_empty_page_with_token_is_not_the_end() -> None:
    """An empty page with a token is followed; the walk goes on to the items after it."""
    walk: Walk[BatchJob] = Walk(batch_query(5))
    first = walk.next_request()
    assert first is not None
    assert walk.feed(first, RawPage(items=[], next_page_token="t1")) == []
    second = walk.next_request()
    assert second == PageRequest(limit=5, offset=None, token="t1")
    assert ids(walk.feed(second, RawPage(items=[job(1)], next_page_token=None))) == ["job-1"]
    assert walk.next_request() is None


def test_v2_empty_pages_that_keep_promising_more_raise() -> None:
    """A run of EMPTY_PAGE_LIMIT empty pages, each with a fresh token: PaginationError."""
    walk: Walk[BatchJob] = Walk(batch_query(5))
    with pytest.raises(PaginationError, match="empty pages in a row"):
        for step in range(EMPTY_PAGE_LIMIT + 1):
            request = walk.next_request()
            assert request is not None
            walk.feed(request, RawPage(items=[], next_page_token=f"t{step}"))


def test_v2_repeated_token_raises() -> None:
    """A token the walk already followed is a PaginationError, not a loop."""
    walk: Walk[BatchJob] = Walk(batch_query(2))
    delivered = []
    for index, token in enumerate(["a", "b", "a"]):
        request = walk.next_request()
        assert request is not None
        delivered += walk.feed(request, RawPage(items=[job(index)], next_page_token=token))
    assert delivered == [job(0), job(1), job(2)]  # the page carrying the repeat too
    assert walk.next_request() is None
    assert walk.failure is not None
    assert "already sent" in str(walk.failure)


def test_v2_end_contradicted_by_total_size_is_asked_once_more() -> None:
    """No token while total_size says more: the same token is asked once more, then the end."""
    walk: Walk[BatchJob] = Walk(batch_query(2))
    first = walk.next_request()
    assert first is not None
    walk.feed(first, RawPage(items=[job(0), job(1)], next_page_token="t1", total_size=5))
    second = walk.next_request()
    assert second is not None
    walk.feed(second, RawPage(items=[job(2), job(3)], next_page_token=None, total_size=5))
    again = walk.next_request()
    assert again == second
    assert walk.anomalies == 1
    assert walk.feed(again, RawPage(items=[job(2), job(3)], next_page_token=None)) == []
    assert walk.next_request() is None


def test_v2_pages_of_repeats_raise_after_the_stall_limit() -> None:
    """Fresh tokens over pages of nothing new: PaginationError after a few, not a loop."""
    walk: Walk[BatchJob] = Walk(batch_query(2))
    with pytest.raises(PaginationError, match="only jobs already listed"):
        for step in range(10):
            request = walk.next_request()
            assert request is not None
            walk.feed(request, RawPage(items=[job(0), job(1)], next_page_token=f"t{step}"))


@pytest.mark.parametrize("pages_before", [1, 2, 4])
def test_v2_resume_continues_right_after_the_page(pages_before: int) -> None:
    """A v2 cursor resumes by its token, right after the page it was taken at."""
    listing = Listing([job(i) for i in range(45)], kind="token-only")
    walk: Walk[BatchJob] = Walk(batch_query(10))
    got: list[BatchJob] = []
    for _ in range(pages_before):
        request = walk.next_request()
        assert request is not None
        page = listing.answer(request)
        got += walk.feed(request, page)
    cursor = walk.position(tuple(ids(page.items))).encode()
    resumed: Walk[BatchJob] = Walk(batch_query(10), decode_cursor(cursor, batch_query(10)))
    assert ids(got + run(resumed, listing)) == ids(listing.jobs)


@settings(max_examples=150, deadline=None)
@given(
    count=st.integers(0, 120),
    page_size=st.integers(1, 30),
    cap=st.none() | st.integers(1, 30),
    total_size=st.sampled_from(["exact", "none", "over", "under"]),
    insert_between=st.integers(0, 3),
    max_items=st.none() | st.integers(0, 150),
)
def test_generated_v2_walks_never_lose_repeat_or_loop(
    count: int,
    page_size: int,
    cap: int | None,
    total_size: str,
    insert_between: int,
    max_items: int | None,
) -> None:
    """Generated token-only servers (caps, totals, batches created meanwhile): v2 walks hold."""
    original = [job(i) for i in range(count)]
    listing = Listing(
        list(original),
        cap=cap,
        kind="token-only",
        total_size=total_size,
        insert_between=insert_between,
    )
    try:
        got = ids(run(Walk(batch_query(page_size, max_items=max_items)), listing))
    except PaginationError:
        # Only when batches are created during the walk: this server's tokens are
        # offsets (as the v1 "token-only" kind's), so creation drifts each token's
        # page back onto batches already listed, and a few such pages in a row are
        # what a server looping its tokens would send (the same allowance as v1).
        assert insert_between > 0
        return
    assert len(got) == len(set(got))
    assert all(r.offset is None for r in listing.requests)
    if max_items is None:
        assert set(ids(original)) <= set(got)
    else:
        assert len(got) <= max_items
        if not insert_between:
            assert got == ids(original)[:max_items]


@settings(max_examples=150, deadline=None)
@given(
    count=st.integers(0, 90),
    page_size=st.integers(1, 20),
    cap=st.none() | st.integers(1, 20),
    total_size=st.sampled_from(["exact", "none", "over", "under"]),
    cuts=st.lists(st.tuples(st.integers(0, 6), st.integers(0, 40)), min_size=1, max_size=3),
)
def test_generated_v2_walks_cut_inside_a_page_resume_exactly(
    count: int,
    page_size: int,
    cap: int | None,
    total_size: str,
    cuts: list[tuple[int, int]],
) -> None:
    """Walks stopped inside a page (as a windowed max_items cuts one), resumed, again: exact."""
    original = [job(i) for i in range(count)]
    listing = Listing(list(original), cap=cap, kind="token-only", total_size=total_size)
    q = batch_query(page_size)
    got: list[BatchJob] = []
    start = None
    for pages_before, at in cuts:
        walk: Walk[BatchJob] = Walk(q, start)
        position = None
        for _ in range(pages_before + 1):
            request = walk.next_request()
            if request is None:
                break
            raw = listing.answer(request)
            fresh = walk.feed(request, raw)
            head = len(raw.items) - len(fresh)  # delivered before this walk (a cut's head)
            position = attrs.evolve(
                walk.position(tuple(ids(raw.items))), page_ids=tuple(ids(raw.items))
            )
            if len(fresh) > 1:
                # cut after `delivered` of the page's records, leaving at least one
                delivered = head + 1 + at % (len(fresh) - 1)
                got += fresh[: delivered - head]
                position = position.cut(delivered)
                break
            got += fresh
        if position is None:
            break
        start = decode_cursor(position.encode(), q)
    rest = [] if start is None else run(Walk(q, start), listing)
    assert ids(got + rest) == ids(original)
