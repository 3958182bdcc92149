"""The limiter seam: consulted before every attempt, told about every 429, cap kept."""

from __future__ import annotations

import math

import pytest
from helpers import admit

from llama_batch_async import BatchClient, LocalLimiter, RateLimitError
from llama_batch_async._errors import error_for_status
from llama_batch_async._http._limiter import Limiter, Sleep
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
