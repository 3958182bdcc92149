"""`BatchClient`'s v2 methods: list batches, fetch one, wait for them, watch them.

Each method checks its arguments at the call and delegates: the walk to
`BatchPager`, one batch to `_batch_get`, the waits to `_batch_watch` (one
`get_batch` per pending id per poll). See `_client_core` for how `BatchClient`
is assembled.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Iterable
from datetime import datetime

from . import _batch_get
from ._client_core import ClientCore
from ._config import DEFAULT_PAGE_SIZE, DEFAULT_POLL_INTERVAL
from ._models import Batch, BatchStatus
from ._paging._cursor import resume_start
from ._paging._pager import BatchPager
from ._paging._query import make_batch_query
from ._paging._windows import check_windows
from ._polling import _batches as _batch_watch
from ._polling._poller import Pacing

__all__ = ["BatchMethods"]


class BatchMethods(ClientCore):
    """The v2 batch listing (``GET /api/v2/batches``), one batch by id, and the waits on ids."""

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
            batch_ids, poll_interval, timeout, self._local_gate
        )
        return _batch_watch.batch_getter(self.get_batch, expand_results), ids, pacing
