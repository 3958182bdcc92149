"""The page requests in flight ahead of a walk, for ``prefetch=N``.

The walk (`_paging.Walk`) decides what to ask for and whether an answer fits;
this module only keeps the requests flying and cancels them. The first flight
is always the walk's own next request; after it fly up to ``depth`` guesses by
offset. The number of guesses starts at one once the first page is in and
doubles with every guess that proves right, so a server that does not honour
offsets (or a listing that moves) costs a request or two, not ``depth``.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Generic, TypeVar

import attrs

from llama_batch_async._convert import RawPage
from llama_batch_async._models import Batch, BatchItem, BatchJob

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
    """

    def __init__(
        self, fetch: Callable[[PageRequest], Awaitable[RawPage[_Item]]], depth: int
    ) -> None:
        self._fetch: Callable[[PageRequest], Awaitable[RawPage[_Item]]] = fetch
        self._depth = depth
        self._guesses = 0  # guesses allowed now: 0 until the first page is in
        self._flights: deque[_Flight[_Item]] = deque()
        self.missed = 0

    async def next_page(self, walk: Walk[_Item]) -> tuple[PageRequest, RawPage[_Item]] | None:
        """The next page the walk can take, or None when a guess missed.

        Raises:
            LlamaBatchError: The request failed for good.
        """
        await self._plan(walk)
        flight = self._flights.popleft()
        page = await flight.task
        if walk.accepts(flight.request, page):
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
        if not progressed or self._guesses == 0:
            self._guesses = 1
        elif sent.offset is not None and not walk.by_token:
            # A page by offset that moved the walk: guessing works, so guess further.
            self._guesses = min(self._depth, self._guesses * 2)
        # Pipelining: the next requests fly while the consumer works on this page.
        await self._plan(walk)

    async def _plan(self, walk: Walk[_Item]) -> None:
        """Keep the walk's next request and the allowed guesses after it in flight."""
        request = walk.next_request()
        if request is None:
            await self.cancel()
            return
        flights = self._flights
        if flights and flights[0].request != request and not walk.fits(flights[0].request):
            await self.cancel()
        if not flights:
            flights.append(_Flight(request, self._start(request)))
        while len(flights) <= self._guesses:
            guess = walk.speculate(flights[-1].request, len(flights))
            if guess is None:
                break
            flights.append(_Flight(guess, self._start(guess)))

    def _start(self, request: PageRequest) -> asyncio.Task[RawPage[_Item]]:
        return asyncio.ensure_future(self._fetch(request))

    async def cancel(self) -> None:
        """Cancel every request in flight and wait until each has let go."""
        tasks = [flight.task for flight in self._flights]
        self._flights.clear()
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
