"""``FakeLlamaCloud``: the batch-processing list endpoint as a real aiohttp server.

The fake depends on the standard library and aiohttp only, so it can be used
on its own. This module is the thin I/O adapter: what to answer is decided by
`Listing` (``_listing.py``) and which fault to apply by `FaultScript`
(``_faults.py``); here the answer is recorded, delayed, cut short or sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import hmac
import json
import logging
import math
import socket
import struct
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final

from aiohttp import web
from aiohttp.typedefs import Handler
from multidict import CIMultiDict, CIMultiDictProxy

from ._faults import Fault, FaultScript
from ._listing import Listing
from ._options import ServerOptions

__all__ = ["BATCHES_PATH", "ECHO_PATH", "ENDPOINT_PATH", "FakeLlamaCloud", "RecordedRequest"]

logger = logging.getLogger(__name__)

ENDPOINT_PATH: Final = "/api/v1/beta/batch-processing"
"""The path of the list endpoint the fake serves."""

BATCHES_PATH: Final = "/api/v2/batches"
"""The path of the v2 batches listing; one batch is ``BATCHES_PATH + "/{id}"``."""

ECHO_PATH: Final = "/echo"
"""A path (any method) that answers with the request's method, headers, cookies and query."""

_SHUTDOWN_TIMEOUT: Final = 2.0
# A POST's raw body, read by its handler task (its own context, as _REQUEST_ID).
_BODY: contextvars.ContextVar[bytes] = contextvars.ContextVar("fake_llama_body")
_REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("fake_llama_request_id")


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


class FakeLlamaCloud(Listing, ServerOptions, FaultScript):
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
        batches: How many synthetic v2 batches to generate, or the batches.
        **options: The options, each declared once with its default, its
            check and its meaning: `ListingOptions` (``seed``, ``paging`` or
            ``page_tokens``, ``total_size``, ``max_limit``, ``default_limit``,
            ``ignore_offset``, ``repeat_token``, ``organizations``,
            ``progress``, ``progress_seconds``, ``clock``) and `ServerOptions`
            (``api_key``, ``host``, ``port``, ``latency``, ``rate_limit``,
            ``rate_limit_retry_after``).
            Each stays an attribute a test may change on a running fake
            (``cloud.max_limit = 5``), checked again when it does.

    Raises:
        ValueError: An option's value is out of range (the message names it).
        TypeError: An unknown option.
    """

    def __init__(
        self,
        jobs: int | Sequence[Mapping[str, Any]] = 0,
        *,
        batches: int | Sequence[Mapping[str, Any]] = 0,
        **options: Any,  # noqa: ANN401 - ServerOptions' keywords, declared there
    ) -> None:
        Listing.__init__(self, jobs, batches=batches, **options)
        FaultScript.__init__(self)
        self.requests: list[RecordedRequest] = []
        self._request_counter = 0
        self._runner: web.AppRunner | None = None
        self._sleepers: set[asyncio.Task[Any]] = set()
        self._bound_port: int | None = None
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
        for path in (ENDPOINT_PATH, BATCHES_PATH, BATCHES_PATH + "/{batch_id}"):
            app.router.add_get(path, self._handle_list)
            app.router.add_get("/{prefix:.+}" + path, self._handle_list)
        _add_record_routes(app, self._handle_list)
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
        self.start_progress()
        logger.debug("FakeLlamaCloud listening on %s", self.url)

    async def stop(self) -> None:
        """Stop listening and close every connection (does nothing if not running)."""
        runner, self._runner = self._runner, None
        self.stop_progress()
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
        batches = f" batches={len(self.batches)}" if self.batches else ""
        return f"<FakeLlamaCloud {where} jobs={len(self.jobs)}{batches} faults={len(self.faults)}>"

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
        if request.method == "POST":
            # Read whole before any fault: a reset after reading is "sent, then lost".
            _BODY.set(await request.read())
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

    def _rate_limited(self, wait: float) -> web.Response:
        """The 429 of ``rate_limit``, its ``Retry-After`` as ``rate_limit_retry_after`` says."""
        mode = self.rate_limit_retry_after
        headers = {}
        if mode is not None:
            headers["Retry-After"] = f"{wait:.0f}" if mode == "seconds" else mode
        return _json_response({"detail": "Too Many Requests"}, status=429, headers=headers)

    def announced(self) -> list[tuple[float, float]]:
        """The pauses this fake's 429s announced: (monotonic start, seconds), > 0 only.

        A ``Retry-After`` of ``"0"`` or none announces no pause.
        """
        mode = self.rate_limit_retry_after
        if mode is None:
            return []
        if mode == "seconds":
            return list(self.throttled)
        try:
            seconds = float(mode)
        except ValueError:
            return []  # an HTTP date: not measured here
        return [(start, seconds) for start, _ in self.throttled] if seconds > 0 else []

    def inside_pauses(self, grace: float = 0.0) -> int:
        """Requests that arrived inside a pause an earlier 429 announced.

        Args:
            grace: Seconds after each 429 not counted: requests already on their way
                when it was answered (sent before the client could read it).
        """
        pauses = self.announced()
        return sum(
            1
            for request in self.requests
            if any(start + grace < request.time < start + seconds for start, seconds in pauses)
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
        # a repeated name: the last value wins (expand: every value counts)
        query = dict(request.query.items())
        if "expand" in query:
            query["expand"] = ",".join(request.query.getall("expand"))
        body = _read_json() if request.method == "POST" else None
        status, payload = self.answer_route(
            request.method, request.path, query, dict(request.match_info), body
        )
        return _json_response(payload, status=status)


def _read_json() -> object:
    """This handler's POST body as JSON (read by it already); None when absent or not JSON."""
    raw = _BODY.get(b"")
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _add_record_routes(app: web.Application, handler: Handler) -> None:
    """The single-record routes: a job's status and items, cancel and create (v1, v2)."""
    job = ENDPOINT_PATH + "/{job_id}"
    for prefix in ("", "/{prefix:.+}"):
        app.router.add_get(prefix + job, handler)
        app.router.add_get(prefix + job + "/{action:items}", handler)
        app.router.add_post(prefix + job + "/{action:cancel}", handler)
        app.router.add_post(prefix + ENDPOINT_PATH, handler)
        app.router.add_post(prefix + BATCHES_PATH, handler)
        app.router.add_post(prefix + BATCHES_PATH + "/{batch_id}/{action:cancel}", handler)
