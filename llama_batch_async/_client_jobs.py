"""`BatchClient`'s v1 methods: list the jobs, wait for them, watch the listing.

Each method checks its arguments at the call and hands a `JobPager` (or its
``pages``) to `_watch`; nothing here sends a request itself. See
`_client_core` for how `BatchClient` is assembled.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Iterable, Mapping

from ._client_core import ClientCore
from ._config import DEFAULT_PAGE_SIZE, DEFAULT_POLL_INTERVAL, DEFAULT_PREFETCH, MAX_PREFETCH
from ._models import BatchJob, JobStatus, JobType
from ._paging._cursor import resume_start
from ._paging._pager import JobPager
from ._paging._query import make_query
from ._polling import _jobs as _watch
from ._validate import check_count

__all__ = ["JobMethods"]


class JobMethods(ClientCore):
    """The v1 job listing (``GET /api/v1/beta/batch-processing``) and the waits over it."""

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
        ids, pacing = _watch.check_wait(job_ids, poll_interval, timeout, self._local_gate)
        _watch.check_on_seen(on_seen)
        pager = self.list_jobs(project_id=project_id, directory_id=directory_id)
        return _watch.finished(_watch.observed(pager.pages, ids, on_seen), ids, pacing)

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
        ids, pacing = _watch.check_wait(job_ids, poll_interval, timeout, self._local_gate)
        pager = self.list_jobs(project_id=project_id, directory_id=directory_id)
        return await _watch.poll_until_terminal(pager.pages, ids, pacing)

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
        pacing, first = _watch.check_watch(poll_interval, initial, self._local_gate)
        pager = self.list_jobs(
            directory_id=directory_id,
            job_type=job_type,
            status=status,
            project_id=project_id,
            organization_id=organization_id,
            page_size=page_size,
        )
        return _watch.poll_events(pager.pages, pacing, initial=first)
