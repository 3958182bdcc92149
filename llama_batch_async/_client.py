"""`BatchClient`: the public methods and their docstrings, each a thin delegation.

Settings and the transport choice are `_context`'s; the walks are `_pager`'s;
one batch by id is `_batch_get`'s; the waits are `_watch`'s (jobs) and
`_batch_watch`'s (batches). The client keeps its `WalkContext` and whether it is
closed.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Iterable, Mapping, Sequence
from datetime import datetime
from types import TracebackType

import aiohttp

from . import _batch_get, _batch_watch, _watch
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
    Config,
)
from ._context import evolve_context, local_gate, make_context
from ._cursor import resume_start
from ._limiter import Limiter, LocalLimiter
from ._models import Batch, BatchJob, BatchStatus, JobStatus, JobType
from ._pager import BatchPager, JobPager
from ._query import make_batch_query, make_query
from ._transport import Transport
from ._validate import check_count
from ._windowed import check_windows

__all__ = ["BatchClient"]


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
        limiter: Limiter | None = None,
    ) -> None:
        self._context = make_context(
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
        self._config: Config = self._context.config
        self._transport: Transport = self._context.transport
        self._closed = False
        self._owner: BatchClient | None = None  # set on a `with_options` copy

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
        if self.closed:
            raise RuntimeError("this BatchClient is closed; create a new one")
        copy = object.__new__(BatchClient)
        copy._context = evolve_context(
            self._context,
            timeout=timeout,
            max_retries=max_retries,
            retry_after_cap=retry_after_cap,
        )
        copy._config = copy._context.config
        copy._transport = self._transport
        copy._closed = False
        copy._owner = self._owner or self
        return copy

    @property
    def _local_gate(self) -> LocalLimiter | None:
        return local_gate(self._context)

    def __repr__(self) -> str:
        state = " closed" if self.closed else ""
        return f"<BatchClient base_url={self._config.base_url!r}{state}>"

    @property
    def base_url(self) -> str:
        """The API base URL requests go to."""
        return self._config.base_url

    @property
    def closed(self) -> bool:
        """True once `aclose` has been called (on a `with_options` copy: on it or its original)."""
        return self._closed or (self._owner is not None and self._owner.closed)

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
        if self.closed:
            raise RuntimeError("this BatchClient is closed; create a new one")
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
        return await _batch_get.get_batch(
            self._context,
            batch_id,
            expand_results=expand_results,
            project_id=project_id,
            organization_id=organization_id,
        )

    def _check_open(self) -> None:
        if self.closed:  # a with_options copy is closed with its original
            raise RuntimeError("this BatchClient is closed; create a new one")

    async def aclose(self) -> None:
        """Close the client's own session (a caller's is left open); idempotent.

        On a `with_options` copy, only the copy closes: the session it shares
        stays open for its original.
        """
        self._closed = True
        if self._owner is None:
            await self._transport.aclose()

    async def __aenter__(self) -> BatchClient:
        if self.closed:
            raise RuntimeError("this BatchClient is closed; create a new one")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

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
        """Poll the listing and yield each job the moment it is completed, failed or cancelled.

        Each job is yielded once, in the order the walks reach them. Each poll
        walks the listing (with the filters given) only until every job still
        pending has been seen. Polls come every ``poll_interval`` seconds while
        jobs change, back off to 4x that while nothing does, and never before
        the client's rate-limit pause ends. Arguments are checked at once;
        nothing is sent until iteration, and polling happens only while the
        iterator is awaited. Close it with ``aclose()`` or
        `contextlib.aclosing` to stop early.

        Args:
            job_ids: The ids of the jobs to wait for (repeats are ignored).
            project_id: Walk only this project's jobs (fewer pages per poll).
            directory_id: Walk only this directory's jobs.
            poll_interval: Seconds between polls while jobs change.
            timeout: Seconds the whole wait may take, walks included; None for
                no limit.
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
            JobNotFoundError: Some ids were absent from three complete walks in
                a row; ``.missing`` names them.
            LlamaBatchError: A poll failed after the pager's retries.
        """
        ids, interval, limit = _watch.check_wait(job_ids, poll_interval, timeout)
        _watch.check_on_seen(on_seen)
        pager = self.list_jobs(project_id=project_id, directory_id=directory_id)
        pages = _watch.observed(pager.pages, ids, on_seen)
        return _watch.finished(
            pages, ids, poll_interval=interval, timeout=limit, gate=self._local_gate
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
        """Poll the listing until every job is completed, failed or cancelled.

        `finished_jobs`, collected: the same polls, back-off and errors.

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
        ids, interval, limit = _watch.check_wait(job_ids, poll_interval, timeout)
        pager = self.list_jobs(project_id=project_id, directory_id=directory_id)
        return await _watch.poll_until_terminal(
            pager.pages, ids, poll_interval=interval, timeout=limit, gate=self._local_gate
        )

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
        interval, first = _watch.check_watch(poll_interval, initial)
        pager = self.list_jobs(
            directory_id=directory_id,
            job_type=job_type,
            status=status,
            project_id=project_id,
            organization_id=organization_id,
            page_size=page_size,
        )
        return _watch.poll_events(
            pager.pages, poll_interval=interval, initial=first, gate=self._local_gate
        )

    # ------------------------------------------------------------ v2 batch waits

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
        self._check_open()
        ids, interval, limit = _batch_watch.check_batch_wait(batch_ids, poll_interval, timeout)
        return _batch_watch.finished_batches(
            _batch_watch.batch_getter(self.get_batch, expand_results),
            ids,
            poll_interval=interval,
            timeout=limit,
            gate=self._local_gate,
        )

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
        self._check_open()
        ids, interval, limit = _batch_watch.check_batch_wait(batch_ids, poll_interval, timeout)
        return await _batch_watch.wait_batches(
            _batch_watch.batch_getter(self.get_batch, expand_results),
            ids,
            poll_interval=interval,
            timeout=limit,
            gate=self._local_gate,
        )

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
        self._check_open()
        ids, interval, limit = _batch_watch.check_batch_wait(batch_ids, poll_interval, timeout)
        return _batch_watch.batch_events(
            _batch_watch.batch_getter(self.get_batch, expand_results),
            ids,
            poll_interval=interval,
            timeout=limit,
            gate=self._local_gate,
        )
