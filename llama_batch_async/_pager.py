"""`JobPager`: the only loop. Request -> retry -> response -> structure -> page -> items."""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator
from urllib.parse import urlencode

import attrs

from ._config import Config
from ._convert import RawPage, parse_body, structure_page
from ._cursor import Cursor, PageRequest, Position
from ._errors import LlamaBatchError
from ._limiter import Limiter
from ._models import BatchJob, JobPage
from ._paging import Walk
from ._prefetch import Prefetcher
from ._query import JobQuery
from ._retry import RetryPolicy, Sleep, call_with_retries
from ._transport import Transport
from ._wire import build_request, check_status

__all__ = ["JobPager", "WalkContext", "WalkStats"]

logger = logging.getLogger("llama_batch_async")

_TAIL_IDS = 64


@attrs.frozen(slots=True)
class WalkContext:
    """What a walk borrows from its client."""

    config: Config
    transport: Transport
    policy: RetryPolicy
    gate: Limiter
    sleep: Sleep


@attrs.define(slots=True)
class WalkStats:
    """Counters of the latest walk of a pager, live while it runs.

    Attributes:
        pages: Pages received.
        items: Jobs yielded.
        requests: HTTP requests sent, retries included.
        retries: Requests that were retries.
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
    duplicates_dropped: int = 0
    total_size: int | None = None
    limiter_fallbacks: int = 0
    started: float = attrs.field(factory=time.monotonic, repr=False)
    ended: float | None = attrs.field(default=None, repr=False)

    @property
    def elapsed(self) -> float:
        """Seconds the walk has run."""
        return (self.ended if self.ended is not None else time.monotonic()) - self.started


class JobPager:
    """A lazy walk over the job listing: nothing is sent until it is iterated.

    Iterate it for jobs (``async for job in pager``), call `pages` for whole
    pages, or `collect` for a list. Each iteration is a new walk from the
    pager's starting point. Made by `BatchClient.list_jobs`.
    """

    def __init__(
        self,
        context: WalkContext,
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
        return f"<JobPager filters={dict(self._query.filters)!r} stats={self.stats!r}>"

    def __aiter__(self) -> AsyncIterator[BatchJob]:
        return self._items()

    async def _items(self) -> AsyncGenerator[BatchJob, None]:
        # Closing this generator closes the walk at once, requests in flight included.
        async with contextlib.aclosing(self.pages()) as pages:
            async for page in pages:
                for job in page.items:
                    yield job

    async def collect(self) -> list[BatchJob]:
        """Walk to the end (or ``max_items``) and return every job, in order."""
        jobs: list[BatchJob] = []
        async with contextlib.aclosing(self.pages()) as pages:
            async for page in pages:
                jobs.extend(page.items)
        return jobs

    async def pages(self) -> AsyncGenerator[JobPage, None]:
        """Walk page by page; each `JobPage` carries the cursor to resume after it.

        Pages whose jobs were all yielded before (offset drift) are skipped,
        except that the first page is always yielded, so an empty listing still
        reports its ``total_size``. With ``prefetch``, requests in flight are
        cancelled when the walk ends, fails, or is closed (``break`` closes it
        when the iterator is collected; `contextlib.aclosing` closes it at once).

        Raises:
            LlamaBatchError: The walk failed; the error's ``cursor`` says where
                to resume.
        """
        stats = self.stats = WalkStats()
        walk = Walk(self._query, self._start)
        last: Position | None = None
        # The guesses count into this walk's stats, even if the pager walks again meanwhile.
        fetch = functools.partial(self._fetch, stats=stats)
        ahead = Prefetcher(fetch, self._prefetch) if self._prefetch else None
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
                # perf: a list comprehension, not a generator: per page, "page 100" row
                last = walk.position(tuple([job.id for job in raw.items[-_TAIL_IDS:]]))
                stats.pages += 1
                stats.items += len(fresh)
                stats.duplicates_dropped += len(raw.items) - len(fresh) - (sent != request)
                stats.total_size = walk.total_size
                if ahead is not None:
                    await ahead.after_page(walk, sent, progressed=bool(fresh))
                if fresh or stats.pages == 1:
                    yield JobPage(
                        items=tuple(fresh),
                        next_page_token=raw.next_page_token or None,
                        total_size=raw.total_size,
                        offset=offset,
                        position=last,
                    )
        except LlamaBatchError as exc:
            # spec: pagination 8 - an error that ends a walk says where to resume
            exc.cursor = last.encode() if last is not None else self._resume_from
            raise
        finally:
            if ahead is not None:
                await ahead.cancel()
            stats.ended = time.monotonic()

    async def _fetch(self, page: PageRequest, stats: WalkStats) -> RawPage:
        context = self._context
        request = build_request(context.config, self._query, page)
        secret = context.config.api_key
        attempts = 0

        async def attempt() -> RawPage:
            nonlocal attempts
            attempts += 1
            stats.requests += 1
            started = time.monotonic()
            response = await context.transport.send(request)
            if logger.isEnabledFor(logging.DEBUG):
                logger.debug(
                    "GET %s?%s -> %d in %.3f s (attempt %d)",
                    request.url,
                    urlencode(request.params),
                    response.status,
                    time.monotonic() - started,
                    attempts,
                )
            if (error := check_status(response, secret=secret)) is not None:
                raise error
            return structure_page(parse_body(response.body))

        def on_retry(_exc: BaseException, _delay: float) -> None:
            stats.retries += 1

        # issue 14: a shared limiter counts its fallbacks (RedisLimiter.fallbacks)
        fallbacks = getattr(context.gate, "fallbacks", None)
        try:
            return await call_with_retries(
                attempt, context.policy, sleep=context.sleep, gate=context.gate, on_retry=on_retry
            )
        finally:
            if isinstance(fallbacks, int):
                stats.limiter_fallbacks += getattr(context.gate, "fallbacks", fallbacks) - fallbacks
