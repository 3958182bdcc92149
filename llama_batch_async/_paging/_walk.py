"""The walk as a pure state machine: position + page -> items to yield, next position.

No I/O and no loop here. `Walk.next_request` says what to ask for next (or
None when the walk is over); `Walk.feed` takes the page that came back and
returns the jobs to yield. The rules are the spec's pagination contract; each
branch cites the one it implements. Below the walk, its bounded memories
(`RecentIds` of recent ids, `RecentTokens` of recent tokens) and its loop
guards (`LoopGuard`: a repeated token, stalls, empty runs, one probe per
position), which keep a broken server's paging from looping us.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import Generic, TypeVar

from llama_batch_async._convert import RawPage
from llama_batch_async._errors import PaginationError
from llama_batch_async._models import Batch, BatchItem, BatchJob

from ._cursor import Cursor, PageRequest, Position, id_digest
from ._query import JobQuery

__all__ = [
    "EMPTY_PAGE_LIMIT",
    "RECENT_IDS",
    "RECENT_TOKENS",
    "STALL_LIMIT",
    "LoopGuard",
    "RecentIds",
    "RecentTokens",
    "Walk",
]

_Item = TypeVar("_Item", BatchJob, Batch, BatchItem)


# The bounded memories: flat however long the walk.

# The fewest recent ids remembered for dropping repeats: drift of up to this many
# jobs created during one walk is absorbed whatever the page size.
RECENT_IDS = 2048

# The page tokens remembered to detect a cycle. Memory stays bounded on an
# endless walk; a cycle longer than this is caught by the stall rule instead.
RECENT_TOKENS = 4096


class RecentTokens:
    """The page tokens of the latest pages, bounded: enough to catch a cycle."""

    def __init__(self) -> None:
        self._order: deque[str] = deque()
        self._seen: set[str] = set()

    def __contains__(self, token: str) -> bool:
        return token in self._seen

    def add(self, token: str) -> None:
        """Remember ``token``, forgetting the oldest beyond `RECENT_TOKENS`."""
        self._order.append(token)
        self._seen.add(token)
        if len(self._order) > RECENT_TOKENS:
            self._seen.discard(self._order.popleft())


class RecentIds:
    """The ids of the latest pages, to yield a job repeated across pages once.

    Args:
        page_size: The walk's page size: the memory keeps at least two pages.
        tail: Digests of the last ids before a resume (from the cursor), checked
            against the first page after it.
    """

    def __init__(self, page_size: int, tail: Iterable[str] = ()) -> None:
        self._ids: set[str] = set()
        self._pages: deque[list[str]] = deque()
        self._cap = max(2 * page_size, RECENT_IDS)
        self._tail: frozenset[str] = frozenset(tail)

    def __len__(self) -> int:
        return len(self._ids)

    def drop_repeats(self, items: list[_Item]) -> list[_Item]:
        """The jobs of ``items`` not seen recently (nor twice in ``items``)."""
        # spec: pagination 7 - items repeated across adjacent pages are yielded once.
        # The memory holds the ids of the latest pages, at least RECENT_IDS of them
        # and at least two pages, so memory stays bounded on any walk; each page
        # records the ids it added, so evicting a page removes exactly those.
        ids = [job.id for job in items]
        recent = self._ids
        fresh: list[_Item] | None = None
        if not self._tail:
            # perf: docs/benchmarks.md, "this client / floor" rows and the profile's
            # _drop_repeats - a page that repeats nothing but its head (drift, or the
            # one-job overlap of a prefetched page) costs one set update, no set built.
            head = 0
            while head < len(ids) and ids[head] in recent:
                head += 1
            rest = ids[head:] if head else ids
            if recent.isdisjoint(rest):
                before = len(recent)
                recent.update(rest)
                if len(recent) - before == len(rest):
                    fresh, new_ids = (items[head:] if head else items), rest
                else:
                    recent.difference_update(rest)  # the page repeats an id within itself
        if fresh is None:
            seen = set()
            fresh = []
            for job in items:
                if job.id in recent or job.id in seen:
                    continue
                if self._tail and id_digest(job.id) in self._tail:
                    continue
                seen.add(job.id)
                fresh.append(job)
            if items:
                self._tail = frozenset()
            new_ids = [job_id for job_id in dict.fromkeys(ids) if job_id not in recent]
            recent.update(new_ids)
        self._pages.append(new_ids)
        while len(recent) > self._cap and len(self._pages) > 2:
            recent.difference_update(self._pages.popleft())
        return fresh


# The loop guards.

# Pages in a row that bring nothing new before the walk is declared stuck. One
# such page happens legitimately when more jobs are created between two requests
# than a page holds (offset drift); a server that ignores `offset` repeats forever.
STALL_LIMIT = 3

# Empty pages in a row that still promise more (a fresh page token each time)
# before the walk is declared stuck. A filtered scan may legitimately answer a
# few empty pages with a continuation token; an endless run is a broken server.
EMPTY_PAGE_LIMIT = 10


class LoopGuard:
    """The counters and memories one walk keeps against endless paging.

    Args:
        token: The page token a resumed walk starts from, when it pages by
            token: remembered, so the server sending it again is a loop.
    """

    def __init__(self, token: str | None = None) -> None:
        self.seen_tokens = RecentTokens()
        if token is not None:
            self.seen_tokens.add(token)
        self.stalls = 0
        self.empty_run = 0
        self.replay = 0  # repeats expected from a re-asked page (token-only probe)
        self.probed_at: int | None = None  # where total_size last made the walk ask again

    def remember_token(self, token: str) -> None:
        """Note ``token`` as followed; `PaginationError` when it was already."""
        if token in self.seen_tokens:
            raise PaginationError(
                "the server sent a page token it had already sent in this walk; "
                "following it would loop"
            )
        self.seen_tokens.add(token)

    def count_repeats(self, count: int, *, repeats_only: bool, offset: int) -> None:
        """Count a page of ``count`` items that brought nothing new (``repeats_only``).

        Raises:
            PaginationError: `STALL_LIMIT` such pages in a row.
        """
        if repeats_only and self.replay >= count:
            # A page re-asked to confirm an end (v2) brings back what the walk has:
            # up to the re-asked page's length of repeats is expected, not a stall.
            self.replay -= count
        elif repeats_only:
            # spec: pagination 6 - a server that ignores offset must not loop us
            self.stalls += 1
            if self.stalls >= STALL_LIMIT:
                raise PaginationError(
                    f"{self.stalls} pages in a row held only jobs already listed "
                    f"(last at offset {offset}): the server ignores offset and "
                    "page_token, or jobs are being created as fast as the walk reads them"
                )
        else:
            self.stalls = 0
            self.replay = 0

    def count_empty_run(self, count: int, token: str | None, *, offset: int) -> None:
        """Count a page of ``count`` items that came with ``token``.

        Raises:
            PaginationError: `EMPTY_PAGE_LIMIT` empty pages with a token in a row.
        """
        if count or token is None:
            self.empty_run = 0
            return
        # spec: pagination 6 - empty pages that keep promising more must end
        self.empty_run += 1
        if self.empty_run >= EMPTY_PAGE_LIMIT:
            raise PaginationError(
                f"{self.empty_run} empty pages in a row each promised more "
                f"(last at offset {offset}): the server's paging is broken"
            )

    def probe(self, offset: int) -> bool:
        """Ask once more where the walk stands, at most once per position."""
        if self.probed_at == offset:
            return False
        self.probed_at = offset
        return True


class Walk(Generic[_Item]):
    """The state of one walk over the listing.

    A walk pages by ``offset``, the parameter the reference documents, which
    every server it describes honours, so that prefetching can guess ahead and
    a resumed walk starts where it should. A ``next_page_token``, when sent, is
    the signal that more pages follow. The walk follows the token instead only
    when the server turns out to ignore ``offset`` (an offset request brings
    back only jobs the walk already has) or answers an empty page with a token;
    and it returns to offset if the server ignores ``page_token`` too.

    A token-only listing (v2 batches, ``query.endpoint.token_only``) has no offset: its
    walk is token-only from the first request, and the rules that apply to
    tokens (a repeated token, empty pages that promise more, pages of repeats,
    an end that ``total_size`` contradicts) apply unchanged.

    Args:
        query: The validated query.
        start: A decoded resume cursor, or None to start at ``query.offset``.
    """

    def __init__(self, query: JobQuery, start: Cursor | None = None) -> None:
        self.query = query
        self.offset = start.offset if start else query.offset
        self.token = start.token if start else None
        self.delivered = 0
        self._skipped = self.offset  # jobs before the walk's start (offset, or resume)
        self.done = query.max_items == 0
        self.total_size: int | None = None
        self.anomalies = 0  # pages whose paging signals disagreed
        self.anomaly: str | None = None  # what the latest one was
        self.cut_inside = False  # the latest page was cut short by max_items
        # A failure found in a page whose records are still delivered (a repeated
        # token): the pager raises it once that page is out.
        self.failure: PaginationError | None = None
        # A cursor says "by token" only once its walk saw the server honour tokens.
        self._by_token = start is not None and start.by_token
        self._token_works: bool | None = True if self._by_token else None
        self._offset_works: bool | None = None
        self._tokens_seen = self.token is not None
        # Bounds on a server whose paging never ends: tokens seen, stalls, empty runs, probes.
        self._guard = LoopGuard(self.token if self._by_token else None)
        # Ids of the latest pages: where offset drift repeats items.
        self._recent = RecentIds(query.page_size, start.tail if start else ())
        self._last_id: str | None = None  # the last job of the latest non-empty page
        self._head_id: str | None = None  # the first job of the walk's first non-empty page
        self._short_page: int | None = None  # length of a short page awaiting a probe
        self._cap: int | None = None  # the server's confirmed limit cap
        self._sized = False  # seen a full page: the server's page size is known
        # v2: the listing pages by token only; the first request sends none.
        self._token_only = query.endpoint.token_only
        # A cursor inside a page (cut by a windowed walk's max_items): the page its
        # token names is asked again, and its first `skip` records were delivered.
        # The tail's ids drop the last of them wherever the page now has them (a
        # batch removed meanwhile shifts it); only those beyond the tail go by position.
        inside = start is not None and start.skip > 0
        self._skip = max(0, start.skip - len(start.tail)) if start is not None else 0
        self._asked: str | None = None  # the token of the latest page's request
        if self._token_only:
            self._by_token = True
            self._token_works = True
            if start is not None and start.token is None and not inside:
                self.done = True  # the cursor of the last page: nothing follows it

    @property
    def _reached(self) -> int:
        """Jobs of the listing this walk has passed: skipped at the start, then yielded."""
        return self._skipped + self.delivered

    @property
    def by_token(self) -> bool:
        """True when the next request sends ``page_token`` rather than ``offset``."""
        return self._by_token

    def next_request(self) -> PageRequest | None:
        """The next page to ask for, or None when the walk is over."""
        if self.done:
            return None
        limit = self.query.page_size
        if self.query.max_items is not None:
            # spec: pagination 1 - the last request asks only for what is left
            limit = min(limit, self.query.max_items - self.delivered)
        if self._by_token:
            # spec: pagination 2 - token pages send the filters and limit, no offset
            return PageRequest(limit=limit, offset=None, token=self.token)
        return PageRequest(limit=limit, offset=self.offset, token=None)

    def speculate(self, after: PageRequest, ahead: int) -> PageRequest | None:
        """A guess at the page after ``after``, for prefetching; None when unsafe.

        Only an offset request can be guessed past: the guess assumes ``after``
        comes back full and asks from one job before where the next page would
        start. That overlap lets the pager check the guess (the job must
        reappear) before using it. No guess reaches past a known ``total_size``
        (a hint, so it only saves requests, it never ends the walk).

        Args:
            after: The last request in flight.
            ahead: How many requests are in flight already, ``after`` included.
        """
        if self.done or self._by_token or after.offset is None:
            return None
        step = min(after.limit, self._cap) if self._cap is not None else after.limit
        if step < 2:
            return None  # an overlap of one job would leave no room to progress
        start = after.offset + step - 1
        if self.total_size is not None and start + 1 >= self.total_size:
            return None
        limit = self.query.page_size
        if self.query.max_items is not None:
            left = self.query.max_items - self.delivered - ahead * step
            if left <= 0:
                return None
            # spec: pagination 1 - ask only for what max_items leaves (+1: the overlap)
            limit = min(limit, left + 1)
        return PageRequest(limit=limit, offset=start, token=None)

    def accepts(self, sent: PageRequest, page: RawPage[_Item]) -> bool:
        """True when ``page``, the answer to ``sent``, may be fed to the walk.

        The answer to the walk's own next request always may; a guess from
        `speculate` only when it holds the last job of the page before it (the
        overlap it asked for), which proves the listing did not move and the
        server honoured the offset.
        """
        if sent == self.next_request():
            return True
        last = self._last_id
        return last is not None and any(job.id == last for job in page.items)

    def fits(self, guess: PageRequest) -> bool:
        """True when ``guess`` (from `speculate`) starts where the walk now stands.

        That is one job before the walk's offset: the previous page came back
        full, as the guess assumed.
        """
        return not self._by_token and guess.offset is not None and guess.offset == self.offset - 1

    def position(self, tail_ids: tuple[str, ...] = ()) -> Position:
        """The current position, to resume right after what was delivered.

        The cursor resumes by token only when this walk saw the server honour
        tokens; otherwise by offset, which every kind of server the reference
        describes honours, with the latest token kept in case it does not.
        """
        return Position(
            query=self.query,
            offset=self.offset,
            token=self.token,
            tail_ids=tail_ids,
            by_token=self._by_token and bool(self._token_works),
            asked=self._asked,
        )

    def feed(self, request: PageRequest, page: RawPage[_Item]) -> list[_Item]:
        """Advance past ``page`` (the answer to ``request``) and return the jobs to yield.

        Args:
            request: The request this page answers.
            page: The structured response.

        Raises:
            PaginationError: The server repeated a page token, sent pages of
                nothing but jobs already yielded several times in a row, or
                kept answering empty pages that promise more.
        """
        items = page.items
        self._asked = request.token
        count = len(items)
        if self._serves_the_head_again(request, items):
            # spec: pagination 6 - the first job of this walk's first page came back
            # in a later page asked by offset: the server ignored the offset and served
            # the head of the listing again. Drift cannot do that unless jobs are
            # created as fast as the walk reads them; what precedes that job in the
            # page was created meanwhile, and what follows it the walk has.
            fresh: list[_Item] = []
        else:
            fresh = self._recent.drop_repeats(items)
        if self._skip:
            # The cursor was cut inside this page: its head was delivered before
            # (the memory still holds its ids, so a re-asked page repeats them).
            head = {job.id for job in items[: self._skip]}
            fresh = [job for job in fresh if job.id not in head]
            self._skip = 0
        if items:
            self._last_id = items[-1].id
        repeats_only = count > 0 and not fresh
        self._guard.count_repeats(count, repeats_only=repeats_only, offset=self.offset)
        self.cut_inside = False
        if self.query.max_items is not None:
            left = self.query.max_items - self.delivered
            # max_items ends the walk inside this page (a server that serves more
            # than was asked): the cursor must resume at the cut, not after the page.
            self.cut_inside = len(fresh) > left
            fresh = fresh[:left]
        self.delivered += len(fresh)
        promised = self.total_size  # what the pages before this one said
        if page.total_size is not None:
            self.total_size = page.total_size
        token = page.next_page_token or None
        self._guard.count_empty_run(count, token, offset=self.offset)
        self._advance(request, page, token, count, repeats_only=repeats_only, promised=promised)
        if self.query.max_items is not None and self.delivered >= self.query.max_items:
            self.done = True
        return fresh

    def _advance(
        self,
        request: PageRequest,
        page: RawPage[_Item],
        token: str | None,
        count: int,
        *,
        repeats_only: bool,
        promised: int | None,
    ) -> None:
        """The next position after a page, by the rules of how it was asked for."""
        if self._token_only:
            self._after_token_only_page(page, token, count)
        elif request.token is not None:
            self._after_token_page(page, token, count, repeats_only=repeats_only)
        else:
            self._after_offset_page(request, page, token, count, repeats_only=repeats_only)
            if self.done and promised is not None and promised > self.offset:
                self._confirm_end(promised)

    def _after_token_only_page(self, page: RawPage[_Item], token: str | None, count: int) -> None:
        self.offset = self._reached  # batches passed: for messages and the probe
        if self.query.max_items is not None and self.delivered >= self.query.max_items:
            # spec: pagination 1 - max_items reached: the walk's bound ends it, whatever
            # the token says; the cursor keeps the token to resume from.
            self.token = token
            self.done = True
            return
        if token is not None:
            # spec: pagination 6 - a token already seen would loop: PaginationError.
            # An empty page with a token is not the end (EMPTY_PAGE_LIMIT bounds a run).
            self._follow(token)
            return
        if self._more_by_size(page, count) and self._probe():
            # spec: pagination 4 - an end that total_size contradicts is asked once
            # more, with the same token; a page of repeats then changes nothing.
            self._anomaly(
                f"the server sent no page token but total_size {page.total_size} says "
                f"more than {self.offset} batches remain: asking once more"
            )
            self._guard.replay = count
            return
        # spec: pagination 2 - no token: the last page
        self.token = None
        self.done = True

    def _serves_the_head_again(self, request: PageRequest, items: list[_Item]) -> bool:
        # perf: once a later page by offset brought new jobs, the server honours offset;
        # the scan then stops (docs/benchmarks.md, the walk's own time in the profile).
        if not items or request.offset is None or self._offset_works:
            return False
        head = self._head_id
        if head is None:
            self._head_id = items[0].id
            return False
        return any(job.id == head for job in items)

    def _probe(self) -> bool:
        """Ask once more where the walk stands, at most once per position."""
        return self._guard.probe(self.offset)

    def _confirm_end(self, promised: int) -> None:
        # spec: pagination 4 - an end that the earlier pages' total_size contradicts
        # is confirmed by one more request at the same position. It also defends
        # against a stray response (a proxy's, a buggy server's) taken as this page.
        if self._probe():
            self._anomaly(
                f"a page ended the walk at offset {self.offset}, but the page before said "
                f"total_size {promised}: asking once more"
            )
            self.done = False

    def _anomaly(self, reason: str) -> None:
        # spec: pagination 4 - where signals disagree, lose nothing and count it
        self.anomalies += 1
        self.anomaly = reason

    def _follow(self, token: str) -> None:
        """Page by ``token`` next, unless it would loop.

        A token seen before ends the walk, but after the page that carried it:
        what is new on that page is delivered, and `failure` is raised by the
        pager once it has (issue 24.6: the page's new records were lost before),
        with a cursor naming the token, right after the page.
        """
        self.token = token
        self._by_token = True
        try:
            self._guard.remember_token(token)
        except PaginationError as exc:
            self.failure = exc
            self.done = True

    def _after_token_page(
        self, page: RawPage[_Item], token: str | None, count: int, *, repeats_only: bool
    ) -> None:
        if repeats_only:
            if self._offset_works is False:
                # spec: pagination 6 - neither parameter moves this server's listing
                raise PaginationError(
                    "the server ignores offset, and the page token brought back only "
                    "jobs already listed: the server ignores page_token too, or jobs are "
                    "being created as fast as the walk reads them"
                )
            # spec: pagination 2 - the token request brought back a page the walk
            # already has: the server ignores page_token. Walk by offset from here,
            # from where the walk stands (this page did not move it).
            self._token_works = False
            self._by_token = False
            return
        if count:
            self._token_works = True
        self.offset += count
        if token is not None:
            self._tokens_seen = True
            self._follow(token)
            return
        # spec: pagination 2 - once paging by token, no token means the end
        if self._offset_works is not False and self._more_by_size(page, count) and self._probe():
            self._anomaly(
                f"the server sent no page token but total_size {page.total_size} says "
                f"more than {self.offset} jobs remain: asking once more by offset"
            )
            self._by_token = False
            return
        self.done = True

    def _more_by_size(self, page: RawPage[_Item], count: int) -> bool:
        """True when total_size says more remain after a non-empty page."""
        return count > 0 and page.total_size is not None and page.total_size > self.offset

    def _after_offset_page(
        self,
        request: PageRequest,
        page: RawPage[_Item],
        token: str | None,
        count: int,
        *,
        repeats_only: bool,
    ) -> None:
        # A prefetched page may start one job before the walk's offset (its overlap).
        assert request.offset is not None  # noqa: S101 - an offset request by construction
        self.offset = request.offset + count
        if count and not repeats_only and request.offset > 0:
            self._offset_works = True
        if (
            repeats_only
            and not self._offset_works
            and self._token_works is not False
            and self.token is not None
        ):
            # spec: pagination 6 - a page of repeats by offset while a token is in
            # hand: the server may ignore offset; follow the last fresh page's token
            # (a costly drift looks the same, and the token serves it as well).
            self._offset_works = False
            self._by_token = True
            return
        if repeats_only and page.total_size is not None and page.total_size <= self._reached:
            # A page that brought nothing new while total_size says the walk has had
            # every job: together (never total_size alone) they end the walk.
            self.done = True
            return
        if token is not None:
            self._offset_page_with_token(request, token, count, repeats_only=repeats_only)
        elif self._tokens_seen:
            # spec: pagination 2 - once the server has sent tokens, a page without
            # one is the last, unless total_size says more remain.
            if not repeats_only and self._more_by_size(page, count) and self._probe():
                self._anomaly(
                    f"the server sent no page token but total_size {page.total_size} "
                    f"says more than {self.offset} jobs remain: asking once more"
                )
            else:
                self.done = True
        else:
            self._offset_page_without_tokens(request, page, count, repeats_only=repeats_only)

    def _offset_page_with_token(
        self, request: PageRequest, token: str, count: int, *, repeats_only: bool
    ) -> None:
        self._tokens_seen = True
        if count == 0:
            self._anomaly(
                f"an empty page at offset {request.offset} came with a page token: "
                "following the token"
            )
            if self._token_works is False:
                self.done = True  # the server ignores page_token: nothing left to ask
            else:
                self._follow(token)
            return
        if repeats_only:
            return  # drift: the token still says more follow
        self.token = token
        # spec: pagination 4 - a page with a token is never the last, however
        # short: a short one shows the server's cap, with no probe needed.
        if count < request.limit:
            self._cap = count if self._cap is None else max(self._cap, count)
        self._sized = True
        self._short_page = None

    def _offset_page_without_tokens(
        self, request: PageRequest, page: RawPage[_Item], count: int, *, repeats_only: bool
    ) -> None:
        # spec: pagination 3 - otherwise the next offset is offset + len(items)
        if count == 0:
            # spec: pagination 4 - an empty page ends an offset walk
            self.done = True
        elif count >= request.limit or (self._cap is not None and count >= self._cap):
            # A full page: the server does not cap below what we ask (or we know its cap).
            self._sized = True
            self._short_page = None
        elif repeats_only:
            # A short page of repeats says nothing about a cap. It is the listing's end
            # seen again after drift once the server's page size is known, or when it
            # is shorter than the short page it probes (so it cannot be a capped page).
            self.done = self._sized or (self._short_page is not None and count < self._short_page)
        elif page.total_size is not None:
            # spec: pagination 4/5 - total_size may keep a walk going, never end it alone
            self.done = page.total_size <= self.offset or not self._probe()
        elif self._sized:
            # The server has answered full pages: this short one is the last.
            self.done = True
        elif self._short_page is not None:
            # The probe after a short first page brought items: that page was the
            # server's cap. A page shorter than the cap is the last one.
            self._cap = self._short_page
            self._sized = True
            self._short_page = None
            self.done = count < self._cap
        else:
            # spec: pagination 4 - a short first page may be the server capping
            # `limit`; without total_size only one more request tells, so ask (an
            # empty answer ends the walk). A cap must never silently end a walk.
            self._short_page = count
