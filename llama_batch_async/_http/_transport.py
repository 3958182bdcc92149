"""The only module that imports aiohttp.

`AiohttpTransport.send` sends one `Request`, follows redirects itself (so
credentials never cross to another host), reads the whole body within a byte
budget, releases the connection and returns a `Response`. aiohttp's exceptions become ours here and
nowhere else, most specific first, chained with ``from``. Cancellation is never
caught.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import netrc
import os
import urllib.request
from collections.abc import AsyncGenerator, Sequence
from pathlib import Path
from typing import Protocol

import aiohttp
from aiohttp.connector import Connection
from aiohttp.tracing import Trace
from yarl import URL

from llama_batch_async._errors import (
    APIConnectionError,
    APITimeoutError,
    ResponseTooLargeError,
    redact,
)

from ._wire import Request, Response, decide_redirect

__all__ = ["DEFAULT_MAX_RESPONSE_BYTES", "AiohttpTransport", "Transport"]

logger = logging.getLogger(__name__)

_MAX_REDIRECTS = 5
# A page of the reference's largest `limit` is a few MB; 64 MiB leaves room for any
# honest server and bounds a dishonest one (issue 11.1: gzip bombs, endless bodies).
DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024
_READ_CHUNK = 256 * 1024
_CREDENTIAL_HEADERS = ("Authorization", "Cookie")


class Transport(Protocol):
    """What the pager needs from the network: send one request, and close."""

    async def send(self, request: Request) -> Response:
        """Send ``request`` and return the whole response."""
        ...

    async def aclose(self) -> None:
        """Release the connections this transport owns."""
        ...


class AiohttpTransport:
    """`Transport` over an `aiohttp.ClientSession`, owned or borrowed.

    Args:
        timeout: Seconds one attempt may take, connect to last byte.
        session: A caller's session, used and never closed; None to own one,
            created lazily inside the running loop.
        trust_env: For an owned session: read proxy variables and ``.netrc``.
        trace_configs: For an owned session: aiohttp tracing hooks.
        connection_limit: For an owned session: the connection pool's size.
        max_response_bytes: The most body bytes (after decompression) one
            response may have, error responses included.

    Raises:
        ValueError: ``max_response_bytes`` is not an int >= 1.
    """

    def __init__(
        self,
        *,
        timeout: float,
        session: aiohttp.ClientSession | None = None,
        trust_env: bool = False,
        trace_configs: Sequence[aiohttp.TraceConfig] | None = None,
        connection_limit: int = 100,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> None:
        if type(max_response_bytes) is not int or max_response_bytes < 1:
            raise ValueError(f"max_response_bytes must be an int >= 1, got {max_response_bytes!r}")
        self._max_response_bytes = max_response_bytes
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session = session
        self._owns_session = session is None
        self._trust_env = trust_env
        self._trace_configs = list(trace_configs or ())
        self._connection_limit = connection_limit
        self._closed = False
        # The owned session's loop, and the async generator that closes the session
        # when that loop shuts down (see _closer).
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closer: AsyncGenerator[None, None] | None = None

    async def _get_session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise RuntimeError("this client is closed; create a new BatchClient")
        loop = asyncio.get_running_loop()
        if self._session is not None and self._owns_session and self._loop is not loop:
            self._forget_session_of(loop)
        if self._session is None:
            # Created on first use, inside the running loop. A dummy jar: cookies a
            # server sets are never replayed (spec: security), and one client may
            # serve many tenants.
            # The session itself never reads the environment: with trust_env=True
            # this transport applies proxies and .netrc per request (_environment),
            # so that a .netrc entry cannot collide with the bearer token.
            self._session = aiohttp.ClientSession(
                connector=_CheckedConnector(limit=self._connection_limit),
                cookie_jar=aiohttp.DummyCookieJar(),
                trust_env=False,
                trace_configs=self._trace_configs or None,
                middlewares=(_no_hidden_resend,),
            )
            self._loop = loop
            self._closer = _closer(self._session)
            # Started here, so the loop registers it; asyncio.run (and every runner
            # that calls loop.shutdown_asyncgens) closes it, and so the session, as
            # the loop ends, while the loop can still close sockets.
            await anext(self._closer)
        return self._session

    def _forget_session_of(self, loop: asyncio.AbstractEventLoop) -> None:
        """Let go of an owned session made in another loop, so ``loop`` gets its own.

        A client used by two ``asyncio.run`` calls in a row (a module-level
        client; pytest-asyncio's function-scoped loops): the first loop is closed,
        and its session with it, closed by `_closer` at the loop's shutdown.
        """
        old = self._loop
        if old is not None and not old.is_closed():
            raise RuntimeError(
                "this BatchClient's session belongs to another event loop that is still "
                "open; use one client per event loop, or close it with aclose() there first"
            )
        logger.debug("the event loop of this client's session has closed; opening a new one")
        self._session = None
        self._closer = None
        self._loop = None

    def _environment(self, url: URL, headers: dict[str, str]) -> str | None:
        """Apply proxy variables and ``.netrc`` when trust_env=True; return the proxy."""
        if not (self._trust_env and self._owns_session and url.host):
            return None
        if "Authorization" not in headers and (login := _netrc_login(url.host)):
            token = base64.b64encode(":".join(login).encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        if urllib.request.proxy_bypass(url.host):
            return None
        return urllib.request.getproxies().get(url.scheme)

    async def send(self, request: Request) -> Response:
        """Send one request, following up to 5 redirects (GETs only), and read the whole body.

        A write (POST) follows no redirect: its 3xx is the answer (an
        `APIStatusError`), so its body is never sent to a second URL.

        Args:
            request: What to send.

        Raises:
            APITimeoutError: The attempt took longer than the timeout.
            APIConnectionError: No usable response (``retryable`` says whether
                another attempt may help).
        """
        session = await self._get_session()
        url = URL(request.url)
        origin = url.origin()
        params: tuple[tuple[str, str], ...] | None = request.params
        headers = dict(request.headers)
        secrets = request.secrets
        # A `with_options` copy shares this transport with its own timeout.
        timeout = (
            self._timeout
            if request.timeout is None or request.timeout == self._timeout.total
            else aiohttp.ClientTimeout(total=request.timeout)
        )
        error: APIConnectionError
        try:
            for _ in range(_MAX_REDIRECTS + 1):
                async with session.request(
                    request.method,
                    url,
                    params=params,
                    data=request.body,
                    headers=headers,
                    allow_redirects=False,
                    timeout=timeout,
                    proxy=self._environment(url, headers),
                ) as resp:
                    redirect = decide_redirect(
                        resp.url, resp.status, resp.headers.get("Location"), origin=origin
                    )
                    if redirect is not None and request.method == "GET":
                        url = redirect.url
                        params = None  # the Location carries its own query
                        if not redirect.keep_credentials:
                            for name in _CREDENTIAL_HEADERS:
                                headers.pop(name, None)
                        logger.debug(
                            "following redirect %s -> %s",
                            resp.status,
                            redact(url.host or "", secrets),
                        )
                        continue
                    body = await self._read_body(resp, redact(url.host or "?", secrets))
                    return Response(
                        status=resp.status,
                        headers={k.lower(): v for k, v in resp.headers.items()},
                        body=body,
                        secrets=secrets,
                    )
        except (aiohttp.ClientError, OSError, asyncio.TimeoutError, ValueError) as exc:
            error = _translate(exc, redact(url.host or "?", secrets), timeout.total)
            if not _mentions(exc, secrets):
                raise error from exc
            # The server echoed a credential into text aiohttp quotes (a bad header
            # line, say): mask it, and keep that exception out of the chain so no
            # traceback shows it. Raised below, outside this block, so that
            # __context__ stays empty too.
            error.args = (redact(str(error), secrets),)
        else:
            raise APIConnectionError(
                f"more than {_MAX_REDIRECTS} redirects from {origin.host}", retryable=False
            )
        raise error

    async def _read_body(self, resp: aiohttp.ClientResponse, host: str) -> bytes:
        """The whole body, or `ResponseTooLargeError` once it passes the budget.

        Streamed in chunks and counted after decompression, so neither a
        compressed bomb nor an endless chunked body is held in memory.
        """
        limit = self._max_response_bytes
        length = resp.content_length
        encoding = resp.headers.get("Content-Encoding", "identity").strip().lower()
        if length is not None and encoding == "identity":
            # perf: an uncompressed body with a length is that many bytes, no more
            # (aiohttp reads exactly Content-Length), so it is checked up front and
            # read in one go; streaming costs a copy per chunk on every page.
            if length <= limit:
                return await resp.read()
            resp.close()
            raise _too_large(host, limit)
        size = 0
        chunks: list[bytes] = []
        async for chunk in resp.content.iter_chunked(_READ_CHUNK):
            size += len(chunk)
            if size > limit:
                # The rest is never read: this connection cannot be reused.
                resp.close()
                raise _too_large(host, limit)
            chunks.append(chunk)
        return b"".join(chunks)

    async def aclose(self) -> None:
        """Close the session if this transport created it; idempotent."""
        self._closed = True
        session, self._session = self._session, None
        closer, self._closer = self._closer, None
        if session is None or not self._owns_session:
            return
        if self._loop is not asyncio.get_running_loop():
            # Made in a loop that has ended; its shutdown closed it (see _closer).
            return
        if closer is not None:
            await closer.aclose()
        await session.close()


async def _closer(session: aiohttp.ClientSession) -> AsyncGenerator[None, None]:
    """Close ``session`` when its loop shuts down its async generators.

    ``asyncio.run`` ends by closing every async generator still open in its
    loop (``loop.shutdown_asyncgens``), then the loop: a session its owner
    never closed is closed here, while the loop can still close its sockets.
    Otherwise a second ``asyncio.run`` would find a session bound to a closed
    loop ("Event loop is closed") and sockets nobody closes (ResourceWarning).
    """
    try:
        yield
    finally:
        if not session.closed:
            await session.close()


class _CheckedConnector(aiohttp.TCPConnector):
    """A `aiohttp.TCPConnector` that never hands out a pooled connection holding unread data.

    A server or proxy may write a complete, unasked-for response on a kept-alive
    connection while it idles in the pool; aiohttp parses and buffers it, and the
    next request sent on that connection would take it as its own answer (a stray
    empty page would end a walk early). aiohttp checks a connection's protocol
    for unread data (``should_close``) only when it returns to the pool; this
    checks again as it leaves. The few microseconds between this check and the
    request being written remain; a response arriving in them is not detected.
    """

    async def connect(
        self, req: aiohttp.ClientRequest, traces: list[Trace], timeout: aiohttp.ClientTimeout
    ) -> Connection:
        """A connection from the pool or a new one, without unread data."""
        # Each pass takes one pooled connection out; a new one has nothing buffered.
        for _ in range(min(self.limit or 100, 100) + 1):
            conn = await super().connect(req, traces, timeout)
            protocol = conn.protocol
            if protocol is None or not protocol.should_close:
                return conn
            # spec: pagination - exactly once: what the server wrote unasked is not an answer
            logger.debug("closing a pooled connection that holds data nobody asked for")
            conn.close()
        raise aiohttp.ClientConnectionError("every pooled connection held unread data")


class _DroppedError(aiohttp.ClientConnectionError):
    """A dropped connection, relabelled so that aiohttp does not re-send the request."""


async def _no_hidden_resend(
    request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
) -> aiohttp.ClientResponse:
    """Session middleware: a request whose connection drops fails, once.

    aiohttp re-sends an idempotent request once, silently, when a connection
    drops under it (``ServerDisconnectedError`` or ``ClientOSError`` from
    sending it or reading the status line): with ``max_retries=2`` a server
    that drops every connection would get 6 requests, not 3. aiohttp re-sends
    only those two types, so this relabels them; the retry policy then
    decides, and counts, every further request (spec: retry - ``max_retries``).
    """
    try:
        return await handler(request)
    except aiohttp.ClientConnectorError:
        raise  # could not connect: nothing was sent, and aiohttp does not re-send
    except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as exc:
        raise _DroppedError(str(exc)) from exc


def _translate(  # noqa: PLR0911 - one branch per failure, most specific first
    exc: BaseException, host: str, timeout: float | None
) -> APIConnectionError:
    """Our error for an aiohttp (or socket) failure, on one line."""
    if isinstance(exc, _DroppedError) and exc.__cause__ is not None:
        exc = exc.__cause__
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return APIConnectionError(
            f"TLS certificate verification failed for {host}: {exc.certificate_error}",
            retryable=False,
        )
    if isinstance(exc, aiohttp.ServerFingerprintMismatch):
        return APIConnectionError(
            f"TLS certificate fingerprint mismatch for {host}", retryable=False
        )
    if isinstance(exc, aiohttp.InvalidURL):
        return APIConnectionError(_one_line(f"invalid URL: {exc}"), retryable=False)
    if isinstance(exc, aiohttp.ClientConnectorError):
        # Refused, unresolvable, or a TLS handshake that failed: the request never
        # left, so even a create may be sent again (sent=False). Said in the system's
        # (or TLS's) words: aiohttp's own text names "ssl:default" even for http.
        reason = exc.os_error.strerror or str(exc.os_error) or type(exc.os_error).__name__
        return APIConnectionError(_one_line(f"cannot reach {host}: {reason}"), sent=False)
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        # No connection within the connect timeout: the request never left either.
        return APIConnectionError(
            _one_line(f"cannot reach {host}: {type(exc).__name__}: {exc}"), sent=False
        )
    if isinstance(exc, asyncio.TimeoutError):
        # aiohttp's own deadline; a caller's asyncio.timeout arrives as
        # CancelledError and is never caught.
        return APITimeoutError(f"no complete response from {host} within {timeout:g} s")
    if isinstance(exc, aiohttp.ClientPayloadError):
        return APIConnectionError(f"the response body from {host} was cut short")
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return APIConnectionError(f"{host} closed the connection without a response")
    if isinstance(exc, (aiohttp.ClientError, OSError)):
        return APIConnectionError(_one_line(f"cannot reach {host}: {type(exc).__name__}: {exc}"))
    # aiohttp refuses a request it cannot build, e.g. a caller's session with
    # trust_env=True whose .netrc credentials collide with our bearer token.
    return APIConnectionError(_one_line(f"aiohttp refused the request: {exc}"), retryable=False)


def _too_large(host: str, limit: int) -> ResponseTooLargeError:
    return ResponseTooLargeError(
        f"the response body from {host} passed max_response_bytes={limit} "
        f"({_size(limit)}); refused, not retried",
        limit=limit,
    )


def _size(count: int) -> str:
    """``count`` bytes for a person: ``64 MiB``, ``1.5 KiB``, ``10 bytes``."""
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if count >= size:
            return f"{count / size:g} {unit}"
    return f"{count} bytes"


def _one_line(text: str) -> str:
    """``text`` with its whitespace runs as single spaces: aiohttp quotes bad lines over several."""
    return " ".join(text.split())


def _mentions(exc: BaseException, secrets: Sequence[str]) -> bool:
    """True when the text of ``exc``, or of an exception chained to it, holds a secret."""
    current: BaseException | None = exc
    for _ in range(8):
        if current is None:
            return False
        text = f"{current!s} {current!r}"
        if any(secret in text for secret in secrets if secret):
            return True
        current = current.__cause__ or current.__context__
    return True  # a chain that deep is not worth showing


def _netrc_login(host: str) -> tuple[str, str] | None:
    """The (login, password) for ``host`` in ``$NETRC`` or ``~/.netrc``, if any."""
    path = os.environ.get("NETRC") or str(Path.home() / ".netrc")
    try:
        entry = netrc.netrc(path).authenticators(host)
    except (OSError, netrc.NetrcParseError):
        return None
    if entry is None:
        return None
    login, _account, password = entry
    return login, password or ""
