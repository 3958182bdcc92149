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
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

import attrs
import tenacity

from llama_batch_async._config import (
    DEFAULT_BACKOFF_BASE,
    DEFAULT_BACKOFF_MAX,
    DEFAULT_MAX_RETRIES,
    DEFAULT_RETRY_AFTER_CAP,
)
from llama_batch_async._errors import APIConnectionError, APIStatusError, RateLimitError

from ._limiter import MAX_PAUSE_WAITS, Limiter, Sleep

__all__ = ["RETRY_STATUSES", "RetryPolicy", "Sleep", "call_with_retries"]

logger = logging.getLogger(__name__)

_T = TypeVar("_T")

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

    max_retries: int = DEFAULT_MAX_RETRIES
    retry_after_cap: float = DEFAULT_RETRY_AFTER_CAP
    backoff_base: float = DEFAULT_BACKOFF_BASE
    backoff_max: float = DEFAULT_BACKOFF_MAX
    write: bool = False
    """The request is a write (a POST): a 409 is its answer, not a transient state."""
    idempotent: bool = True
    """False for a create: retried only when the server certainly did not act on it."""

    def for_request(self, *, write: bool, idempotent: bool) -> RetryPolicy:
        """This policy for one request: a GET keeps it; a write or a create narrows it."""
        if not write and idempotent:
            return self
        return attrs.evolve(self, write=write, idempotent=idempotent)

    def should_retry(self, exc: BaseException) -> bool:
        """True when another attempt may succeed after ``exc``."""
        if isinstance(exc, APIStatusError):
            final = (
                exc.status_code not in RETRY_STATUSES
                # a write's 409 is a state conflict: asking again changes nothing
                or (self.write and exc.status_code == 409)
                # spec: batch-job-endpoints - a create that may have reached the
                # server is never sent again blindly
                or (not self.idempotent and not _did_not_act(exc))
            )
            # spec: retry - a Retry-After past the cap is not slept through
            return not final and (
                exc.retry_after is None or exc.retry_after <= self.retry_after_cap
            )
        if isinstance(exc, APIConnectionError):
            if not self.idempotent and exc.sent:
                return False  # reset or timeout after sending: the create may exist
            return exc.retryable
        return False


def _did_not_act(exc: APIStatusError) -> bool:
    """A status that says the server did not act on the request: 429, or 503 with Retry-After.

    A 429 is refused before any work; a 503 that names when to come back is
    an overloaded server turning requests away. A 500, 502, 504 or a bare 503
    may come after the work was done.
    """
    return exc.status_code == 429 or (exc.status_code == 503 and exc.retry_after is not None)


def _pause_of(exc: BaseException | None) -> float | None:
    """The pause a server asked for: its ``Retry-After`` when above 0, else None."""
    retry_after = getattr(exc, "retry_after", None)
    if isinstance(retry_after, int | float) and retry_after > 0:
        return float(retry_after)
    return None


class _Wait(tenacity.wait.wait_base):
    """The server's ``Retry-After`` when above 0, else the client's own backoff.

    (A ``Retry-After`` of 0 on a 503 still means "now": only a 429 is congestion.)

    A 429 without a usable ``Retry-After`` (none, or 0) backs off by the client's
    schedule, never "at once" (issue 22): "equal jitter", between half and all of
    ``backoff_base * 2 ** (attempt - 1)`` (capped at ``backoff_max``), so it is
    never near zero. Other failures keep full-jitter exponential backoff.
    """

    def __init__(self, policy: RetryPolicy) -> None:
        self._policy = policy
        self._backoff = tenacity.wait_random_exponential(
            multiplier=policy.backoff_base, max=policy.backoff_max
        )

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        pause = _pause_of(exc)
        if pause is not None:
            return pause
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None and not isinstance(exc, RateLimitError):
            return float(retry_after)  # a 503's "Retry-After: 0" (or a past date): go now
        if isinstance(exc, RateLimitError):
            exponent = min(retry_state.attempt_number - 1, 32)
            bound = min(self._policy.backoff_max, self._policy.backoff_base * 2.0**exponent)
            return random.uniform(bound / 2.0, bound)  # noqa: S311 - jitter, not secrets
        return float(self._backoff(retry_state))


async def call_with_retries(
    attempt: Callable[[], Awaitable[_T]],
    policy: RetryPolicy,
    *,
    sleep: Sleep,
    gate: Limiter,
    on_retry: Callable[[BaseException, float], None] | None = None,
) -> _T:
    """Run ``attempt`` until it succeeds, fails for good, or the budget is spent.

    Args:
        attempt: One try (a page request); raises our typed errors.
        policy: The retry policy.
        sleep: Awaitable sleep, injectable so tests record waits instead of waiting.
        gate: The client's `Limiter`: consulted before every try, told about every 429.
        on_retry: Called with the error and the delay before each retry.
    """
    announce = False
    # 429s answered to requests sent before the limiter's latest slow-down: retried
    # without counting against max_retries (the limiter had not yet spaced them out),
    # at most MAX_PAUSE_WAITS of them per call.
    uncounted = 0

    def before_sleep(state: tenacity.RetryCallState) -> None:
        nonlocal announce
        exc = state.outcome.exception() if state.outcome else None
        delay = state.next_action.sleep if state.next_action else 0.0
        # spec: retry - a 429 pauses the whole client, not only this walk. With a
        # Retry-After above 0, gated_attempt has told the limiter already; without,
        # the backoff chosen here is told, by limited_sleep, before sleeping it.
        announce = isinstance(exc, RateLimitError) and _pause_of(exc) is None
        logger.warning(
            "retrying in %.2f s (attempt %d of %d): %s",
            delay,
            state.attempt_number - uncounted + 1,
            policy.max_retries + 1,
            str(exc),  # text, not the exception: a kept record must not pin its frames
        )
        if on_retry is not None and exc is not None:
            on_retry(exc, delay)

    async def limited_sleep(delay: float) -> None:
        nonlocal announce
        if announce:
            announce = False
            await gate.rate_limited(delay)
        await sleep(delay)

    async def gated_attempt() -> _T:
        nonlocal uncounted
        await gate.acquire(sleep, cap=policy.retry_after_cap)
        epoch = gate.epoch
        ok = False
        try:
            result = await attempt()
            ok = True
            return result
        except RateLimitError as exc:
            # spec: retry - a 429 pauses the whole client, retried or not (with its
            # Retry-After here; without, the backoff is told before it is slept)
            if not await gate.throttled(epoch, _pause_of(exc)):
                uncounted += 1
            raise
        finally:
            gate.release(epoch, ok=ok)

    def stop(state: tenacity.RetryCallState) -> bool:
        counted = state.attempt_number - min(uncounted, MAX_PAUSE_WAITS)
        return counted >= policy.max_retries + 1

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
        stop=stop,
        retry=tenacity.retry_if_exception(policy.should_retry),
        wait=_Wait(policy),
        sleep=limited_sleep,
        before_sleep=before_sleep,
        reraise=True,
    )
    return await retrying(tenacity_attempt)
