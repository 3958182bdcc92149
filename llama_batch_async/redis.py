"""One 429 pause and one request budget for a fleet of processes, shared through Redis.

Needs the ``[redis]`` extra (``pip install 'llama-batch-async[redis]'``): redis-py's
asyncio client, and the `limits` library to read ``rate``.

    async with RedisLimiter("redis://cache:6379/0", rate="10/second") as limiter:
        async with BatchClient(limiter=limiter) as client:
            async for job in client.list_jobs():
                ...

Every process that names the same Redis and the same key shares:

- **the pause**: a 429 stores its ``Retry-After`` (or the backoff chosen) in Redis
  under ``<key>:pause`` with that expiry, through one Lua script that only ever
  moves the end later; before each request every worker asks Redis (one script that
  checks the pause and takes a budget slot in the same step) and waits out what is
  left, so Redis lets nobody go inside a pause stored before it;
- **the budget** (``rate=``, optional): a moving window kept by one Lua script on
  Redis's own clock, so the fleet together never sends more than ``rate``: at most
  N slots are granted in any ``period + slack`` (``rate="N/period"``).

Why the slack: a slot is granted in Redis, and the request reaches the API a
little later (the Redis reply, the event loop, the HTTP send). Those delays differ
from request to request, so N requests granted exactly one period apart can
arrive closer together than one period, and the API counts arrivals. Holding
each slot ``slack`` seconds longer than the period keeps the API's count at or
under N in every period as long as no request's delay exceeds another's by more
than ``slack``. It costs throughput: N per ``period + slack`` sustained.

When Redis is unreachable, slower than ``timeout`` to answer a command (or than
``connect_timeout`` to set up a connection), or answers out of contract (a
proxy or another server on that address: a reply of the wrong type or shape),
the limiter falls back to a `LocalLimiter` of this process: one WARNING per
outage, each request decided locally counted in ``fallbacks`` (and in a walk's
``WalkStats.limiter_fallbacks``; ``llama-batch -v`` prints it); Redis is tried
again every ``retry_interval`` seconds and used again as soon as it answers. A
walk never fails or hangs because of Redis.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import TypeVar

try:
    import redis.asyncio as aioredis
    from limits import RateLimitItem, parse
    from redis.exceptions import RedisError
except ImportError as exc:  # pragma: no cover - depends on the install
    raise ImportError(
        "llama_batch_async.redis needs the [redis] extra: pip install 'llama-batch-async[redis]'"
    ) from exc

from ._checkpoint import check_name
from ._config import (
    DEFAULT_RATE_SLACK,
    DEFAULT_REDIS_CONNECT_TIMEOUT,
    DEFAULT_REDIS_RETRY_INTERVAL,
    DEFAULT_REDIS_TIMEOUT,
)
from ._errors import RateLimitError
from ._http._limiter import Limiter, LocalLimiter, Sleep
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

# Let one request go, or say why not, in one step on Redis's clock:
# - {2, ms}: the pause at KEYS[1] stands for ms more;
# - {0, us}: the budget at KEYS[2] is full for us more microseconds: ARGV[1] (> 0)
#   grants were made in the last ARGV[2] microseconds (a list of grant times, newest
#   first);
# - {1, now}: go (a budget slot is taken, if there is a budget).
# Atomic across every worker: no request is let through inside a pause stored before
# it, nor beyond the budget, and no worker's own clock (or its skew) matters.
_ADMIT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local left = redis.call('PTTL', KEYS[1])
if left > 0 then
  return {2, left}
end
local limit = tonumber(ARGV[1])
if limit == 0 then
  return {1, now}
end
local window = tonumber(ARGV[2])
local newest = redis.call('LINDEX', KEYS[2], 0)
if newest and tonumber(newest) > now then
  -- Redis's clock stepped back: forget the window rather than wait for it.
  redis.call('DEL', KEYS[2])
end
local oldest = redis.call('LINDEX', KEYS[2], limit - 1)
if oldest and now - tonumber(oldest) < window then
  return {0, tonumber(oldest) + window - now}
end
redis.call('LPUSH', KEYS[2], string.format('%.0f', now))
redis.call('LTRIM', KEYS[2], 0, limit - 1)
redis.call('PEXPIRE', KEYS[2], math.ceil(window / 1000))
return {1, now}
"""
_BUSY, _GO, _PAUSED = 0, 1, 2

_REDIS_DOWN = (RedisError, OSError, asyncio.TimeoutError, TimeoutError)
# What redis-py or our reading of a reply raises when whatever answers is not the
# Redis our scripts ran on: also "Redis unavailable", never a walk's failure.
_OUT_OF_CONTRACT = (TypeError, ValueError, AttributeError, IndexError, KeyError, UnicodeError)
# Replies of one script run on a fresh server: EVALSHA, NOSCRIPT, SCRIPT LOAD, EVALSHA.
_ROUND_TRIPS = 3
# The longest shared pause believed (ms): a day. A longer one is no pause a 429 set.
_MAX_PAUSE_MS = 86_400_000


class _OutOfContractError(Exception):
    """Redis answered, but not as our scripts do."""


def _pair(answer: object, kinds: frozenset[int] | None = None) -> tuple[int, int]:
    """A script's reply as two ints, or `_OutOfContractError` for anything else."""
    if (
        not isinstance(answer, list | tuple)
        or len(answer) != 2
        or not all(type(part) is int for part in answer)
    ):
        raise _OutOfContractError(f"a reply of {type(answer).__name__}, not two integers")
    first, second = answer
    if (kinds is not None and first not in kinds) or second < 0:
        raise _OutOfContractError("integers out of the script's range")
    return first, second


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


class RedisLimiter(Limiter):
    """A `Limiter` shared by every process that names the same Redis and key.

    Pass it to `BatchClient(limiter=...)`; one limiter may serve several clients
    of the same account. Close it with `aclose` (or ``async with``); the client
    does not.

    Args:
        url_or_client: A Redis URL (``redis://``, ``rediss://``, ``unix://``)
            or a `redis.asyncio.Redis` the limiter uses and never closes.
        key: The Redis key to share; default `fleet_key` of the client's base
            URL and API key (set when a `BatchClient` takes the limiter).
        rate: A fleet-wide budget in `limits` notation (``"10/second"``,
            ``"600/minute"``, ``"10 per second"``); None for no budget.
        slack: Seconds each slot of the budget is held past the rate's period,
            so differing delays between grant and arrival do not bunch
            requests at the API (see the module docstring).
        timeout: Seconds one Redis reply may take before the limiter falls
            back to its local pause (a URL's ``socket_timeout``).
        connect_timeout: Seconds setting up a new connection may take (a URL's
            ``socket_connect_timeout``), counted apart from ``timeout``.
        retry_interval: Seconds between attempts to reach Redis while it is down.

    Attributes:
        slack: The ``slack`` in seconds.
        admitted: When Redis let this limiter's last 4096 requests go (budget
            slot taken, if any), in seconds of Redis's clock, oldest first.
        paused: The last 4096 pauses this limiter stored (or found longer), as
            (start, seconds), the start in seconds of Redis's clock.
        fallbacks: Requests decided locally because Redis did not answer.
        outages: Times Redis stopped answering.

    Raises:
        ValueError: A ``rate`` `limits` cannot parse, a negative ``slack``, or a
            non-positive ``timeout``, ``connect_timeout`` or ``retry_interval``.
    """

    def __init__(
        self,
        url_or_client: str | aioredis.Redis,
        *,
        key: str | None = None,
        rate: str | None = None,
        slack: float = DEFAULT_RATE_SLACK,
        timeout: float = DEFAULT_REDIS_TIMEOUT,
        connect_timeout: float = DEFAULT_REDIS_CONNECT_TIMEOUT,
        retry_interval: float = DEFAULT_REDIS_RETRY_INTERVAL,
    ) -> None:
        timeout = check_seconds("timeout", timeout)
        connect_timeout = check_seconds("connect_timeout", connect_timeout)
        retry_interval = check_seconds("retry_interval", retry_interval)
        self.slack = check_seconds("slack", slack, allow_zero=True)
        self._rate = self._parse_rate(rate)
        # The budget: at most _limit grants in any _window_us of Redis's clock.
        self._limit = 0 if self._rate is None else self._rate.amount
        period = 0.0 if self._rate is None else float(self._rate.get_expiry())
        self._window_us = math.ceil((period + self.slack) * 1_000_000)
        if isinstance(url_or_client, str):
            # Each reply within `timeout`, a new connection within `connect_timeout`.
            self._redis = aioredis.Redis.from_url(
                url_or_client, socket_timeout=timeout, socket_connect_timeout=connect_timeout
            )
            self._owned = True
        else:
            self._redis = url_or_client
            self._owned = False
        self._extend = self._redis.register_script(_EXTEND_PAUSE)
        self._admit = self._redis.register_script(_ADMIT)
        self._key = key
        self._named = key is not None
        # The whole of one command, a safety net over redis-py's own per-reply and
        # connect timeouts (a caller's client may have none): a connection set up,
        # then a script's round trips, each within `timeout`.
        self._deadline = connect_timeout + _ROUND_TRIPS * timeout
        self._retry_interval = retry_interval
        self._retry_at: float | None = None  # monotonic; None while Redis answers
        self.local = LocalLimiter()
        self.fallbacks = 0
        self.outages = 0
        # Redis-clock records, for checks and figures (see the class docstring).
        self.admitted: deque[float] = deque(maxlen=_RECORDS_KEPT)
        self.paused: deque[tuple[float, float]] = deque(maxlen=_RECORDS_KEPT)

    def __repr__(self) -> str:
        state = " redis-down" if self._retry_at is not None else ""
        return f"<RedisLimiter key={self._key!r} rate={self._rate} slack={self.slack:g}{state}>"

    @staticmethod
    def _parse_rate(rate: str | None) -> RateLimitItem | None:
        if rate is None:
            return None
        if isinstance(rate, str):
            try:
                return parse(rate)
            except ValueError:
                pass
        raise must_be("rate", 'None or a rate such as "10/second" or "600 per minute"', rate)

    @property
    def key(self) -> str | None:
        """The shared Redis key (None until named or bound to a client)."""
        return self._key

    @property
    def redis_down(self) -> bool:
        """True while the limiter decides locally because Redis did not answer."""
        return self._retry_at is not None

    @property
    def remaining(self) -> float:
        """Seconds left of the pause this process knows of (0 when none)."""
        return self.local.remaining

    def bind(self, base_url: str, api_key: str | None) -> None:
        """Derive the default key from a client's base URL and API key (called by it).

        Raises:
            ValueError: The limiter already serves a client of another account
                or URL, under a derived key.
        """
        if self._named:
            return
        derived = fleet_key(base_url, api_key or "")
        if self._key is not None and self._key != derived:
            raise ValueError(
                "this RedisLimiter already serves another API key or base URL; "
                "use one limiter per account, or name a key"
            )
        self._key = derived

    async def acquire(self, sleep: Sleep, *, cap: float = math.inf) -> None:
        """Wait out the shared pause, then take a slot of the fleet's budget.

        Raises:
            RateLimitError: The pause left, or the budget's wait, is longer than
                ``cap``; or 64 rounds passed without a chance to send.
            RuntimeError: No key yet (name one, or give the limiter to a client).
        """
        keys = [self._pause_key(), f"{self._key}:budget"]
        args = [self._limit, self._window_us]
        budget_waited = 0.0
        for _ in range(_MAX_ROUNDS):
            # This process's own pause: a 429 it told Redis about, or learned while
            # Redis was down; checked (and capped) here, never slept through early.
            await self.local.acquire(sleep, cap=cap)
            answer = await self._try(
                lambda: self._admit(keys=keys, args=args), self._admitted_reply
            )
            if answer is None:
                return  # Redis is down: the local pause alone, and no fleet budget
            kind, value = answer
            if kind == _GO:
                self.admitted.append(value / 1_000_000)
                return
            if kind == _PAUSED:
                # Waited at the top of the next round, which asks Redis again: another
                # worker's 429 may move the end while this one sleeps.
                self.local.pause(value / 1000)
                continue
            # A little jitter so the workers that wait for one freed slot do not all
            # ask at the same instant (not cryptographic).
            wait = max(0.001, value / 1_000_000) + random.uniform(0.0, 0.01)  # noqa: S311
            budget_waited += wait
            if budget_waited > cap:
                raise RateLimitError(
                    f"rate limited: the fleet's budget of {self._rate} kept this request "
                    f"waiting over {cap:g} s",
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

    async def rate_limited(self, seconds: float) -> None:
        """Pause this process and, through Redis, the fleet for ``seconds`` from now."""
        self.local.pause(seconds)
        pause_key = self._pause_key()
        ms = max(1, math.ceil(seconds * 1000))
        answer = await self._try(lambda: self._extend(keys=[pause_key], args=[ms]), _pair)
        if answer is not None:
            stands, now = answer
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
        if self._key is None:
            raise RuntimeError(
                "RedisLimiter has no key yet: name one, or pass it to BatchClient(limiter=...)"
            )
        return f"{self._key}:pause"

    def _admitted_reply(self, answer: object) -> tuple[int, int]:
        """`_ADMIT`'s reply, checked: a kind it returns, and a wait it could have made."""
        kind, value = _pair(answer, frozenset({_BUSY, _GO, _PAUSED}))
        if (kind == _PAUSED and value > _MAX_PAUSE_MS) or (
            kind == _BUSY and value > self._window_us
        ):
            raise _OutOfContractError("a wait longer than any the scripts set")
        return kind, value

    async def _try(
        self, command: Callable[[], Awaitable[object]], read: Callable[[object], _T]
    ) -> _T | None:
        """Run one Redis command and ``read`` its reply; None when Redis is down.

        Down: no answer within the deadline, an error, or a reply not of our
        scripts (the wrong server on that address): one WARNING per outage.
        """
        if self._retry_at is not None and time.monotonic() < self._retry_at:
            self.fallbacks += 1
            return None
        try:
            result = read(await asyncio.wait_for(command(), self._deadline))
        except (*_REDIS_DOWN, *_OUT_OF_CONTRACT, _OutOfContractError) as exc:
            self.fallbacks += 1
            if self._retry_at is None:
                self.outages += 1
                unexpected = isinstance(exc, (*_OUT_OF_CONTRACT, _OutOfContractError))
                logger.warning(
                    "Redis limiter %s (%s); this process uses its own pause and no fleet "
                    "budget until Redis answers again (retried every %g s)",
                    "answered out of contract" if unexpected else "unreachable",
                    type(exc).__name__,
                    self._retry_interval,
                )
            self._retry_at = time.monotonic() + self._retry_interval
            return None
        if self._retry_at is not None:
            logger.info("Redis limiter reachable again; sharing the pause and budget")
            self._retry_at = None
        return result
