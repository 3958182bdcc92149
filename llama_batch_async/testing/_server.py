"""``FakeLlamaCloud``: the batch-processing list endpoint as a real aiohttp server.

The fake depends on the standard library and aiohttp only, so it can be used
on its own. See `FakeLlamaCloud` for the behaviour it implements.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import contextvars
import hashlib
import hmac
import json
import logging
import math
import random
import secrets
import signal
import socket
import struct
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from http import HTTPStatus
from types import TracebackType
from typing import Any, Final, Literal, TextIO

from aiohttp import web
from aiohttp.typedefs import Handler
from multidict import CIMultiDict, CIMultiDictProxy

from ._jobs import (
    ACTIVE_STATUSES,
    JOB_STATUSES,
    JOB_TYPES,
    PROJECT_ORGANIZATIONS,
    complete_job,
    format_timestamp,
    make_jobs,
    parse_timestamp,
    synthesize_job,
)

__all__ = [
    "DEFAULT_CHAOS_KINDS",
    "ECHO_PATH",
    "ENDPOINT_PATH",
    "PAGING_KINDS",
    "FakeLlamaCloud",
    "Fault",
    "FaultKind",
    "PagingKind",
    "RecordedRequest",
    "run_fake_server",
]

logger = logging.getLogger(__name__)

ENDPOINT_PATH: Final = "/api/v1/beta/batch-processing"
"""The path of the list endpoint the fake serves."""

ECHO_PATH: Final = "/echo"
"""A path (any method) that answers with the request's method, headers, cookies and query."""

DEFAULT_CHAOS_KINDS: Final[tuple[str, ...]] = ("503", "502", "429", "reset", "truncate")
"""The fault kinds `FakeLlamaCloud.fault_rate` draws from by default."""

FaultKind = Literal["status", "respond", "reset", "truncate", "delay", "redirect"]
"""What a `Fault` does to the request it is applied to."""

PagingKind = Literal["offset", "both", "token-ignored", "token"]
"""How the fake pages, one of the ways a real server may read the reference:

- ``"offset"``: honours ``offset``, sends no ``next_page_token``;
- ``"both"``: sends tokens and honours both ``page_token`` and ``offset``;
- ``"token-ignored"``: sends tokens but ignores ``page_token`` (a request
  without ``offset`` gets the first page again);
- ``"token"``: sends tokens and honours only ``page_token`` (ignores ``offset``).
"""

PAGING_KINDS: Final[tuple[PagingKind, ...]] = ("offset", "both", "token-ignored", "token")
"""Every `PagingKind`."""

_FILTERS: Final[tuple[str, ...]] = (
    "directory_id",
    "job_type",
    "status",
    "project_id",
    "organization_id",
)
_ENUMS: Final[Mapping[str, tuple[str, ...]]] = {"job_type": JOB_TYPES, "status": JOB_STATUSES}
_SHUTDOWN_TIMEOUT: Final = 2.0
_REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("fake_llama_request_id")
_BAD_GATEWAY_PAGE: Final = (
    b"<html><head><title>502 Bad Gateway</title></head>"
    b"<body><center><h1>502 Bad Gateway</h1></center></body></html>"
)


@dataclass(frozen=True)
class Fault:
    """One scripted misbehaviour, applied to one request of the list endpoint.

    Args:
        kind: ``"status"`` (an error response), ``"respond"`` (an arbitrary raw
            response), ``"redirect"``, ``"reset"`` (drop the connection without
            answering), ``"truncate"`` (a 200 whose body stops half way) or
            ``"delay"`` (wait ``seconds``, then answer normally).
        status: The response status, for ``status``, ``respond`` and ``redirect``.
        body: The response body, for ``status`` and ``respond``.
        content_type: The ``Content-Type`` of ``body``.
        headers: Extra response headers, as (name, value) pairs.
        seconds: How long a ``delay`` fault waits.
        location: Where a ``redirect`` fault points (absolute or relative URL).
    """

    kind: FaultKind
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()
    seconds: float = 0.0
    location: str | None = None


@dataclass(frozen=True)
class RecordedRequest:
    """One request the fake received, as the server saw it.

    Args:
        method: The HTTP method.
        path: The URL path, without the query string.
        query: Query parameters; for a repeated name the last value wins.
        query_items: Every query (name, value) pair, in order.
        headers: Request headers, with case-insensitive lookup.
        cookies: Cookies the request carried.
        time: ``time.monotonic()`` when the request arrived.
        request_id: The ``x-request-id`` the response carried (or would have).
        fault: The fault applied to this request, if any.
    """

    method: str
    path: str
    query: dict[str, str]
    query_items: list[tuple[str, str]]
    headers: CIMultiDictProxy[str]
    cookies: dict[str, str]
    time: float
    request_id: str
    fault: Fault | None = None


@dataclass
class _Schedule:
    """When a job in flight starts running and finishes (progress mode)."""

    run_at: float
    done_at: float
    outcome: str
    error_message: str | None


class _PageTokenError(ValueError):
    """A page token the server did not issue, or issued for other filters."""


def _json_response(
    payload: object, *, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    response = web.Response(
        body=json.dumps(payload, separators=(",", ":"), default=str).encode(),
        status=status,
        headers=CIMultiDict(headers or {}),
    )
    response.content_type = "application/json"
    return response


def _validation_error(kind: str, name: str, message: str, value: str, **ctx: object) -> object:
    error: dict[str, object] = {"type": kind, "loc": ["query", name], "msg": message}
    error["input"] = value
    if ctx:
        error["ctx"] = ctx
    return error


def _encode_body(body: bytes | str | object | None, default: object) -> tuple[bytes, bool]:
    """Return the body's bytes and whether it was serialised as JSON."""
    if body is None:
        body = default
    if isinstance(body, bytes):
        return body, False
    if isinstance(body, str):
        return body.encode(), False
    return json.dumps(body, separators=(",", ":")).encode(), True


class FakeLlamaCloud:
    """A real HTTP server that serves ``GET /api/v1/beta/batch-processing``.

    Use it as an async context manager (or call `start` and `stop`):

        async with FakeLlamaCloud(jobs=250) as cloud:
            ...  # point a client at cloud.url; inspect cloud.requests

    Listing: ``jobs`` is served in list order (index 0 first, newest), filtered
    by ``directory_id``, ``job_type``, ``status``, ``project_id`` and
    ``organization_id`` (equality), then paged by ``limit`` and ``offset`` or by
    ``page_token``. A job's organization is its own ``"organization_id"`` key if
    the dict has one, else ``project_organizations[job["project_id"]]``; so
    synthetic jobs have organizations without an extra field in their records.
    Every key of a job dict is served as is (extra keys included).

    Errors: a wrong or missing bearer key when ``api_key`` is set gives 401
    ``{"detail": "Invalid API key"}``; a malformed ``limit``/``offset`` or an
    unknown ``status``/``job_type`` gives 422 with a FastAPI-style
    ``{"detail": [...]}``; a page token the server did not issue, or issued
    under other filters, gives 400. ``page_token`` wins over ``offset`` when
    both are sent. ``limit=0`` gives an empty page.

    Page tokens are urlsafe base64 (unpadded) of ``offset:filter-digest:salt``
    plus an HMAC under a per-server secret; the random salt makes every issued
    token unique. Tokens point at an offset, so they drift like offsets do
    when jobs are inserted during a walk.

    Every response carries an ``x-request-id`` header (``req-1``, ``req-2``,
    ...). Scripted faults (``fail_next`` and friends) queue up in
    `faults` and are consumed one per list-endpoint request, before the
    API key is checked; ``fault_rate`` adds seeded random faults when the queue
    is empty. Every list and echo request is recorded in `requests`,
    faulted ones included. The endpoint is also served under any path ending
    in ``/api/v1/beta/batch-processing`` (for base URLs with a path prefix).

    Args:
        jobs: How many synthetic jobs to generate (`make_jobs` with
            ``seed``), or the jobs themselves as mappings (copied; missing
            required fields filled in, see `complete_job`).
        seed: The seed for synthetic jobs (also for jobs added by
            `insert_jobs` and progress schedules).
        api_key: When set, require ``Authorization: Bearer <api_key>``.
        page_tokens: Issue ``next_page_token`` while more items remain (the
            same as ``paging="both"``).
        paging: How to page (a `PagingKind`): ``"offset"``, ``"both"``,
            ``"token-ignored"`` or ``"token"``; overrides ``page_tokens``.
        total_size: Include ``total_size`` (the filtered count) in responses.
        max_limit: Silently cap ``limit`` at this many items.
        default_limit: The page size when no ``limit`` is sent.
        latency: Seconds added before every list-endpoint response.
        rate_limit: Requests per second the list endpoint answers (a moving
            window of one second); beyond it, 429 with a ``Retry-After`` of the
            whole seconds until a slot frees. ``throttled`` records each 429's time and wait.
        host: The address to listen on (``127.0.0.1``; ``127.0.0.2`` acts as
            another host on Linux).
        port: The port to listen on; 0 lets the OS choose.
        ignore_offset: Misbehave: always serve the first page.
        repeat_token: Misbehave: always send the same ``next_page_token``.
        organizations: ``project_id`` to ``organization_id`` for jobs without
            their own ``"organization_id"`` key; defaults to the synthetic
            projects' organizations.
        progress: Move in-flight jobs along as time passes: each pending,
            dispatched or running job starts running and then completes (or,
            about one in seven, fails) within ``progress_seconds`` of
            `start` (or of its insertion), on a seeded schedule.
        progress_seconds: How long progress takes to settle every job.
        clock: The monotonic clock that drives progress (tests may pass a fake).
    """

    def __init__(
        self,
        jobs: int | Sequence[Mapping[str, Any]] = 0,
        *,
        seed: int = 0,
        api_key: str | None = None,
        page_tokens: bool = False,
        paging: PagingKind | None = None,
        total_size: bool = True,
        max_limit: int | None = None,
        default_limit: int = 50,
        latency: float = 0.0,
        host: str = "127.0.0.1",
        port: int = 0,
        ignore_offset: bool = False,
        repeat_token: bool = False,
        organizations: Mapping[str, str] | None = None,
        progress: bool = False,
        progress_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        rate_limit: int | None = None,
    ) -> None:
        if rate_limit is not None and rate_limit < 1:
            msg = f"rate_limit must be >= 1 request per second or None, got {rate_limit}"
            raise ValueError(msg)
        if paging is not None and paging not in PAGING_KINDS:
            msg = f"paging must be one of {', '.join(PAGING_KINDS)}, got {paging!r}"
            raise ValueError(msg)
        if max_limit is not None and max_limit < 1:
            msg = f"max_limit must be >= 1 or None, got {max_limit}"
            raise ValueError(msg)
        if default_limit < 1:
            msg = f"default_limit must be >= 1, got {default_limit}"
            raise ValueError(msg)
        if latency < 0 or progress_seconds <= 0:
            msg = "latency must be >= 0 and progress_seconds > 0"
            raise ValueError(msg)
        if isinstance(jobs, int):
            self.jobs: list[dict[str, Any]] = make_jobs(jobs, seed=seed)
        else:
            self.jobs = [complete_job(job) for job in jobs]
        self.seed = seed
        self.api_key = api_key
        self.paging: PagingKind = paging or ("both" if page_tokens else "offset")
        self.total_size = total_size
        self.max_limit = max_limit
        self.default_limit = default_limit
        self.latency = latency
        self.host = host
        self.port = port
        self.ignore_offset = ignore_offset
        self.repeat_token = repeat_token
        self.project_organizations: dict[str, str] = dict(
            PROJECT_ORGANIZATIONS if organizations is None else organizations
        )
        self.progress = progress
        self.progress_seconds = progress_seconds
        self.requests: list[RecordedRequest] = []
        self.faults: deque[Fault] = deque()
        self._clock = clock
        self._secret = secrets.token_bytes(16)
        self._request_counter = 0
        self._insert_rng = random.Random(f"insert:{seed}")  # noqa: S311 - test data
        self._chaos_rate = 0.0
        self._chaos_kinds: tuple[str, ...] = ()
        self._chaos_rng = random.Random(0)  # noqa: S311 - test data
        self._fixed_token: str | None = None
        self._schedules: dict[str, _Schedule] = {}
        self._runner: web.AppRunner | None = None
        self._sleepers: set[asyncio.Task[Any]] = set()
        self._bound_port: int | None = None
        self.rate_limit = rate_limit
        self.throttled: list[tuple[float, float]] = []  # (monotonic time, Retry-After) of 429s
        self._answered: deque[float] = deque()  # times of requests within the window

    # ------------------------------------------------------------------ lifecycle

    @property
    def url(self) -> str:
        """The base URL, ``http://host:port`` without a trailing slash.

        Raises:
            RuntimeError: The server is not running.
        """
        if self._bound_port is None:
            msg = "FakeLlamaCloud is not running: use 'async with' or await start()"
            raise RuntimeError(msg)
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self._bound_port}"

    @property
    def page_tokens(self) -> bool:
        """Whether the fake sends ``next_page_token`` (every `paging` but ``"offset"``)."""
        return self.paging != "offset"

    @page_tokens.setter
    def page_tokens(self, value: bool) -> None:
        self.paging = "both" if value else "offset"

    @property
    def endpoint_url(self) -> str:
        """The full URL of the list endpoint."""
        return self.url + ENDPOINT_PATH

    @property
    def running(self) -> bool:
        """Whether the server is listening."""
        return self._runner is not None

    async def start(self) -> None:
        """Start listening; afterwards `url` names the bound port.

        Raises:
            RuntimeError: The server is already running.
        """
        if self._runner is not None:
            msg = "FakeLlamaCloud is already running"
            raise RuntimeError(msg)
        app = web.Application(middlewares=[self._middleware])
        app.router.add_get(ENDPOINT_PATH, self._handle_list)
        app.router.add_get("/{prefix:.+}" + ENDPOINT_PATH, self._handle_list)
        app.router.add_route("*", ECHO_PATH, self._handle_echo)
        app.on_response_prepare.append(self._on_response_prepare)
        runner = web.AppRunner(
            app,
            handle_signals=False,
            access_log=None,
            shutdown_timeout=_SHUTDOWN_TIMEOUT,
            handler_cancellation=True,
        )
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.host, self.port, reuse_address=True)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._bound_port = int(runner.addresses[0][1])
        if self.progress:
            now = self._clock()
            for job in self.jobs:
                self._schedule(job, now)
        logger.debug("FakeLlamaCloud listening on %s", self.url)

    async def stop(self) -> None:
        """Stop listening and close every connection (does nothing if not running)."""
        runner, self._runner = self._runner, None
        for task in list(self._sleepers):  # don't let a delay fault hold up shutdown
            task.cancel()
        if runner is not None:
            await runner.cleanup()
            logger.debug("FakeLlamaCloud on port %s stopped", self._bound_port)
        self._bound_port = None

    async def __aenter__(self) -> FakeLlamaCloud:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def __repr__(self) -> str:
        where = self.url if self._bound_port is not None else "stopped"
        return f"<FakeLlamaCloud {where} jobs={len(self.jobs)} faults={len(self.faults)}>"

    # ------------------------------------------------------------------ faults

    def _queue(self, fault: Fault, times: int) -> None:
        if times < 1:
            msg = f"times must be >= 1, got {times}"
            raise ValueError(msg)
        self.faults.extend([fault] * times)

    def fail_next(
        self,
        status: int = 503,
        *,
        times: int = 1,
        retry_after: str | float | None = None,
        body: bytes | str | object | None = None,
        headers: Mapping[str, str] | None = None,
        content_type: str | None = None,
    ) -> Fault:
        """Make the next ``times`` requests fail with ``status``.

        Args:
            status: The HTTP status to answer with (400-599 make sense).
            times: How many consecutive requests fail.
            retry_after: A ``Retry-After`` header value: seconds, an HTTP date,
                or garbage, sent as given.
            body: Bytes or text sent as is, any other object as JSON; default
                ``{"detail": "<reason phrase>"}``.
            headers: Extra response headers.
            content_type: The body's content type; default JSON for the default
                or object bodies, ``text/plain`` for bytes and text.

        Returns:
            The queued fault.

        Raises:
            ValueError: ``status`` or ``times`` is out of range.
        """
        if not 100 <= status <= 599:
            msg = f"status must be an HTTP status code, got {status}"
            raise ValueError(msg)
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = "Error"
        data, is_json = _encode_body(body, {"detail": phrase})
        extra = dict(headers or {})
        if retry_after is not None:
            extra["Retry-After"] = str(retry_after)
        fault = Fault(
            "status",
            status=status,
            body=data,
            content_type=content_type or ("application/json" if is_json else "text/plain"),
            headers=tuple(extra.items()),
        )
        self._queue(fault, times)
        return fault

    def respond_next(
        self,
        status: int = 200,
        body: bytes | str | object = b"",
        content_type: str = "application/json",
        headers: Mapping[str, str] | None = None,
        *,
        times: int = 1,
    ) -> Fault:
        """Answer the next ``times`` requests with an arbitrary raw response.

        Args:
            status: The HTTP status.
            body: Bytes or text sent as is, any other object as JSON.
            content_type: The ``Content-Type`` header.
            headers: Extra response headers.
            times: How many consecutive requests get this response.

        Returns:
            The queued fault.
        """
        data, _ = _encode_body(body, b"")
        fault = Fault(
            "respond",
            status=status,
            body=data,
            content_type=content_type,
            headers=tuple((headers or {}).items()),
        )
        self._queue(fault, times)
        return fault

    def redirect_next(
        self,
        location: str,
        status: int = 307,
        *,
        times: int = 1,
        headers: Mapping[str, str] | None = None,
    ) -> Fault:
        """Redirect the next ``times`` requests to ``location``.

        Args:
            location: The ``Location`` header: an absolute URL (maybe another
                host, such as a second fake on ``127.0.0.2``) or a relative one.
            status: The redirect status (301, 302, 303, 307 or 308).
            times: How many consecutive requests are redirected.
            headers: Extra response headers.

        Returns:
            The queued fault.
        """
        fault = Fault(
            "redirect",
            status=status,
            content_type="text/plain",
            headers=tuple((headers or {}).items()),
            location=location,
        )
        self._queue(fault, times)
        return fault

    def reset_next(self, times: int = 1) -> Fault:
        """Drop the connection of the next ``times`` requests without answering.

        The socket is closed with ``SO_LINGER`` 0, so the client sees a TCP
        reset (aiohttp reports a ``ClientOSError`` or ``ServerDisconnectedError``).
        Note that recent aiohttp clients resend an idempotent request once,
        silently, after such a failure: use ``times=2`` for one ``GET`` to fail.

        Args:
            times: How many consecutive requests are dropped.

        Returns:
            The queued fault.
        """
        fault = Fault("reset")
        self._queue(fault, times)
        return fault

    def truncate_next(self, times: int = 1) -> Fault:
        """Send the next ``times`` responses only half way, then close the connection.

        The response is the normal 200 page with its full ``Content-Length``
        but only about half of its body (the client sees a payload error).

        Args:
            times: How many consecutive responses are cut short.

        Returns:
            The queued fault.
        """
        fault = Fault("truncate")
        self._queue(fault, times)
        return fault

    def delay_next(self, seconds: float, times: int = 1) -> Fault:
        """Wait ``seconds`` before answering the next ``times`` requests normally.

        Args:
            seconds: How long to wait (on top of ``latency``).
            times: How many consecutive requests are delayed.

        Returns:
            The queued fault.

        Raises:
            ValueError: ``seconds`` is negative.
        """
        if seconds < 0:
            msg = f"seconds must be >= 0, got {seconds}"
            raise ValueError(msg)
        fault = Fault("delay", seconds=seconds)
        self._queue(fault, times)
        return fault

    def clear_faults(self) -> None:
        """Forget queued faults and turn random faults off."""
        self.faults.clear()
        self._chaos_rate = 0.0

    def fault_rate(
        self, rate: float, *, seed: int = 0, kinds: Iterable[str] = DEFAULT_CHAOS_KINDS
    ) -> None:
        """Fail a seeded random share of requests (when no fault is queued).

        Args:
            rate: The probability, 0 to 1, that a request gets a fault (0 stops).
            seed: The seed of the random draws.
            kinds: What the faults are: a status code as text (``"503"``;
                ``"429"`` comes with ``Retry-After: 0``, ``"502"`` with an HTML
                page), ``"reset"`` or ``"truncate"``.

        Raises:
            ValueError: ``rate`` is not within 0 to 1, or a kind is unknown.
        """
        chosen = tuple(kinds)
        if not 0.0 <= rate <= 1.0:
            msg = f"rate must be within 0 and 1, got {rate}"
            raise ValueError(msg)
        for kind in chosen:
            if kind not in {"reset", "truncate"} and not (kind.isdigit() and len(kind) == 3):
                msg = f"unknown fault kind {kind!r}: use a status code, 'reset' or 'truncate'"
                raise ValueError(msg)
        if rate > 0 and not chosen:
            msg = "kinds must not be empty"
            raise ValueError(msg)
        self._chaos_rate = rate
        self._chaos_kinds = chosen
        self._chaos_rng = random.Random(seed)  # noqa: S311 - test data

    def _chaos_fault(self) -> Fault | None:
        if self._chaos_rate <= 0 or self._chaos_rng.random() >= self._chaos_rate:
            return None
        kind = self._chaos_rng.choice(self._chaos_kinds)
        if kind == "reset":
            return Fault("reset")
        if kind == "truncate":
            return Fault("truncate")
        status = int(kind)
        if status == 502:
            return Fault("status", status=502, body=_BAD_GATEWAY_PAGE, content_type="text/html")
        headers = (("Retry-After", "0"),) if status == 429 else ()
        body, _ = _encode_body(None, {"detail": f"Injected fault {status}"})
        return Fault("status", status=status, body=body, headers=headers)

    def _next_fault(self) -> Fault | None:
        if self.faults:
            return self.faults.popleft()
        return self._chaos_fault()

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
        if self.progress and self.running:
            now = self._clock()
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

    def _schedule(self, job: Mapping[str, Any], now: float) -> None:
        job_id = job.get("id")
        if not isinstance(job_id, str) or job.get("status") not in ACTIVE_STATUSES:
            return
        rng = random.Random(f"progress:{self.seed}:{job_id}")  # noqa: S311 - test data
        span = self.progress_seconds
        run_at = now if job.get("status") == "running" else now + rng.uniform(0.0, 0.4) * span
        done_at = run_at + rng.uniform(0.2, 0.6) * span
        failed = rng.random() < 0.15
        self._schedules[job_id] = _Schedule(
            run_at=run_at,
            done_at=done_at,
            outcome="failed" if failed else "completed",
            error_message="Worker lost while processing items" if failed else None,
        )

    def _advance(self) -> None:
        """Move scheduled jobs along to where the clock says they are."""
        if not self._schedules:
            return
        now = self._clock()
        stamp = format_timestamp(datetime.now(timezone.utc))
        for job in self.jobs:
            schedule = self._schedules.get(job.get("id", ""))
            if schedule is None or now < schedule.run_at:
                continue
            total = job.get("total_items")
            total = total if isinstance(total, int) and total > 0 else 0
            if job.get("status") not in ACTIVE_STATUSES:
                del self._schedules[job["id"]]  # changed by the test: leave it alone
                continue
            if job.get("started_at") is None:
                job["started_at"] = stamp
            if now >= schedule.done_at:
                del self._schedules[job["id"]]
                failed = max(1, total // 10) if schedule.outcome == "failed" else 0
                failed = min(failed, total)
                job.update(
                    status=schedule.outcome,
                    processed_items=total - failed,
                    failed_items=failed,
                    skipped_items=0,
                    completed_at=stamp,
                    updated_at=stamp,
                    effective_at=stamp,
                    error_message=schedule.error_message,
                )
                continue
            fraction = (now - schedule.run_at) / (schedule.done_at - schedule.run_at)
            processed = min(total, int(total * fraction))
            if job.get("status") != "running" or job.get("processed_items") != processed:
                job.update(
                    status="running",
                    processed_items=processed,
                    failed_items=0,
                    skipped_items=0,
                    updated_at=stamp,
                    effective_at=stamp,
                )

    # ------------------------------------------------------------------ tokens

    def _filter_digest(self, filters: Mapping[str, str]) -> str:
        text = json.dumps(sorted(filters.items()), separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def _issue_token(self, offset: int, filters: Mapping[str, str]) -> str:
        payload = f"{offset}:{self._filter_digest(filters)}:{secrets.token_hex(4)}"
        mac = hmac.new(self._secret, payload.encode(), hashlib.sha256).hexdigest()[:16]
        return base64.urlsafe_b64encode(f"{payload}:{mac}".encode()).decode().rstrip("=")

    def _read_token(self, token: str, filters: Mapping[str, str]) -> int:
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
            payload, mac = raw.rsplit(":", 1)
            offset_text, digest, _salt = payload.split(":")
            offset = int(offset_text)
        except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
            msg = "Invalid page_token"
            raise _PageTokenError(msg) from exc
        expected = hmac.new(self._secret, payload.encode(), hashlib.sha256).hexdigest()[:16]
        if not hmac.compare_digest(mac, expected) or offset < 0:
            msg = "Invalid page_token"
            raise _PageTokenError(msg)
        if digest != self._filter_digest(filters):
            msg = "page_token does not match the request's filters"
            raise _PageTokenError(msg)
        return offset

    # ------------------------------------------------------------------ handlers

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        self._request_counter += 1
        _REQUEST_ID.set(f"req-{self._request_counter}")  # this handler task's own context
        try:
            return await handler(request)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            return _json_response(
                {"detail": exc.reason}, status=exc.status, headers=dict(exc.headers)
            )

    async def _on_response_prepare(
        self, request: web.Request, response: web.StreamResponse
    ) -> None:
        request_id = _REQUEST_ID.get(None)
        if request_id is not None:
            response.headers.setdefault("x-request-id", request_id)

    def _record(self, request: web.Request, fault: Fault | None) -> None:
        items = [(str(key), str(value)) for key, value in request.query.items()]
        self.requests.append(
            RecordedRequest(
                method=request.method,
                path=request.path,
                query=dict(items),
                query_items=items,
                headers=CIMultiDictProxy(CIMultiDict(request.headers)),
                cookies=dict(request.cookies),
                time=time.monotonic(),
                request_id=_REQUEST_ID.get(""),
                fault=fault,
            )
        )

    async def _handle_echo(self, request: web.Request) -> web.StreamResponse:
        self._record(request, None)
        headers: dict[str, str] = {}
        for name, value in request.headers.items():
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        return _json_response(
            {
                "method": request.method,
                "path": request.path,
                "host": request.host,
                "query": dict(request.query.items()),
                "headers": headers,
                "cookies": dict(request.cookies),
            }
        )

    async def _sleep(self, seconds: float) -> None:
        task = asyncio.current_task()
        if task is None:  # pragma: no cover - handlers always run in a task
            await asyncio.sleep(seconds)
            return
        self._sleepers.add(task)
        try:
            await asyncio.sleep(seconds)
        finally:
            self._sleepers.discard(task)

    async def _handle_list(self, request: web.Request) -> web.StreamResponse:
        fault = self._next_fault()
        self._record(request, fault)
        if fault is None and (wait := self._over_rate_limit()) is not None:
            return self._rate_limited(wait)
        if fault is not None:
            logger.debug("FakeLlamaCloud applies %s to %s", fault.kind, _REQUEST_ID.get(""))
        if self.latency:
            await self._sleep(self.latency)
        if fault is None:
            return self._list_response(request)
        if fault.kind == "delay":
            await self._sleep(fault.seconds)
            return self._list_response(request)
        if fault.kind == "reset":
            return self._reset(request)
        if fault.kind == "truncate":
            return await self._truncate(request)
        headers = CIMultiDict(fault.headers)
        if fault.kind == "redirect":
            headers["Location"] = fault.location or "/"
        headers.setdefault("Content-Type", fault.content_type)
        return web.Response(status=fault.status, body=fault.body, headers=headers)

    # ---- rate limit (issue 14): a moving one-second window of `rate_limit` requests

    def _over_rate_limit(self) -> float | None:
        """Seconds until a slot frees if this request is over the limit; else count it."""
        if self.rate_limit is None:
            return None
        now = time.monotonic()
        window = self._answered
        while window and now - window[0] >= 1.0:
            window.popleft()
        if len(window) < self.rate_limit:
            window.append(now)
            return None
        # Whole seconds, as HTTP's delta-seconds are (and as most servers send them).
        wait = float(max(1, math.ceil(window[0] + 1.0 - now)))
        self.throttled.append((now, wait))
        return wait

    def _rate_limited(self, wait: float) -> web.StreamResponse:
        return _json_response(
            {"detail": "Too Many Requests"},
            status=429,
            headers={"Retry-After": f"{wait:.0f}"},
        )

    def _reset(self, request: web.Request) -> web.StreamResponse:
        transport = request.transport
        if transport is not None:
            sock = transport.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            transport.abort()
        # aiohttp fails to write this to the aborted transport and drops it quietly.
        return web.Response(status=500)

    async def _truncate(self, request: web.Request) -> web.StreamResponse:
        full = self._list_response(request)
        body = full.body if isinstance(full.body, bytes) else b""
        response = web.StreamResponse(status=full.status, headers=CIMultiDict(full.headers))
        response.content_length = len(body)
        await response.prepare(request)
        await response.write(body[: len(body) // 2])
        if request.transport is not None:
            request.transport.close()
        return response

    def _list_response(self, request: web.Request) -> web.Response:
        if self.api_key is not None:
            expected = f"Bearer {self.api_key}"
            sent = request.headers.get("Authorization", "")
            if not hmac.compare_digest(sent.encode(), expected.encode()):
                return _json_response(
                    {"detail": "Invalid API key"},
                    status=401,
                    headers={"WWW-Authenticate": "Bearer"},
                )
        query = dict(request.query.items())  # a repeated name: the last value wins
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
            return _json_response({"detail": errors}, status=422)
        token = query.get("page_token")
        if self.paging == "token":
            offset = 0  # this kind ignores offset
        if token and self.paging != "token-ignored":
            try:
                offset = self._read_token(token, filters)
            except _PageTokenError as exc:
                return _json_response({"detail": str(exc)}, status=400)
        return _json_response(self._page(filters, offset, limit))

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


def _random_step(rng: random.Random) -> timedelta:
    return timedelta(seconds=rng.randint(1, 120), milliseconds=rng.randint(0, 999))


async def _serve_forever(cloud: FakeLlamaCloud, stream: TextIO) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signum, stop.set)
    async with cloud:
        stream.write(cloud.url + "\n")
        stream.flush()
        await stop.wait()


@contextlib.contextmanager
def serve_in_thread(
    jobs: int | Sequence[Mapping[str, Any]] = 0,
    **options: Any,  # noqa: ANN401 - FakeLlamaCloud's keyword options
) -> Iterator[FakeLlamaCloud]:
    """Run a `FakeLlamaCloud` on its own event loop in a background thread.

    For synchronous tests, such as FastAPI's ``TestClient``, whose app runs in
    a loop of its own:

        with serve_in_thread(jobs=20) as cloud:
            app = make_app(base_url=cloud.url)
            ...

    Scripting faults and reading ``cloud.requests`` from the test's thread is
    fine: each is one list or deque operation.

    Args:
        jobs: As for `FakeLlamaCloud`.
        **options: `FakeLlamaCloud` keyword options.
    """
    cloud = FakeLlamaCloud(jobs, **options)
    loop = asyncio.new_event_loop()
    ready = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(cloud.start())
        ready.set()
        loop.run_forever()
        loop.run_until_complete(cloud.stop())
        loop.close()

    thread = threading.Thread(target=run, name="FakeLlamaCloud", daemon=True)
    thread.start()
    if not ready.wait(30):  # pragma: no cover - a broken machine
        raise RuntimeError("FakeLlamaCloud did not start within 30 s")
    try:
        yield cloud
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(30)


def run_fake_server(
    host: str = "127.0.0.1",
    port: int = 0,
    jobs: int | Sequence[Mapping[str, Any]] = 250,
    *,
    seed: int = 0,
    api_key: str | None = None,
    page_tokens: bool = False,
    paging: PagingKind | None = None,
    total_size: bool = True,
    max_limit: int | None = None,
    default_limit: int = 50,
    latency: float = 0.0,
    progress: bool = False,
    stream: TextIO | None = None,
) -> None:
    """Run a `FakeLlamaCloud` until SIGINT or SIGTERM (blocks).

    Once listening, it writes its base URL on one line to ``stream`` and flushes.

    Args:
        host: The address to listen on.
        port: The port to listen on; 0 lets the OS choose.
        jobs: How many synthetic jobs to serve, or the jobs themselves.
        seed: The seed for synthetic jobs.
        api_key: When set, require this bearer key.
        page_tokens: Issue ``next_page_token``.
        paging: How to page (see `FakeLlamaCloud`); overrides ``page_tokens``.
        total_size: Include ``total_size``.
        max_limit: Silently cap ``limit``.
        default_limit: The page size when no ``limit`` is sent.
        latency: Seconds added before every response.
        progress: Move in-flight jobs along as time passes.
        stream: Where to write the URL; standard output by default.
    """
    cloud = FakeLlamaCloud(
        jobs,
        seed=seed,
        api_key=api_key,
        page_tokens=page_tokens,
        paging=paging,
        total_size=total_size,
        max_limit=max_limit,
        default_limit=default_limit,
        latency=latency,
        host=host,
        port=port,
        progress=progress,
    )
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve_forever(cloud, stream or sys.stdout))
