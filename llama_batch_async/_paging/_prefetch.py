"""The page requests in flight ahead of a walk (``prefetch=N``): speculation that pays.

The walk (`_paging.Walk`) decides what to ask for and whether an answer fits;
this module only keeps the requests flying and cancels them. The first flight
is always the walk's own next request; after it fly guesses by offset, as many
as what the walk knows of the listing's end supports (issue 22):

- a known end (the server's ``total_size``, or the length an earlier complete
  walk of the same query on the same client found) bounds the guesses: none
  asks past it, and up to ``depth`` fly at once below it;
- with no hint of the end, the guesses grow with the pages already seen: at
  most ``max(GUESS_FLOOR, GUESS_SHARE * pages seen)`` (1, and 12%), so the
  guesses wasted past an unannounced end stay in proportion to the listing
  (with the one-job overlap of each guess: at most 2, or 15% of the pages a
  walk needed);
- inside either bound, the number starts at one once the first page is in and
  doubles with every guess that proves right, so a server that does not honour
  offsets (or a listing that moves) costs a request or two, not ``depth``.

Guesses a known end makes useless are cancelled at once. An end (an empty page)
that arrives while the guess past it holds jobs is asked again before it ends the
walk (issue 24.8: a stray response on a connection reused at once reads as one).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Generic, TypeVar

import attrs

from llama_batch_async._config import GUESS_FLOOR, GUESS_SHARE
from llama_batch_async._convert import RawPage
from llama_batch_async._errors import LlamaBatchError
from llama_batch_async._models import Batch, BatchItem, BatchJob
from llama_batch_async._tasks import cancel_all

from ._cursor import PageRequest

if TYPE_CHECKING:  # annotations only: the pager hands its walk in
    from ._walk import Walk

__all__ = ["Prefetcher"]

_Item = TypeVar("_Item", BatchJob, Batch, BatchItem)


@attrs.frozen(slots=True)
class _Flight(Generic[_Item]):
    """A page request in flight: what was asked, and the task answering it."""

    request: PageRequest
    task: asyncio.Task[RawPage[_Item]]


class Prefetcher(Generic[_Item]):
    """Requests in flight for one walk.

    Args:
        fetch: Sends one page request (with retries) and returns the page.
        depth: The most guesses in flight besides the walk's own request.
        length: The listing's length an earlier complete walk of the same query
            found (None: no such walk): no guess asks past it.
    """

    def __init__(
        self,
        fetch: Callable[[PageRequest], Awaitable[RawPage[_Item]]],
        depth: int,
        *,
        length: int | None = None,
    ) -> None:
        self._fetch: Callable[[PageRequest], Awaitable[RawPage[_Item]]] = fetch
        self._depth = depth
        self._length = length
        self._pages = 0  # pages fed to the walk
        self._guesses = 0  # guesses allowed now: 0 until the first page is in
        self._flights: deque[_Flight[_Item]] = deque()
        self.missed = 0
        self.confirmed = 0  # ends asked again because the guess past them held jobs

    async def next_page(self, walk: Walk[_Item]) -> tuple[PageRequest, RawPage[_Item]] | None:
        """The next page the walk can take, or None when a guess missed.

        Raises:
            LlamaBatchError: The request failed for good.
        """
        await self._plan(walk)
        flight = self._flights.popleft()
        page = await flight.task
        if walk.accepts(flight.request, page):
            if not page.items and await self._contradicted():
                # issue 24.8: an empty page (an end) while the guess past it brings
                # jobs: a stray response read from a kept-alive connection reused at
                # once, or a listing that grew. Ask again before it ends the walk.
                self.confirmed += 1
                page = await self._fetch(flight.request)
            return flight.request, page
        # The guess missed: the listing moved (drift), or the server caps pages or
        # ignores offset. Drop every guess and ask again where the walk stands.
        self.missed += 1
        self._guesses = 1
        await self.cancel()
        return None

    async def after_page(self, walk: Walk[_Item], sent: PageRequest, *, progressed: bool) -> None:
        """Adjust the guesses to the page just fed, and keep the next ones flying.

        Args:
            walk: The walk, already fed.
            sent: The request the page answered.
            progressed: Whether the page brought jobs the walk had not seen.
        """
        self._pages += 1
        if not progressed or self._guesses == 0:
            self._guesses = 1
        elif sent.offset is not None and not walk.by_token:
            # A page by offset that moved the walk: guessing works, so guess further.
            self._guesses = min(self._depth, self._guesses * 2)
        # Pipelining: the next requests fly while the consumer works on this page.
        await self._plan(walk)

    async def _contradicted(self) -> bool:
        """Whether the next guess in flight, once answered, holds jobs (it is awaited).

        Costs no request: the guess was sent already. A failed guess contradicts
        nothing (the walk's own request is asked again if need be).
        """
        if not self._flights:
            return False
        guess = self._flights[0].task
        try:
            answer = await asyncio.shield(guess)
        except (LlamaBatchError, asyncio.CancelledError):
            if not guess.done():
                raise  # this walk was cancelled, not the guess
            return False
        return bool(answer.items)

    def _end(self, walk: Walk[_Item]) -> int | None:
        """Where the listing ends, as far as the walk knows: no guess starts there or past."""
        if walk.total_size is not None:
            return walk.total_size
        if self._length is not None and walk.offset < self._length:
            return self._length
        return None  # past the remembered length (the listing grew): no hint

    def _allowed(self, walk: Walk[_Item]) -> int:
        """Guesses that may fly now: the doubling count, within what the walk knows."""
        if self._end(walk) is not None:
            return self._guesses  # bounded by the end itself (see _plan)
        # perf: docs/benchmarks.md "What a walk costs the server" - with no hint of the
        # end, guesses in proportion to the pages seen keep the waste past an
        # unannounced end within max(2, 15% of the pages needed).
        return min(self._guesses, max(GUESS_FLOOR, int(GUESS_SHARE * self._pages)))

    async def _plan(self, walk: Walk[_Item]) -> None:
        """Keep the walk's next request and the allowed guesses after it in flight."""
        request = walk.next_request()
        if request is None:
            await self.cancel()
            return
        flights = self._flights
        if flights and flights[0].request != request and not walk.fits(flights[0].request):
            await self.cancel()
        end = self._end(walk)
        if end is not None:
            await self._drop_past(end)
        if not flights:
            flights.append(_Flight(request, self._start(request)))
        allowed = self._allowed(walk)
        while len(flights) <= allowed:
            guess = walk.speculate(flights[-1].request, len(flights))
            if guess is None or (end is not None and _past(guess, end)):
                break
            flights.append(_Flight(guess, self._start(guess)))

    async def _drop_past(self, end: int) -> None:
        """Cancel the guesses (never the walk's own request) that start at or past ``end``."""
        flights = self._flights
        dropped: list[asyncio.Task[RawPage[_Item]]] = []
        while len(flights) > 1 and _past(flights[-1].request, end):
            dropped.append(flights.pop().task)
        await cancel_all(dropped)

    def _start(self, request: PageRequest) -> asyncio.Task[RawPage[_Item]]:
        return asyncio.ensure_future(self._fetch(request))

    async def cancel(self) -> None:
        """Cancel every request in flight and wait until each has let go."""
        tasks = [flight.task for flight in self._flights]
        self._flights.clear()
        await cancel_all(tasks)


def _past(request: PageRequest, end: int) -> bool:
    """Whether a guess asks only for jobs at or past ``end`` (its first is an overlap)."""
    return request.offset is not None and request.offset + 1 >= end
