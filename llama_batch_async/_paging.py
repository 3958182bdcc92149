"""The walk as a pure state machine: position + page -> items to yield, next position.

No I/O and no loop here. `Walk.next_request` says what to ask for next (or
None when the walk is over); `Walk.feed` takes the page that came back and
returns the jobs to yield. The rules are the spec's pagination contract; each
branch cites the one it implements.
"""

from __future__ import annotations

from collections import deque
from typing import NamedTuple

import attrs

from ._convert import RawPage
from ._errors import PaginationError
from ._models import BatchJob
from ._query import Cursor, JobQuery, encode_cursor, id_digest

__all__ = ["PageRequest", "Position", "Walk"]

# Pages in a row that bring nothing new before the walk is declared stuck. One
# such page happens legitimately when more jobs are created between two requests
# than a page holds (offset drift); a server that ignores `offset` repeats forever.
_STALL_LIMIT = 3

# The fewest recent ids remembered for dropping repeats: drift of up to this many
# jobs created during one walk is absorbed whatever the page size.
_WINDOW_IDS = 2048


class PageRequest(NamedTuple):
    """What to ask the server for: ``limit`` and either ``offset`` or ``page_token``."""

    limit: int
    offset: int | None
    token: str | None


@attrs.frozen(slots=True)
class Position:
    """Where a walk stands after a page; encodes to a `JobPage.cursor` on demand."""

    query: JobQuery
    offset: int
    token: str | None
    tail_ids: tuple[str, ...]

    def encode(self) -> str:
        """The opaque cursor text for `list_jobs(resume_from=...)`."""
        return encode_cursor(
            self.query, offset=self.offset, token=self.token, tail_ids=self.tail_ids
        )


class Walk:
    """The state of one walk over the listing.

    Args:
        query: The validated query.
        start: A decoded resume cursor, or None to start at ``query.offset``.
    """

    def __init__(self, query: JobQuery, start: Cursor | None = None) -> None:
        self.query = query
        self.offset = start.offset if start else query.offset
        self.token = start.token if start else None
        self.delivered = 0
        self.done = query.max_items == 0
        self.total_size: int | None = None
        self._by_token = self.token is not None
        self._seen_tokens: set[str] = set() if self.token is None else {self.token}
        # Ids of the latest pages: the window in which offset drift repeats items.
        self._window: set[str] = set()
        self._window_pages: deque[set[str]] = deque()
        self._window_cap = max(2 * query.page_size, _WINDOW_IDS)
        self._resume_tail: frozenset[str] = frozenset(start.tail) if start else frozenset()
        self._stalls = 0
        self._short_page: int | None = None  # length of a short page awaiting a probe
        self._cap: int | None = None  # the server's confirmed limit cap
        self._sized = False  # seen a full page: the server's page size is known

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

        Only an offset walk can guess: it assumes ``after`` comes back full and
        asks from one job before where the next page would start. That overlap
        lets the pager check the guess (the job must reappear) before using it.

        Args:
            after: The last request in flight.
            ahead: How many requests are in flight already, ``after`` included.
        """
        if self.done or self._by_token or after.offset is None:
            return None
        step = min(after.limit, self._cap) if self._cap is not None else after.limit
        if step < 2:
            return None  # an overlap of one job would leave no room to progress
        limit = self.query.page_size
        if self.query.max_items is not None:
            left = self.query.max_items - self.delivered - ahead * step
            if left <= 0:
                return None
            # spec: pagination 1 - ask only for what max_items leaves (+1: the overlap)
            limit = min(limit, left + 1)
        return PageRequest(limit=limit, offset=after.offset + step - 1, token=None)

    def fits(self, guess: PageRequest) -> bool:
        """True when ``guess`` (from `speculate`) starts where the walk now stands.

        That is one job before the walk's offset: the previous page came back
        full, as the guess assumed.
        """
        return not self._by_token and guess.offset is not None and guess.offset == self.offset - 1

    def position(self, tail_ids: tuple[str, ...] = ()) -> Position:
        """The current position, to resume right after what was delivered."""
        return Position(
            query=self.query,
            offset=self.offset,
            token=self.token if self._by_token else None,
            tail_ids=tail_ids,
        )

    def feed(self, request: PageRequest, page: RawPage) -> list[BatchJob]:
        """Advance past ``page`` (the answer to ``request``) and return the jobs to yield.

        Args:
            request: The request this page answers.
            page: The structured response.

        Raises:
            PaginationError: The server repeated a page token, or sent pages of
                nothing but jobs already yielded, several times in a row.
        """
        items = page.items
        count = len(items)
        fresh = self._drop_repeats(items)
        repeats_only = count > 0 and not fresh
        if repeats_only:
            # spec: pagination 6 - a server that ignores offset must not loop us
            self._stalls += 1
            if self._stalls >= _STALL_LIMIT:
                raise PaginationError(
                    f"{self._stalls} pages in a row held only jobs already listed "
                    f"(last at offset {self.offset}): the server ignores offset, or "
                    "jobs are being created as fast as the walk reads them"
                )
        else:
            self._stalls = 0
        if self.query.max_items is not None:
            fresh = fresh[: self.query.max_items - self.delivered]
        self.delivered += len(fresh)
        if page.total_size is not None:
            self.total_size = page.total_size
        self._advance(request, page, count, repeats_only=repeats_only)
        if self.query.max_items is not None and self.delivered >= self.query.max_items:
            self.done = True
        return fresh

    def _drop_repeats(self, items: list[BatchJob]) -> list[BatchJob]:
        # spec: pagination 7 - items repeated across adjacent pages are yielded once.
        # The window holds the ids of the latest pages, at least _WINDOW_IDS of them
        # and at least two pages, so memory stays bounded on any walk.
        ids = [job.id for job in items]
        page_ids = set(ids)
        window = self._window
        if len(page_ids) == len(ids) and window.isdisjoint(page_ids) and not self._resume_tail:
            fresh = items
        else:
            seen = set()
            fresh = []
            for job in items:
                if job.id in window or job.id in seen:
                    continue
                if self._resume_tail and id_digest(job.id) in self._resume_tail:
                    continue
                seen.add(job.id)
                fresh.append(job)
            if items:
                self._resume_tail = frozenset()
        new_ids = page_ids - window
        window |= new_ids
        self._window_pages.append(new_ids)
        while len(window) > self._window_cap and len(self._window_pages) > 2:
            window -= self._window_pages.popleft()
        return fresh

    def _advance(
        self, request: PageRequest, page: RawPage, count: int, *, repeats_only: bool
    ) -> None:
        token = page.next_page_token or None
        # A prefetched page may start one job before the walk's offset (its overlap).
        self.offset = (request.offset if request.offset is not None else self.offset) + count
        if token is not None:
            if token in self._seen_tokens:
                raise PaginationError(
                    "the server sent a page token it had already sent in this walk; "
                    "following it would loop"
                )
            self._seen_tokens.add(token)
            self.token = token
            self._by_token = True
            return
        if self._by_token:
            # spec: pagination 2 - once paging by token, no token means the end
            self.done = True
            return
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
            self.done = page.total_size <= self.offset
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
