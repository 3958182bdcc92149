"""`BatchClient`, whole: construction, every method, `with_options`, `aclose`.

One class in one module, as httpx keeps its client: the constructor checks
every setting before any I/O and builds the client's `Sender` (config,
transport, retry policy, limiter: `_make_context`); each method checks its
arguments at the call and hands the walk to `_paging` (`JobPager`,
`BatchPager`) and the waits to `_polling`. Nothing here loops; the one
request sent from here is `get_batch`'s, through the `Sender`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Mapping,
    Sequence,
)
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, TypeVar

import attrs

from ._config import (
    DEFAULT_CONNECTION_LIMIT,
    DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_MAX_RETRIES,
    DEFAULT_PAGE_SIZE,
    DEFAULT_POLL_INTERVAL,
    DEFAULT_PREFETCH,
    DEFAULT_RETRY_AFTER_CAP,
    DEFAULT_TIMEOUT,
    MAX_PREFETCH,
    make_config,
)
from ._convert import (
    parse_body,
    structure_batch,
    structure_cancellation,
    structure_job,
    structure_job_progress,
)
from ._endpoints import (
    BATCH_CANCEL_PATH,
    BATCHES,
    JOB_CANCEL_PATH,
    JOB_PATH,
    JOBS,
    resource_url,
)
from ._errors import (
    APIConnectionError,
    BatchNotFoundError,
    ConflictError,
    CreateUncertainError,
    JobNotFoundError,
    NotFoundError,
    record_not_found,
)
from ._http._limiter import Limiter, LimiterLike, adopt
from ._http._retry import RetryPolicy
from ._http._sender import Sender
from ._http._transport import AiohttpTransport, Transport
from ._http._wire import build_batch_request, build_request
from ._models import (
    Batch,
    BatchJob,
    BatchJobType,
    BatchStatus,
    ItemStatus,
    JobCancellation,
    JobProgress,
    JobStatus,
    JobType,
)
from ._paging._cursor import resume_start
from ._paging._pager import BatchPager, ItemPager, JobPager
from ._paging._query import make_batch_query, make_item_query, make_query
from ._paging._windows import check_windows
from ._polling import _batches as _batch_watch
from ._polling import _jobs as _watch
from ._polling._poller import Pacing
from ._validate import (
    check_choice,
    check_count,
    check_flag,
    check_id,
    check_ids,
    check_query_id,
    check_seconds,
    must_be,
)

if TYPE_CHECKING:  # annotations only: aiohttp is imported at run time by _transport alone
    import aiohttp

__all__ = ["BatchClient"]

_T = TypeVar("_T")

_CLOSED = "this BatchClient is closed; create a new one"


class BatchClient:
    """An asyncio client for listing LlamaCloud batch jobs.

    One client serves any number of concurrent walks and tasks; share it for
    the life of your app. Without ``session=`` it owns an `aiohttp.ClientSession`,
    created lazily inside the running loop and closed by `aclose` (or by leaving
    ``async with``).

    Args:
        api_key: The LlamaCloud API key; default ``LLAMA_CLOUD_API_KEY``.
        base_url: The API's base URL; default ``LLAMA_CLOUD_BASE_URL``, else
            ``https://api.cloud.llamaindex.ai``. Plain ``http://`` is allowed to
            loopback hosts only; a user name or password in it is refused.
        session_cookie: Sent as the ``session`` cookie (the endpoint's cookie
            parameter); the only cookie the client ever sends. It must be one
            RFC 6265 cookie value (no spaces, ``;``, ``,`` or backslash).
        session: A caller's `aiohttp.ClientSession` to send with; the client
            never closes it, and its own cookie jar and environment settings apply.
        transport: Any object with ``async send(request) -> Response`` and
            ``async aclose()`` to send with instead of aiohttp (the ``Transport``
            protocol; ``aclose`` calls it). Tests pass
            `llama_batch_async.testing.MockTransport` (a handler per request) or
            `llama_batch_async.testing.ListingTransport` (the fake listing, no
            socket). Exclusive with ``session`` and the owned-session options.
        timeout: Seconds one attempt of one page request may take: finite and
            > 0 (``math.inf`` is refused; bound a whole walk with
            `asyncio.timeout` instead).
        max_retries: Retries after the first attempt of each page request
            (0 disables retrying).
        retry_after_cap: The longest ``Retry-After`` (seconds) slept through; a
            longer one raises `RateLimitError` at once, carrying ``retry_after``.
        trust_env: Read proxy variables and ``.netrc`` (owned session only).
        trace_configs: aiohttp tracing hooks (owned session only).
        connection_limit: Size of the owned session's connection pool.
        max_response_bytes: The largest response body accepted, in bytes after
            decompression (default 64 MiB); a larger one raises
            `ResponseTooLargeError`, not retried.
        limiter: What every request waits on and every 429 is told to (a
            `Limiter`); default a `LocalLimiter` of this client's own. Pass
            ``llama_batch_async.redis.RedisLimiter`` to share the 429 pause and a
            request budget with other processes. The client never closes it.

    Raises:
        ValueError: No credentials, an invalid setting, or an ``http://`` URL to a
            host other than this machine; the message names the parameter and
            never repeats a credential.
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        session_cookie: str | None = None,
        session: aiohttp.ClientSession | None = None,
        transport: Transport | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        retry_after_cap: float = DEFAULT_RETRY_AFTER_CAP,
        trust_env: bool = False,
        trace_configs: Sequence[aiohttp.TraceConfig] | None = None,
        connection_limit: int = DEFAULT_CONNECTION_LIMIT,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        limiter: Limiter | LimiterLike | None = None,
    ) -> None:
        context = _make_context(
            api_key=api_key,
            base_url=base_url,
            session_cookie=session_cookie,
            session=session,
            transport=transport,
            timeout=timeout,
            max_retries=max_retries,
            retry_after_cap=retry_after_cap,
            trust_env=trust_env,
            trace_configs=trace_configs,
            connection_limit=connection_limit,
            max_response_bytes=max_response_bytes,
            limiter=limiter,
        )
        self._context = context
        self._closed = False
        # A `with_options` copy: closed with its owner, never closes the shared transport.
        self._owner: BatchClient | None = None

    def _check_open(self) -> None:
        if self.closed:  # a with_options copy is closed with its original
            raise RuntimeError(_CLOSED)

    def __repr__(self) -> str:
        state = " closed" if self.closed else ""
        return f"<{type(self).__name__} base_url={self.base_url!r}{state}>"

    @property
    def base_url(self) -> str:
        """The API base URL requests go to."""
        return self._context.config.base_url

    @property
    def closed(self) -> bool:
        """True once `aclose` has been called (on a `with_options` copy: on it or its original)."""
        return self._closed or (self._owner is not None and self._owner.closed)

    async def aclose(self) -> None:
        """Close the client's own session (a caller's is left open); idempotent.

        On a `with_options` copy, only the copy closes: the session it shares
        stays open for its original.
        """
        self._closed = True
        if self._owner is None:
            await self._context.transport.aclose()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def list_jobs(
        self,
        *,
        directory_id: str | None = None,
        job_type: JobType | str | None = None,
        status: JobStatus | str | None = None,
        project_id: str | None = None,
        organization_id: str | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        offset: int = 0,
        max_items: int | None = None,
        resume_from: str | None = None,
        prefetch: int = DEFAULT_PREFETCH,
        extra_query: Mapping[str, str] | None = None,
    ) -> JobPager:
        """List batch jobs, lazily: returns a `JobPager` and sends nothing yet.

        Args:
            directory_id: Only jobs of this directory.
            job_type: Only jobs of this type (`JobType` or ``"parse"``, ...).
            status: Only jobs in this status (`JobStatus` or ``"failed"``, ...).
            project_id: Only jobs of this project.
            organization_id: Only jobs of this organization.
            page_size: Jobs per request (``limit``); the server may cap it.
            offset: Jobs to skip at the start of the listing.
            max_items: Stop after this many jobs (the last request asks only for
                what is left); None for every job.
            resume_from: A `JobPage.cursor` (or an error's ``.cursor``) from an
                earlier walk with the same filters: continue right after it.
            prefetch: Page requests to keep in flight ahead of the consumer,
                besides the next one (0: one at a time; default 8). Jobs still
                come in order, each once: the guesses ask by offset, one job
                early, and a guess that does not fit is dropped. Guessing starts
                after the first page and doubles while it proves right.
            extra_query: More query parameters for every request, for a server
                filter newer than this library (``{"created_after": "..."}``):
                str names and values. The paging parameters (``limit``,
                ``offset``, ``page_token``, ``page_size``) and the filters above
                are refused; a cursor is refused under other extra parameters.

        Raises:
            ValueError: A bad argument, named in the message, before any request.
            RuntimeError: The client is closed.
        """
        self._check_open()
        query = make_query(
            directory_id=directory_id,
            job_type=job_type,
            status=status,
            project_id=project_id,
            organization_id=organization_id,
            page_size=page_size,
            offset=offset,
            max_items=max_items,
            extra_query=extra_query,
        )
        check_count("prefetch", prefetch, minimum=0, maximum=MAX_PREFETCH)
        start = resume_start(resume_from, query, offset=offset)
        return JobPager(
            self._context, query, start=start, resume_from=resume_from, prefetch=prefetch
        )

    def finished_jobs(
        self,
        job_ids: Iterable[str],
        *,
        project_id: str | None = None,
        directory_id: str | None = None,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        timeout: float | None = None,
        on_seen: Callable[[BatchJob], object] | None = None,
    ) -> AsyncGenerator[BatchJob, None]:
        """Poll the jobs and yield each the moment it is completed, failed or cancelled.

        Each poll asks only about the jobs still pending: one `get_job` per
        pending id (4 at a time, through the client's retries and limiter)
        when that costs fewer requests than the last walk of the listing did
        (before any walk: when at most 8 ids are pending); otherwise it walks
        the listing (with the filters given) only until every pending job was
        seen, and remembers what the walk cost. So 3 jobs deep in a long
        listing cost 3 requests a poll, and 400 of 500 jobs a walk of the
        listing. Each job is yielded once: in the order a walk reaches them,
        or in the order given when asked per id. Polls come every ``poll_interval`` seconds while
        jobs change, back off to 4x that while nothing does, and never before
        the client's rate-limit pause ends. Arguments are checked at once;
        nothing is sent until iteration, and polling happens only while the
        iterator is awaited. Close it with ``aclose()`` or
        `contextlib.aclosing` to stop early.

        Args:
            job_ids: The ids of the jobs to wait for (repeats are ignored).
            project_id: Walk only this project's jobs (fewer pages per poll);
                sent with each `get_job` too.
            directory_id: Walk only this directory's jobs (walks only: a job
                asked for by id is found wherever it is).
            poll_interval: Seconds between polls while jobs change.
            timeout: Seconds the whole wait may take, requests included; None
                for no limit.
            on_seen: Called with the record of each wanted job every time a
                poll's page shows it, finished or not (a progress display
                counts running and pending jobs with it); before a finished
                one is yielded.

        Raises:
            ValueError: A bad argument, named in the message, at the call.
            RuntimeError: The client is closed.
            WaitTimeoutError: ``timeout`` passed first (also a `TimeoutError`);
                ``.pending`` names the jobs not yielded, ``.jobs`` the last
                record seen of each job.
            JobNotFoundError: Some ids were absent from three complete polls in
                a row (not in a walk, or a 404 for their status); ``.missing``
                names them.
            LlamaBatchError: A poll failed after the client's retries.
        """
        ids, pacing = _watch.check_wait(job_ids, poll_interval, timeout, self._context.limiter)
        _watch.check_on_seen(on_seen)
        pager, get = self._job_polls(project_id, directory_id)
        return _watch.finished(
            pager.pages, ids, pacing, get=get, cost=lambda: pager.stats.requests, on_seen=on_seen
        )

    async def wait_for_jobs(
        self,
        job_ids: Iterable[str],
        *,
        project_id: str | None = None,
        directory_id: str | None = None,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        timeout: float | None = None,
    ) -> dict[str, BatchJob]:
        """Poll the jobs until every one is completed, failed or cancelled.

        `finished_jobs`, collected: the same polls (per id or a walk, chosen
        each poll from what the last one cost), back-off and errors.

        Args:
            job_ids: The ids of the jobs to wait for.
            project_id: Walk only this project's jobs (fewer pages per poll).
            directory_id: Walk only this directory's jobs.
            poll_interval: Seconds between polls while jobs change.
            timeout: Seconds the whole wait may take, walks included; None for
                no limit.

        Returns:
            The final record of each job, by id, in the order of ``job_ids``.

        Raises:
            ValueError: A bad argument, named in the message, before any request.
            RuntimeError: The client is closed.
            WaitTimeoutError: ``timeout`` passed first (also a `TimeoutError`);
                it carries ``.jobs`` and ``.pending``.
            JobNotFoundError: Some ids were absent from three complete walks in
                a row; ``.missing`` names them.
            LlamaBatchError: A poll failed after the pager's retries.
        """
        ids, pacing = _watch.check_wait(job_ids, poll_interval, timeout, self._context.limiter)
        pager, get = self._job_polls(project_id, directory_id)
        return await _watch.poll_until_terminal(
            pager.pages, ids, pacing, get=get, cost=lambda: pager.stats.requests
        )

    def _job_polls(
        self, project_id: str | None, directory_id: str | None
    ) -> tuple[JobPager, _watch.GetJob]:
        """What a job wait polls with: the filtered listing's pager, and get_job (scoped)."""
        pager = self.list_jobs(project_id=project_id, directory_id=directory_id)

        def get_job(job_id: str) -> Awaitable[JobProgress]:
            return self.get_job(job_id, project_id=project_id)

        return pager, _watch.job_getter(get_job)

    def watch_jobs(
        self,
        *,
        directory_id: str | None = None,
        job_type: JobType | str | None = None,
        status: JobStatus | str | None = None,
        project_id: str | None = None,
        organization_id: str | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        initial: bool = True,
    ) -> AsyncGenerator[_watch.JobEvent, None]:
        """Poll the listing and yield a `JobEvent` for every change between polls.

        Arguments are checked at once; nothing is sent until iteration, and
        polling happens only while the iterator is awaited (no background
        task). Close it with ``aclose()`` or `contextlib.aclosing` to stop.

        Args:
            directory_id: Only jobs of this directory.
            job_type: Only jobs of this type (`JobType` or ``"parse"``, ...).
            status: Only jobs in this status; a job that leaves it is ``removed``.
            project_id: Only jobs of this project.
            organization_id: Only jobs of this organization.
            page_size: Jobs per request (``limit``).
            poll_interval: Seconds between polls while the listing changes.
            initial: Yield ``added`` for the jobs of the first poll; False
                reports only changes after it.

        Raises:
            ValueError: A bad argument, named in the message, before any request.
            RuntimeError: The client is closed.
        """
        pacing, first = _watch.check_watch(poll_interval, initial, self._context.limiter)
        pager = self.list_jobs(
            directory_id=directory_id,
            job_type=job_type,
            status=status,
            project_id=project_id,
            organization_id=organization_id,
            page_size=page_size,
        )
        return _watch.poll_events(pager.pages, pacing, initial=first)

    def list_batches(
        self,
        *,
        status: BatchStatus | str | None = None,
        project_id: str | None = None,
        organization_id: str | None = None,
        source_directory_id: str | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        max_items: int | None = None,
        resume_from: str | None = None,
        windows: int = 1,
    ) -> BatchPager:
        """List v2 batches (``GET /api/v2/batches``), lazily: returns a `BatchPager`.

        The v2 listing pages by ``page_token`` only. The walk keeps every v1
        guarantee that applies to tokens: each batch once, a repeated token is
        a `PaginationError`, an empty page with a token is not the end,
        ``max_items`` exact, retries and the client-wide 429 pause shared with
        `list_jobs` walks of this client, and errors carrying ``.cursor``.

        Args:
            status: Only batches in this status (`BatchStatus` or ``"RUNNING"``, ...).
            project_id: Only batches of this project.
            organization_id: Only batches of this organization.
            source_directory_id: Only batches of this source directory.
            created_after: Only batches created at or after this moment: a
                timezone-aware `datetime` (sent as ISO 8601 in UTC).
            created_before: Only batches created at or before this moment
                (aware, as ``created_after``).
            page_size: Batches per request (``page_size``); the server may cap it.
            max_items: Stop after this many batches; None for all.
            resume_from: A `BatchPage.cursor` (or an error's ``.cursor``) from an
                earlier `list_batches` walk with the same filters. A `list_jobs`
                cursor is refused.
            windows: Split ``[created_after, created_before]`` (``created_before``
                defaults to the moment the walk starts, so batches created during
                it are left out) into this many ``created_at`` windows, walked
                concurrently and yielded newest window first, each batch once.
                Opt-in (default 1): it costs up to one request more per window
                (each window ends on its own short or empty page) and needs
                ``created_after``. See docs/v2.md for the figures.

        Raises:
            ValueError: A bad argument (a naive datetime, an unknown status, a
                cursor of another listing or other filters), named in the
                message, before any request.
            RuntimeError: The client is closed.
        """
        self._check_open()
        query = make_batch_query(
            status=status,
            project_id=project_id,
            organization_id=organization_id,
            source_directory_id=source_directory_id,
            created_after=created_after,
            created_before=created_before,
            page_size=page_size,
            max_items=max_items,
        )
        check_windows(windows, created_after)
        start = resume_start(resume_from, query)
        return BatchPager(
            self._context, query, start=start, resume_from=resume_from, windows=windows
        )

    async def get_batch(
        self,
        batch_id: str,
        *,
        expand_results: bool = False,
        project_id: str | None = None,
        organization_id: str | None = None,
    ) -> Batch:
        """Fetch one v2 batch (``GET /api/v2/batches/{batch_id}``), with the client's retries.

        Args:
            batch_id: The batch's id (``bat-...``).
            expand_results: Ask for ``results`` (``expand=results``): one entry
                per source file, with the job made for it.
            project_id: Sent as ``project_id`` (scopes the lookup).
            organization_id: Sent as ``organization_id``.

        Raises:
            ValueError: A bad argument, named in the message, before any request.
            RuntimeError: The client is closed.
            BatchNotFoundError: No such batch (HTTP 404); carries ``request_id``.
            LlamaBatchError: Any other failure, after the retries.
        """
        self._check_open()
        return await _get_batch(
            self._context,
            batch_id,
            expand_results=expand_results,
            project_id=project_id,
            organization_id=organization_id,
        )

    def finished_batches(
        self,
        batch_ids: Iterable[str],
        *,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        timeout: float | None = None,
        expand_results: bool = False,
    ) -> AsyncGenerator[Batch, None]:
        """Poll each batch by id and yield it the moment it is completed, failed or cancelled.

        Each poll is one `get_batch` per batch still pending (a few at a time),
        with the client's retries. Polls come every ``poll_interval`` seconds
        while batches change, back off to 4x that while nothing does, and never
        before the client's rate-limit pause ends: the same pacing as
        `finished_jobs`. Arguments are checked at once; nothing is sent until
        iteration.

        Args:
            batch_ids: The ids of the batches (repeats are ignored).
            poll_interval: Seconds between polls while batches change.
            timeout: Seconds the whole wait may take; None for no limit.
            expand_results: Fetch each batch with its ``results``.

        Raises:
            ValueError: A bad argument, named in the message, at the call.
            RuntimeError: The client is closed.
            WaitTimeoutError: ``timeout`` passed first; ``.batches`` and ``.pending``.
            BatchNotFoundError: Some ids were 404 in three polls in a row; ``.missing``.
            LlamaBatchError: A request failed after its retries.
        """
        get, ids, pacing = self._poll_with(batch_ids, poll_interval, timeout, expand_results)
        return _batch_watch.finished_batches(get, ids, pacing)

    async def wait_for_batches(
        self,
        batch_ids: Iterable[str],
        *,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        timeout: float | None = None,
        expand_results: bool = False,
    ) -> dict[str, Batch]:
        """Poll each batch by id until every one is completed, failed or cancelled.

        `finished_batches`, collected: the same polls, back-off and errors.

        Returns:
            The final record of each batch, by id, in the order of ``batch_ids``.

        Raises:
            ValueError: A bad argument, named in the message, before any request.
            RuntimeError: The client is closed.
            WaitTimeoutError: ``timeout`` passed first; ``.batches`` and ``.pending``.
            BatchNotFoundError: Some ids were 404 in three polls in a row; ``.missing``.
            LlamaBatchError: A request failed after its retries.
        """
        get, ids, pacing = self._poll_with(batch_ids, poll_interval, timeout, expand_results)
        return await _batch_watch.wait_batches(get, ids, pacing)

    def watch_batches(
        self,
        batch_ids: Iterable[str],
        *,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
        timeout: float | None = None,
        expand_results: bool = False,
    ) -> AsyncGenerator[_batch_watch.BatchEvent, None]:
        """Poll each batch by id and yield a `BatchEvent` for every change.

        ``added`` at the first poll that sees a batch, ``changed`` whenever a
        later poll sees any field differ; the iterator ends once every batch
        is terminal (after yielding that change). Same pacing and errors as
        `finished_batches`.

        Raises:
            ValueError: A bad argument, named in the message, at the call.
            RuntimeError: The client is closed.
            WaitTimeoutError: ``timeout`` passed first.
            BatchNotFoundError: Some ids were 404 in three polls in a row.
            LlamaBatchError: A request failed after its retries.
        """
        get, ids, pacing = self._poll_with(batch_ids, poll_interval, timeout, expand_results)
        return _batch_watch.batch_events(get, ids, pacing)

    def _poll_with(
        self, batch_ids: object, poll_interval: object, timeout: object, expand_results: object
    ) -> tuple[_batch_watch.GetBatch, tuple[str, ...], Pacing]:
        """What a batch wait polls with, its arguments checked at the call (client open)."""
        self._check_open()
        ids, pacing = _batch_watch.check_batch_wait(
            batch_ids, poll_interval, timeout, self._context.limiter
        )
        return _batch_watch.batch_getter(self.get_batch, expand_results), ids, pacing

    # ------------------------------------------------------------ one job, its items, writes

    async def get_job(
        self,
        job_id: str,
        *,
        project_id: str | None = None,
        organization_id: str | None = None,
    ) -> JobProgress:
        """Fetch one job's status (``GET .../batch-processing/{job_id}``), with retries.

        One request, whatever the job's place in the listing. Retries, the
        client-wide 429 pause and the limiter apply as for a page.

        Args:
            job_id: The job's id (one path segment).
            project_id: Sent as ``project_id`` (scopes the lookup).
            organization_id: Sent as ``organization_id``.

        Returns:
            A `JobProgress`: ``.job`` (the `BatchJob` a listing yields) and
            ``.progress_percentage``.

        Raises:
            ValueError: A bad argument, named in the message, before any request.
            RuntimeError: The client is closed.
            JobNotFoundError: No such job (HTTP 404); ``.missing``, ``.request_id``.
            LlamaBatchError: Any other failure, after the retries.
        """
        self._check_open()
        job_id = check_id("job_id", job_id)
        params = _scope(project_id, organization_id)
        url = resource_url(self._context.config.base_url, JOB_PATH, job_id=job_id)
        request = build_request(self._context.config, url, params)
        async with _job_not_found(job_id):
            return await self._context.send(request, _decode(structure_job_progress))

    def list_job_items(
        self,
        job_id: str,
        *,
        status: ItemStatus | str | None = None,
        project_id: str | None = None,
        organization_id: str | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        offset: int = 0,
        max_items: int | None = None,
        resume_from: str | None = None,
        prefetch: int = DEFAULT_PREFETCH,
    ) -> ItemPager:
        """List one job's items (``GET .../{job_id}/items``), lazily: returns an `ItemPager`.

        The same walk as `list_jobs` (by offset, each item once under server
        caps and drift, ``async for`` / ``.pages()`` / ``.collect()``, errors
        carrying ``.cursor``), over the job's items: the files that failed
        (``status="failed"``), completed, were skipped.

        Args:
            job_id: The job's id (one path segment).
            status: Only items in this status (`ItemStatus` or ``"failed"``, ...).
            project_id: Sent as ``project_id``.
            organization_id: Sent as ``organization_id``.
            page_size: Items per request (``limit``), 1 to 1000; the server may cap it.
            offset: Items to skip at the start.
            max_items: Stop after this many items; None for all.
            resume_from: An `ItemPage.cursor` (or an error's ``.cursor``) of the
                same job and filters; a cursor of another job, filter or
                listing is refused.
            prefetch: Page requests to keep in flight ahead (as `list_jobs`).

        Raises:
            ValueError: A bad argument, named in the message, before any request.
            RuntimeError: The client is closed.
            JobNotFoundError: (while iterating) no such job (HTTP 404).
        """
        self._check_open()
        query = make_item_query(
            job_id=job_id,
            status=status,
            project_id=project_id,
            organization_id=organization_id,
            page_size=page_size,
            offset=offset,
            max_items=max_items,
        )
        check_count("prefetch", prefetch, minimum=0, maximum=MAX_PREFETCH)
        start = resume_start(resume_from, query, offset=offset)
        return ItemPager(
            self._context, query, start=start, resume_from=resume_from, prefetch=prefetch
        )

    async def cancel_job(self, job_id: str, *, reason: str | None = None) -> JobCancellation:
        """Cancel one job (``POST .../{job_id}/cancel``, body ``{"reason": ...}``).

        The server stops the job and marks its pending items ``cancelled``;
        items being processed may still complete. A cancel is idempotent on
        the server's side, so it is retried like a read (connection errors,
        408, 429, 5xx); a 409 (the job already finished) is final.

        Args:
            job_id: The job's id (one path segment).
            reason: Why, for the job's record; None sends ``{}``.

        Returns:
            A `JobCancellation`: ``job_id``, ``status``, ``processed_items``, ``message``.

        Raises:
            ValueError: A bad argument, named in the message, before any request.
            RuntimeError: The client is closed.
            JobNotFoundError: No such job (HTTP 404).
            ConflictError: The job cannot be cancelled (HTTP 409: already finished).
            LlamaBatchError: Any other failure, after the retries.
        """
        self._check_open()
        job_id = check_id("job_id", job_id)
        if reason is not None and not isinstance(reason, str):
            raise must_be("reason", "None or a string", reason)
        # spec: batch-job-endpoints - the cancel endpoint requires a body, even an empty one
        body = _json_body({} if reason is None else {"reason": reason}, "reason")
        url = resource_url(self._context.config.base_url, JOB_CANCEL_PATH, job_id=job_id)
        request = build_request(self._context.config, url, (), method="POST", body=body)
        async with _job_not_found(job_id), _not_cancellable(f"job {job_id!r}"):
            return await self._context.send(request, _decode(structure_cancellation))

    async def create_job(
        self,
        *,
        job_config: Mapping[str, object],
        directory_id: str | None = None,
        item_ids: Iterable[str] | None = None,
    ) -> BatchJob:
        """Start a batch job (``POST /api/v1/beta/batch-processing``) over a directory or items.

        A create is not idempotent, and the API takes no idempotency key: it is
        retried only when the server certainly did not act on it (the
        connection was refused, a 429, a 503 with ``Retry-After``). A failure
        after the request was sent raises `CreateUncertainError`: the job may
        exist; find it with ``list_jobs(directory_id=...)`` (newest first)
        before creating again.

        Args:
            job_config: The job's configuration as the vendor documents it
                (``{"job_name": "parse_raw_file_job", "parameters": {...}}``),
                passed through as JSON.
            directory_id: Process every file of this directory.
            item_ids: Process these items. Exactly one of ``directory_id`` and
                ``item_ids``.

        Returns:
            The new job's record (201).

        Raises:
            ValueError: A bad argument, named in the message, before any request.
            RuntimeError: The client is closed.
            CreateUncertainError: The request may have reached the server.
            LlamaBatchError: Any other failure (a 4xx, a 5xx: not retried).
        """
        self._check_open()
        document = _job_document(job_config, directory_id, item_ids)
        body = _json_body(document, "job_config")
        url = self._context.config.base_url + JOBS.path
        request = build_request(
            self._context.config, url, (), method="POST", body=body, idempotent=False
        )
        where = (
            f"list_jobs(directory_id={directory_id!r})"
            if directory_id is not None
            else "list_jobs() (newest first)"
        )
        async with _uncertain("job", where):
            return await self._context.send(request, _decode(structure_job))

    async def cancel_batch(self, batch_id: str) -> Batch:
        """Cancel one v2 batch (``POST /api/v2/batches/{batch_id}/cancel``); returns the batch.

        It returns at once; the batch reaches ``CANCELLED`` once processing
        stops, and files that finished keep their results. Retried like a read
        (a cancel is idempotent on the server); a batch already completed,
        failed or cancelled cannot be cancelled: `ConflictError`, not retried.

        Raises:
            ValueError: A bad ``batch_id``, before any request.
            RuntimeError: The client is closed.
            BatchNotFoundError: No such batch (HTTP 404).
            ConflictError: The batch is already terminal (HTTP 409).
            LlamaBatchError: Any other failure, after the retries.
        """
        self._check_open()
        batch_id = check_id("batch_id", batch_id)
        url = resource_url(self._context.config.base_url, BATCH_CANCEL_PATH, batch_id=batch_id)
        request = build_request(self._context.config, url, (), method="POST")
        async with _batch_not_found(batch_id), _not_cancellable(f"batch {batch_id!r}"):
            return await self._context.send(request, _decode_batch)

    async def create_batch(
        self,
        *,
        source_directory_id: str,
        job_type: BatchJobType | str,
        configuration_id: str,
        webhook_configurations: Sequence[Mapping[str, object]] | None = None,
    ) -> Batch:
        """Start a v2 batch (``POST /api/v2/batches``) over a source directory.

        Sent once: like `create_job`, retried only when the server certainly
        did not act; after a failure once sent, `CreateUncertainError` (find
        the batch with ``list_batches(source_directory_id=...)``).

        Args:
            source_directory_id: The directory whose files to process.
            job_type: The product job per file (`BatchJobType`: ``"parse_v2"``,
                ``"extract_v2"``).
            configuration_id: The product configuration or preset id.
            webhook_configurations: Webhooks as the vendor documents them,
                passed through as JSON.

        Returns:
            The new batch (201).

        Raises:
            ValueError: A bad argument, named in the message, before any request.
            RuntimeError: The client is closed.
            CreateUncertainError: The request may have reached the server.
            LlamaBatchError: Any other failure (not retried).
        """
        self._check_open()
        document = _batch_document(
            source_directory_id, job_type, configuration_id, webhook_configurations
        )
        body = _json_body(document, "webhook_configurations")
        url = self._context.config.base_url + BATCHES.path
        request = build_request(
            self._context.config, url, (), method="POST", body=body, idempotent=False
        )
        where = f"list_batches(source_directory_id={source_directory_id!r})"
        async with _uncertain("batch", where):
            return await self._context.send(request, _decode_batch)

    def with_options(
        self,
        *,
        timeout: float | None = None,
        max_retries: int | None = None,
        retry_after_cap: float | None = None,
    ) -> BatchClient:
        """A copy of this client with other request settings, sharing its connections.

        The copy sends through the same session (or transport) and waits on the
        same limiter, so a 429 seen by either pauses both; only the settings
        given (not None) change. Closing the copy closes only the copy; closing the
        original closes the shared session, and the copy with it. A custom
        ``transport=`` is told each attempt's timeout in ``Request.timeout``.

        Args:
            timeout: Seconds one attempt of one page request may take (finite, > 0).
            max_retries: Retries after the first attempt of each page request.
            retry_after_cap: The longest ``Retry-After`` (seconds) slept through.

        Raises:
            ValueError: A setting is invalid (the same checks as the constructor).
            RuntimeError: The client is closed.
        """
        self._check_open()
        context = _evolve_context(
            self._context,
            timeout=timeout,
            max_retries=max_retries,
            retry_after_cap=retry_after_cap,
        )
        copy = object.__new__(BatchClient)
        copy._context = context
        copy._closed = False
        copy._owner = self._owner or self
        return copy

    async def __aenter__(self) -> BatchClient:
        self._check_open()
        return self


def _make_context(
    *,
    api_key: str | None,
    base_url: str | None,
    session_cookie: str | None,
    session: aiohttp.ClientSession | None,
    transport: Transport | None,
    timeout: float,
    max_retries: int,
    retry_after_cap: float,
    trust_env: bool,
    trace_configs: Sequence[aiohttp.TraceConfig] | None,
    connection_limit: int,
    max_response_bytes: int,
    limiter: Limiter | LimiterLike | None,
) -> Sender:
    """Check `BatchClient`'s settings and build what its walks borrow.

    Raises:
        ValueError: As `BatchClient` documents, naming the parameter.
    """
    config = make_config(
        api_key=api_key,
        base_url=base_url,
        session_cookie=session_cookie,
        timeout=timeout,
        max_retries=max_retries,
        retry_after_cap=retry_after_cap,
        trust_env=trust_env,
    )
    if session is not None and (config.trust_env or trace_configs):
        raise ValueError(
            "trust_env and trace_configs configure the client's own session; "
            "with session=..., set them on that session instead"
        )
    check_count("connection_limit", connection_limit, minimum=1)
    if transport is None:
        transport = AiohttpTransport(
            timeout=config.timeout,
            session=session,
            trust_env=config.trust_env,
            trace_configs=trace_configs,
            connection_limit=connection_limit,
            max_response_bytes=max_response_bytes,
        )
    elif session is not None:
        raise ValueError("pass session or transport, not both")
    elif config.trust_env or trace_configs:
        raise ValueError(
            "trust_env and trace_configs configure the client's own session; "
            "with transport=..., configure the transport instead"
        )
    limiter = adopt(limiter)
    # A shared limiter derives its default key from this client's base URL and API
    # key (hashed); the others ignore it.
    limiter.bind(config.base_url, config.api_key)
    return Sender(
        config=config,
        transport=transport,
        policy=RetryPolicy(max_retries=config.max_retries, retry_after_cap=config.retry_after_cap),
        limiter=limiter,
        sleep=asyncio.sleep,
    )


def _evolve_context(
    context: Sender,
    *,
    timeout: float | None,
    max_retries: int | None,
    retry_after_cap: float | None,
) -> Sender:
    """``context`` with the settings given (not None) changed: `BatchClient.with_options`.

    Raises:
        ValueError: A setting is invalid (the same checks as the constructor).
    """
    old = context.config
    config = attrs.evolve(
        old,
        timeout=old.timeout if timeout is None else check_seconds("timeout", timeout),
        max_retries=(
            old.max_retries
            if max_retries is None
            else check_count("max_retries", max_retries, minimum=0)
        ),
        retry_after_cap=(
            old.retry_after_cap
            if retry_after_cap is None
            else check_seconds("retry_after_cap", retry_after_cap, allow_zero=True, finite=False)
        ),
    )
    return attrs.evolve(
        context,
        config=config,
        policy=RetryPolicy(max_retries=config.max_retries, retry_after_cap=config.retry_after_cap),
    )


async def _get_batch(
    context: Sender,
    batch_id: str,
    *,
    expand_results: bool,
    project_id: str | None,
    organization_id: str | None,
) -> Batch:
    """Fetch one batch, as `BatchClient.get_batch` documents.

    Raises:
        ValueError: A bad argument, named in the message, before any request.
        BatchNotFoundError: No such batch (HTTP 404); carries ``request_id``.
        LlamaBatchError: Any other failure, after the retries.
    """
    batch_id = check_id("batch_id", batch_id)
    params: list[tuple[str, str]] = []
    if check_flag("expand_results", expand_results):
        params.append(("expand", "results"))
    for name, value in (("project_id", project_id), ("organization_id", organization_id)):
        if value is not None:
            params.append((name, check_id(name, value)))
    request = build_batch_request(context.config, batch_id, tuple(params))
    try:
        return await context.send(request, _decode_batch)
    except NotFoundError as exc:
        raise record_not_found(BatchNotFoundError, "batch", batch_id, exc) from None


def _decode_batch(body: bytes) -> Batch:
    return structure_batch(parse_body(body))


# ---------------------------------------------------------------- single calls and writes


def _decode(structure: Callable[[object], _T]) -> Callable[[bytes], _T]:
    """A body decoder: JSON, then ``structure`` (both raise `ResponseValidationError`)."""

    def decode(body: bytes) -> _T:
        return structure(parse_body(body))

    return decode


def _scope(project_id: object, organization_id: object) -> tuple[tuple[str, str], ...]:
    """``project_id`` / ``organization_id`` as query pairs, each checked as a query id."""
    return tuple(
        (name, check_query_id(name, value))
        for name, value in (("project_id", project_id), ("organization_id", organization_id))
        if value is not None
    )


def _json_body(document: object, name: str) -> bytes:
    """``document`` as JSON bytes; a value JSON cannot hold is a ValueError naming ``name``."""
    try:
        return json.dumps(document, separators=(",", ":"), allow_nan=False).encode()
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must hold JSON values only: {exc}") from None


def _job_document(job_config: object, directory_id: object, item_ids: object) -> dict[str, object]:
    """The create_job body, its arguments checked (ValueError naming the bad one)."""
    if not isinstance(job_config, Mapping) or not all(isinstance(k, str) for k in job_config):
        raise must_be(
            "job_config", "a mapping of str keys (the vendor's job configuration)", job_config
        )
    if (directory_id is None) == (item_ids is None):
        raise ValueError("pass exactly one of directory_id and item_ids")
    document: dict[str, object] = {"job_config": dict(job_config)}
    if directory_id is not None:
        document["directory_id"] = check_query_id("directory_id", directory_id)
    else:
        document["item_ids"] = list(check_ids("item_ids", item_ids))
    return document


def _batch_document(
    source_directory_id: object,
    job_type: object,
    configuration_id: object,
    webhook_configurations: object,
) -> dict[str, object]:
    """The create_batch body, its arguments checked (ValueError naming the bad one)."""
    if isinstance(job_type, BatchJobType):
        kind = str(job_type.value)
    else:
        kind = check_choice("job_type", job_type, (member.value for member in BatchJobType))
    document: dict[str, object] = {
        "source_directory_id": check_query_id("source_directory_id", source_directory_id),
        "config": {
            "job": {
                "type": kind,
                "configuration_id": check_query_id("configuration_id", configuration_id),
            }
        },
    }
    if webhook_configurations is not None:
        if (
            isinstance(webhook_configurations, str | bytes | Mapping)
            or not isinstance(webhook_configurations, Sequence)
            or not all(isinstance(hook, Mapping) for hook in webhook_configurations)
        ):
            raise must_be(
                "webhook_configurations", "None or a list of mappings", webhook_configurations
            )
        document["webhook_configurations"] = [dict(hook) for hook in webhook_configurations]
    return document


@contextlib.asynccontextmanager
async def _job_not_found(job_id: str) -> AsyncIterator[None]:
    """A 404 for ``job_id`` becomes `JobNotFoundError` (request id and body kept)."""
    try:
        yield
    except NotFoundError as exc:
        raise record_not_found(JobNotFoundError, "job", job_id, exc) from None


@contextlib.asynccontextmanager
async def _batch_not_found(batch_id: str) -> AsyncIterator[None]:
    """A 404 for ``batch_id`` becomes `BatchNotFoundError` (request id and body kept)."""
    try:
        yield
    except NotFoundError as exc:
        raise record_not_found(BatchNotFoundError, "batch", batch_id, exc) from None


@contextlib.asynccontextmanager
async def _not_cancellable(what: str) -> AsyncIterator[None]:
    """A cancel's 409 says the record already finished: the message says so."""
    try:
        yield
    except ConflictError as exc:
        raise ConflictError(
            f"{what} cannot be cancelled: it has already finished (HTTP 409"
            + (f", request id {exc.request_id}" if exc.request_id else "")
            + ")"
            + (f": {exc.body}" if exc.body else ""),
            status_code=409,
            request_id=exc.request_id,
            body=exc.body,
        ) from None


@contextlib.asynccontextmanager
async def _uncertain(noun: str, where: str) -> AsyncIterator[None]:
    """A create's connection failure once sent becomes `CreateUncertainError`."""
    try:
        yield
    except APIConnectionError as exc:
        if not exc.sent or isinstance(exc, CreateUncertainError):
            raise
        raise CreateUncertainError(
            f"the create request may have reached the server ({exc}); the {noun} may exist "
            f"and the request was not sent again: look for it with {where} before creating "
            "another"
        ) from exc
