"""One request with the client's retries and limiter: `Sender`, what every call of a client borrows.

Request -> limiter -> transport -> status check -> decode, inside the retry
policy. A walk's page, `get_batch` and every other single call go through
`Sender.send`; the request layer knows no listing, record or converter: the
caller passes the request (built by `_wire`) and how to decode the body.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Protocol, TypeVar
from urllib.parse import urlencode

import attrs

from llama_batch_async._config import DECODE_IN_THREAD_BYTES, LISTING_MEMORY, Config

from ._limiter import Limiter
from ._retry import RetryPolicy, Sleep, call_with_retries
from ._transport import Transport
from ._wire import Request, check_status

__all__ = ["ListingLengths", "RequestCounts", "Sender"]

_T = TypeVar("_T")

logger = logging.getLogger(__name__)


class RequestCounts(Protocol):
    """Counters a request adds to (a walk's `WalkStats`)."""

    requests: int
    retries: int
    throttled: int
    limiter_fallbacks: int


class ListingLengths:
    """The listing lengths earlier complete walks found, by query: the client's memory.

    A walk's guesses ahead stop at the length the last walk of the same query
    found (issue 22), so a repeated walk (``watch_jobs``, ``wait_for_jobs``) asks
    for no page past the end. Bounded: the least recently used query is forgotten.
    """

    def __init__(self, size: int = LISTING_MEMORY) -> None:
        self._size = size
        self._lengths: OrderedDict[Hashable, int] = OrderedDict()

    def get(self, key: Hashable) -> int | None:
        """The length remembered for ``key``, if any."""
        length = self._lengths.get(key)
        if length is not None:
            self._lengths.move_to_end(key)
        return length

    def put(self, key: Hashable, length: int) -> None:
        """Remember ``length`` for ``key``."""
        self._lengths[key] = length
        self._lengths.move_to_end(key)
        while len(self._lengths) > self._size:
            self._lengths.popitem(last=False)


@attrs.frozen(slots=True)
class Sender:
    """What a client lends every call: config, transport, retry policy, limiter, sleep.

    ``lengths`` is the client's memory of listing lengths (shared by its
    ``with_options`` copies): what a walk's guesses ahead go by.
    """

    config: Config
    transport: Transport
    policy: RetryPolicy
    limiter: Limiter
    sleep: Sleep
    lengths: ListingLengths = attrs.field(factory=ListingLengths, eq=False)

    async def send(
        self,
        request: Request,
        decode: Callable[[bytes], _T],
        counts: RequestCounts | None = None,
    ) -> _T:
        """Send one request with the client's retries and limiter; decode its body.

        Args:
            request: The request, built by `_wire`.
            decode: Turns the raw 2xx body into the result (raises
                `ResponseValidationError`).
            counts: The walk's counters, if the request belongs to a walk.

        Raises:
            LlamaBatchError: The typed error, after the retries.
        """
        secret = self.config.api_key
        attempts = 0

        async def attempt() -> _T:
            nonlocal attempts
            attempts += 1
            if counts is not None:
                counts.requests += 1
            started = time.monotonic()
            response = await self.transport.send(request)
            if logger.isEnabledFor(logging.DEBUG):
                logger.debug(
                    "%s %s?%s -> %d in %.3f s (attempt %d)",
                    request.method,
                    request.url,
                    urlencode(request.params),
                    response.status,
                    time.monotonic() - started,
                    attempts,
                )
            if (error := check_status(response, secret=secret)) is not None:
                if counts is not None and error.status_code == 429:
                    counts.throttled += 1
                raise error
            if len(response.body) > DECODE_IN_THREAD_BYTES:
                # perf: issue 24.16 - decoding is ~12 ms a MiB here (a 64 MiB body held
                # the loop ~140 ms); a thread shares the GIL, but the loop gets its turn
                # every switch interval (5 ms) instead of waiting out the whole decode.
                return await asyncio.to_thread(decode, response.body)
            return decode(response.body)

        def on_retry(_exc: BaseException, _delay: float) -> None:
            if counts is not None:
                counts.retries += 1

        # issue 14: a shared limiter counts its fallbacks (RedisLimiter.fallbacks)
        limiter = self.limiter
        fallbacks = limiter.fallbacks
        try:
            policy = self.policy.for_request(
                write=request.method != "GET", idempotent=request.idempotent
            )
            return await call_with_retries(
                attempt, policy, sleep=self.sleep, gate=limiter, on_retry=on_retry
            )
        finally:
            if counts is not None:
                counts.limiter_fallbacks += limiter.fallbacks - fallbacks
