"""One 429 pause and one request budget for a fleet of processes, shared through Redis.

Needs the ``[redis]`` extra (``python3 -m pip install '.[redis]'`` in a checkout): redis-py's
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
        "llama_batch_async.redis needs the [redis] extra: "
        "python3 -m pip install '.[redis]' in a checkout of llama-batch-async"
    ) from exc

from ._checkpoint import check_name
from ._config import (
    CONGESTION_BETA,
    CONGESTION_RECOVERY,
    DEFAULT_RATE_SLACK,
    DEFAULT_REDIS_CONNECT_TIMEOUT,
    DEFAULT_REDIS_RETRY_INTERVAL,
    DEFAULT_REDIS_TIMEOUT,
    MIN_RATE,
    RATE_WINDOW,
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
-- The fleet's rate since its last 429 (KEYS[3]): a cubic curve from beta (ARGV[4],
-- millionths) of the rate w the server accepted then, back to w after ARGV[3] us,
-- then past it; twice w (or never a 429) is no rate at all.
local gap = nil
local c = redis.call('HMGET', KEYS[3], 'w', 'fail', 'next')
if c[1] and c[2] and c[3] then
  local w = tonumber(c[1])
  local k = tonumber(ARGV[3]) / 1000000
  local beta = tonumber(ARGV[4]) / 1000000
  local s = (now - tonumber(c[2])) / 1000000
  local rate = w * (1 + (1 - beta) / (k * k * k) * (s - k) ^ 3)
  if rate >= 2 * w then
    redis.call('DEL', KEYS[3])
  else
    rate = math.max(rate, tonumber(ARGV[5]) / 1000000)
    local nxt = tonumber(c[3])
    if nxt > now then
      return {0, math.ceil(nxt - now)}
    end
    gap = 1000000 / rate
  end
end
local limit = tonumber(ARGV[1])
if limit > 0 then
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
end
if gap then
  redis.call('HSET', KEYS[3], 'next', string.format('%.0f', now + gap))
end
redis.call('LPUSH', KEYS[4], string.format('%.0f', now))
redis.call('LTRIM', KEYS[4], 0, tonumber(ARGV[6]) - 1)
redis.call('PEXPIRE', KEYS[4], 60000)
return {1, now}
"""

# A 429, in one step on Redis's clock: extend the pause at KEYS[1] to ARGV[1] ms (0:
# none given) as _EXTEND_PAUSE does, log the refusal (KEYS[4]) and, when the refused
# request was admitted (ARGV[2], us) after the fleet's last slow-down, slow the fleet:
# its rate (KEYS[2]) drops to beta of the rate the server accepted in the last
# ARGV[3] us (admissions KEYS[3] less refusals KEYS[4]), or of the current rate if
# lower, and the next request waits for the pause and for those admissions to age
# out of the window. Returns {ms the pause stands, now in us, 1 if news else 0}.
_THROTTLED = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local ms = tonumber(ARGV[1])
local left = redis.call('PTTL', KEYS[1])
if ms > 0 and left < ms then
  redis.call('SET', KEYS[1], '1', 'PX', ms)
  left = ms
end
if left < 0 then
  left = 0
end
redis.call('LPUSH', KEYS[4], string.format('%.0f', now))
redis.call('LTRIM', KEYS[4], 0, tonumber(ARGV[7]) - 1)
redis.call('PEXPIRE', KEYS[4], 60000)
local c = redis.call('HMGET', KEYS[2], 'w', 'fail')
if c[2] and tonumber(ARGV[2]) < tonumber(c[2]) then
  return {left, now, 0}
end
local win = tonumber(ARGV[3])
local function recent(key)
  local n, oldest = 0, nil
  for _, v in ipairs(redis.call('LRANGE', key, 0, -1)) do
    local x = tonumber(v)
    if now - x >= win then
      break
    end
    n, oldest = n + 1, x
  end
  return n, oldest
end
local admits, oldest = recent(KEYS[3])
local refused = recent(KEYS[4])
local accepted = (admits - refused) * 1000000 / win
local beta = tonumber(ARGV[4]) / 1000000
local lowest = tonumber(ARGV[5]) / 1000000
local k = tonumber(ARGV[6]) / 1000000
local w = nil
if c[1] then
  local s = (now - tonumber(c[2])) / 1000000
  local current = tonumber(c[1]) * (1 + (1 - beta) / (k * k * k) * (s - k) ^ 3)
  current = math.max(current, lowest)
  if accepted > 0 then
    w = math.max(lowest, math.min(current, accepted))
  else
    w = current
  end
elseif accepted > 0 then
  w = math.max(lowest, accepted)
end
if w then
  local nxt = now + left * 1000
  if oldest then
    -- and for what the fleet sent in the last window to age out of it: every process
    -- resumes at once when a pause ends, so the server's window must be clear
    nxt = math.max(nxt, oldest + win)
  end
  redis.call('HSET', KEYS[2], 'w', string.format('%.6f', w), 'fail', string.format('%.0f', now),
    'next', string.format('%.0f', nxt))
  redis.call('PEXPIRE', KEYS[2], 3600000)
end
return {left, now, 1}
"""
_BUSY, _GO, _PAUSED = 0, 1, 2
# Admissions and refusals each kept in Redis to measure the rate the server accepts.
_LOG_KEPT = 512


def _US(seconds: float) -> int:  # noqa: N802 - reads as a unit
    """Seconds as whole microseconds (or millionths), for the scripts' integer arguments."""
    return round(seconds * 1_000_000)


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


def _triple(answer: object) -> tuple[int, int, int]:
    """`_THROTTLED`'s reply as three ints, or `_OutOfContractError`."""
    if (
        not isinstance(answer, list | tuple)
        or len(answer) != 3
        or not all(type(part) is int and part >= 0 for part in answer)
    ):
        raise _OutOfContractError(f"a reply of {type(answer).__name__}, not three integers")
    first, second, third = answer
    return first, second, third


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
        self._throttle = self._redis.register_script(_THROTTLED)
        self._admitted_at = -1  # Redis us of this process's latest admission; -1: local
        self._key = key
        self._named = key is not None
        # The whole of one command, a safety net over redis-py's own per-reply and
        # connect timeouts (a caller's client may have none): a connection set up,
        # then a script's round trips, each within `timeout`.
        self._deadline = connect_timeout + _ROUND_TRIPS * timeout
        self._retry_interval = retry_interval
        self._retry_at: float | None = None  # monotonic; None while Redis answers
        # This process's pause and requests in flight; the fleet's rate is in Redis.
        self.local = LocalLimiter(pace=False)
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
        keys = [self._pause_key(), f"{self._key}:budget", *self._fleet_keys()]
        args = [
            self._limit,
            self._window_us,
            _US(CONGESTION_RECOVERY),
            _US(CONGESTION_BETA),
            _US(MIN_RATE),
            _LOG_KEPT,
        ]
        # This process's pause, then a place among its requests in flight (released
        # by `release`, or here when the admission fails).
        await self.local.wait(sleep, cap=cap)
        await self.local.enter(sleep, cap=cap)
        try:
            await self._admission(sleep, keys, args, cap)
        except BaseException:
            self.local.release(self.local.epoch, ok=False)
            raise

    async def _admission(self, sleep: Sleep, keys: list[str], args: list[int], cap: float) -> None:
        """Rounds of asking Redis until it lets one request go (see `acquire`)."""
        budget_waited = 0.0
        for _ in range(_MAX_ROUNDS):
            # This process's own pause: a 429 it told Redis about, or learned while
            # Redis was down; checked (and capped) here, never slept through early.
            await self.local.wait(sleep, cap=cap)
            answer = await self._try(
                lambda: self._admit(keys=keys, args=args), self._admitted_reply
            )
            if answer is None:
                # Redis is down: the local pause alone, and no fleet budget or rate
                self._admitted_at = -1
                return
            kind, value = answer
            if kind == _GO:
                self.admitted.append(value / 1_000_000)
                self._admitted_at = value
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
                    f"rate limited: the fleet's budget ({self._rate}) and rate kept this "
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

    async def rate_limited(self, seconds: float) -> None:
        """Pause this process and, through Redis, the fleet for ``seconds`` from now."""
        self.local.pause(seconds)
        pause_key = self._pause_key()
        ms = max(1, math.ceil(seconds * 1000))
        answer = await self._try(lambda: self._extend(keys=[pause_key], args=[ms]), _pair)
        if answer is not None:
            stands, now = answer
            self.paused.append((now / 1_000_000, stands / 1000))

    @property
    def epoch(self) -> int:
        """When Redis admitted this process's latest request (us of its clock; -1: locally)."""
        return self._admitted_at

    async def throttled(self, epoch: int, pause: float | None) -> bool:
        """A 429: pause this process and the fleet; if news, slow the fleet (one round trip).

        News: the refused request was admitted after the fleet's last slow-down
        (Redis compares the admission with it, on its own clock). While Redis is
        down, this process's own view decides.
        """
        local_news = await self.local.throttled(self.local.epoch, pause)
        if epoch < 0:
            return local_news  # admitted locally (Redis was down): local view only
        ms = 0 if pause is None else max(1, math.ceil(pause * 1000))
        keys = [self._pause_key(), *self._fleet_keys()]
        args = [ms, epoch, _US(RATE_WINDOW), _US(CONGESTION_BETA), _US(MIN_RATE)]
        args += [_US(CONGESTION_RECOVERY), _LOG_KEPT]
        answer = await self._try(lambda: self._throttle(keys=keys, args=args), _triple)
        if answer is None:
            return local_news
        stands, now, news = answer
        if ms:
            self.paused.append((now / 1_000_000, stands / 1000))
        return news == 1

    def release(self, epoch: int, *, ok: bool) -> None:
        """This process has one request in flight less."""
        del epoch
        self.local.release(self.local.epoch, ok=ok)

    def _fleet_keys(self) -> list[str]:
        """The fleet's rate, its admissions and its refusals."""
        return [f"{self._key}:rate", f"{self._key}:admits", f"{self._key}:refused"]

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
            kind == _BUSY and value > max(self._window_us, _US(1.0 / MIN_RATE))
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
