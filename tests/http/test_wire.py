"""Pure HTTP: request building, Retry-After parsing and status classification."""

from __future__ import annotations

import email.utils
import math
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from helpers import query
from hypothesis import given
from hypothesis import strategies as st

from llama_batch_async._config import Config, make_config
from llama_batch_async._errors import (
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    RateLimitError,
    ServerError,
)
from llama_batch_async._http._wire import (
    Request,
    Response,
    body_excerpt,
    check_status,
    parse_retry_after,
)
from llama_batch_async._models import JobStatus
from llama_batch_async._paging._cursor import PageRequest
from llama_batch_async._paging._pager import page_request

API_KEY = "llx-TESTKEY-0123456789abcdefghij"
COOKIE = "sess-TESTCOOKIE-42"
NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=timezone.utc)


def config(**changes: Any) -> Config:
    """A valid config with an explicit, empty environment and ``changes`` applied."""
    arguments: dict[str, Any] = {
        "api_key": API_KEY,
        "base_url": "https://api.example.test",
        "session_cookie": None,
        "timeout": 60.0,
        "max_retries": 4,
        "retry_after_cap": 60.0,
        "trust_env": False,
        "environ": {},
    }
    arguments.update(changes)
    return make_config(**arguments)


def http_date(when: datetime) -> str:
    """``when`` as an HTTP date (IMF-fixdate)."""
    return email.utils.format_datetime(when, usegmt=True)


# --- build_request ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filters", "page", "params"),
    [
        pytest.param(
            {},
            PageRequest(limit=100, offset=0, token=None),
            (("limit", "100"), ("offset", "0")),
            id="first-page",
        ),
        pytest.param(
            {"status": JobStatus.FAILED, "project_id": "proj-1"},
            PageRequest(limit=50, offset=200, token=None),
            (("status", "failed"), ("project_id", "proj-1"), ("limit", "50"), ("offset", "200")),
            id="filters-then-offset",
        ),
        pytest.param(
            {"job_type": "parse", "directory_id": "dir-1"},
            PageRequest(limit=10, offset=None, token="tok-2"),
            (
                ("directory_id", "dir-1"),
                ("job_type", "parse"),
                ("limit", "10"),
                ("page_token", "tok-2"),
            ),
            id="filters-then-token",
        ),
        pytest.param(
            {"organization_id": "org-1"},
            PageRequest(limit=7, offset=30, token="tok-3"),
            (("organization_id", "org-1"), ("limit", "7"), ("page_token", "tok-3")),
            id="token-wins-over-offset",
        ),
        pytest.param(
            {},
            PageRequest(limit=1, offset=None, token=None),
            (("limit", "1"),),
            id="neither",
        ),
    ],
)
def test_build_request_params(
    filters: dict[str, object], page: PageRequest, params: tuple[tuple[str, str], ...]
) -> None:
    """Params are the filters, then limit, then offset or page_token (never both)."""
    request = page_request(config(), query(**filters), page)

    assert request.params == params
    names = [name for name, _ in request.params]
    assert not ({"offset", "page_token"} <= set(names))
    assert all(type(value) is str for _, value in request.params)


def test_build_request_url_is_the_endpoint() -> None:
    """The request goes to the list endpoint under the configured base URL."""
    request = page_request(
        config(base_url="http://127.0.0.1:8080/"), query(), PageRequest(10, 0, None)
    )

    assert request.url == "http://127.0.0.1:8080/api/v1/beta/batch-processing"


def test_build_request_headers_with_key() -> None:
    """The key is a Bearer token; Accept is JSON; User-Agent names the library; no cookie."""
    request = page_request(config(), query(), PageRequest(10, 0, None))

    assert request.headers["Authorization"] == f"Bearer {API_KEY}"
    assert request.headers["Accept"] == "application/json"
    assert request.headers["User-Agent"].startswith("llama-batch-async")
    assert "Cookie" not in request.headers


def test_build_request_sends_configured_session_cookie() -> None:
    """A configured session cookie is sent as ``Cookie: session=<value>``, beside the key."""
    request = page_request(config(session_cookie=COOKIE), query(), PageRequest(10, 0, None))

    assert request.headers["Cookie"] == f"session={COOKIE}"
    assert request.headers["Authorization"] == f"Bearer {API_KEY}"


def test_build_request_with_only_a_session_cookie() -> None:
    """Without a key only the cookie authenticates: no Authorization header at all."""
    request = page_request(
        config(api_key=None, session_cookie=COOKIE), query(), PageRequest(10, 0, None)
    )

    assert request.headers["Cookie"] == f"session={COOKIE}"
    assert "Authorization" not in request.headers


def test_request_repr_hides_credentials() -> None:
    """The repr and str of a request never show the key or the session cookie."""
    request = page_request(config(session_cookie=COOKIE), query(), PageRequest(10, 0, None))

    for text in (repr(request), str(request)):
        assert API_KEY not in text
        assert COOKIE not in text
        assert "Bearer" not in text


def test_same_query_builds_the_same_request() -> None:
    """Building is deterministic: equal inputs give equal requests."""
    a = page_request(config(), query(status="failed"), PageRequest(10, 20, None))
    b = page_request(config(), query(status=JobStatus.FAILED), PageRequest(10, 20, None))

    assert a == b
    assert isinstance(a, Request)


# --- parse_retry_after --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("0", 0.0, id="zero"),
        pytest.param("1.5", 1.5, id="fraction"),
        pytest.param(" 3 ", 3.0, id="padded"),
        pytest.param("120", 120.0, id="two-minutes"),
        pytest.param("-1", None, id="negative"),
        pytest.param("nan", None, id="nan"),
        pytest.param("inf", None, id="inf"),
        pytest.param("-inf", None, id="minus-inf"),
        pytest.param("Infinity", None, id="Infinity"),
        pytest.param("garbage", None, id="garbage"),
        pytest.param("", None, id="empty"),
        pytest.param("   ", None, id="blank"),
        pytest.param(None, None, id="absent"),
        pytest.param(http_date(NOW + timedelta(seconds=30)), 30.0, id="date-30s-ahead"),
        pytest.param(http_date(NOW), 0.0, id="date-now"),
        pytest.param(http_date(NOW - timedelta(hours=1)), 0.0, id="date-in-past"),
        pytest.param("Wed, 01 May 2024 12:00:45 GMT", 45.0, id="date-literal"),
        pytest.param("Wed, 01 May 2024 14:00:45 +0200", 45.0, id="date-with-offset"),
        pytest.param("Wed, 01 May 2024 12:00:45 -0000", 45.0, id="date-naive-is-utc"),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    """Delta-seconds and HTTP dates become seconds; anything unreadable is None."""
    result = parse_retry_after(value, now=NOW)

    assert result == expected
    if result is not None:
        assert type(result) is float


RETRY_AFTER_TEXTS = st.text() | st.from_regex(
    r"\A(Mon|Wed), [0-9]{1,2} (Jan|May) [0-9]{1,5} "
    r"[0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2}( GMT| [+-][0-9]{4}|)\Z"
)


@given(RETRY_AFTER_TEXTS)
def test_parse_retry_after_never_raises(value: str) -> None:
    """Any header text gives None or a finite, non-negative number of seconds."""
    result = parse_retry_after(value, now=NOW)

    assert result is None or (math.isfinite(result) and result >= 0)


def test_parse_retry_after_date_uses_the_clock_by_default() -> None:
    """Without ``now`` a date is measured from the system clock."""
    ahead = datetime.now(timezone.utc) + timedelta(hours=1)

    result = parse_retry_after(http_date(ahead))

    assert result is not None
    assert 3500 < result <= 3600


# --- check_status -------------------------------------------------------------------------


@pytest.mark.parametrize("status", [200, 201, 204, 299])
def test_check_status_success_is_none(status: int) -> None:
    """A 2xx response is not an error."""
    assert check_status(Response(status=status, headers={}, body=b"{}")) is None


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        pytest.param(400, BadRequestError, id="400"),
        pytest.param(401, AuthenticationError, id="401"),
        pytest.param(429, RateLimitError, id="429"),
        pytest.param(503, ServerError, id="503"),
        pytest.param(408, APIStatusError, id="408"),
        pytest.param(304, APIStatusError, id="304"),
        pytest.param(199, APIStatusError, id="199"),
    ],
)
def test_check_status_non_success_is_typed(status: int, cls: type[APIStatusError]) -> None:
    """A non-2xx response gives the error class of its status."""
    error = check_status(Response(status=status, headers={}, body=b""))

    assert type(error) is cls
    assert error.status_code == status


def test_check_status_carries_request_id_and_retry_after() -> None:
    """request_id comes from x-request-id and retry_after is parsed from retry-after."""
    response = Response(
        status=429,
        headers={"x-request-id": "req-abc", "retry-after": " 2.5 "},
        body=b'{"detail": "slow down"}',
    )

    error = check_status(response)

    assert isinstance(error, RateLimitError)
    assert error.request_id == "req-abc"
    assert error.retry_after == 2.5
    assert error.body == '{"detail": "slow down"}'
    assert "req-abc" in str(error)


def test_check_status_unreadable_retry_after_is_none() -> None:
    """An unreadable Retry-After leaves retry_after None (the retry falls back to backoff)."""
    response = Response(status=503, headers={"retry-after": "soon"}, body=b"")

    error = check_status(response)

    assert error is not None
    assert error.retry_after is None
    assert error.request_id is None


def test_check_status_body_is_one_short_line() -> None:
    """The body excerpt is collapsed to one line and cut to at most 500 characters."""
    body = ("<html>\n  <body>\r\n\tBad   Gateway\n" + "x" * 2000 + "\n</html>").encode()

    error = check_status(Response(status=502, headers={}, body=body))

    assert error is not None
    assert error.body.startswith("<html> <body> Bad Gateway x")
    assert "\n" not in error.body
    assert "\r" not in error.body
    assert "\t" not in error.body
    assert len(error.body) == 500
    assert error.body.endswith("...")
    assert "\n" not in str(error)


def test_check_status_masks_the_secret() -> None:
    """A server echoing the key gets it masked as ``***`` in body and message."""
    body = f'{{"error": "bad key {API_KEY}", "again": "{API_KEY}"}}'.encode()

    error = check_status(Response(status=401, headers={}, body=body), secret=API_KEY)

    assert error is not None
    assert API_KEY not in error.body
    assert API_KEY not in str(error)
    assert error.body == '{"error": "bad key ***", "again": "***"}'


def test_check_status_masks_before_cutting() -> None:
    """A key that straddles the 500-character cut is masked, not cut in half."""
    body = ("a" * 480 + API_KEY + "b" * 100).encode()

    error = check_status(Response(status=500, headers={}, body=body), secret=API_KEY)

    assert error is not None
    assert API_KEY[:8] not in error.body
    assert error.body.startswith("a" * 480 + "***b")


def test_check_status_never_leaks_part_of_the_secret() -> None:
    """A key echoed after a long run of whitespace is not leaked in part (body or message)."""
    # The excerpt reads the first 2000 bytes, collapses whitespace, then masks: a key
    # straddling byte 2000 is cut before masking can find it whole.
    body = (" " * 1990 + API_KEY + " tail").encode()

    error = check_status(Response(status=401, headers={}, body=body), secret=API_KEY)

    assert error is not None
    prefix = API_KEY[: len(API_KEY) // 3]
    assert prefix not in error.body
    assert prefix not in str(error)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(b"", "", id="empty"),
        pytest.param(b"  ok  ", "ok", id="trimmed"),
        pytest.param("caf\u00e9".encode(), "caf\u00e9", id="utf8"),
        pytest.param(b"bad \xff byte", "bad \ufffd byte", id="invalid-utf8"),
        pytest.param(b"x" * 500, "x" * 500, id="exactly-500"),
        pytest.param(b"x" * 501, "x" * 497 + "...", id="501"),
    ],
)
def test_body_excerpt(body: bytes, expected: str) -> None:
    """The excerpt decodes leniently, trims whitespace and cuts at 500 characters."""
    assert body_excerpt(body) == expected
