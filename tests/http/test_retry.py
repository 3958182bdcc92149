"""The retry policy over a scripted attempt, a recording sleep and a fake clock."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import pytest
import tenacity

from llama_batch_async._errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    PaginationError,
    RateLimitError,
    ResponseValidationError,
    error_for_status,
)
from llama_batch_async._http._limiter import LocalLimiter
from llama_batch_async._http._retry import (
    RETRY_STATUSES,
    RetryPolicy,
    call_with_retries,
)
from llama_batch_async._http._wire import Response, check_status

API_KEY = "llx-RETRYKEY-0123456789abcdef"


class FakeTime:
    """A fake monotonic clock and a sleep that records waits (and advances the clock)."""

    def __init__(self, *, advance: bool = True) -> None:
        self.now = 0.0
        self.advance = advance
        self.waits: list[float] = []
        self.events: list[str] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.events.append(f"sleep {seconds:g}")
        if self.advance:
            self.now += seconds


class Script:
    """An attempt function that raises or returns the scripted steps in order."""

    def __init__(self, *steps: object, events: list[str] | None = None) -> None:
        self.steps = list(steps)
        self.calls = 0
        self.events = events if events is not None else []

    async def __call__(self) -> object:
        self.calls += 1
        self.events.append("attempt")
        step = self.steps.pop(0)
        if isinstance(step, BaseException):
            raise step
        return step


async def run(
    script: Script,
    time: FakeTime,
    *,
    policy: RetryPolicy | None = None,
    gate: LocalLimiter | None = None,
) -> object:
    """call_with_retries with the fakes wired in."""
    return await call_with_retries(
        script,
        policy or RetryPolicy(),
        sleep=time.sleep,
        gate=gate or LocalLimiter(clock=time.clock),
    )


def rate_limited(retry_after: float | None = None) -> RateLimitError:
    error = error_for_status(429, retry_after=retry_after)
    assert isinstance(error, RateLimitError)
    return error


RETRIED = [
    pytest.param(lambda: error_for_status(503), id="503"),
    pytest.param(lambda: error_for_status(500), id="500"),
    pytest.param(lambda: error_for_status(502), id="502"),
    pytest.param(lambda: error_for_status(504), id="504"),
    pytest.param(lambda: error_for_status(408), id="408"),
    pytest.param(lambda: error_for_status(409), id="409"),
    pytest.param(rate_limited, id="429"),
    pytest.param(lambda: APIConnectionError("reset"), id="connection"),
    pytest.param(lambda: APITimeoutError("slow"), id="timeout"),
]

NOT_RETRIED = [
    pytest.param(lambda: error_for_status(400), id="400"),
    pytest.param(lambda: error_for_status(401), id="401"),
    pytest.param(lambda: error_for_status(403), id="403"),
    pytest.param(lambda: error_for_status(404), id="404"),
    pytest.param(lambda: error_for_status(422), id="422"),
    pytest.param(lambda: error_for_status(418), id="418"),
    pytest.param(lambda: error_for_status(501), id="501"),
    pytest.param(lambda: APIConnectionError("bad cert", retryable=False), id="tls"),
    pytest.param(lambda: APITimeoutError("odd", retryable=False), id="timeout-final"),
    pytest.param(lambda: ResponseValidationError("bad body"), id="validation"),
    pytest.param(lambda: PaginationError("stuck"), id="pagination"),
    pytest.param(lambda: ValueError("plain"), id="ValueError"),
    pytest.param(lambda: KeyError("plain"), id="KeyError"),
]


def test_retry_statuses() -> None:
    """The retried statuses are exactly the spec's list."""
    assert frozenset({408, 409, 429, 500, 502, 503, 504}) == RETRY_STATUSES


@pytest.mark.parametrize("make_error", RETRIED)
async def test_retried_errors_then_success(make_error: Callable[[], Exception]) -> None:
    """Retryable errors followed by success return the result, one sleep per retry."""
    time = FakeTime()
    script = Script(make_error(), make_error(), "page")

    assert await run(script, time) == "page"
    assert script.calls == 3
    assert len(time.waits) == 2


@pytest.mark.parametrize("make_error", NOT_RETRIED)
async def test_final_errors_are_raised_after_one_attempt(
    make_error: Callable[[], Exception],
) -> None:
    """A non-retryable error is raised as is, after exactly one attempt and no sleep."""
    time = FakeTime()
    error = make_error()
    script = Script(error, "never")

    with pytest.raises(type(error)) as info:
        await run(script, time)

    assert info.value is error
    assert script.calls == 1
    assert time.waits == []


async def test_success_first_time_never_sleeps() -> None:
    """A first attempt that succeeds returns at once."""
    time = FakeTime()
    script = Script("page")

    assert await run(script, time) == "page"
    assert script.calls == 1
    assert time.waits == []


@pytest.mark.parametrize("make_error", RETRIED)
async def test_budget_spent_raises_the_last_typed_error(
    make_error: Callable[[], Exception],
) -> None:
    """max_retries=2 makes exactly 3 attempts, then raises the last error (not RetryError)."""
    time = FakeTime()
    errors = [make_error(), make_error(), make_error()]
    script = Script(*errors, "never")

    with pytest.raises(type(errors[0])) as info:
        await run(script, time, policy=RetryPolicy(max_retries=2))

    assert info.value is errors[-1]
    assert not isinstance(info.value, tenacity.RetryError)
    assert script.calls == 3
    assert len(time.waits) == 2


async def test_zero_retries_is_one_attempt() -> None:
    """max_retries=0 disables retrying: one attempt, the error raised, no sleep."""
    time = FakeTime()
    error = error_for_status(503)
    script = Script(error, "never")

    with pytest.raises(APIStatusError) as info:
        await run(script, time, policy=RetryPolicy(max_retries=0))

    assert info.value is error
    assert script.calls == 1
    assert time.waits == []


async def test_default_budget_is_four_retries() -> None:
    """The default policy makes at most 5 attempts."""
    time = FakeTime()
    script = Script(*[APIConnectionError("reset") for _ in range(6)])

    with pytest.raises(APIConnectionError):
        await run(script, time)

    assert script.calls == 5


@pytest.mark.parametrize(
    "make_error",
    [
        pytest.param(lambda: rate_limited(retry_after=2.0), id="429"),
        pytest.param(lambda: error_for_status(503, retry_after=2.0), id="503"),
    ],
)
async def test_retry_after_is_the_wait(make_error: Callable[[], Exception]) -> None:
    """A Retry-After of 2.0 is exactly the recorded wait, with no extra pause."""
    time = FakeTime()
    script = Script(make_error(), "page")

    assert await run(script, time) == "page"
    assert time.waits == [2.0]


async def test_retry_after_at_the_cap_is_slept_through() -> None:
    """A Retry-After equal to the cap is still honoured."""
    time = FakeTime()
    script = Script(rate_limited(retry_after=10.0), "page")

    assert await run(script, time, policy=RetryPolicy(retry_after_cap=10.0)) == "page"
    assert time.waits == [10.0]


@pytest.mark.parametrize(
    "make_error",
    [
        pytest.param(lambda: rate_limited(retry_after=120.0), id="429"),
        pytest.param(lambda: error_for_status(503, retry_after=120.0), id="503"),
    ],
)
async def test_retry_after_over_the_cap_raises_at_once(make_error: Callable[[], Exception]) -> None:
    """A Retry-After past the cap is not slept through: the error is raised with it."""
    time = FakeTime()
    error = make_error()
    script = Script(error, "never")

    with pytest.raises(APIStatusError) as info:
        await run(script, time, policy=RetryPolicy(retry_after_cap=60.0))

    assert info.value is error
    assert info.value.retry_after == 120.0
    assert script.calls == 1
    assert time.waits == []


async def test_backoff_is_full_jitter_under_the_exponential_bound() -> None:
    """Without Retry-After each wait n is in [0, min(backoff_max, backoff_base * 2**n)]."""
    policy = RetryPolicy(max_retries=8, backoff_base=1.0, backoff_max=10.0)
    bounds = [min(policy.backoff_max, policy.backoff_base * 2**n) for n in range(8)]
    firsts: list[float] = []
    for _ in range(60):
        time = FakeTime()
        script = Script(*[error_for_status(503) for _ in range(8)], "page")

        assert await run(script, time, policy=policy) == "page"

        assert len(time.waits) == 8
        for wait, bound in zip(time.waits, bounds, strict=True):
            assert 0 <= wait <= bound
        firsts.append(time.waits[0])
    # Full jitter, not "half bound plus jitter": some first waits fall in the low quarter.
    assert min(firsts) < 0.25 * bounds[0]
    assert len(set(firsts)) > 1


async def test_unparseable_retry_after_falls_back_to_backoff() -> None:
    """A 429 without a usable Retry-After waits a backoff, not zero or forever."""
    time = FakeTime()
    policy = RetryPolicy(backoff_base=0.5, backoff_max=30.0)
    script = Script(rate_limited(retry_after=None), "page")

    assert await run(script, time, policy=policy) == "page"
    assert len(time.waits) == 1
    assert 0 <= time.waits[0] <= 0.5


# --- the client-wide gate -----------------------------------------------------------------


def test_gate_pause_and_remaining() -> None:
    """A pause holds for its seconds on the clock and never shortens a longer one."""
    time = FakeTime()
    gate = LocalLimiter(clock=time.clock)
    assert gate.remaining == 0.0

    gate.pause(5.0)
    time.now = 2.0
    assert gate.remaining == 3.0

    gate.pause(1.0)
    assert gate.remaining == 3.0

    time.now = 10.0
    assert gate.remaining == 0.0


async def test_gate_wait_sleeps_the_remaining_pause() -> None:
    """The gate sleeps exactly what is left of its pause, and nothing when there is none."""
    time = FakeTime()
    gate = LocalLimiter(clock=time.clock)

    await gate.wait(time.sleep)
    assert time.waits == []

    gate.pause(4.0)
    time.now = 1.5
    await gate.wait(time.sleep)
    assert time.waits == [2.5]


async def test_429_pauses_the_gate() -> None:
    """A retried 429 pauses the whole gate for its Retry-After."""
    time = FakeTime(advance=False)
    gate = LocalLimiter(clock=time.clock)
    script = Script(rate_limited(retry_after=2.0), "page")

    assert await run(script, time, gate=gate) == "page"

    assert gate.remaining == 2.0
    assert time.waits[0] == 2.0


async def test_5xx_does_not_pause_the_gate() -> None:
    """Only a 429 pauses other walks; a 503 delays only its own."""
    time = FakeTime(advance=False)
    gate = LocalLimiter(clock=time.clock)
    script = Script(error_for_status(503, retry_after=2.0), "page")

    assert await run(script, time, gate=gate) == "page"

    assert gate.remaining == 0.0
    assert time.waits == [2.0]


async def test_429_makes_other_calls_on_the_gate_wait_first() -> None:
    """A second, independent call on the same gate sleeps the remaining pause, then tries."""
    time = FakeTime(advance=False)
    gate = LocalLimiter(clock=time.clock)
    first = Script(rate_limited(retry_after=5.0), "page-1")
    assert await run(first, time, gate=gate) == "page-1"

    time.now = 1.5  # the other walk comes along 1.5 s later
    time.waits.clear()
    events: list[str] = []
    time.events = events
    second = Script("page-2", events=events)

    assert await run(second, time, gate=gate) == "page-2"

    assert events == ["sleep 3.5", "attempt"]
    assert second.calls == 1


async def test_concurrent_calls_keep_their_own_budgets() -> None:
    """Two concurrent calls each count their own attempts (a fresh retrier per call)."""
    time = FakeTime()
    gate = LocalLimiter(clock=time.clock)
    policy = RetryPolicy(max_retries=2)
    a = Script(error_for_status(503), error_for_status(503), "a")
    b = Script(error_for_status(503), error_for_status(503), "b")

    results = await asyncio.gather(
        run(a, time, policy=policy, gate=gate), run(b, time, policy=policy, gate=gate)
    )

    assert list(results) == ["a", "b"]
    assert a.calls == b.calls == 3


# --- cancellation, hooks, logging ---------------------------------------------------------


async def test_cancellation_propagates_without_retry() -> None:
    """CancelledError from the attempt ends the call at once: one attempt, no sleep."""
    time = FakeTime()
    script = Script(asyncio.CancelledError(), "never")

    with pytest.raises(asyncio.CancelledError):
        await run(script, time)

    assert script.calls == 1
    assert time.waits == []


async def test_cancellation_during_backoff_sleep_propagates() -> None:
    """A cancel that lands during a backoff sleep ends the call with no further attempt."""
    script = Script(error_for_status(503), "never")

    async def cancelled_sleep(_: float) -> None:
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        await call_with_retries(
            script, RetryPolicy(), sleep=cancelled_sleep, gate=LocalLimiter(clock=lambda: 0.0)
        )

    assert script.calls == 1


async def test_on_retry_called_once_per_retry() -> None:
    """on_retry gets each retried error and its delay, once per retry."""
    time = FakeTime()
    errors = [rate_limited(retry_after=1.0), error_for_status(503, retry_after=3.0)]
    script = Script(*errors, "page")
    seen: list[tuple[BaseException, float]] = []

    result = await call_with_retries(
        script,
        RetryPolicy(),
        sleep=time.sleep,
        gate=LocalLimiter(clock=time.clock),
        on_retry=lambda exc, delay: seen.append((exc, delay)),
    )

    assert result == "page"
    assert seen == [(errors[0], 1.0), (errors[1], 3.0)]


async def test_on_retry_not_called_without_retries() -> None:
    """on_retry is not called for a success or a final error."""
    time = FakeTime()
    seen: list[float] = []

    with pytest.raises(APIStatusError):
        await call_with_retries(
            Script(error_for_status(404)),
            RetryPolicy(),
            sleep=time.sleep,
            gate=LocalLimiter(clock=time.clock),
            on_retry=lambda _, delay: seen.append(delay),
        )

    assert seen == []


async def test_one_warning_per_retry_naming_the_delay(caplog: pytest.LogCaptureFixture) -> None:
    """Each retry logs one WARNING with the delay and reason, never a header or the key."""
    caplog.set_level(logging.DEBUG, logger="llama_batch_async")
    time = FakeTime()
    echoed = Response(
        status=503,
        headers={"retry-after": "1.5", "x-request-id": "req-7"},
        body=f"Authorization: Bearer {API_KEY}".encode(),
    )
    first = check_status(echoed, secret=API_KEY)
    assert first is not None
    script = Script(first, error_for_status(429, retry_after=2.0), "page")

    assert await run(script, time) == "page"

    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    messages = [r.getMessage() for r in warnings]
    assert "retrying in 1.50 s" in messages[0]
    assert "retrying in 2.00 s" in messages[1]
    assert "HTTP 503" in messages[0]
    assert "HTTP 429" in messages[1]
    for record in caplog.records:
        text = record.getMessage()
        assert API_KEY not in text
        assert "Bearer llx" not in text
    assert all(r.name.startswith("llama_batch_async") for r in warnings)


async def test_no_warning_without_retry(caplog: pytest.LogCaptureFixture) -> None:
    """A final error or a success logs no retry warning."""
    caplog.set_level(logging.WARNING, logger="llama_batch_async")
    time = FakeTime()

    with pytest.raises(APIStatusError):
        await run(Script(error_for_status(400)), time)
    assert await run(Script("page"), time) == "page"

    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


async def test_first_attempt_builds_no_retrying_object(monkeypatch: pytest.MonkeyPatch) -> None:
    """A page that succeeds (or fails for good) first time never builds an AsyncRetrying."""

    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("AsyncRetrying built for a first attempt")

    monkeypatch.setattr(tenacity, "AsyncRetrying", refuse)
    time = FakeTime()

    assert await run(Script("page"), time) == "page"
    with pytest.raises(APIStatusError):
        await run(Script(error_for_status(404)), time)
    with pytest.raises(APIStatusError):
        await run(Script(error_for_status(503)), time, policy=RetryPolicy(max_retries=0))


async def test_a_failed_first_attempt_counts_as_tenacity_attempt_one(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """After the first try fails, tenacity retries: attempt numbers and budget are unchanged."""
    time = FakeTime()
    script = Script(error_for_status(503), APIConnectionError("reset"), "page")

    with caplog.at_level(logging.WARNING, logger="llama_batch_async"):
        assert await run(script, time, policy=RetryPolicy(max_retries=2)) == "page"

    assert script.calls == 3
    assert len(time.waits) == 2
    attempts = [r.getMessage().split("(attempt ")[1].split(")")[0] for r in caplog.records]
    assert attempts == ["2 of 3", "3 of 3"]


async def test_gate_is_consulted_before_the_first_attempt_too() -> None:
    """A client-wide pause is waited out before the first try, not only before retries."""
    time = FakeTime()
    gate = LocalLimiter(clock=time.clock)
    gate.pause(3.0)
    events: list[str] = []
    time.events = events

    assert await run(Script("page", events=events), time, gate=gate) == "page"
    assert events == ["sleep 3", "attempt"]
