"""One 429 pause and one request budget for a fleet of processes, shared through Redis.

Needs the ``[redis]`` extra (``pip install 'llama-batch-async[redis]'``): redis-py's
asyncio client, and the `limits` library for the budget.

    async with RedisLimiter("redis://cache:6379/0", rate="10/second") as limiter:
        async with BatchClient(limiter=limiter) as client:
            async for job in client.list_jobs():
                ...

Every process that names the same Redis and the same key shares:

- **the pause**: a 429 stores its ``Retry-After`` (or the backoff chosen) in Redis
  under ``<key>:pause`` with that expiry, through one Lua script that only ever
  moves the end later; before each request every worker reads what is left and
  waits it out, so none sends inside the pause;
- **the budget** (``rate=``, optional): a moving window of the `limits` library on
  its async Redis storage, so the fleet together never sends more than ``rate``.

When Redis is unreachable or slower than ``timeout``, the limiter falls back to a
`LocalLimiter` of this process: one WARNING per outage, each request decided
locally counted in ``fallbacks``; Redis is tried again every ``retry_interval``
seconds and used again as soon as it answers. A walk never fails or hangs
because of Redis.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import TypeVar

try:
    import redis.asyncio as aioredis
    from limits import RateLimitItem, parse
    from limits.aio.storage import RedisStorage
    from limits.aio.strategies import MovingWindowRateLimiter
    from redis.exceptions import RedisError
except ImportError as exc:  # pragma: no cover - depends on the install
    raise ImportError(
        "llama_batch_async.redis needs the [redis] extra: pip install 'llama-batch-async[redis]'"
    ) from exc

from ._checkpoint import check_name
from ._errors import RateLimitError
from ._limiter import LocalLimiter, Sleep

__all__ = ["RedisCheckpointStore", "RedisLimiter", "fleet_key"]

logger = logging.getLogger("llama_batch_async")

_T = TypeVar("_T")

# Rounds of (shared pause, budget) one acquire may take before it gives up with a
# RateLimitError: each round is a pause another worker extended, or a budget slot
# another worker took first.
_MAX_ROUNDS = 64

# Extend the pause at KEYS[1] to ARGV[1] ms from now unless more is left already;
# atomic in Redis, so two workers' 429s never shorten each other's pause.
_EXTEND_PAUSE = """
local ms = tonumber(ARGV[1])
local left = redis.call('PTTL', KEYS[1])
if left < ms then
  redis.call('SET', KEYS[1], '1', 'PX', ms)
  return ms
end
return left
"""

_REDIS_DOWN = (RedisError, OSError, asyncio.TimeoutError, TimeoutError)


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
        rate: A fleet-wide budget in `limits` notation (``"10/second"``,
            ``"600/minute"``, ``"10 per second"``); None for no budget.
        timeout: Seconds one Redis command may take before the limiter falls
            back to its local pause.
        retry_interval: Seconds between attempts to reach Redis while it is down.

    Raises:
        ValueError: A ``rate`` `limits` cannot parse, or a non-positive timeout.
    """

    def __init__(
        self,
        url_or_client: str | aioredis.Redis,
        *,
        key: str | None = None,
        rate: str | None = None,
        timeout: float = 0.5,
        retry_interval: float = 2.0,
    ) -> None:
        if not (timeout > 0 and retry_interval > 0):
            raise ValueError("timeout and retry_interval must be > 0 seconds")
        if isinstance(url_or_client, str):
            self._redis = aioredis.Redis.from_url(
                url_or_client, socket_timeout=timeout, socket_connect_timeout=timeout
            )
            self._owned = True
        else:
            self._redis = url_or_client
            self._owned = False
        self._rate: RateLimitItem | None = parse(rate) if rate is not None else None
        self._budget = (
            MovingWindowRateLimiter(
                RedisStorage(
                    "async+redis://",
                    implementation="redispy",
                    # limits hands it on to redis.asyncio.Redis: one pool for both
                    connection_pool=self._redis.connection_pool,  # type: ignore[arg-type]
                )
            )
            if self._rate is not None
            else None
        )
        self._extend = self._redis.register_script(_EXTEND_PAUSE)
        self._key = key
        self._named = key is not None
        self._timeout = timeout
        self._retry_interval = retry_interval
        self._retry_at: float | None = None  # monotonic; None while Redis answers
        self.local = LocalLimiter()
        self.fallbacks = 0
        self.outages = 0

    def __repr__(self) -> str:
        state = " redis-down" if self._retry_at is not None else ""
        return f"<RedisLimiter key={self._key!r} rate={self._rate}{state}>"

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

    async def acquire(self, sleep: Sleep, *, cap: float = math.inf) -> None:
        """Wait out the shared pause, then take a slot of the fleet's budget.

        Raises:
            RateLimitError: The pause left, or the budget's wait, is longer than
                ``cap``; or 64 rounds passed without a chance to send.
            RuntimeError: No key yet (name one, or give the limiter to a client).
        """
        pause_key = self._pause_key()
        budget_waited = 0.0
        for _ in range(_MAX_ROUNDS):
            left_ms = await self._try(lambda: self._redis.pttl(pause_key))
            shared = left_ms is not None and left_ms > 0
            if left_ms is not None and left_ms > 0:
                self.local.pause(left_ms / 1000)
            await self.local.acquire(sleep, cap=cap)
            if shared:
                # Another worker's 429 may have moved the end while this one slept.
                continue
            wait = await self._take_slot()
            if wait <= 0:
                return
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
        await self._try(lambda: self._extend(keys=[pause_key], args=[ms]))

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

    async def _take_slot(self) -> float:
        """0 once a slot of the budget is taken (or there is none), else seconds to wait."""
        budget, rate, key = self._budget, self._rate, self._key
        if budget is None or rate is None or key is None:
            return 0.0
        took = await self._try(lambda: budget.hit(rate, key))
        if took is None or took:
            return 0.0  # taken, or Redis is down: no fleet budget while it is
        stats = await self._try(lambda: budget.get_window_stats(rate, key))
        if stats is None:
            return 0.0
        # A little jitter so the workers that wait for one freed slot do not all
        # ask at the same instant (not cryptographic).
        jitter = random.uniform(0.0, 0.01)  # noqa: S311
        return max(0.001, stats.reset_time - time.time()) + jitter

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
