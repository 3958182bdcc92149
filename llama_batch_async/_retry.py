"""Retries as a policy, a predicate and a wait, with tenacity behind one function.

`call_with_retries` makes the first try itself and builds a fresh
`tenacity.AsyncRetrying` for every call that needs a retry: a shared one would
mix the attempt counts of concurrent walks. ``reraise=True``
so callers see our typed error, never `tenacity.RetryError`. The predicate looks
at types and status codes, never message text; cancellation is not an
`Exception` of ours, so it is never retried.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import attrs
import tenacity

from ._errors import APIConnectionError, APIStatusError, RateLimitError

__all__ = ["RETRY_STATUSES", "RateLimitGate", "RetryPolicy", "Sleep", "call_with_retries"]

logger = logging.getLogger("llama_batch_async")

_T = TypeVar("_T")
Sleep = Callable[[float], Awaitable[None]]

# A pause extended this many times in a row while a walk waits ends that walk with a
# RateLimitError instead of waiting on: each extension is another 429 on this client.
_MAX_PAUSE_WAITS = 16

# spec: retry - 408, 409, 429, 500, 502, 503, 504; every other status is final
RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})


@attrs.frozen(slots=True)
class RetryPolicy:
    """How one page request is retried.

    Attributes:
        max_retries: Retries after the first attempt (0 disables retrying).
        retry_after_cap: The longest ``Retry-After`` slept through; a longer one
            raises `RateLimitError` at once.
        backoff_base: Seconds of the first backoff's upper bound.
        backoff_max: The largest backoff upper bound, in seconds.
    """

    max_retries: int = 4
    retry_after_cap: float = 60.0
    backoff_base: float = 0.5
    backoff_max: float = 30.0

    def should_retry(self, exc: BaseException) -> bool:
        """True when another attempt may succeed after ``exc``."""
        if isinstance(exc, APIStatusError):
            if exc.status_code not in RETRY_STATUSES:
                return False
            # spec: retry - a Retry-After past the cap is not slept through
            return exc.retry_after is None or exc.retry_after <= self.retry_after_cap
        if isinstance(exc, APIConnectionError):
            return exc.retryable
        return False


class RateLimitGate:
    """A client-wide pause: after a 429, every walk of the client waits it out.

    Args:
        clock: A monotonic clock in seconds.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._until = 0.0

    def pause(self, seconds: float) -> None:
        """Hold every request of the client for ``seconds`` from now."""
        self._until = max(self._until, self._clock() + seconds)

    @property
    def remaining(self) -> float:
        """Seconds left in the current pause (0 when none)."""
        return max(0.0, self._until - self._clock())

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
        for _ in range(_MAX_PAUSE_WAITS):
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
            f"rate limited: this client's pause was extended {_MAX_PAUSE_WAITS} times "
            f"in a row; {delay:.1f} s remain",
            status_code=429,
            retry_after=delay,
        )


class _Wait(tenacity.wait.wait_base):
    """The server's ``Retry-After`` when it sent one, else full-jitter exponential backoff."""

    def __init__(self, policy: RetryPolicy) -> None:
        self._backoff = tenacity.wait_random_exponential(
            multiplier=policy.backoff_base, max=policy.backoff_max
        )

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            return float(retry_after)
        return float(self._backoff(retry_state))


async def call_with_retries(
    attempt: Callable[[], Awaitable[_T]],
    policy: RetryPolicy,
    *,
    sleep: Sleep,
    gate: RateLimitGate,
    on_retry: Callable[[BaseException, float], None] | None = None,
) -> _T:
    """Run ``attempt`` until it succeeds, fails for good, or the budget is spent.

    Args:
        attempt: One try (a page request); raises our typed errors.
        policy: The retry policy.
        sleep: Awaitable sleep, injectable so tests record waits instead of waiting.
        gate: The client's rate-limit pause, honoured before every try.
        on_retry: Called with the error and the delay before each retry.
    """

    def before_sleep(state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        delay = state.next_action.sleep if state.next_action else 0.0
        if isinstance(exc, RateLimitError) and exc.retry_after is None:
            # spec: retry - a 429 pauses the whole client, not only this walk. With a
            # Retry-After, gated_attempt has paused it already; without, the backoff does.
            gate.pause(delay)
        logger.warning(
            "retrying in %.2f s (attempt %d of %d): %s",
            delay,
            state.attempt_number + 1,
            policy.max_retries + 1,
            str(exc),  # text, not the exception: a kept record must not pin its frames
        )
        if on_retry is not None and exc is not None:
            on_retry(exc, delay)

    async def gated_attempt() -> _T:
        await gate.wait(sleep, cap=policy.retry_after_cap)
        try:
            return await attempt()
        except RateLimitError as exc:
            if exc.retry_after is not None:
                # spec: retry - a 429 pauses the whole client, retried or not
                gate.pause(exc.retry_after)
            raise

    # perf: docs/benchmarks.md, "this client / floor" page 100 row - the first try
    # runs without building an AsyncRetrying (most pages never need one). A failure
    # worth retrying hands over to tenacity, which counts it as attempt 1 and
    # drives every retry exactly as before.
    try:
        return await gated_attempt()
    except Exception as exc:
        if policy.max_retries < 1 or not policy.should_retry(exc):
            raise
        first_failure: BaseException | None = exc

    async def tenacity_attempt() -> _T:
        nonlocal first_failure
        if first_failure is not None:
            failure, first_failure = first_failure, None
            raise failure
        return await gated_attempt()

    retrying = tenacity.AsyncRetrying(
        stop=tenacity.stop_after_attempt(policy.max_retries + 1),
        retry=tenacity.retry_if_exception(policy.should_retry),
        wait=_Wait(policy),
        sleep=sleep,
        before_sleep=before_sleep,
        reraise=True,
    )
    return await retrying(tenacity_attempt)
