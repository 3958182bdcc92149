"""The limiter seam: what the client consults before every request and tells about every 429.

`BatchClient(limiter=...)` takes any object with the two coroutine methods of
`Limiter`. The client calls ``acquire`` before every attempt of every page
request (retries included) and ``rate_limited`` after every 429, with the
server's ``Retry-After`` or, when it sent none, the backoff the client chose.
`LocalLimiter` is the default: one pause per client, in this process.
``llama_batch_async.redis.RedisLimiter`` shares the pause (and, optionally, a
request budget) across every process that names the same Redis key.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

from llama_batch_async._errors import RateLimitError

__all__ = ["MAX_PAUSE_WAITS", "Limiter", "LocalLimiter", "Sleep"]

Sleep = Callable[[float], Awaitable[None]]

# A pause extended this many times in a row while a walk waits ends that walk with a
# RateLimitError instead of waiting on: each extension is another 429 on this client.
MAX_PAUSE_WAITS = 16


class Limiter(Protocol):
    """What `BatchClient` consults before every request and tells about every 429.

    Implementations decide how long a request waits; the client decides what a
    429 means. Both methods may be called by many concurrent walks at once.
    """

    async def acquire(self, sleep: Sleep, *, cap: float) -> None:
        """Return when one request may be sent, waiting as long as that takes.

        Args:
            sleep: The client's sleep; wait with it (tests inject one that records).
            cap: The client's ``retry_after_cap``: the longest pause to wait out.

        Raises:
            RateLimitError: The wait would be longer than ``cap``, with
                ``retry_after`` set to how long it would last. Raised at once,
                before sleeping.
        """
        ...

    async def rate_limited(self, seconds: float) -> None:
        """A 429 came back: hold every request for ``seconds`` from now.

        Called with the response's ``Retry-After`` when it had one (even past the
        cap, so other walks learn it without a request), else with the backoff
        the client chose before retrying. Never shortens a longer pause.
        """
        ...


class LocalLimiter:
    """A client-wide pause in this process: after a 429, every walk of the client waits it out.

    The default `Limiter`. Share one between clients to share their pause.

    Args:
        clock: A monotonic clock in seconds.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._until = 0.0

    def pause(self, seconds: float) -> None:
        """Hold every request for ``seconds`` from now (a longer pause stands)."""
        self._until = max(self._until, self._clock() + seconds)

    @property
    def remaining(self) -> float:
        """Seconds left in the current pause (0 when none)."""
        return max(0.0, self._until - self._clock())

    async def acquire(self, sleep: Sleep, *, cap: float = math.inf) -> None:
        """Wait out the pause, if any (see `wait`)."""
        await self.wait(sleep, cap=cap)

    async def rate_limited(self, seconds: float) -> None:
        """Pause for ``seconds`` (see `pause`)."""
        self.pause(seconds)

    async def wait(self, sleep: Sleep, *, cap: float = math.inf) -> None:
        """Sleep until no pause remains, re-checking after every sleep.

        Args:
            sleep: The sleep to use.
            cap: The longest pause to sleep through.

        Raises:
            RateLimitError: The pause is longer than ``cap`` (checked again each
                time another 429 extends it), or was extended 16 times in a row;
                ``retry_after`` says how long it has left.
        """
        for _ in range(MAX_PAUSE_WAITS):
            delay = self.remaining
            if delay <= 0:
                return
            if delay > cap:
                # spec: retry - a Retry-After past the cap is not slept through, and a
                # 429 pauses the whole client: other walks learn it without a request.
                raise RateLimitError(
                    f"rate limited: this client is paused for another {delay:.1f} s "
                    "by an earlier 429",
                    status_code=429,
                    retry_after=delay,
                )
            until = self._until
            await sleep(delay)
            if self._until == until:
                return
            # Another walk's 429 extended the pause while this one slept: wait out
            # the new end too, so nothing is sent inside the pause (issue 11.14).
        delay = self.remaining
        if delay <= 0:
            return
        raise RateLimitError(
            f"rate limited: this client's pause was extended {MAX_PAUSE_WAITS} times "
            f"in a row; {delay:.1f} s remain",
            status_code=429,
            retry_after=delay,
        )
