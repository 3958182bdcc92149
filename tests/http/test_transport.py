"""Transport hard cases, each against a real server on 127.0.0.1.

Stale kept-alive connections, a pool shared with abandoned walks, cancellation
at every await, TLS failures, every shape of ``Retry-After``, bodies that are
not what the reference says, environment settings, and redirects.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import gc
import json
import shutil
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, cast

import aiohttp
import attrs
import pytest
from aiohttp import web
from helpers import all_ids, ids

from llama_batch_async import (
    APIConnectionError,
    APITimeoutError,
    BatchClient,
    BatchJob,
    RateLimitError,
    ResponseValidationError,
    ServerError,
)
from llama_batch_async._config import DECODE_IN_THREAD_BYTES
from llama_batch_async._http._retry import RetryPolicy
from llama_batch_async._http._wire import Request, Response, build_request
from llama_batch_async.testing import ENDPOINT_PATH, FakeLlamaCloud, make_job

KEY = "sk-transport-secret-42"
LOOP_BOUND = 5.0  # seconds any wait for a condition may take before the test fails


def fast_retries(client: BatchClient, max_retries: int = 4) -> BatchClient:
    """Test-speed knob: keep the retry budget, back off in milliseconds.

    The client's `WalkContext` is a private, frozen attrs class; the test swaps
    in one whose policy sleeps 1-10 ms between attempts instead of 0.5 s and up.
    """
    policy = RetryPolicy(max_retries=max_retries, backoff_base=0.001, backoff_max=0.01)
    client._context = attrs.evolve(client._context, policy=policy)
    return client


class RecordingSleep:
    """Records the waits a client asks for, and yields to the loop instead of waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        await asyncio.sleep(0)


def record_sleeps(client: BatchClient) -> RecordingSleep:
    """Swap the client's (injectable, private) sleep for a recording one."""
    sleep = RecordingSleep()
    client._context = attrs.evolve(client._context, sleep=sleep)
    return sleep


async def until(condition: Callable[[], bool], what: str) -> None:
    """Poll ``condition`` every 5 ms, for at most LOOP_BOUND seconds."""
    deadline = time.monotonic() + LOOP_BOUND
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        await asyncio.sleep(0.005)


def client_tasks() -> list[str]:
    """The package's own tasks still alive (the fake server's share the loop)."""
    names = []
    for task in asyncio.all_tasks():
        code = getattr(task.get_coro(), "cr_code", None)
        if code is None or task is asyncio.current_task():
            continue
        if "llama_batch_async" in code.co_filename and "testing" not in code.co_filename:
            names.append(code.co_name)
    return names


@pytest.fixture
async def cloud() -> AsyncIterator[FakeLlamaCloud]:
    async with FakeLlamaCloud(jobs=40, seed=9) as server:
        yield server


# ---------------------------------------------------------------- keep-alive


ONE_JOB_PAGE = json.dumps({"items": [make_job(id="job-keepalive")], "total_size": 1}).encode()


class KeepAliveServer:
    """A raw HTTP/1.1 server on 127.0.0.1 that keeps connections alive, then drops them.

    Args:
        idle_close: Close a connection after this many idle seconds, unannounced
            (no ``Connection: close``, no ``Keep-Alive`` timeout sent).
        drops: After the first answer, close this many connections, without
            answering, as their next request arrives: the first is the idle
            close crossing the client's request on a reused connection; the
            next ones also catch aiohttp's own silent resend, so that only the
            client's retry can save the walk.
    """

    def __init__(self, *, idle_close: float = 10.0, drops: int = 0) -> None:
        self.idle_close = idle_close
        self.drops = drops
        self.dropped = 0
        self.connections = 0
        self.requests = 0
        self.answered = 0
        self.port = 0
        self._writers: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> KeepAliveServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        await self._server.wait_closed()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def open(self) -> int:
        """Connections the server still holds open."""
        return len(self._writers)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.add(writer)
        try:
            for _ in range(100):  # bounded: at most 100 requests per connection
                try:
                    await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), self.idle_close)
                except (asyncio.IncompleteReadError, asyncio.TimeoutError, ConnectionError):
                    return  # the client left, or the connection idled out
                self.requests += 1
                if self.answered and self.dropped < self.drops:
                    self.dropped += 1
                    return
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"Connection: keep-alive\r\nContent-Length: %d\r\n\r\n%s"
                    % (len(ONE_JOB_PAGE), ONE_JOB_PAGE)
                )
                await writer.drain()
                self.answered += 1
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
            self._writers.discard(writer)  # `open` counts it until its socket is closed


async def test_connection_closed_by_the_server_while_idle_is_not_reused() -> None:
    """A kept-alive connection the server closed while idle: the next walk succeeds."""
    async with KeepAliveServer(idle_close=0.1) as server:
        async with BatchClient(KEY, base_url=server.url, max_retries=0) as client:
            assert len(await client.list_jobs().collect()) == 1
            await until(lambda: server.connections == 1 and server.open == 0, "the idle close")
            # A real idle gap is seconds: let the client's loop read the server's FIN first
            # (a close racing the next request is the next test's case).
            await asyncio.sleep(0.1)
            jobs = await asyncio.wait_for(client.list_jobs().collect(), LOOP_BOUND)
        assert len(jobs) == 1
        assert (server.connections, server.requests) == (2, 2)


async def test_server_closing_as_a_reused_connection_is_sent_on() -> None:
    """The idle close races the next request on a kept-alive connection: the walk is retried."""
    async with KeepAliveServer(drops=2) as server:
        async with BatchClient(KEY, base_url=server.url) as client:
            fast_retries(client, max_retries=2)
            assert len(await client.list_jobs().collect()) == 1
            pager = client.list_jobs()  # sent on the connection the first walk left
            jobs = await asyncio.wait_for(pager.collect(), LOOP_BOUND)
        assert len(jobs) == 1
        assert server.dropped == 2
        assert server.answered == 2
        assert pager.stats.retries >= 1


# ---------------------------------------------------------------- the pool


@contextlib.asynccontextmanager
async def one_connection_client(cloud: FakeLlamaCloud) -> AsyncIterator[BatchClient]:
    """A client on a caller's session whose pool holds a single connection."""
    connector = aiohttp.TCPConnector(limit=1)
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        BatchClient(KEY, base_url=cloud.url, session=session) as client,
    ):
        yield client


@pytest.mark.parametrize("prefetch", [0, 3])
async def test_walk_abandoned_mid_page_does_not_block_the_pool(prefetch: int) -> None:
    """With a pool of one connection, a walk left after one item does not hold it."""
    async with (
        FakeLlamaCloud(jobs=3000, seed=2) as cloud,
        one_connection_client(cloud) as client,
    ):
        pager = client.list_jobs(page_size=1000, prefetch=prefetch)
        items = cast("AsyncGenerator[BatchJob, None]", aiter(pager))
        async with contextlib.aclosing(items):
            async for _job in items:
                break
        assert not client_tasks()
        sent = len(cloud.requests)
        jobs = await asyncio.wait_for(client.list_jobs(max_items=5).collect(), 3.0)
        assert ids(jobs) == all_ids(cloud)[:5]
        # nothing of the abandoned walk reached the server after it was closed
        assert [r.query["limit"] for r in cloud.requests[sent:]] == ["5"]


async def test_walk_dropped_without_closing_does_not_block_the_pool() -> None:
    """A walk merely dropped after its first item leaves the one connection free."""
    async with (
        FakeLlamaCloud(jobs=3000, seed=2) as cloud,
        one_connection_client(cloud) as client,
    ):
        async for _job in client.list_jobs(page_size=1000):
            break
        jobs = await asyncio.wait_for(client.list_jobs(max_items=5).collect(), 3.0)
        assert ids(jobs) == all_ids(cloud)[:5]


# ---------------------------------------------------------------- cancellation


async def _timeout_block(awaitable: Awaitable[Any], seconds: float) -> Any:
    """Await under ``asyncio.timeout`` (3.11+), else ``asyncio.wait_for``."""
    if sys.version_info >= (3, 11):
        async with asyncio.timeout(seconds):
            return await awaitable
    return await asyncio.wait_for(awaitable, seconds)  # pragma: no cover - Python 3.10


@pytest.mark.parametrize("where", ["request", "retry-sleep", "prefetch"])
@pytest.mark.parametrize("how", ["wait_for", "timeout", "cancel"])
async def test_cancellation_is_prompt_final_and_clean(where: str, how: str) -> None:
    """Cancelled in a request, a retry sleep or a prefetch: prompt, nothing more sent, pool free."""
    async with FakeLlamaCloud(jobs=300, seed=4) as cloud:
        if where == "request":
            cloud.delay_next(30)
            expected_requests, prefetch = 1, 0
        elif where == "retry-sleep":
            cloud.fail_next(503, retry_after="30")
            expected_requests, prefetch = 1, 0
        else:  # the first page comes back, the next (prefetched) requests hang
            cloud.delay_next(0)
            cloud.delay_next(30, times=20)
            expected_requests, prefetch = 2, 4
        async with one_connection_client(cloud) as client:
            pager = client.list_jobs(page_size=10, prefetch=prefetch)
            started = time.monotonic()
            if how == "wait_for":
                with pytest.raises((TimeoutError, asyncio.TimeoutError)):
                    await asyncio.wait_for(pager.collect(), 0.3)
            elif how == "timeout":
                with pytest.raises((TimeoutError, asyncio.TimeoutError)):
                    await _timeout_block(pager.collect(), 0.3)
            else:
                task = asyncio.create_task(pager.collect())
                await until(lambda: len(cloud.requests) >= expected_requests, "requests")
                if where == "retry-sleep":
                    await until(lambda: pager.stats.retries == 1, "the retry sleep")
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await asyncio.wait_for(task, 1.0)
            assert time.monotonic() - started < 2.0
            assert not client_tasks()
            await asyncio.sleep(0.3)
            assert len(cloud.requests) == expected_requests
            cloud.clear_faults()
            # The one connection was returned or closed: a new walk gets it at once.
            jobs = await asyncio.wait_for(client.list_jobs(max_items=5).collect(), 3.0)
            assert ids(jobs) == all_ids(cloud)[:5]
        gc.collect()  # an unclosed response or connection warns here, and warnings fail


# ---------------------------------------------------------------- TLS


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, made with openssl at test time."""
    openssl = shutil.which("openssl")
    if openssl is None:  # pragma: no cover - every CI image has openssl
        pytest.skip("openssl is needed to make a self-signed certificate")
    folder = tmp_path_factory.mktemp("certs")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(  # noqa: S603 - fixed arguments, no shell
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )
    return cert, key


@attrs.define
class TLSServer:
    """An HTTPS list endpoint on 127.0.0.1 that counts handshakes and requests."""

    url: str
    handshakes: list[str | None]
    requests: list[str]


@contextlib.asynccontextmanager
async def tls_server(certificate: tuple[Path, Path]) -> AsyncIterator[TLSServer]:
    cert, key = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    handshakes: list[str | None] = []
    requests: list[str] = []

    def on_client_hello(_sock: object, server_name: str | None, _context: object) -> None:
        handshakes.append(server_name)  # called once per TLS handshake attempt

    context.sni_callback = on_client_hello

    async def handle(request: web.Request) -> web.Response:
        requests.append(request.path_qs)
        return web.json_response({"items": [make_job(id="job-tls")], "total_size": 1})

    app = web.Application()
    app.router.add_get(ENDPOINT_PATH, handle)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
        await site.start()
        port = runner.addresses[0][1]
        yield TLSServer(f"https://127.0.0.1:{port}", handshakes, requests)
    finally:
        await runner.cleanup()


async def test_tls_certificate_error_is_not_retried(certificate: tuple[Path, Path]) -> None:
    """An untrusted certificate: one handshake, then a clear non-retryable APIConnectionError."""
    async with tls_server(certificate) as server:
        async with BatchClient(KEY, base_url=server.url) as client:
            fast_retries(client, max_retries=4)
            with pytest.raises(APIConnectionError) as caught:
                await asyncio.wait_for(client.list_jobs().collect(), LOOP_BOUND)
        error = caught.value
        assert not isinstance(error, APITimeoutError)
        assert error.retryable is False
        assert "certificate" in str(error)
        assert "127.0.0.1" in str(error)
        assert KEY not in str(error)
        assert len(server.handshakes) == 1
        assert server.requests == []
        # The control: a session that trusts the certificate gets the page.
        trusting = ssl.create_default_context(cafile=str(certificate[0]))
        connector = aiohttp.TCPConnector(ssl=trusting)
        async with (
            aiohttp.ClientSession(connector=connector) as session,
            BatchClient(KEY, base_url=server.url, session=session) as client,
        ):
            assert len(await client.list_jobs().collect()) == 1
        assert len(server.handshakes) == 2
        assert len(server.requests) == 1


async def test_https_proxy_variable_ignored_unless_trust_env(
    certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """HTTPS_PROXY is not used without trust_env=True: the client goes straight to the host."""
    for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    async with tls_server(certificate) as server:
        async with BatchClient(KEY, base_url=server.url, max_retries=0) as client:
            with pytest.raises(APIConnectionError, match="certificate"):
                await client.list_jobs().collect()
        assert len(server.handshakes) == 1  # reached directly, not through the proxy
        async with BatchClient(KEY, base_url=server.url, max_retries=0, trust_env=True) as client:
            with pytest.raises(APIConnectionError, match="cannot reach") as caught:
                await client.list_jobs().collect()
        assert caught.value.retryable
        assert len(server.handshakes) == 1  # with trust_env, the (dead) proxy was tried


async def test_all_proxy_variables_ignored_by_default(
    cloud: FakeLlamaCloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ALL_PROXY, HTTP(S)_PROXY, lower and upper case: all ignored without trust_env."""
    for name in ("ALL_PROXY", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
        monkeypatch.setenv(name.lower(), "socks5://127.0.0.1:9")
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    async with BatchClient(KEY, base_url=cloud.url, max_retries=0) as client:
        assert ids(await client.list_jobs().collect()) == all_ids(cloud)


# ---------------------------------------------------------------- Retry-After


def http_date(seconds_from_now: float) -> str:
    when = datetime.now(timezone.utc) + timedelta(seconds=seconds_from_now)
    return email.utils.format_datetime(when, usegmt=True)


@pytest.mark.parametrize(
    ("header", "low", "high"),
    [
        ("0", 0.0, 0.0),
        ("0.05", 0.05, 0.05),
        ("7", 7.0, 7.0),
        (" 2 ", 2.0, 2.0),
        ("in-3s", 1.5, 3.01),  # an HTTP date 3 s ahead (whole seconds on the wire)
        ("past", 0.0, 0.0),  # an HTTP date a minute ago: go now
    ],
)
async def test_retry_after_is_honoured(
    cloud: FakeLlamaCloud, header: str, low: float, high: float
) -> None:
    """Retry-After in seconds or as an HTTP date is the wait before the one retry."""
    value = {"in-3s": http_date(3), "past": http_date(-60)}.get(header, header)
    cloud.fail_next(503, retry_after=value)
    async with BatchClient(KEY, base_url=cloud.url) as client:
        sleep = record_sleeps(client)
        pager = client.list_jobs()
        assert ids(await pager.collect()) == all_ids(cloud)
    assert len(sleep.waits) == 1
    assert low <= sleep.waits[0] <= high
    assert pager.stats.retries == 1
    assert len(cloud.requests) == 2


@pytest.mark.parametrize("header", ["-5", "soon", "", "inf", "nan", "Fri, 99 Foo 2024", "1e999"])
async def test_unreadable_retry_after_falls_back_to_backoff(
    cloud: FakeLlamaCloud, header: str
) -> None:
    """A negative, infinite or garbage Retry-After: retried after the jittered backoff."""
    cloud.fail_next(503, retry_after=header, times=2)
    async with BatchClient(KEY, base_url=cloud.url) as client:
        sleep = record_sleeps(client)
        assert ids(await client.list_jobs().collect()) == all_ids(cloud)
    assert len(cloud.requests) == 3
    # Full jitter: attempt n waits up to 0.5 s * 2**(n-1) (the default backoff).
    assert len(sleep.waits) == 2
    assert 0.0 <= sleep.waits[0] <= 0.5
    assert 0.0 <= sleep.waits[1] <= 1.0


async def test_huge_retry_after_raises_rate_limit_at_once(cloud: FakeLlamaCloud) -> None:
    """A Retry-After of a day on a 429 is not slept through: RateLimitError, one request."""
    cloud.fail_next(429, retry_after="86400")
    async with BatchClient(KEY, base_url=cloud.url) as client:
        sleep = record_sleeps(client)
        with pytest.raises(RateLimitError) as caught:
            await client.list_jobs().collect()
    assert caught.value.retry_after == 86400.0
    assert caught.value.status_code == 429
    assert sleep.waits == []
    assert len(cloud.requests) == 1


@pytest.mark.parametrize(("header", "retried"), [("2", True), ("2.001", False)])
async def test_retry_after_cap_is_inclusive(
    cloud: FakeLlamaCloud, header: str, retried: bool
) -> None:
    """retry_after_cap=2: a Retry-After of 2 s is slept, a longer one is raised at once."""
    cloud.fail_next(503, retry_after=header)
    async with BatchClient(KEY, base_url=cloud.url, retry_after_cap=2) as client:
        sleep = record_sleeps(client)
        if retried:
            assert ids(await client.list_jobs().collect()) == all_ids(cloud)
            assert sleep.waits == [2.0]
        else:
            with pytest.raises(ServerError) as caught:
                await client.list_jobs().collect()
            assert caught.value.retry_after == float(header)
            assert sleep.waits == []
            assert len(cloud.requests) == 1


@pytest.mark.parametrize(("failures", "succeeds"), [(2, True), (3, False)])
async def test_retry_budget_counts_retries_after_the_first(
    cloud: FakeLlamaCloud, failures: int, succeeds: bool
) -> None:
    """max_retries=2: two 429s are retried through, a third is raised; 3 requests either way."""
    cloud.fail_next(429, retry_after="0", times=failures)
    async with BatchClient(KEY, base_url=cloud.url, max_retries=2) as client:
        if succeeds:
            assert ids(await client.list_jobs().collect()) == all_ids(cloud)
        else:
            with pytest.raises(RateLimitError) as caught:
                await client.list_jobs().collect()
            assert caught.value.retry_after == 0.0
            assert caught.value.request_id == cloud.requests[-1].request_id
    assert len(cloud.requests) == 3


async def test_retry_after_is_really_waited(cloud: FakeLlamaCloud) -> None:
    """With the real sleep, the retry comes no sooner than Retry-After says."""
    cloud.fail_next(503, retry_after="0.25")
    async with BatchClient(KEY, base_url=cloud.url) as client:
        assert ids(await client.list_jobs().collect()) == all_ids(cloud)
    failed, retried = cloud.requests[:2]
    assert retried.time - failed.time >= 0.24


# ---------------------------------------------------------------- bodies


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        (b"plain text, not json", "text/plain", "not JSON"),
        (b"<html><body>Maintenance until 5pm</body></html>", "text/html", "not JSON"),
        (b"", "application/json", "not JSON"),
        (b'{"items": [', "application/json", "not JSON"),
        (b"\xff\xfe\x00{", "application/json", "not JSON"),
        (b"[]", "application/json", r"expected an object @ \$"),
        (b"null", "application/json", r"expected an object @ \$"),
        (b'"items"', "application/json", r"expected an object @ \$"),
        (b'{"items": {"0": {"id": "a"}}}', "application/json", r"expected a list @ \$\.items"),
        (b'{"items": null}', "application/json", r"\$\.items"),
        (b'{"total_size": 3}', "application/json", r"missing @ \$\.items"),
    ],
    ids=[
        "text",
        "html",
        "empty",
        "cut-json",
        "not-utf8",
        "array",
        "null",
        "string",
        "items-object",
        "items-null",
        "items-missing",
    ],
)
async def test_200_that_is_not_a_page_is_a_validation_error(
    cloud: FakeLlamaCloud, body: bytes, content_type: str, message: str
) -> None:
    """A 200 whose body is not the reference's page: ResponseValidationError, not retried."""
    cloud.respond_next(200, body=body, content_type=content_type)
    async with BatchClient(KEY, base_url=cloud.url) as client:
        with pytest.raises(ResponseValidationError, match=message) as caught:
            await client.list_jobs().collect()
    assert len(cloud.requests) == 1
    assert caught.value.cursor is None
    assert "Maintenance" not in str(caught.value)  # named by path, never dumped


async def test_validation_error_mid_walk_carries_the_cursor(cloud: FakeLlamaCloud) -> None:
    """An HTML 200 on page two ends the walk with a cursor that resumes it losslessly."""
    seen: list[BatchJob] = []
    async with BatchClient(KEY, base_url=cloud.url) as client:
        with pytest.raises(ResponseValidationError) as caught:
            async for page in client.list_jobs(page_size=15).pages():
                seen.extend(page.items)
                cloud.respond_next(200, body=b"<html>oops</html>", content_type="text/html")
        assert caught.value.cursor is not None
        rest = await client.list_jobs(page_size=15, resume_from=caught.value.cursor).collect()
    assert ids(seen + rest) == all_ids(cloud)


@pytest.mark.parametrize(("failures", "succeeds"), [(1, True), (3, False)])
async def test_html_503_is_a_retried_server_error(
    cloud: FakeLlamaCloud, failures: int, succeeds: bool
) -> None:
    """An HTML error page with 503 is a ServerError, retried; the last one carries its excerpt."""
    page = b"<html><head><title>503</title></head><body>Service  Unavailable\n</body></html>"
    cloud.fail_next(503, body=page, content_type="text/html", times=failures)
    async with BatchClient(KEY, base_url=cloud.url) as client:
        fast_retries(client, max_retries=2)
        if succeeds:
            assert ids(await client.list_jobs().collect()) == all_ids(cloud)
        else:
            with pytest.raises(ServerError) as caught:
                await client.list_jobs().collect()
            assert caught.value.status_code == 503
            assert "Service Unavailable" in caught.value.body
            assert caught.value.request_id == cloud.requests[-1].request_id
    assert len(cloud.requests) == failures + succeeds


# ---------------------------------------------------------------- redirects


async def test_redirect_loop_is_a_final_connection_error(cloud: FakeLlamaCloud) -> None:
    """More than 5 redirects: APIConnectionError, not retried, after exactly 6 requests."""
    cloud.redirect_next(ENDPOINT_PATH + "?limit=100&offset=0", times=50)
    async with BatchClient(KEY, base_url=cloud.url) as client:
        fast_retries(client, max_retries=4)
        with pytest.raises(APIConnectionError, match="more than 5 redirects") as caught:
            await client.list_jobs().collect()
    assert caught.value.retryable is False
    assert len(cloud.requests) == 6


async def test_five_redirects_are_followed(cloud: FakeLlamaCloud) -> None:
    """Exactly 5 redirects in a row are followed to the page."""
    cloud.redirect_next(ENDPOINT_PATH + "?limit=100&offset=0", times=5)
    async with BatchClient(KEY, base_url=cloud.url) as client:
        assert ids(await client.list_jobs().collect()) == all_ids(cloud)
    assert len(cloud.requests) == 6


@pytest.mark.parametrize("target", ["localhost", "other-port"])
async def test_redirect_to_another_origin_drops_credentials(target: str) -> None:
    """127.0.0.1 -> localhost or another port is another origin: no key, no cookie."""
    async with FakeLlamaCloud(jobs=3) as origin, FakeLlamaCloud(jobs=3) as other:
        if target == "localhost":
            destination, arrives_at = origin.url.replace("127.0.0.1", "localhost"), origin
        else:
            destination, arrives_at = other.url, other
        origin.redirect_next(destination + ENDPOINT_PATH + "?limit=100&offset=0")
        async with BatchClient(KEY, base_url=origin.url, session_cookie="sess-7") as client:
            assert len(await client.list_jobs().collect()) == 3
        first = origin.requests[0]
        redirected = arrives_at.requests[1 if arrives_at is origin else 0]
        assert first.headers["Authorization"] == f"Bearer {KEY}"
        assert first.cookies == {"session": "sess-7"}
        assert redirected.headers["Host"].startswith(destination.split("//")[1].split(":")[0])
        assert "Authorization" not in redirected.headers
        assert redirected.cookies == {}


class BigBodyTransport:
    """A transport that answers every request 200 with a body of ``size`` bytes."""

    def __init__(self, size: int) -> None:
        self.size = size

    async def send(self, request: Request) -> Response:
        del request
        return Response(status=200, headers={}, body=b" " * self.size)

    async def aclose(self) -> None:
        return None


@pytest.mark.parametrize(
    ("size", "on_loop"), [(DECODE_IN_THREAD_BYTES, True), (DECODE_IN_THREAD_BYTES + 1, False)]
)
async def test_large_bodies_are_decoded_off_the_event_loop(size: int, on_loop: bool) -> None:
    """Issue 24.16: a body above DECODE_IN_THREAD_BYTES is decoded in a worker thread."""
    loop_thread = threading.get_ident()
    threads: list[int] = []

    def decode(body: bytes) -> int:
        threads.append(threading.get_ident())
        return len(body)

    async with BatchClient(KEY, transport=BigBodyTransport(size)) as client:
        sender = client._context
        request = build_request(sender.config, sender.config.endpoint, ())
        assert await sender.send(request, decode) == size
    assert (threads == [loop_thread]) is on_loop


async def test_connection_errors_are_said_in_the_systems_words(cloud: FakeLlamaCloud) -> None:
    """Refused, or TLS to a plain-http port: one reason, never aiohttp's 'ssl:default' text."""
    tls_to_plain = cloud.url.replace("http://", "https://")
    for url in ("http://127.0.0.1:9", tls_to_plain):
        async with BatchClient(KEY, base_url=url, max_retries=0) as client:
            with pytest.raises(APIConnectionError, match=r"^cannot reach 127\.0\.0\.1: ") as caught:
                await client.list_jobs().collect()
        message = str(caught.value)
        assert "ssl:default" not in message
        assert "ClientConnector" not in message
