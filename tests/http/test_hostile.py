"""Hostile and buggy servers (issue 11): a raw-socket HTTP server that writes every byte.

aiohttp.web cannot misbehave enough for these cases (a gzip bomb, an endless body, a
stray response on an idle connection, credentials echoed into a malformed header), so
`RawServer` reads each request line and headers itself and lets the test's handler
write whatever bytes it likes.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import gzip
import importlib.metadata
import json
import logging
import traceback
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from urllib.parse import parse_qsl, urlsplit

import attrs
import pytest
from yarl import URL

from llama_batch_async import (
    APIConnectionError,
    BatchClient,
    LlamaBatchError,
    RateLimitError,
    ResponseTooLargeError,
    ServerError,
)
from llama_batch_async._http._limiter import LocalLimiter
from llama_batch_async._http._retry import RetryPolicy
from llama_batch_async._http._wire import decide_redirect
from llama_batch_async.testing import FakeLlamaCloud, make_job, serve_in_thread

KEY = "sk-live-SECRETKEY-0123456789"
COOKIE = "cookie-SECRET-abcdef"


@attrs.frozen
class RawRequest:
    """One request as the raw server read it."""

    method: str
    target: str
    headers: dict[str, str]
    connection: int

    @property
    def query(self) -> dict[str, str]:
        return dict(parse_qsl(urlsplit(self.target).query))


Handler = Callable[[RawRequest, asyncio.StreamWriter], Awaitable[bool]]


def http_response(
    body: bytes,
    *,
    status: int = 200,
    headers: tuple[tuple[str, str], ...] = (),
    content_type: str = "application/json",
) -> bytes:
    """A complete HTTP/1.1 response with a Content-Length, as bytes."""
    lines = [f"HTTP/1.1 {status} X", f"Content-Type: {content_type}"]
    lines += [f"{name}: {value}" for name, value in headers]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def page_body(offset: int, limit: int, total: int) -> bytes:
    """A reference page of ``total`` jobs named ``job-<n>``, from ``offset``."""
    items = [make_job(id=f"job-{n:03d}") for n in range(offset, min(offset + limit, total))]
    return json.dumps({"items": items, "total_size": total}).encode()


class RawServer:
    """An HTTP/1.1 server on 127.0.0.1 that hands every request to ``handler``.

    The handler writes the response bytes itself and returns whether to keep the
    connection open for another request. Each connection serves at most 50 requests.
    """

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self.requests: list[RawRequest] = []
        self.connections = 0
        self._writers: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def __aenter__(self) -> RawServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        for writer in list(self._writers):
            with contextlib.suppress(OSError, ConnectionError):
                await writer.wait_closed()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        connection = self.connections
        self._writers.add(writer)
        try:
            for _ in range(50):
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
                    return
                line, *fields = head.decode("latin-1").split("\r\n")
                method, target, _version = line.split(" ", 2)
                headers = {}
                for field in fields:
                    if ":" in field:
                        name, value = field.split(":", 1)
                        headers[name.strip().lower()] = value.strip()
                request = RawRequest(method, target, headers, connection)
                self.requests.append(request)
                if not await self._handler(request, writer):
                    return
        except (OSError, ConnectionError):
            return
        finally:
            self._writers.discard(writer)
            writer.close()
            with contextlib.suppress(OSError, ConnectionError):
                await writer.wait_closed()


@contextlib.asynccontextmanager
async def raw_server(handler: Handler) -> AsyncIterator[RawServer]:
    """Run a `RawServer` for the block."""
    async with RawServer(handler) as server:
        yield server


def test_aiohttp_floor_has_the_decompression_and_redirect_cookie_fixes() -> None:
    """The package requires aiohttp 3.14.4 or later (issue 11, item 15)."""
    requires = importlib.metadata.requires("llama-batch-async") or []
    (aiohttp_req,) = [r for r in requires if r.startswith("aiohttp")]
    assert aiohttp_req.replace(" ", "") == "aiohttp>=3.14.4"


# --- item 14: a pause extended while a walk waits ---------------------------------------


class FakeClock:
    """A monotonic clock that only the recording sleep moves."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []
        self.on_sleep: Callable[[], None] | None = None

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        assert len(self.sleeps) < 100, "the gate kept sleeping"
        self.now += seconds
        if self.on_sleep is not None:
            self.on_sleep()
            self.on_sleep = None


async def test_gate_waits_again_when_another_429_extends_the_pause() -> None:
    """A pause extended during the wait is slept out too, before anything is sent."""
    clock = FakeClock()
    gate = LocalLimiter(clock=clock)
    gate.pause(2.0)
    # While this walk sleeps, another walk's 429 pauses the client for 5 s more.
    clock.on_sleep = lambda: gate.pause(5.0)
    await gate.wait(clock.sleep, cap=60.0)
    assert clock.sleeps == [2.0, 5.0]
    assert gate.remaining == 0.0


async def test_gate_rechecks_the_cap_after_an_extension() -> None:
    """An extension past the cap raises RateLimitError with what remains, not a long sleep."""
    clock = FakeClock()
    gate = LocalLimiter(clock=clock)
    gate.pause(2.0)
    clock.on_sleep = lambda: gate.pause(3600.0)
    with pytest.raises(RateLimitError) as info:
        await gate.wait(clock.sleep, cap=60.0)
    assert clock.sleeps == [2.0]
    assert info.value.retry_after == 3600.0


async def test_gate_gives_up_on_a_pause_extended_without_end() -> None:
    """A pause extended on every wake ends in RateLimitError after a bounded number of sleeps."""
    clock = FakeClock()
    gate = LocalLimiter(clock=clock)
    gate.pause(1.0)

    async def sleep(seconds: float) -> None:
        await clock.sleep(seconds)
        gate.pause(1.0)

    with pytest.raises(RateLimitError, match="extended 16 times"):
        await gate.wait(sleep, cap=60.0)
    assert len(clock.sleeps) == 16


# --- item 12: a redirect to a non-HTTP URL ------------------------------------------------

_HERE = URL("https://api.example/api/v1/beta/batch-processing?limit=10")


@pytest.mark.parametrize(
    ("status", "location", "expected"),
    [
        pytest.param(200, "/elsewhere", None, id="not-a-redirect"),
        pytest.param(307, None, None, id="no-location"),
        pytest.param(307, "/next?x=1", ("https://api.example/next?x=1", True), id="relative"),
        pytest.param(302, "https://other.example/", ("https://other.example/", False), id="host"),
        pytest.param(308, "http://api.example/", ("http://api.example/", False), id="to-http"),
    ],
)
def test_the_redirect_decision(
    status: int, location: str | None, expected: tuple[str, bool] | None
) -> None:
    """decide_redirect: final, or where to go and whether the credentials follow."""
    redirect = decide_redirect(_HERE, status, location, origin=_HERE.origin())
    if expected is None:
        assert redirect is None
    else:
        assert redirect is not None
        assert (str(redirect.url), redirect.keep_credentials) == expected


@pytest.mark.parametrize(
    "location",
    ["ftp://files.example/jobs", "file:///etc/passwd", "javascript:alert(1)", "mailto:a@b.example"],
)
def test_the_redirect_decision_refuses_non_http_targets(location: str) -> None:
    """A redirect to anything but http(s) with a host is a final, typed error."""
    with pytest.raises(APIConnectionError, match="non-HTTP") as info:
        decide_redirect(_HERE, 302, location, origin=_HERE.origin())
    assert info.value.retryable is False


async def test_redirect_to_ftp_is_final_and_not_retried() -> None:
    """A redirect to ftp:// ends the walk after one request with retryable=False."""
    async with FakeLlamaCloud(jobs=5) as cloud:
        cloud.redirect_next(location="ftp://files.example/batch", times=5)
        async with BatchClient("k", base_url=cloud.url, max_retries=3) as client:
            with pytest.raises(APIConnectionError, match="non-HTTP") as info:
                await client.list_jobs().collect()
        assert info.value.retryable is False
        assert len(cloud.requests) == 1


# --- item 5: credentials reflected by the server -------------------------------------------


def assert_masked(exc: BaseException, log_text: str) -> None:
    """Neither the key nor the cookie is in the error, its attributes, traceback or the log."""
    texts = [
        str(exc),
        repr(exc),
        "".join(traceback.format_exception(exc)),
        repr(vars(exc)),
        log_text,
    ]
    for text in texts:
        assert KEY not in text
        assert COOKIE not in text


async def test_credentials_echoed_into_request_id_and_body_are_masked(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A gateway echoing Authorization into x-request-id and Cookie into the body leaks neither."""

    async def echo(request: RawRequest, writer: asyncio.StreamWriter) -> bool:
        body = json.dumps({"detail": f"{request.headers['cookie']} {request.headers}"})
        writer.write(
            http_response(
                body.encode(),
                status=503,
                headers=(("x-request-id", request.headers["authorization"]),),
            )
        )
        await writer.drain()
        return True

    caplog.set_level(logging.DEBUG, logger="llama_batch_async")
    async with raw_server(echo) as server:
        client = BatchClient(
            KEY, base_url=server.url, session_cookie=COOKIE, max_retries=1, retry_after_cap=0
        )
        async with client:
            with pytest.raises(ServerError) as info:
                await client.list_jobs().collect()
    assert len(server.requests) == 2
    assert "retrying" in caplog.text
    assert info.value.request_id == "Bearer ***"
    assert "session=***" in info.value.body
    assert_masked(info.value, caplog.text)


async def test_credentials_echoed_into_a_malformed_header_line_are_masked(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The parser error quoting a bad header line with the key is masked and not chained."""

    async def bad_header(request: RawRequest, writer: asyncio.StreamWriter) -> bool:
        echo = f"{request.headers['authorization']} {request.headers['cookie']}"
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            + f"X-Echo {echo}\r\nContent-Length: 2\r\n\r\n{{}}".encode()
        )
        await writer.drain()
        return False

    caplog.set_level(logging.DEBUG, logger="llama_batch_async")
    async with raw_server(bad_header) as server:
        client = BatchClient(KEY, base_url=server.url, session_cookie=COOKIE, max_retries=1)
        async with client:
            with pytest.raises(APIConnectionError) as info:
                await client.list_jobs().collect()
    assert "retrying" in caplog.text
    assert "Bearer ***" in str(info.value)
    assert "\n" not in str(info.value)
    assert info.value.__cause__ is None
    assert info.value.__context__ is None
    assert_masked(info.value, caplog.text)


# --- item 1: a cap on the response body ----------------------------------------------------

MiB = 1024 * 1024


@functools.cache
def gzip_bomb(inflated: int = 200 * MiB) -> bytes:
    """``inflated`` bytes of zeros, gzipped (about 200 KB for 200 MB), made in 1 MiB steps."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = bytes(MiB)
    parts = [packer.compress(zeros) for _ in range(inflated // MiB)]
    parts.append(packer.flush())
    return b"".join(parts)


async def test_gzip_bomb_is_refused_at_the_default_cap() -> None:
    """200 MB of gzipped zeros stop at the 64 MiB default: typed, not retried, one request."""
    bomb = gzip_bomb()
    assert len(bomb) < MiB

    async def serve_bomb(request: RawRequest, writer: asyncio.StreamWriter) -> bool:
        writer.write(http_response(bomb, headers=(("Content-Encoding", "gzip"),)))
        await writer.drain()
        return True

    async with (
        raw_server(serve_bomb) as server,
        BatchClient("k", base_url=server.url, max_retries=3) as client,
    ):
        with pytest.raises(ResponseTooLargeError) as info:
            await client.list_jobs().collect()
    assert len(server.requests) == 1
    assert info.value.limit == 64 * MiB
    assert info.value.retryable is False
    assert "max_response_bytes=67108864 (64 MiB)" in str(info.value)
    assert isinstance(info.value, LlamaBatchError)


async def test_endless_chunked_body_is_cut_at_the_cap() -> None:
    """A chunked body that never ends is refused once past the cap; the server wrote little more."""
    written = 0

    async def endless(request: RawRequest, writer: asyncio.StreamWriter) -> bool:
        nonlocal written
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")
        writer.write(b"Transfer-Encoding: chunked\r\n\r\n")
        chunk = b"%x\r\n%s\r\n" % (64 * 1024, b"[" * 64 * 1024)
        for _ in range(3200):  # at most 200 MiB, should the client never stop
            writer.write(chunk)
            await writer.drain()
            written += 64 * 1024
        return False

    async with raw_server(endless) as server:
        client = BatchClient("k", base_url=server.url, max_retries=2, max_response_bytes=MiB)
        async with client:
            with pytest.raises(
                ResponseTooLargeError, match=r"max_response_bytes=1048576 \(1 MiB\)"
            ):
                await client.list_jobs().collect()
    assert len(server.requests) == 1
    # The client stopped reading at the cap: what the server got out is the cap
    # plus what the sockets' buffers hold, far from the 200 MiB it would write.
    assert written < 32 * MiB


async def test_error_bodies_are_capped_too() -> None:
    """A 503 with a body past the cap is ResponseTooLargeError, not a retried ServerError."""

    async def big_error(request: RawRequest, writer: asyncio.StreamWriter) -> bool:
        writer.write(http_response(b"x" * (2 * MiB), status=503, content_type="text/plain"))
        await writer.drain()
        return True

    async with raw_server(big_error) as server:
        client = BatchClient("k", base_url=server.url, max_retries=2, max_response_bytes=MiB)
        async with client:
            with pytest.raises(ResponseTooLargeError):
                await client.list_jobs().collect()
    assert len(server.requests) == 1


async def test_a_body_at_the_cap_is_accepted() -> None:
    """A body of exactly max_response_bytes is read whole."""
    body = page_body(0, 3, 3)

    async def exact(request: RawRequest, writer: asyncio.StreamWriter) -> bool:
        writer.write(http_response(body))
        await writer.drain()
        return True

    async with raw_server(exact) as server:
        client = BatchClient("k", base_url=server.url, max_response_bytes=len(body))
        async with client:
            jobs = await client.list_jobs(max_items=3).collect()
    assert [job.id for job in jobs] == ["job-000", "job-001", "job-002"]


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_a_gzipped_page_within_the_cap_is_read_whole(chunked: bool) -> None:
    """A compressed page whose inflated size is within the cap streams through intact."""
    body = page_body(0, 5, 5)
    packed = gzip.compress(body)

    async def gzipped(request: RawRequest, writer: asyncio.StreamWriter) -> bool:
        if chunked:
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                b"Content-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n"
                + b"%x\r\n%s\r\n0\r\n\r\n"
                % (len(packed), packed)
            )
        else:
            writer.write(http_response(packed, headers=(("Content-Encoding", "gzip"),)))
        await writer.drain()
        return True

    async with raw_server(gzipped) as server:
        client = BatchClient("k", base_url=server.url, max_response_bytes=len(body))
        async with client:
            jobs = await client.list_jobs(max_items=5).collect()
    assert len(jobs) == 5


@pytest.mark.parametrize("value", [0, -1, 1.5, "64", True, None])
def test_max_response_bytes_is_validated(value: object) -> None:
    """max_response_bytes must be an int >= 1; the ValueError names it."""
    with pytest.raises(ValueError, match="max_response_bytes"):
        BatchClient("k", max_response_bytes=value)  # type: ignore[arg-type]


# --- item 13: aiohttp's hidden re-send -----------------------------------------------------


def fast_retries(client: BatchClient, max_retries: int) -> BatchClient:
    """Keep the retry budget, back off in milliseconds (the context is private and frozen)."""
    policy = RetryPolicy(max_retries=max_retries, backoff_base=0.001, backoff_max=0.01)
    client._context = attrs.evolve(client._context, policy=policy)
    return client


async def test_max_retries_bounds_requests_when_every_connection_drops() -> None:
    """With max_retries=2 a page whose connections all drop is asked 3 times, not 6."""
    async with FakeLlamaCloud(jobs=20) as cloud:
        async with BatchClient("k", base_url=cloud.url) as client:
            fast_retries(client, max_retries=2)
            pages = client.list_jobs(page_size=10).pages()
            first = await anext(pages)  # the connection is now pooled
            assert len(first.items) == 10
            cloud.reset_next(times=10)
            with pytest.raises(APIConnectionError) as info:
                await anext(pages)
            await pages.aclose()
        assert info.value.retryable is True
    failing = [r for r in cloud.requests if r.query.get("offset") == "10"]
    assert len(failing) == 3
    assert len(cloud.requests) == 4


# --- item 4: a stray response on an idle kept-alive connection -----------------------------


async def test_stray_response_on_an_idle_connection_is_not_taken_as_the_next_page() -> None:
    """A complete extra response written while the connection idles is never read as a page."""
    stray = http_response(json.dumps({"items": [], "total_size": 10}).encode())

    async def pages(request: RawRequest, writer: asyncio.StreamWriter) -> bool:
        offset = int(request.query.get("offset", "0"))
        limit = int(request.query["limit"])
        writer.write(http_response(page_body(offset, limit, 30)))
        await writer.drain()
        if len(server.requests) == 1:
            # A proxy (or a buggy server) answers once more, unasked, while the
            # client holds this connection idle in its pool.
            await asyncio.sleep(0.05)
            writer.write(stray)
            await writer.drain()
        return True

    async with raw_server(pages) as server, BatchClient("k", base_url=server.url) as client:
        seen: list[str] = []
        async for page in client.list_jobs(page_size=10).pages():
            seen.extend(job.id for job in page.items)
            if len(seen) == 10:
                await asyncio.sleep(0.3)  # the consumer works; the connection idles
    assert seen == [f"job-{n:03d}" for n in range(30)]
    assert server.connections == 2  # the connection with the stray was not reused


async def test_stray_response_does_not_end_a_default_prefetch_walk() -> None:
    """Issue 24.8: a stray read as an empty page under the default prefetch ends no walk.

    The server sends no total_size, and its first connection is reused at once for the
    walk's next page; the guess in flight past that "end" brings jobs, so the walk
    asks again and lists all 30.
    """
    stray = http_response(json.dumps({"items": []}).encode())

    async def pages(request: RawRequest, writer: asyncio.StreamWriter) -> bool:
        offset = int(request.query.get("offset", "0"))
        limit = int(request.query["limit"])
        items = [make_job(id=f"job-{n:03d}") for n in range(offset, min(offset + limit, 30))]
        writer.write(http_response(json.dumps({"items": items}).encode()))
        await writer.drain()
        if len(server.requests) == 1:
            await asyncio.sleep(0.05)  # the prefetched request is already on its way
            writer.write(stray)
            await writer.drain()
        return True

    async with raw_server(pages) as server, BatchClient("k", base_url=server.url) as client:
        pager = client.list_jobs(page_size=10)  # the default prefetch: no consumer pause
        seen = [job.id for job in await pager.collect()]
    assert seen == [f"job-{n:03d}" for n in range(30)]


# --- item 10: one client, two asyncio.run calls --------------------------------------------


def test_one_client_across_two_asyncio_runs() -> None:
    """A client whose first loop ended opens a new session in the next one, without warnings."""
    with serve_in_thread(jobs=25) as cloud:
        client = BatchClient("k", base_url=cloud.url, max_retries=0)

        async def walk() -> int:
            return len(await client.list_jobs(page_size=10).collect())

        assert asyncio.run(walk()) == 25
        gc.collect()  # a socket of the first loop left open would warn here
        assert asyncio.run(walk()) == 25
        asyncio.run(client.aclose())
        gc.collect()
    assert client.closed


def test_a_session_of_a_loop_still_open_is_refused_clearly() -> None:
    """A client whose session belongs to another, still open loop says so, in our words."""
    with serve_in_thread(jobs=5) as cloud:
        client = BatchClient("k", base_url=cloud.url, max_retries=0)
        first = asyncio.new_event_loop()
        try:
            assert len(first.run_until_complete(client.list_jobs().collect())) == 5
            with pytest.raises(RuntimeError, match="another event loop that is still open"):
                asyncio.run(client.list_jobs().collect())
            first.run_until_complete(client.aclose())
        finally:
            first.close()
