"""One 429 pause and one request budget for a fleet of processes, shared through Redis.

Needs the ``[redis]`` extra (``pip install 'llama-batch-async[redis]'``): redis-py's
asyncio client, and pyrate-limiter for the budget.

    async with RedisLimiter("redis://cache:6379/0", rate="10/second") as limiter:
        async with BatchClient(limiter=limiter) as client:
            async for job in client.list_jobs():
                ...

Every process that names the same Redis and the same key shares:

- **the pause**: a 429 stores its ``Retry-After`` (or the backoff chosen) in Redis
  under ``<key>:pause`` with that expiry, through one Lua script that only ever
  moves the end later; before each request every worker asks Redis (one script that
  checks the pause and reads Redis's clock) and waits out what is left;
- **the budget** (``rate=``, optional): pyrate-limiter's sliding-window log in a
  Redis sorted set (``<key>:budget``), each slot dated by Redis's clock as read in
  the pause check, so the fleet together never sends more than ``rate``: at most
  N slots in any ``period + slack`` (``rate="N/period"``).

Why the slack: a slot is granted in Redis, and the request reaches the API a
little later (the Redis reply, the event loop, the HTTP send). Those delays differ
from request to request, so N requests granted exactly one period apart can
arrive closer together than one period, and the API counts arrivals. Holding
each slot ``slack`` seconds longer than the period keeps the API's count at or
under N in every period as long as no request's delay exceeds another's by more
than ``slack``. It costs throughput: N per ``period + slack`` sustained.

What is not atomic: the pause check and the budget slot are two Redis calls, so a
pause stored between them (another worker's 429, within one Redis round trip) does
not hold a request already checked; it is sent, like a request that was already in
flight when the 429 came. And a slot is dated when the pause was checked, a round
trip before pyrate-limiter's script counts the window, so two workers' slots may be
counted out of their dates' order: the budget's window is then shorter by at most
that round trip (``slot_lags`` records it; sub-millisecond to a few ms, well inside
the slack).

When Redis is unreachable or slower than ``timeout``, the limiter falls back to a
`LocalLimiter` of this process: one WARNING per outage, each request decided
locally counted in ``fallbacks``; Redis is tried again every ``retry_interval``
seconds and used again as soon as it answers. A walk never fails or hangs
because of Redis.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import inspect
import logging
import math
import random
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import TypeVar

try:
    import redis.asyncio as aioredis
    from pyrate_limiter import Decision, Rate, RateItem, RedisBucket
    from redis.exceptions import NoScriptError, RedisError
except ImportError as exc:  # pragma: no cover - depends on the install
    raise ImportError(
        "llama_batch_async.redis needs the [redis] extra: pip install 'llama-batch-async[redis]'"
    ) from exc

from ._checkpoint import check_name
from ._config import DEFAULT_RATE_SLACK, DEFAULT_REDIS_RETRY_INTERVAL, DEFAULT_REDIS_TIMEOUT
from ._errors import RateLimitError
from ._limiter import LocalLimiter, Sleep
from ._validate import check_seconds, must_be

__all__ = ["DEFAULT_RATE_SLACK", "RedisCheckpointStore", "RedisLimiter", "fleet_key"]

logger = logging.getLogger(__name__)

_T = TypeVar("_T")

# Rounds of (shared pause, budget) one acquire may take before it gives up with a
# RateLimitError: each round is a pause another worker extended, or a budget slot
# another worker took first.
_MAX_ROUNDS = 64

# How many times a limiter remembers in `RedisLimiter.admitted` and `.paused`.
_RECORDS_KEPT = 4096

# The rate notation `limits` read before (the same text is accepted): "10/second",
# "600 per minute", "1/2 hours". Months are 30 days and years 365, as there.
_RATE = re.compile(
    r"\s*(\d+)\s*(?:/|\s+per\s+)\s*(\d*)\s*(second|minute|hour|day|month|year)s?\s*",
    re.IGNORECASE,
)
_UNIT_SECONDS = {
    "second": 1,
    "minute": 60,
    "hour": 3600,
    "day": 86400,
    "month": 30 * 86400,
    "year": 365 * 86400,
}

# Extend the pause at KEYS[1] to ARGV[1] ms from now unless more is left already;
# atomic in Redis, so two workers' 429s never shorten each other's pause. Returns
# {ms the pause now stands, now in microseconds of Redis's clock}.
_EXTEND_PAUSE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local ms = tonumber(ARGV[1])
local left = redis.call('PTTL', KEYS[1])
if left < ms then
  redis.call('SET', KEYS[1], '1', 'PX', ms)
  left = ms
end
return {left, now}
"""

# Before each request: {ms the pause at KEYS[1] still stands (<= 0: none), now in
# microseconds of Redis's clock}, the time a budget slot is then dated with. With a
# budget (ARGV[1] > 0 ms), its key KEYS[2] is kept that long past this moment, so a
# fleet that stops leaves nothing behind (pyrate-limiter's keys never expire).
_CHECK_PAUSE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local keep = tonumber(ARGV[1])
if keep > 0 then
  redis.call('PEXPIRE', KEYS[2], keep)
end
return {redis.call('PTTL', KEYS[1]), now}
"""

_REDIS_DOWN = (RedisError, OSError, asyncio.TimeoutError, TimeoutError)


def _parse_rate(rate: object) -> tuple[int, float] | None:
    """``rate`` as (slots, period in seconds); None for None.

    Raises:
        ValueError: Naming ``rate``, for anything but that notation.
    """
    if rate is None:
        return None
    match = _RATE.fullmatch(rate) if isinstance(rate, str) else None
    if match is not None:
        amount, multiple = int(match[1]), int(match[2] or 1)
        if amount >= 1 and multiple >= 1:
            return amount, float(multiple * _UNIT_SECONDS[match[3].lower()])
    raise must_be("rate", 'None or a rate such as "10/second" or "600 per minute"', rate)


async def _resolve(value: _T | Awaitable[_T]) -> _T:
    """pyrate-limiter's bucket methods answer a value or an awaitable (async Redis: the latter)."""
    if inspect.isawaitable(value):
        return await value
    return value


class RedisCheckpointStore:
    """A `CheckpointStore` in Redis: cursors survive the machine, not only the process.

    Unlike the limiter, it does not fall back: a checkpoint that was not saved must
    not look saved, so Redis errors propagate to the walk.

    Args:
        url_or_client: A Redis URL or a `redis.asyncio.Redis` (never closed here).
        prefix: Prepended to each name to make its Redis key.
        ttl: Seconds a saved cursor is kept; None to keep it until cleared.
    """

    def __init__(
        self,
        url_or_client: str | aioredis.Redis,
        *,
        prefix: str = "llama_batch_async:checkpoint:",
        ttl: float | None = None,
    ) -> None:
        if isinstance(url_or_client, str):
            self._redis = aioredis.Redis.from_url(url_or_client)
            self._owned = True
        else:
            self._redis = url_or_client
            self._owned = False
        self._prefix = prefix
        self._ttl_ms = None if ttl is None else max(1, math.ceil(ttl * 1000))

    async def load(self, name: str) -> str | None:
        """The cursor saved under ``name``, or None."""
        value = await self._redis.get(self._prefix + check_name(name))
        if value is None:
            return None
        return value.decode("ascii") if isinstance(value, bytes) else str(value)

    async def save(self, name: str, cursor: str) -> None:
        """Keep ``cursor`` under ``name`` (with the store's ttl, if any)."""
        await self._redis.set(self._prefix + check_name(name), cursor, px=self._ttl_ms)

    async def clear(self, name: str) -> None:
        """Delete ``name``'s cursor, if any."""
        await self._redis.delete(self._prefix + check_name(name))

    async def aclose(self) -> None:
        """Close the connection the store opened (a caller's is left open)."""
        if self._owned:
            await self._redis.aclose()


def fleet_key(base_url: str, api_key: str) -> str:
    """The Redis key a fleet shares by default: a hash of base URL and API key.

    The API key itself never reaches Redis; clients of one account at one URL
    meet on the same key.
    """
    digest = hashlib.sha256(f"{base_url}\n{api_key}".encode()).hexdigest()
    return f"llama_batch_async:{digest[:32]}"


class RedisLimiter:
    """A `Limiter` shared by every process that names the same Redis and key.

    Pass it to `BatchClient(limiter=...)`; one limiter may serve several clients
    of the same account. Close it with `aclose` (or ``async with``); the client
    does not.

    Args:
        url_or_client: A Redis URL (``redis://``, ``rediss://``, ``unix://``)
            or a `redis.asyncio.Redis` the limiter uses and never closes.
        key: The Redis key to share; default `fleet_key` of the client's base
            URL and API key (set when a `BatchClient` takes the limiter).
        rate: A fleet-wide budget: ``"N/period"`` or ``"N per period"`` with
            a period of second, minute, hour, day, month or year, optionally
            a multiple (``"10/second"``, ``"600 per minute"``, ``"1/2 hours"``);
            None for no budget.
        slack: Seconds each slot of the budget is held past the rate's period,
            so differing delays between grant and arrival do not bunch
            requests at the API (see the module docstring).
        timeout: Seconds one Redis command may take before the limiter falls
            back to its local pause.
        retry_interval: Seconds between attempts to reach Redis while it is down.

    Attributes:
        slack: The ``slack`` in seconds.
        admitted: When Redis let this limiter's last 4096 requests go (the
            moment of the pause check, which also dates the budget slot), in
            seconds of Redis's clock to the millisecond, oldest first.
        slot_lags: For the same requests with a budget, the local seconds from
            the pause check to the budget's answer: how much later than its
            date a slot was counted.
        paused: The last 4096 pauses this limiter stored (or found longer), as
            (start, seconds), the start in seconds of Redis's clock.
        fallbacks: Requests decided locally because Redis did not answer.
        outages: Times Redis stopped answering.

    Raises:
        ValueError: A ``rate`` not in that notation, a negative ``slack``, or a
            non-positive ``timeout`` or ``retry_interval``.
    """

    def __init__(
        self,
        url_or_client: str | aioredis.Redis,
        *,
        key: str | None = None,
        rate: str | None = None,
        slack: float = DEFAULT_RATE_SLACK,
        timeout: float = DEFAULT_REDIS_TIMEOUT,
        retry_interval: float = DEFAULT_REDIS_RETRY_INTERVAL,
    ) -> None:
        timeout = check_seconds("timeout", timeout)
        retry_interval = check_seconds("retry_interval", retry_interval)
        self.slack = check_seconds("slack", slack, allow_zero=True)
        parsed = _parse_rate(rate)
        self._rate_text = rate
        # The budget: at most `limit` slots in any period + slack, in ms (pyrate-limiter's
        # unit, and the precision of the slots' dates).
        self._rate: Rate | None = None
        self._keep_ms = 0
        if parsed is not None:
            limit, period = parsed
            window_ms = math.ceil((period + self.slack) * 1000)
            self._rate = Rate(limit, window_ms)
            # The budget key outlives its newest slot by its window (and a second of margin
            # for the round trip between the pause check and the slot).
            self._keep_ms = window_ms + 1000
        self._bucket: RedisBucket | None = None
        self._since_leak = 0
        if isinstance(url_or_client, str):
            self._redis = aioredis.Redis.from_url(
                url_or_client, socket_timeout=timeout, socket_connect_timeout=timeout
            )
            self._owned = True
        else:
            self._redis = url_or_client
            self._owned = False
        self._extend = self._redis.register_script(_EXTEND_PAUSE)
        self._check = self._redis.register_script(_CHECK_PAUSE)
        self._key = key
        self._named = key is not None
        self._timeout = timeout
        self._retry_interval = retry_interval
        self._retry_at: float | None = None  # monotonic; None while Redis answers
        self.local = LocalLimiter()
        self.fallbacks = 0
        self.outages = 0
        # Redis-clock records, for checks and figures (see the class docstring).
        self.admitted: deque[float] = deque(maxlen=_RECORDS_KEPT)
        self.slot_lags: deque[float] = deque(maxlen=_RECORDS_KEPT)
        self.paused: deque[tuple[float, float]] = deque(maxlen=_RECORDS_KEPT)

    def __repr__(self) -> str:
        state = " redis-down" if self._retry_at is not None else ""
        return (
            f"<RedisLimiter key={self._key!r} rate={self._rate_text!r} slack={self.slack:g}{state}>"
        )

    @property
    def key(self) -> str | None:
        """The shared Redis key (None until named or bound to a client)."""
        return self._key

    @property
    def redis_down(self) -> bool:
        """True while the limiter decides locally because Redis did not answer."""
        return self._retry_at is not None

    def bind(self, base_url: str, api_key: str) -> None:
        """Derive the default key from a client's base URL and API key (called by it).

        Raises:
            ValueError: The limiter already serves a client of another account
                or URL, under a derived key.
        """
        if self._named:
            return
        derived = fleet_key(base_url, api_key)
        if self._key is not None and self._key != derived:
            raise ValueError(
                "this RedisLimiter already serves another API key or base URL; "
                "use one limiter per account, or name a key"
            )
        self._key = derived
        self._bucket = None  # its key is derived from this one

    async def acquire(self, sleep: Sleep, *, cap: float = math.inf) -> None:
        """Wait out the shared pause, then take a slot of the fleet's budget.

        Raises:
            RateLimitError: The pause left, or the budget's wait, is longer than
                ``cap``; or 64 rounds passed without a chance to send.
            RuntimeError: No key yet (name one, or give the limiter to a client).
        """
        keys = [self._pause_key(), self._budget_key()]
        args = [self._keep_ms]
        budget_waited = 0.0
        for _ in range(_MAX_ROUNDS):
            # This process's own pause: a 429 it told Redis about, or learned while
            # Redis was down; checked (and capped) here, never slept through early.
            await self.local.acquire(sleep, cap=cap)
            checked = time.monotonic()
            answer = await self._try(lambda: self._check(keys=keys, args=args))
            if answer is None:
                return  # Redis is down: the local pause alone, and no fleet budget
            left_ms, now_us = (int(part) for part in answer)
            if left_ms > 0:
                # Waited at the top of the next round, which asks Redis again: another
                # worker's 429 may move the end while this one sleeps.
                self.local.pause(left_ms / 1000)
                continue
            now_ms = now_us // 1000
            if self._rate is None:
                self.admitted.append(now_ms / 1000)
                return
            item = RateItem("request", now_ms)
            decision = await self._try(functools.partial(self._take_slot, item))
            if decision is None:
                return  # Redis went down between the two calls
            if decision.allowed:
                self.admitted.append(now_ms / 1000)
                self.slot_lags.append(time.monotonic() - checked)
                return
            # pyrate-limiter's wait, from the slot's date, until the oldest slot in the
            # window leaves it; a little jitter so the workers that wait for one freed
            # slot do not all ask at the same instant (not cryptographic).
            wait_ms = decision.retry_after_ms or 1
            wait = max(0.001, wait_ms / 1000) + random.uniform(0.0, 0.01)  # noqa: S311
            budget_waited += wait
            if budget_waited > cap:
                raise RateLimitError(
                    f"rate limited: the fleet's budget of {self._rate_text} kept this "
                    f"request waiting over {cap:g} s",
                    status_code=429,
                    retry_after=wait,
                )
            await sleep(wait)
        raise RateLimitError(
            f"rate limited: no chance to send after {_MAX_ROUNDS} rounds of the "
            "fleet's pause and budget",
            status_code=429,
            retry_after=self.local.remaining or None,
        )

    async def _take_slot(self, item: RateItem) -> Decision:
        """pyrate-limiter's verdict on one slot dated ``item.timestamp`` (taken if allowed)."""
        assert self._rate is not None  # noqa: S101 - only called with a budget
        try:
            decision = await self._put(item)
        except NoScriptError:
            # Redis restarted or flushed its scripts since the bucket loaded its own.
            self._bucket = None
            decision = await self._put(item)
        if decision.allowed:
            self._since_leak += 1
            if self._since_leak >= self._rate.limit:
                # Drop the slots every window has left, once per `limit` of ours.
                self._since_leak = 0
                assert self._bucket is not None  # noqa: S101 - set by _put
                await _resolve(self._bucket.leak(item.timestamp))
        return decision

    async def _put(self, item: RateItem) -> Decision:
        if self._bucket is None:
            assert self._rate is not None  # noqa: S101 - only called with a budget
            self._bucket = await RedisBucket.init([self._rate], self._redis, self._budget_key())
        return await _resolve(self._bucket.put_decision(item))

    async def rate_limited(self, seconds: float) -> None:
        """Pause this process and, through Redis, the fleet for ``seconds`` from now."""
        self.local.pause(seconds)
        pause_key = self._pause_key()
        ms = max(1, math.ceil(seconds * 1000))
        answer = await self._try(lambda: self._extend(keys=[pause_key], args=[ms]))
        if answer is not None:
            stands, now = (int(part) for part in answer)
            self.paused.append((now / 1_000_000, stands / 1000))

    async def aclose(self) -> None:
        """Close the Redis connection the limiter opened (a caller's is left open)."""
        if self._owned:
            await self._redis.aclose()

    async def __aenter__(self) -> RedisLimiter:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def _pause_key(self) -> str:
        return f"{self._named_key()}:pause"

    def _budget_key(self) -> str:
        return f"{self._named_key()}:budget"

    def _named_key(self) -> str:
        if self._key is None:
            raise RuntimeError(
                "RedisLimiter has no key yet: name one, or pass it to BatchClient(limiter=...)"
            )
        return self._key

    async def _try(self, command: Callable[[], Awaitable[_T]]) -> _T | None:
        """Run one Redis command within ``timeout``; None when Redis is down."""
        if self._retry_at is not None and time.monotonic() < self._retry_at:
            self.fallbacks += 1
            return None
        try:
            result = await asyncio.wait_for(command(), self._timeout)
        except _REDIS_DOWN as exc:
            self.fallbacks += 1
            if self._retry_at is None:
                self.outages += 1
                logger.warning(
                    "Redis limiter unreachable (%s); this process uses its own pause "
                    "and no fleet budget until Redis answers again (retried every %g s)",
                    type(exc).__name__,
                    self._retry_interval,
                )
            self._retry_at = time.monotonic() + self._retry_interval
            return None
        if self._retry_at is not None:
            logger.info("Redis limiter reachable again; sharing the pause and budget")
            self._retry_at = None
        return result
