"""`BatchClient`: the constructor and `with_options`, over the job and batch methods.

The methods live by listing in `_client_jobs` (v1) and `_client_batches` (v2),
on the state of `_client_core`; settings and the transport choice are
`_context`'s. See `_client_core` for the layout.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ._client_batches import BatchMethods
from ._client_core import ClientCore
from ._client_jobs import JobMethods
from ._config import (
    DEFAULT_CONNECTION_LIMIT,
    DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_MAX_RETRIES,
    DEFAULT_RETRY_AFTER_CAP,
    DEFAULT_TIMEOUT,
)
from ._context import evolve_context, make_context
from ._http._limiter import Limiter
from ._http._transport import Transport

if TYPE_CHECKING:  # annotations only: aiohttp is imported at run time by _transport alone
    import aiohttp

__all__ = ["BatchClient"]


class BatchClient(BatchMethods, JobMethods):
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
        context = make_context(
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
        super().__init__(context)

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
        context = evolve_context(
            self._context,
            timeout=timeout,
            max_retries=max_retries,
            retry_after_cap=retry_after_cap,
        )
        copy = object.__new__(BatchClient)
        ClientCore.__init__(copy, context, owner=self._owner or self)
        return copy

    async def __aenter__(self) -> BatchClient:
        self._check_open()
        return self
