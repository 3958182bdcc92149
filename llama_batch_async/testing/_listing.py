"""The fake's listing, without I/O: job store, filters, validation, paging, tokens, progress.

`Listing` decides every answer of the list endpoint from a query mapping, so
it is tested as plain values, served by `FakeLlamaCloud` over aiohttp, and
served without a socket by `ListingTransport`.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any, Final

from ._actions import JobActions
from ._batch_listing import BatchListing, PageTokenError, PageTokens, validation_error
from ._jobs import (
    JOB_STATUSES,
    JOB_TYPES,
    PROJECT_ORGANIZATIONS,
    complete_job,
    make_jobs,
    parse_timestamp,
    synthesize_job,
)
from ._options import PAGING_KINDS, PagingKind, check_option_names
from ._progress import Schedule, advance, plan

__all__ = ["PAGING_KINDS", "Listing", "PagingKind"]


_FILTERS: Final[tuple[str, ...]] = (
    "directory_id",
    "job_type",
    "status",
    "project_id",
    "organization_id",
)
_ENUMS: Final[Mapping[str, tuple[str, ...]]] = {"job_type": JOB_TYPES, "status": JOB_STATUSES}


_validation_error = validation_error
_PageTokenError = PageTokenError


def _random_step(rng: random.Random) -> timedelta:
    return timedelta(seconds=rng.randint(1, 120), milliseconds=rng.randint(0, 999))


class Listing(BatchListing, JobActions):
    """The list endpoint's answers as plain values: ``answer(query) -> (status, payload)``.

    The v2 batches endpoints are answered by ``answer_batches`` and
    ``answer_batch`` (`BatchListing`), under the same options.

    See `FakeLlamaCloud` (which is a `Listing`) for the behaviour; this class
    does no I/O and needs no event loop.

    Args:
        jobs: How many synthetic jobs to generate, or the jobs themselves.
        batches: How many synthetic v2 batches to generate, or the batches.
        **options: The `ListingOptions` (``seed``, ``paging``, ``max_limit``,
            ``progress``, ...), declared and checked there once.

    Raises:
        ValueError: An option's value is out of range (the message names it).
        TypeError: An unknown option.
    """

    def __init__(
        self,
        jobs: int | Sequence[Mapping[str, Any]] = 0,
        *,
        batches: int | Sequence[Mapping[str, Any]] = 0,
        **options: Any,  # noqa: ANN401 - ListingOptions' keywords (ServerOptions' for the fake)
    ) -> None:
        check_option_names(type(self), options)
        super().__init__(**options)
        if isinstance(jobs, int):
            self.jobs: list[dict[str, Any]] = make_jobs(jobs, seed=self.seed)
        else:
            self.jobs = [complete_job(job) for job in jobs]
        self.project_organizations: dict[str, str] = dict(
            PROJECT_ORGANIZATIONS if self.organizations is None else self.organizations
        )
        self._tokens = PageTokens()
        self._insert_rng = random.Random(f"insert:{self.seed}")  # noqa: S311 - test data
        self._fixed_token: str | None = None
        self._schedules: dict[str, Schedule] = {}
        self._progressing = False
        self._init_batches(batches)

    # ------------------------------------------------------------------ answers

    def answer(self, query: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
        """Answer one list request: 200 with a page, 422 with details, or 400.

        Args:
            query: The query parameters (for a repeated name, the last value).

        Returns:
            The status and the JSON payload.
        """
        errors: list[object] = []
        limit = self._int_param(query, "limit", self.default_limit, errors)
        offset = self._int_param(query, "offset", 0, errors)
        filters = {name: query[name] for name in _FILTERS if name in query}
        for name, allowed in _ENUMS.items():
            given = filters.get(name)
            if given is not None and given not in allowed:
                expected = ", ".join(f"'{item}'" for item in allowed[:-1])
                expected = f"{expected} or '{allowed[-1]}'"
                errors.append(
                    _validation_error(
                        "enum", name, f"Input should be {expected}", given, expected=expected
                    )
                )
        if errors:
            return 422, {"detail": errors}
        token = query.get("page_token")
        if self.paging == "token":
            offset = 0  # this kind ignores offset
        if token and self.paging != "token-ignored":
            try:
                offset = self._read_token(token, filters)
            except _PageTokenError as exc:
                return 400, {"detail": str(exc)}
        return 200, self._page(filters, offset, limit)

    def answer_route(  # noqa: PLR0911 - one answer per route
        self,
        method: str,
        path: str,
        query: Mapping[str, str],
        match: Mapping[str, str],
        body: object = None,
    ) -> tuple[int, dict[str, Any]]:
        """Answer any request the fake serves, by method, path and the path's ids.

        Args:
            method: ``GET`` or ``POST``.
            path: The URL path.
            query: The query parameters.
            match: The ids in the path (``job_id``, ``batch_id``), unquoted, and
                ``action`` (``items``, ``cancel``) where the path has one.
            body: A POST's decoded JSON body (None when absent or not JSON).
        """
        job_id, batch_id, action = match.get("job_id"), match.get("batch_id"), match.get("action")
        if method == "POST":
            if job_id is not None and action == "cancel":
                return self.answer_cancel_job(job_id, body)
            if batch_id is not None and action == "cancel":
                return self.answer_cancel_batch(batch_id)
            if path.rstrip("/").endswith("/api/v2/batches"):
                return self.answer_create_batch(body)
            if path.endswith("/api/v1/beta/batch-processing"):
                return self.answer_create_job(body)
            return 404, {"detail": "Not Found"}
        if job_id is not None:
            return (
                self.answer_items(job_id, query) if action == "items" else self.answer_job(job_id)
            )
        return self.answer_path(path, query, batch_id)

    def _forget_schedule(self, record_id: str) -> None:
        """Stop moving a job or batch along (it was cancelled)."""
        self._schedules.pop(record_id, None)
        self._batch_schedules.pop(record_id, None)

    def answer_path(
        self, path: str, query: Mapping[str, str], batch_id: str | None = None
    ) -> tuple[int, dict[str, Any]]:
        """Answer a GET by its path: the v1 list, the v2 list, or one v2 batch.

        Args:
            path: The URL path (any prefix before the API path is allowed).
            query: The query parameters.
            batch_id: The batch id of ``/api/v2/batches/{batch_id}``, already
                split off the path (unquoted).
        """
        if batch_id is not None:
            return self.answer_batch(batch_id, query)
        if path.rstrip("/").endswith("/api/v2/batches"):
            return self.answer_batches(query)
        if path.endswith("/api/v1/beta/batch-processing"):
            return self.answer(query)
        return 404, {"detail": "Not Found"}

    def _int_param(
        self, query: Mapping[str, str], name: str, default: int, errors: list[object]
    ) -> int:
        text = query.get(name)
        if text is None:
            return default
        try:
            value = int(text.strip())
        except ValueError:
            errors.append(
                _validation_error(
                    "int_parsing",
                    name,
                    "Input should be a valid integer, unable to parse string as an integer",
                    text,
                )
            )
            return default
        if value < 0:
            errors.append(
                _validation_error(
                    "greater_than_equal",
                    name,
                    "Input should be greater than or equal to 0",
                    text,
                    ge=0,
                )
            )
            return default
        return value

    def _page(self, filters: Mapping[str, str], offset: int, limit: int) -> dict[str, Any]:
        self._advance()
        if filters:
            selected = [job for job in self.jobs if self._matches(job, filters)]
        else:
            selected = self.jobs
        if self.max_limit is not None:
            limit = min(limit, self.max_limit)
        start = 0 if self.ignore_offset else offset
        items = selected[start : start + limit]
        end = start + len(items)
        payload: dict[str, Any] = {"items": items}
        if self.repeat_token:
            if self._fixed_token is None:
                self._fixed_token = self._issue_token(end, filters)
            payload["next_page_token"] = self._fixed_token
        elif self.page_tokens and limit > 0 and end < len(selected):
            payload["next_page_token"] = self._issue_token(end, filters)
        if self.total_size:
            payload["total_size"] = len(selected)
        return payload

    def _matches(self, job: Mapping[str, Any], filters: Mapping[str, str]) -> bool:
        for name, value in filters.items():
            actual = self.organization_of(job) if name == "organization_id" else job.get(name)
            if actual != value:
                return False
        return True

    # ------------------------------------------------------------------ tokens

    def _issue_token(self, offset: int, filters: Mapping[str, str]) -> str:
        return self._tokens.issue(offset, filters)

    def _read_token(self, token: str, filters: Mapping[str, str]) -> int:
        return self._tokens.read(token, filters)

    # ------------------------------------------------------------------ jobs

    def set_jobs(self, jobs: int | Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Replace the whole listing.

        Args:
            jobs: How many synthetic jobs to generate (seeded with ``seed``), or
                the jobs themselves in listing order (missing required fields
                filled in; optional ones left out).

        Returns:
            The new job dicts, the same objects as in `jobs`.
        """
        if isinstance(jobs, int):
            self.jobs[:] = make_jobs(jobs, seed=self.seed)
        else:
            self.jobs[:] = [complete_job(job) for job in jobs]
        return self.jobs

    def insert_jobs(
        self, jobs: int | Sequence[Mapping[str, Any]], *, at: int = 0
    ) -> list[dict[str, Any]]:
        """Insert jobs into the listing (by default at the head: newest).

        Args:
            jobs: How many new synthetic jobs to create (newer than the current
                first job, leaning towards in-flight statuses, seeded), or the
                jobs themselves (missing required fields filled in).
            at: The list index to insert at (0: before every job).

        Returns:
            The inserted job dicts, in listing order (the same objects as in
            `jobs`).
        """
        if isinstance(jobs, int):
            if jobs < 0:
                msg = f"jobs must be >= 0, got {jobs}"
                raise ValueError(msg)
            newest = datetime.now(timezone.utc)
            if self.jobs:
                with contextlib.suppress(KeyError, TypeError, ValueError):
                    newest = parse_timestamp(self.jobs[0]["created_at"])
            created = []
            for _ in range(jobs):
                newest = newest.replace(microsecond=0) + _random_step(self._insert_rng)
                created.append(synthesize_job(self._insert_rng, newest, active=True))
            new = created[::-1]
        else:
            new = [complete_job(job) for job in jobs]
        self.jobs[at:at] = new
        if self._progressing:
            now = self.clock()
            for job in new:
                self._schedule(job, now)
        return new

    def remove_jobs(self, ids: str | Iterable[str]) -> list[dict[str, Any]]:
        """Remove jobs from the listing.

        Args:
            ids: One job id or several; unknown ids are ignored.

        Returns:
            The removed job dicts, in their former listing order.
        """
        wanted = {ids} if isinstance(ids, str) else set(ids)
        removed = [job for job in self.jobs if job.get("id") in wanted]
        self.jobs[:] = [job for job in self.jobs if job.get("id") not in wanted]
        for job_id in wanted:
            self._schedules.pop(job_id, None)
        return removed

    def update_job(self, job_id: str, **fields: Any) -> dict[str, Any]:  # noqa: ANN401
        """Change fields of one job in place (nothing else, not even ``updated_at``).

        Args:
            job_id: The job's id.
            **fields: The fields to set.

        Returns:
            The updated job dict.

        Raises:
            KeyError: No job has that id.
        """
        job = self.get_job(job_id)
        job.update(fields)
        return job

    def get_job(self, job_id: str) -> dict[str, Any]:
        """Return the job dict with this id.

        Args:
            job_id: The job's id.

        Returns:
            The job dict (the same object as in `jobs`).

        Raises:
            KeyError: No job has that id.
        """
        for job in self.jobs:
            if job.get("id") == job_id:
                return job
        raise KeyError(job_id)

    def organization_of(self, job: Mapping[str, Any]) -> str | None:
        """Return the organization a job belongs to, as ``organization_id`` filters it.

        Args:
            job: A job mapping.

        Returns:
            The job's own ``"organization_id"`` if it has the key, else its
            project's organization, else None.
        """
        if "organization_id" in job:
            value = job["organization_id"]
            return None if value is None else str(value)
        project = job.get("project_id")
        return self.project_organizations.get(project) if isinstance(project, str) else None

    # ------------------------------------------------------------------ progress

    def start_progress(self) -> None:
        """Schedule every job in flight from now on, if ``progress`` is on.

        Jobs inserted afterwards are scheduled from their insertion.
        """
        if not self.progress:
            return
        self._progressing = True
        now = self.clock()
        for job in self.jobs:
            self._schedule(job, now)
        self._start_batch_progress()

    def stop_progress(self) -> None:
        """Schedule no further inserted jobs (those scheduled keep moving when served)."""
        self._progressing = False

    def _schedule(self, job: Mapping[str, Any], now: float) -> None:
        schedule = plan(job, now, seed=self.seed, span=self.progress_seconds)
        if schedule is not None:
            self._schedules[job["id"]] = schedule

    def _advance(self) -> None:
        """Move scheduled jobs along to where the clock says they are."""
        if self._schedules:
            advance(self.jobs, self._schedules, self.clock())
