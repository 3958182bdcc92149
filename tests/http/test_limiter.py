"""The limiter seam: consulted before every attempt, told about every 429, cap kept."""

from __future__ import annotations

import math

import pytest
from helpers import admit

from llama_batch_async import BatchClient, LocalLimiter, RateLimitError
from llama_batch_async._config import CONGESTION_RECOVERY, DEFAULT_BACKOFF_BASE
from llama_batch_async._errors import error_for_status
from llama_batch_async._http._limiter import Congestion, Limiter, Sleep
from llama_batch_async._http._retry import RetryPolicy, call_with_retries
from llama_batch_async.testing import FakeLlamaCloud


class RecordingLimiter(Limiter):
    """A limiter that records calls and holds a pause of its own (for the cap)."""

    def __init__(self, pause: float = 0.0) -> None:
        self.events: list[str] = []
        self.pause = pause

    async def acquire(self, sleep: Sleep, *, cap: float = math.inf) -> None:
        self.events.append("acquire")
        if self.pause > cap:
            raise RateLimitError("paused", status_code=429, retry_after=self.pause)

    async def rate_limited(self, seconds: float) -> None:
        self.events.append(f"429 {seconds:g}")


class Steps:
    """An attempt that raises or returns its steps in order."""

    def __init__(self, *steps: object) -> None:
        self.steps = list(steps)

    async def __call__(self) -> object:
        step = self.steps.pop(0)
        if isinstance(step, BaseException):
            raise step
        return step


async def no_sleep(_: float) -> None:
    return None


async def test_limiter_consulted_before_every_attempt_and_told_every_429() -> None:
    """Acquire precedes each attempt; a 429 reports its Retry-After, else the backoff."""
    limiter = RecordingLimiter()
    steps = Steps(
        error_for_status(429, retry_after=2.0),
        error_for_status(429),
        error_for_status(503),
        "page",
    )
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    result = await call_with_retries(steps, RetryPolicy(), sleep=sleep, gate=limiter)

    assert result == "page"
    backoff = waits[1]
    assert limiter.events == [
        "acquire",
        "429 2",
        "acquire",
        f"429 {backoff:g}",
        "acquire",
        "acquire",
    ]


async def test_cap_raises_through_any_limiter() -> None:
    """A limiter's wait past retry_after_cap ends the call before any attempt."""
    limiter = RecordingLimiter(pause=120.0)
    steps = Steps("never")

    with pytest.raises(RateLimitError) as info:
        await call_with_retries(
            steps, RetryPolicy(retry_after_cap=60.0), sleep=no_sleep, gate=limiter
        )

    assert info.value.retry_after == 120.0
    assert steps.steps == ["never"]


async def test_local_limiter_rate_limited_keeps_the_longer_pause() -> None:
    """LocalLimiter.rate_limited never shortens a pause; acquire raises past the cap."""
    now = [0.0]
    limiter = LocalLimiter(clock=lambda: now[0])
    await limiter.rate_limited(5.0)
    await limiter.rate_limited(1.0)
    assert limiter.remaining == 5.0
    with pytest.raises(RateLimitError):
        await admit(limiter, no_sleep, cap=1.0)
    await admit(limiter, no_sleep, cap=math.inf)


async def test_client_routes_requests_through_its_limiter() -> None:
    """BatchClient(limiter=...) consults it once per request sent, retries included."""
    limiter = RecordingLimiter()
    async with FakeLlamaCloud(jobs=5) as cloud:
        cloud.fail_next(503)
        async with BatchClient("key", base_url=cloud.url, limiter=limiter) as client:
            jobs = await client.list_jobs(page_size=10, prefetch=0).collect()
        sent = len(cloud.requests)

    assert len(jobs) == 5
    assert limiter.events.count("acquire") == sent


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_429_cuts_the_rate_to_beta_of_what_was_accepted_then_it_regrows() -> None:
    """10 accepted in the last second: 7/s after a 429, 10/s after 8 s, unlimited later."""
    clock = Clock()
    congestion = Congestion(clock)
    assert congestion.rate is None  # nothing limited before the first 429
    for _ in range(10):
        congestion.succeeded()
    congestion.congested()
    assert congestion.rate == pytest.approx(7.0)
    clock.now += CONGESTION_RECOVERY
    assert congestion.rate == pytest.approx(10.0)
    clock.now += 2 * CONGESTION_RECOVERY  # far past the last 429's rate
    assert congestion.rate is None


def test_the_next_request_waits_until_the_accepted_ones_age_out() -> None:
    """After a 429 the first slot is one RATE_WINDOW after the oldest accepted request."""
    clock = Clock()
    congestion = Congestion(clock)
    for _ in range(5):
        congestion.succeeded()
    clock.now += 0.1
    congestion.congested()
    assert congestion.slot() == pytest.approx(0.9)
    assert congestion.slot() == pytest.approx(0.9 + 1 / 3.5)  # then paced at 3.5/s


@pytest.mark.timeout(5)
async def test_a_stale_429_is_not_news_and_does_not_cut_again() -> None:
    """Two 429s of requests sent under one rate: one slow-down; the second does not count."""
    clock = Clock()
    limiter = LocalLimiter(clock)
    await admit(limiter, no_sleep)  # one accepted: a rate to go by
    await limiter.acquire(no_sleep)
    await limiter.acquire(no_sleep)
    epoch = limiter.epoch
    assert await limiter.throttled(epoch, 1.0) is True
    rate = limiter.congestion.rate
    assert await limiter.throttled(epoch, 1.0) is False
    assert limiter.congestion.rate == rate
    assert limiter.remaining == pytest.approx(1.0)


@pytest.mark.timeout(5)
async def test_slow_start_then_half_the_requests_in_flight_after_a_429() -> None:
    """A new limiter lets 2 in flight, +0.5 per success; a 429 halves what is in flight."""
    limiter = LocalLimiter(Clock())
    congestion = limiter.congestion
    assert congestion.window == 2
    await limiter.acquire(no_sleep)
    await limiter.acquire(no_sleep)
    assert not congestion.open()
    limiter.release(limiter.epoch, ok=True)
    assert congestion.window == 2.5
    for _ in range(2):
        await limiter.acquire(no_sleep)
    assert congestion.in_flight == 3
    assert not congestion.open()
    await limiter.throttled(limiter.epoch, None)
    assert congestion.window == 1.5


async def test_retry_after_zero_on_a_429_backs_off_and_pauses_the_client() -> None:
    """A 429 with Retry-After 0 waits the client's own backoff (>= base/2) and tells the limiter."""
    limiter = LocalLimiter(Clock())
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    steps = Steps(error_for_status(429, retry_after=0.0), "page")
    assert await call_with_retries(steps, RetryPolicy(), sleep=sleep, gate=limiter) == "page"
    assert waits
    assert waits[-1] >= DEFAULT_BACKOFF_BASE / 2
    assert limiter.remaining == pytest.approx(waits[-1])


class StaleLimiter(RecordingLimiter):
    """A limiter for which every 429 came from a request sent before a slow-down."""

    async def throttled(self, epoch: int, pause: float | None) -> bool:
        del epoch, pause
        return False


async def test_stale_429s_do_not_spend_max_retries() -> None:
    """With max_retries=1, three 429s the limiter calls stale are retried; the page comes."""
    steps = Steps(*(error_for_status(429, retry_after=1.0) for _ in range(3)), "page")
    policy = RetryPolicy(max_retries=1)
    assert await call_with_retries(steps, policy, sleep=no_sleep, gate=StaleLimiter()) == "page"


async def test_counted_429s_still_end_at_max_retries() -> None:
    """A 429 that is news counts: max_retries=1 ends the call at the second."""
    steps = Steps(*(error_for_status(429, retry_after=1.0) for _ in range(3)), "page")
    policy = RetryPolicy(max_retries=1)
    with pytest.raises(RateLimitError):
        await call_with_retries(steps, policy, sleep=no_sleep, gate=RecordingLimiter())
