"""The limiter: how many requests the whole client sends, how fast, and when it holds still.

`BatchClient(limiter=...)` takes a `Limiter`. The client calls ``acquire`` before
every attempt of every request (retries included), ``throttled`` when the
server answered it 429 (with the ``Retry-After`` when above 0), ``release`` when
the attempt is over, and ``rate_limited`` with the backoff it chose when a 429
came without a usable ``Retry-After``.

`LocalLimiter`, the default, treats a 429 as congestion (issue 22): the whole
client at once lowers its request rate and its requests in flight, then grows
them back while requests succeed, on a cubic curve (the shape of TCP CUBIC and of
botocore's adaptive retry mode): fast while far below the rate where the last 429
came, flat near it, probing past it only slowly. Before the first 429 nothing is
limited. ``llama_batch_async.redis.RedisLimiter`` shares the pause and the rate
across every process that names the same Redis key.

Any object with the two coroutine methods of `LimiterLike` also works: the
client adopts it (`adopt`) and the rest are no-ops.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Protocol

from llama_batch_async._config import (
    CONGESTION_BETA,
    CONGESTION_RECOVERY,
    MIN_RATE,
    OPEN_WINDOW,
    RATE_WINDOW,
    SLOW_START_GROWTH,
    SLOW_START_WINDOW,
)
from llama_batch_async._errors import RateLimitError

__all__ = [
    "MAX_PAUSE_WAITS",
    "Congestion",
    "Limiter",
    "LimiterLike",
    "LocalLimiter",
    "Sleep",
    "adopt",
]

Sleep = Callable[[float], Awaitable[None]]

# A pause extended this many times in a row while a walk waits ends that walk with a
# RateLimitError instead of waiting on: each extension is another 429 on this client.
MAX_PAUSE_WAITS = 16


class LimiterLike(Protocol):
    """The two methods a third-party limiter needs (the client adopts it, `adopt`)."""

    async def acquire(self, sleep: Sleep, *, cap: float) -> None:
        """Return when one request may be sent."""
        ...

    async def rate_limited(self, seconds: float) -> None:
        """A 429 came back: hold every request for ``seconds`` from now."""
        ...


class Limiter:
    """What `BatchClient` consults before every request and tells about every answer.

    Subclasses implement `acquire` and `rate_limited`; the rest have defaults
    (nothing shared to bind, no pause of its own to report, no fallbacks, no
    congestion control). Every method may be called by many concurrent walks.

    Attributes:
        fallbacks: Requests decided locally because a shared store did not answer.
    """

    fallbacks: int = 0

    def bind(self, base_url: str, api_key: str | None) -> None:
        """Called once by each client that takes the limiter (a shared key derives here)."""
        del base_url, api_key

    @property
    def remaining(self) -> float:
        """Seconds left of this process's pause (0 when none)."""
        return 0.0

    @property
    def epoch(self) -> int:
        """How many times the limiter has slowed down: read after `acquire`, given to `release`."""
        return 0

    async def acquire(self, sleep: Sleep, *, cap: float = math.inf) -> None:
        """Return when one request may be sent, waiting as long as that takes.

        Args:
            sleep: The client's sleep; wait with it (tests inject one that records).
            cap: The client's ``retry_after_cap``: the longest pause to wait out.

        Raises:
            RateLimitError: The wait would be longer than ``cap``, with
                ``retry_after`` set to how long it would last. Raised at once,
                before sleeping.
        """
        raise NotImplementedError

    async def rate_limited(self, seconds: float) -> None:
        """A 429 came back: hold every request for ``seconds`` from now.

        Called with the response's ``Retry-After`` when it had one above 0 (even
        past the cap, so other walks learn it without a request), else with the
        backoff the client chose before retrying. Never shortens a longer pause.
        """
        raise NotImplementedError

    async def throttled(self, epoch: int, pause: float | None) -> bool:
        """The attempt `acquire` let go (at ``epoch``) was answered 429.

        Args:
            epoch: `epoch` as read just after that attempt's `acquire`.
            pause: The response's ``Retry-After`` when above 0: hold every request
                that long (`rate_limited`); None when it had none (the client's own
                backoff is told to `rate_limited` before it retries).

        Returns:
            Whether the 429 was news: the request was sent under the limiter's
            latest rate. A 429 answered to a request sent before the latest
            slow-down does not count against ``max_retries`` (the limiter had not
            yet spaced it out). Without congestion control every 429 counts.
        """
        del epoch
        if pause is not None:
            await self.rate_limited(pause)
        return True

    def release(self, epoch: int, *, ok: bool) -> None:
        """The attempt `acquire` let go is over (``ok``: answered, not 429, not failed)."""
        del epoch, ok


class Congestion:
    """The rate and the requests in flight one client (or fleet) allows itself.

    Until the first 429 the rate is unlimited and the requests in flight grow
    from ``SLOW_START_WINDOW`` by ``SLOW_START_GROWTH`` per success (a slow
    start, as TCP's, so the first 429 meets a burst of a few requests, not of
    every walk's prefetch) until ``OPEN_WINDOW``, then are unlimited.

    A 429 that is news (see `Limiter.throttled`) is one congestion event: nothing
    more is sent until the ``Retry-After`` has passed or, without one, until the
    requests the server accepted in the last ``RATE_WINDOW`` seconds have aged out;
    the rate drops to ``beta`` times the rate the server was seen to accept
    (successes in the last ``RATE_WINDOW`` seconds, or the current rate,
    whichever is lower) and the requests in flight to half of those in flight
    then (at least one). While requests succeed the rate grows back on a cubic
    curve that regains the rate of the last 429 after ``recovery`` seconds,
    stays near it, then probes past it; the window of requests in flight grows
    by one per window of successes. Once the rate is twice that of the last 429
    (the server's limit has risen, or was a burst limit) the client is
    unlimited again.

    Args:
        clock: A monotonic clock in seconds.
        beta: The share of the accepted rate kept after a 429.
        recovery: Seconds the cubic curve takes to regain the rate of the last 429.
        pace: Set a rate; False to govern the requests in flight alone (a fleet's
            rate is kept in Redis).
    """

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        *,
        beta: float = CONGESTION_BETA,
        recovery: float = CONGESTION_RECOVERY,
        pace: bool = True,
    ) -> None:
        self._clock = clock
        self._pace = pace
        self._beta = beta
        self._recovery = recovery
        self._ok: deque[float] = deque()  # success times within RATE_WINDOW
        self._w_max: float | None = None  # the rate at the last 429; None: unlimited
        self._fail_at = 0.0
        self._next_slot = 0.0  # the earliest time the next request may go
        # Requests in flight allowed (None: unlimited). A slow start: SLOW_START_WINDOW,
        # + SLOW_START_GROWTH per success (doubling every two round trips) until the
        # first 429 or OPEN_WINDOW; so the first 429 finds few requests in flight.
        self.window: float | None = SLOW_START_WINDOW
        self._slow_start = True
        self.in_flight = 0
        self.epoch = 0

    @property
    def rate(self) -> float | None:
        """Requests a second allowed now (None: unlimited)."""
        if self._w_max is None:
            return None
        # The cubic: w_max * (1 + c (t - K)^3), with c chosen so that the curve
        # starts at beta * w_max and reaches w_max after `recovery` seconds (K).
        k = self._recovery
        scale = (1.0 - self._beta) / k**3
        t = self._clock() - self._fail_at
        rate = self._w_max * (1.0 + scale * (t - k) ** 3)
        if rate >= 2.0 * self._w_max:
            self._w_max = None
            self.window = None
            return None
        return max(MIN_RATE, rate)

    def accepted_rate(self) -> float:
        """Successes a second over the last ``RATE_WINDOW`` seconds."""
        now = self._clock()
        ok = self._ok
        while ok and now - ok[0] >= RATE_WINDOW:
            ok.popleft()
        return len(ok) / RATE_WINDOW

    def slot(self) -> float:
        """Seconds to wait before the next request may go (0: now); takes the slot."""
        rate = self.rate
        now = self._clock()
        if rate is None:
            return 0.0
        start = max(now, self._next_slot)
        self._next_slot = start + 1.0 / rate
        return start - now

    def open(self) -> bool:
        """Whether one more request may be in flight."""
        return self.window is None or self.in_flight < self.window

    def succeeded(self) -> None:
        """A request was answered (not 429): count it, widen the window a little."""
        self._ok.append(self._clock())
        if self.window is None:
            return
        self.window += SLOW_START_GROWTH if self._slow_start else 1.0 / self.window
        if self.window >= OPEN_WINDOW:
            self.window = None
            self._slow_start = False

    def congested(self, after: float | None = None) -> None:
        """A 429 that is news: slow down (see the class docstring).

        Args:
            after: Seconds of pause the server asked for (``Retry-After``): the paced
                requests start after it. None: it said nothing usable, so they start
                once the requests it accepted in the last ``RATE_WINDOW`` have aged out.
        """
        accepted = self.accepted_rate()
        current = self.rate
        now = self._clock()
        if not self._pace:
            self._w_max = None
        elif current is None:
            # Nothing accepted in the window: no rate to go by (a 429 first of all,
            # or after a quiet spell); the pause and the halved window alone.
            self._w_max = max(MIN_RATE, accepted) if accepted > 0 else None
        else:
            self._w_max = max(MIN_RATE, min(current, accepted) if accepted > 0 else current)
        self._fail_at = now
        # The server counts the requests it accepted in its own window: the next one
        # goes once the oldest accepted in ours has aged out (a per-second limit is
        # free again then), or after the pause, whichever is later.
        if after is not None:
            self._next_slot = now + after  # the server said when
        else:
            self._next_slot = self._ok[0] + RATE_WINDOW if self._ok else now
        self.window = max(1.0, self.in_flight / 2.0)
        self._slow_start = False
        self.epoch += 1


class LocalLimiter(Limiter):
    """The default `Limiter`: one pause and one congestion control per client, in this process.

    Share one between clients to share their pause and rate.

    Args:
        clock: A monotonic clock in seconds.
        pace: Set a request rate after a 429 (False: the requests in flight alone).
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic, *, pace: bool = True) -> None:
        self._clock = clock
        self._until = 0.0
        self.congestion = Congestion(clock, pace=pace)
        self._freed: asyncio.Event | None = None

    def pause(self, seconds: float) -> None:
        """Hold every request for ``seconds`` from now (a longer pause stands)."""
        self._until = max(self._until, self._clock() + seconds)

    @property
    def remaining(self) -> float:
        """Seconds left in the current pause (0 when none)."""
        return max(0.0, self._until - self._clock())

    @property
    def epoch(self) -> int:
        """How many congestion events this limiter has met."""
        return self.congestion.epoch

    async def acquire(self, sleep: Sleep, *, cap: float = math.inf) -> None:
        """Wait out the pause, a place among the requests in flight, and the rate's slot.

        Raises:
            RateLimitError: The pause is longer than ``cap`` (see `wait`).
        """
        await self.wait(sleep, cap=cap)
        await self.enter(sleep, cap=cap)

    async def enter(self, sleep: Sleep, *, cap: float = math.inf) -> None:
        """Take a place among the requests in flight and the rate's next slot (after `wait`).

        Every `enter` is matched by one `release`.
        """
        congestion = self.congestion
        for _ in range(MAX_PAUSE_WAITS):
            if congestion.open():
                break
            # Full: wait until a request in flight ends (bounded: re-checked each time).
            if self._freed is None:
                self._freed = asyncio.Event()
            await self._freed.wait()
            await self.wait(sleep, cap=cap)
        delay = congestion.slot()
        congestion.in_flight += 1
        if delay > 0:
            try:
                await sleep(delay)
            except BaseException:
                self.release(congestion.epoch, ok=False)
                raise

    async def rate_limited(self, seconds: float) -> None:
        """Pause for ``seconds`` (see `pause`)."""
        self.pause(seconds)

    async def throttled(self, epoch: int, pause: float | None) -> bool:
        """A 429: pause, and if it is news slow the client down (see `Congestion`)."""
        if pause is not None:
            self.pause(pause)
        if epoch != self.congestion.epoch:
            return False
        self.congestion.congested(after=None if pause is None else self.remaining)
        return True

    def release(self, epoch: int, *, ok: bool) -> None:
        """One attempt is over: a request in flight less; a success counts toward the rate."""
        del epoch
        congestion = self.congestion
        if ok:
            congestion.succeeded()
        congestion.in_flight = max(0, congestion.in_flight - 1)
        if self._freed is not None:
            freed, self._freed = self._freed, None
            freed.set()

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


class _Adopted(Limiter):
    """A third-party `LimiterLike` as a `Limiter`: its two methods, the defaults for the rest."""

    def __init__(self, inner: LimiterLike) -> None:
        self.inner = inner

    @property
    def fallbacks(self) -> int:  # type: ignore[override]
        """The inner limiter's ``fallbacks``, if it counts any."""
        count = getattr(self.inner, "fallbacks", 0)
        return count if isinstance(count, int) else 0

    def bind(self, base_url: str, api_key: str | None) -> None:
        """The inner limiter's ``bind``, if it has one."""
        bind = getattr(self.inner, "bind", None)
        if callable(bind):
            bind(base_url, api_key)

    async def acquire(self, sleep: Sleep, *, cap: float = math.inf) -> None:
        """The inner limiter's ``acquire``."""
        await self.inner.acquire(sleep, cap=cap)

    async def rate_limited(self, seconds: float) -> None:
        """The inner limiter's ``rate_limited``."""
        await self.inner.rate_limited(seconds)


def adopt(limiter: Limiter | LimiterLike | None) -> Limiter:
    """The `Limiter` a client uses: its own `LocalLimiter`, the one given, or an adopted one."""
    if limiter is None:
        return LocalLimiter()
    if isinstance(limiter, Limiter):
        return limiter
    return _Adopted(limiter)
