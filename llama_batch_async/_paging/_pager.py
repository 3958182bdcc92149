"""The pagers: the walk's loop. Request -> retry -> response -> structure -> page -> items.

`JobPager` (v1 jobs), `ItemPager` (v1: one job's items) and `BatchPager` (v2
batches) are the same walk over the same retries, transport and limiter
(`_Pager`); what differs between the listings is data (the query's `Endpoint`:
path, limit name, paging mode, how to structure a page) and the page they
yield. Each request goes out through the client's `Sender` (one request with
retries, `_http`).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from datetime import datetime, timezone
from typing import Generic, TypeVar

import attrs

from llama_batch_async._config import Config
from llama_batch_async._convert import RawPage, parse_body, structure_listing
from llama_batch_async._errors import LlamaBatchError, NotFoundError, record_not_found
from llama_batch_async._http._sender import Sender
from llama_batch_async._http._wire import Request, build_request
from llama_batch_async._models import Batch, BatchItem, BatchJob, BatchPage, ItemPage, JobPage

from ._cursor import Cursor, PageRequest, Position
from ._prefetch import Prefetcher
from ._query import JobQuery
from ._walk import Walk
from ._windows import plan_windows, windowed_pages

__all__ = ["BatchPager", "ItemPager", "JobPager", "WalkStats", "page_request"]

_Item = TypeVar("_Item", BatchJob, Batch, BatchItem)
_Page = TypeVar("_Page", JobPage, BatchPage, ItemPage)

logger = logging.getLogger(__name__)

_TAIL_IDS = 64


@attrs.define(slots=True)
class WalkStats:
    """Counters of the latest walk of a pager, live while it runs.

    Attributes:
        pages: Pages received.
        items: Jobs yielded.
        requests: HTTP requests sent, retries included.
        retries: Requests that were retries.
        throttled: Requests the server answered 429 (rate limited).
        wasted: Requests whose answers the walk did not use: guesses past the
            end of the listing, guesses that missed (drift, a server that caps
            pages or ignores offsets), and guesses cancelled once an end was known
            (counted when they had been sent).
        duplicates_dropped: Jobs skipped because an earlier page had yielded them.
        missed_prefetches: Prefetched pages thrown away because the listing moved.
        anomalies: Pages whose paging signals disagreed (a token on an empty
            page, ``total_size`` promising more than the token); each was
            resolved toward losing nothing.
        total_size: The server's latest ``total_size``, when it sends one.
        limiter_fallbacks: Limiter decisions made locally because a shared
            limiter's store (Redis) did not answer, during this walk's requests.
        elapsed: Seconds since the walk started (until it ended, once it has).
    """

    pages: int = 0
    items: int = 0
    missed_prefetches: int = 0
    anomalies: int = 0
    requests: int = 0
    retries: int = 0
    throttled: int = 0
    wasted: int = 0
    duplicates_dropped: int = 0
    total_size: int | None = None
    limiter_fallbacks: int = 0
    started: float = attrs.field(factory=time.monotonic, repr=False)
    ended: float | None = attrs.field(default=None, repr=False)

    @property
    def elapsed(self) -> float:
        """Seconds the walk has run."""
        return (self.ended if self.ended is not None else time.monotonic()) - self.started


def page_request(config: Config, query: JobQuery, page: PageRequest) -> Request:
    """The GET for one page: filters, limit, offset or page token, credentials.

    Where it goes and what its parameters are called is the query's
    `Endpoint`'s: its path (path parameters quoted as one segment each), its
    limit name (``limit`` / ``page_size``); a token-only listing never sends
    an offset.

    Args:
        config: The client's configuration.
        query: The walk's validated query.
        page: What the walk asks for next.
    """
    endpoint = query.endpoint
    url = endpoint.url(config.base_url, query.url_params)
    params = [*query.filters, (endpoint.limit_param, str(page.limit))]
    if page.token is not None:
        params.append(("page_token", page.token))
    elif page.offset is not None and not endpoint.token_only:
        params.append(("offset", str(page.offset)))
    return build_request(config, url, tuple(params))


class _Pager(Generic[_Item, _Page]):
    """A lazy walk over a listing: nothing is sent until it is iterated.

    Iterate it for records (``async for item in pager``), call `pages` for
    whole pages, or `collect` for a list. Each iteration is a new walk from
    the pager's starting point.
    """

    def __init__(
        self,
        context: Sender,
        query: JobQuery,
        *,
        start: Cursor | None = None,
        resume_from: str | None = None,
        prefetch: int = 0,
    ) -> None:
        self._prefetch = prefetch
        self._context = context
        self._query = query
        self._start = start
        self._resume_from = resume_from
        self.stats = WalkStats()

    def __repr__(self) -> str:
        name = type(self).__name__
        return f"<{name} filters={dict(self._query.filters)!r} stats={self.stats!r}>"

    def _structure(self, payload: object) -> RawPage[_Item]:
        # The endpoint names this pager's record (the table is not typed per record).
        record: type[_Item] = self._query.endpoint.record  # type: ignore[assignment]
        return structure_listing(payload, record)

    def _page(
        self, fresh: list[_Item], raw: RawPage[_Item], offset: int, position: Position
    ) -> _Page:
        raise NotImplementedError

    def _page_items(self, page: _Page) -> tuple[_Item, ...]:
        raise NotImplementedError

    def __aiter__(self) -> AsyncIterator[_Item]:
        return self._items()

    async def _items(self) -> AsyncGenerator[_Item, None]:
        # Closing this generator closes the walk at once, requests in flight included.
        async with contextlib.aclosing(self.pages()) as pages:
            async for page in pages:
                for job in self._page_items(page):
                    yield job

    async def collect(self) -> list[_Item]:
        """Walk to the end (or ``max_items``) and return every record, in order."""
        jobs: list[_Item] = []
        async with contextlib.aclosing(self.pages()) as pages:
            async for page in pages:
                jobs.extend(self._page_items(page))
        return jobs

    async def pages(self) -> AsyncGenerator[_Page, None]:
        """Walk page by page; each page carries the cursor to resume after it.

        Pages whose records were all yielded before (drift) are skipped,
        except that the first page is always yielded, so an empty listing still
        reports its ``total_size``. With ``prefetch``, requests in flight are
        cancelled when the walk ends, fails, or is closed (``break`` closes it
        when the iterator is collected; `contextlib.aclosing` closes it at once).

        Raises:
            LlamaBatchError: The walk failed; the error's ``cursor`` says where
                to resume.
        """
        stats = self.stats = WalkStats()
        walk: Walk[_Item] = Walk(self._query, self._start)
        last: Position | None = None
        # The guesses count into this walk's stats, even if the pager walks again meanwhile.
        fetch = functools.partial(self._fetch, stats=stats)
        memory = self._context.lengths
        remembered = self._memory_key()
        ahead = (
            Prefetcher(fetch, self._prefetch, length=memory.get(remembered))
            if self._prefetch
            else None
        )
        try:
            while (request := walk.next_request()) is not None:
                if ahead is None:
                    sent, raw = request, await self._fetch(request, stats)
                elif (answer := await ahead.next_page(walk)) is None:
                    stats.missed_prefetches = ahead.missed
                    continue
                else:
                    sent, raw = answer
                offset = walk.offset
                fresh = walk.feed(sent, raw)
                if walk.anomalies and not stats.anomalies:
                    # spec: pagination 4 - one WARNING per walk; the rest are counted
                    logger.warning("paging signals disagree: %s", walk.anomaly)
                stats.anomalies = walk.anomalies
                last = self._position_after(walk, raw, fresh)
                stats.pages += 1
                stats.items += len(fresh)
                stats.duplicates_dropped += len(raw.items) - len(fresh) - (sent != request)
                stats.total_size = walk.total_size
                if ahead is not None:
                    await ahead.after_page(walk, sent, progressed=bool(fresh))
                    stats.wasted = _wasted(stats)
                if fresh or stats.pages == 1:
                    yield self._page(fresh, raw, offset, last)
            if walk.failure is not None:
                # spec: pagination 6 - raised once the page that showed it is delivered
                raise walk.failure
            if self._query.max_items is None:
                # The walk reached the end: the next walk of this query guesses no
                # further (issue 22; a walk cut by max_items never saw the end).
                memory.put(remembered, walk.offset)
        except LlamaBatchError as exc:
            # spec: pagination 8 - an error that ends a walk says where to resume
            exc.cursor = last.encode() if last is not None else self._resume_from
            raise
        finally:
            if ahead is not None:
                await ahead.cancel()
                stats.wasted = _wasted(stats)
            stats.ended = time.monotonic()
            # What the walk cost the server (issue 22): `llama-batch list -vv` shows it
            # (the progress line shows it on a terminal; -v keeps to retries and errors).
            logger.debug(
                "walk: %d pages, %d requests (%d unused, %d refused with 429, %d retries)",
                stats.pages,
                stats.requests,
                stats.wasted,
                stats.throttled,
                stats.retries,
            )

    def _memory_key(self) -> tuple[str, tuple[tuple[str, str], ...]]:
        """The client's memory key for this walk's listing: its URL and filters."""
        first = page_request(self._context.config, self._query, PageRequest(1, None, None))
        return first.url, self._query.filters

    def _position_after(
        self, walk: Walk[_Item], raw: RawPage[_Item], fresh: list[_Item]
    ) -> Position:
        """Where to resume after the page ``raw`` delivered ``fresh`` of."""
        # perf: a list comprehension, not a generator: per page, "page 100" row
        last = walk.position(tuple([job.id for job in raw.items[-_TAIL_IDS:]]))
        if walk.cut_inside and fresh and self._query.endpoint.token_only:
            # issue 24.5: a token walk cut by max_items inside a page resumes at the
            # cut (the page's own token, its records delivered skipped), not after it.
            ids = tuple([item.id for item in raw.items])
            last = attrs.evolve(last, page_ids=ids).cut(ids.index(fresh[-1].id) + 1)
        return last

    async def _fetch(self, page: PageRequest, stats: WalkStats) -> RawPage[_Item]:
        request = page_request(self._context.config, self._query, page)
        try:
            return await self._context.send(request, self._decode, stats)
        except NotFoundError as exc:
            raise _not_found(self._query, exc) from None

    def _decode(self, body: bytes) -> RawPage[_Item]:
        return self._structure(parse_body(body))


class _OffsetPager(_Pager[_Item, _Page]):
    """A pager of a v1 listing (jobs, a job's items): its pages carry their offset.

    The two differ only in the page class they make (``_page_class``).
    """

    _page_class: Callable[..., _Page]

    def _page(
        self, fresh: list[_Item], raw: RawPage[_Item], offset: int, position: Position
    ) -> _Page:
        return self._page_class(
            items=tuple(fresh),
            next_page_token=raw.next_page_token or None,
            total_size=raw.total_size,
            offset=offset,
            position=position,
        )


class JobPager(_OffsetPager[BatchJob, JobPage]):
    """A lazy walk over the v1 job listing: nothing is sent until it is iterated.

    Iterate it for jobs (``async for job in pager``), call `pages` for whole
    pages (`JobPage`), or `collect` for a list. Each iteration is a new walk
    from the pager's starting point. Made by `BatchClient.list_jobs`.
    """

    def _page_items(self, page: JobPage) -> tuple[BatchJob, ...]:
        return page.items

    _page_class = JobPage


class BatchPager(_Pager[Batch, BatchPage]):
    """A lazy walk over the v2 batches listing (by page token): nothing is sent until iterated.

    Iterate it for batches (``async for batch in pager``), call `pages` for
    whole pages (`BatchPage`), or `collect` for a list; ``stats`` counts the
    latest walk. Made by `BatchClient.list_batches`; with ``windows=N`` the
    ``created_at`` range is walked as N concurrent windows (`_windowed`).
    """

    def __init__(
        self,
        context: Sender,
        query: JobQuery,
        *,
        start: Cursor | None = None,
        resume_from: str | None = None,
        windows: int = 1,
    ) -> None:
        super().__init__(context, query, start=start, resume_from=resume_from)
        self._windows = windows

    async def pages(self) -> AsyncGenerator[BatchPage, None]:
        """Walk page by page; each `BatchPage` carries the cursor to resume after it.

        With ``windows`` > 1 (or a cursor from such a walk), the windows are
        walked concurrently and their pages come newest window first.

        Raises:
            LlamaBatchError: The walk failed; the error's ``cursor`` says where
                to resume.
        """
        windowed = self._windows > 1 or (self._start is not None and self._start.window)
        if not windowed:
            async with contextlib.aclosing(super().pages()) as pages:
                async for page in pages:
                    yield page
            return
        stats = self.stats = WalkStats()
        plan = plan_windows(self._query, self._windows, self._start, datetime.now(timezone.utc))
        walkers: list[BatchPager] = []

        def walk_window(sub: JobQuery, start: Cursor | None) -> AsyncGenerator[BatchPage, None]:
            # The window's own walk is a plain token walk: its start names no window.
            inner = None if start is None else attrs.evolve(start, window=None)
            walker = BatchPager(self._context, sub, start=inner)
            walkers.append(walker)
            return walker.pages()

        def on_anomaly(dropped: int) -> None:
            stats.anomalies += 1
            stats.duplicates_dropped += dropped

        last: BatchPage | None = None
        left = self._query.max_items
        try:
            walk = windowed_pages(self._query, plan, walk_window, on_anomaly)
            async with contextlib.aclosing(walk) as pages:
                async for page in pages:
                    self._sum(stats, walkers)
                    if left is not None:
                        page = _cut(page, left)  # noqa: PLW2901
                        left -= len(page.items)
                    stats.pages += 1
                    stats.items += len(page.items)
                    last = page
                    yield page
                    if left == 0:
                        break
        except LlamaBatchError as exc:
            # spec: pagination 8 - an error that ends a walk says where to resume
            exc.cursor = last.cursor if last is not None else self._resume_from
            raise
        finally:
            self._sum(stats, walkers)
            stats.ended = time.monotonic()

    @staticmethod
    def _sum(stats: WalkStats, walkers: list[BatchPager]) -> None:
        """The windows' request counters, summed into the walk's."""
        stats.requests = sum(w.stats.requests for w in walkers)
        stats.retries = sum(w.stats.retries for w in walkers)
        stats.throttled = sum(w.stats.throttled for w in walkers)
        stats.wasted = sum(w.stats.wasted for w in walkers)
        stats.limiter_fallbacks = sum(w.stats.limiter_fallbacks for w in walkers)

    def _page_items(self, page: BatchPage) -> tuple[Batch, ...]:
        return page.items

    def _page(
        self, fresh: list[Batch], raw: RawPage[Batch], offset: int, position: Position
    ) -> BatchPage:
        del offset  # the v2 listing has no offsets
        # The page's ids, in the server's order: a windowed walk may cut it (Position.cut).
        ids = tuple([batch.id for batch in raw.items])
        return BatchPage(
            items=tuple(fresh),
            next_page_token=raw.next_page_token or None,
            total_size=raw.total_size,
            position=attrs.evolve(position, page_ids=ids),
        )


class ItemPager(_OffsetPager[BatchItem, ItemPage]):
    """A lazy walk over one job's items (``GET .../{job_id}/items``): nothing sent until iterated.

    The job listing's walk, by offset, with every guarantee it has (each item
    once under caps and drift, cursors, errors carrying ``.cursor``). Iterate it
    for items, call `pages` for `ItemPage` s, or `collect` for a list. Made by
    `BatchClient.list_job_items`.
    """

    def _page_items(self, page: ItemPage) -> tuple[BatchItem, ...]:
        return page.items

    _page_class = ItemPage


def _not_found(query: JobQuery, exc: NotFoundError) -> NotFoundError:
    """A 404 of a listing whose path names a record (a job's items): that record's error."""
    error_class = query.endpoint.not_found
    if error_class is None or not query.path_params:
        return exc
    ((name, record_id),) = query.path_params
    return record_not_found(error_class, name.removesuffix("_id"), record_id, exc)


def _wasted(stats: WalkStats) -> int:
    """Requests sent whose answers the walk did not use (retries and 429s aside)."""
    return max(0, stats.requests - stats.retries - stats.pages)


def _cut(page: BatchPage, left: int) -> BatchPage:
    """``page`` with at most ``left`` records; cut short, its cursor resumes at the cut.

    The sequential walk never cuts a page (its last request asks only for what
    is left), but a window's pages are asked ahead, before the walk knows how
    many the newer windows bring: `Position.cut` names the page's own token and
    how many of its records (in the server's order) were delivered.
    """
    if len(page.items) <= left:
        return page
    kept = page.items[:left]
    position = page._position
    if isinstance(position, Position) and kept:
        delivered = position.page_ids.index(kept[-1].id) + 1
        return attrs.evolve(page, items=kept, position=position.cut(delivered))
    return attrs.evolve(page, items=kept)  # pragma: no cover - left is at least 1
