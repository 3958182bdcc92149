"""FakeLlamaCloud: the list endpoint, its knobs and its scripted faults, over real HTTP."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp
import attrs
import pytest

from llama_batch_async.testing import (
    DIRECTORY_IDS,
    ENDPOINT_PATH,
    JOB_FIELDS,
    ORGANIZATION_IDS,
    PROJECT_IDS,
    FakeLlamaCloud,
    Fault,
    Listing,
    complete_job,
    make_job,
    make_jobs,
    parse_timestamp,
)
from llama_batch_async.testing._options import ListingOptions, ServerOptions


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as client:
        yield client


async def fetch(
    session: aiohttp.ClientSession,
    cloud: FakeLlamaCloud,
    params: Mapping[str, str] | None = None,
    **kwargs: Any,
) -> tuple[int, Mapping[str, str], Any]:
    async with session.get(cloud.endpoint_url, params=params or {}, **kwargs) as response:
        body = await response.json(content_type=None)
        return response.status, response.headers, body


async def walk_offsets(
    session: aiohttp.ClientSession, cloud: FakeLlamaCloud, limit: int, **filters: str
) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for _ in range(1000):
        params = {"limit": str(limit), "offset": str(len(items)), **filters}
        status, _, body = await fetch(session, cloud, params)
        assert status == 200
        items.extend(body["items"])
        if len(body["items"]) < limit:
            return items
    raise AssertionError("walk did not end")


async def walk_tokens(
    session: aiohttp.ClientSession, cloud: FakeLlamaCloud, limit: int, **filters: str
) -> tuple[list[dict[str, Any]], list[str]]:
    items: list[dict[str, Any]] = []
    tokens: list[str] = []
    params = {"limit": str(limit), **filters}
    for _ in range(1000):
        status, _, body = await fetch(session, cloud, params)
        assert status == 200
        items.extend(body["items"])
        token = body.get("next_page_token")
        if not token:
            return items, tokens
        tokens.append(token)
        params = {"limit": str(limit), "page_token": token, **filters}
    raise AssertionError("walk did not end")


# ---------------------------------------------------------------- lifecycle


async def test_url_is_loopback_with_an_os_chosen_port() -> None:
    """The base URL names 127.0.0.1 and the bound port, and stop() is idempotent."""
    cloud = FakeLlamaCloud(jobs=3)
    with pytest.raises(RuntimeError):
        _ = cloud.url
    await cloud.start()
    try:
        assert cloud.running
        assert cloud.url.startswith("http://127.0.0.1:")
        assert not cloud.url.endswith("/")
        assert int(cloud.url.rsplit(":", 1)[1]) > 0
        assert cloud.endpoint_url == cloud.url + ENDPOINT_PATH
        with pytest.raises(RuntimeError):
            await cloud.start()
    finally:
        await cloud.stop()
    await cloud.stop()
    assert not cloud.running


async def test_default_page_has_default_limit_and_total(session: aiohttp.ClientSession) -> None:
    """Without parameters the first default_limit jobs come back with total_size."""
    async with FakeLlamaCloud(jobs=60, default_limit=20) as cloud:
        status, headers, body = await fetch(session, cloud)
    assert status == 200
    assert headers["Content-Type"].startswith("application/json")
    assert [job["id"] for job in body["items"]] == [job["id"] for job in cloud.jobs[:20]]
    assert body["total_size"] == 60
    assert "next_page_token" not in body


# ---------------------------------------------------------------- pagination


async def test_offset_walk_returns_every_job_once(session: aiohttp.ClientSession) -> None:
    """An offset/limit walk returns the whole listing in order."""
    async with FakeLlamaCloud(jobs=25) as cloud:
        items = await walk_offsets(session, cloud, limit=10)
        assert items == cloud.jobs
        assert [r.query["offset"] for r in cloud.requests] == ["0", "10", "20"]


async def test_token_walk_returns_every_job_and_tokens_differ(
    session: aiohttp.ClientSession,
) -> None:
    """With page_tokens a token walk covers the listing; each walk gets fresh tokens."""
    async with FakeLlamaCloud(jobs=23, page_tokens=True) as cloud:
        first, first_tokens = await walk_tokens(session, cloud, limit=5)
        second, second_tokens = await walk_tokens(session, cloud, limit=5)
    assert first == second == cloud.jobs
    assert len(first_tokens) == len(second_tokens) == 4
    assert not set(first_tokens) & set(second_tokens)
    assert all(token.replace("-", "").replace("_", "").isalnum() for token in first_tokens)


async def test_token_wins_over_offset(session: aiohttp.ClientSession) -> None:
    """A page_token sent with an offset decides the page."""
    async with FakeLlamaCloud(jobs=10, page_tokens=True) as cloud:
        _, _, body = await fetch(session, cloud, {"limit": "4"})
        token = body["next_page_token"]
        _, _, page = await fetch(session, cloud, {"limit": "4", "page_token": token, "offset": "8"})
        assert page["items"] == cloud.jobs[4:8]


async def test_bad_page_tokens_are_rejected(session: aiohttp.ClientSession) -> None:
    """Garbage, foreign, and other-filter page tokens get a 400."""
    async with (
        FakeLlamaCloud(jobs=10, page_tokens=True) as cloud,
        FakeLlamaCloud(jobs=10, page_tokens=True) as other,
    ):
        _, _, foreign = await fetch(session, other, {"limit": "2"})
        _, _, mine = await fetch(session, cloud, {"limit": "2"})
        for params in (
            {"page_token": "not-a-token"},
            {"page_token": foreign["next_page_token"]},
            {"page_token": mine["next_page_token"], "status": "failed"},
        ):
            status, _, body = await fetch(session, cloud, params)
            assert status == 400
            assert isinstance(body["detail"], str)


async def test_issued_token_still_works_when_tokens_are_off(
    session: aiohttp.ClientSession,
) -> None:
    """A server-issued token is honoured even after page_tokens is switched off."""
    async with FakeLlamaCloud(jobs=10, page_tokens=True) as cloud:
        _, _, body = await fetch(session, cloud, {"limit": "3"})
        cloud.page_tokens = False
        _, _, page = await fetch(
            session, cloud, {"limit": "3", "page_token": body["next_page_token"]}
        )
        assert page["items"] == cloud.jobs[3:6]
        assert "next_page_token" not in page


async def test_total_size_can_be_omitted(session: aiohttp.ClientSession) -> None:
    """total_size=False leaves the key out entirely."""
    async with FakeLlamaCloud(jobs=5, total_size=False) as cloud:
        _, _, body = await fetch(session, cloud)
    assert set(body) == {"items"}


async def test_max_limit_caps_the_page_silently(session: aiohttp.ClientSession) -> None:
    """A limit above max_limit returns max_limit items and a 200."""
    async with FakeLlamaCloud(jobs=30, max_limit=7, page_tokens=True) as cloud:
        status, _, body = await fetch(session, cloud, {"limit": "20"})
        assert status == 200
        assert body["items"] == cloud.jobs[:7]
        assert body["total_size"] == 30
        assert body["next_page_token"]


async def test_limit_zero_gives_an_empty_page(session: aiohttp.ClientSession) -> None:
    """limit=0 is valid and returns no items and no token."""
    async with FakeLlamaCloud(jobs=5, page_tokens=True) as cloud:
        status, _, body = await fetch(session, cloud, {"limit": "0"})
    assert status == 200
    assert body == {"items": [], "total_size": 5}


async def test_offset_past_the_end_gives_an_empty_page(session: aiohttp.ClientSession) -> None:
    """An offset beyond the listing returns an empty page with the total."""
    async with FakeLlamaCloud(jobs=5) as cloud:
        _, _, body = await fetch(session, cloud, {"offset": "99"})
    assert body == {"items": [], "total_size": 5}


async def test_repeated_query_parameter_last_value_wins(session: aiohttp.ClientSession) -> None:
    """A repeated parameter uses its last value and the raw items are recorded."""
    async with FakeLlamaCloud(jobs=10) as cloud:
        async with session.get(f"{cloud.endpoint_url}?limit=5&limit=2") as response:
            body = await response.json()
        assert len(body["items"]) == 2
        recorded = cloud.requests[0]
        assert recorded.query == {"limit": "2"}
        assert recorded.query_items == [("limit", "5"), ("limit", "2")]


# ---------------------------------------------------------------- filters


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("directory_id", DIRECTORY_IDS[1]),
        ("job_type", "extract"),
        ("status", "failed"),
        ("project_id", PROJECT_IDS[2]),
    ],
)
async def test_field_filters(session: aiohttp.ClientSession, name: str, value: str) -> None:
    """Each field filter keeps exactly the jobs whose field equals the value."""
    async with FakeLlamaCloud(jobs=120, seed=3) as cloud:
        items = await walk_offsets(session, cloud, limit=13, **{name: value})
        expected = [job for job in cloud.jobs if job[name] == value]
    assert expected
    assert items == expected


async def test_organization_filter_uses_project_organizations(
    session: aiohttp.ClientSession,
) -> None:
    """organization_id filters by the project's organization, without a field in items."""
    async with FakeLlamaCloud(jobs=80) as cloud:
        items = await walk_offsets(session, cloud, limit=50, organization_id=ORGANIZATION_IDS[1])
        _, _, body = await fetch(session, cloud, {"organization_id": "org-unknown"})
    assert items
    assert {job["project_id"] for job in items} == {PROJECT_IDS[2]}
    assert all("organization_id" not in job for job in items)
    assert body == {"items": [], "total_size": 0}


async def test_organization_filter_prefers_the_jobs_own_key(
    session: aiohttp.ClientSession,
) -> None:
    """A job mapping with its own organization_id is filtered by it and served with it."""
    jobs = [
        {"id": "bjb-1", "organization_id": "org-a", "project_id": PROJECT_IDS[2]},
        {"id": "bjb-2", "project_id": PROJECT_IDS[0]},
    ]
    async with FakeLlamaCloud(jobs) as cloud:
        _, _, org_a = await fetch(session, cloud, {"organization_id": "org-a"})
        _, _, org_0 = await fetch(session, cloud, {"organization_id": ORGANIZATION_IDS[0]})
    assert [job["id"] for job in org_a["items"]] == ["bjb-1"]
    assert org_a["items"][0]["organization_id"] == "org-a"
    assert [job["id"] for job in org_0["items"]] == ["bjb-2"]


async def test_combined_filters_and_total_size(session: aiohttp.ClientSession) -> None:
    """Filters combine with AND and total_size counts the filtered jobs."""
    async with FakeLlamaCloud(jobs=200, seed=5) as cloud:
        params = {"status": "completed", "job_type": "parse", "limit": "3"}
        _, _, body = await fetch(session, cloud, params)
        expected = [
            job for job in cloud.jobs if job["status"] == "completed" and job["job_type"] == "parse"
        ]
    assert body["items"] == expected[:3]
    assert body["total_size"] == len(expected)


# ---------------------------------------------------------------- errors


async def test_api_key_is_required_when_set(session: aiohttp.ClientSession) -> None:
    """With api_key, a missing or wrong bearer gets 401 and the right one gets 200."""
    async with FakeLlamaCloud(jobs=2, api_key="sk-test") as cloud:
        missing = await fetch(session, cloud)
        wrong = await fetch(session, cloud, headers={"Authorization": "Bearer nope"})
        right = await fetch(session, cloud, headers={"Authorization": "Bearer sk-test"})
    assert missing[0] == wrong[0] == 401
    assert missing[2] == {"detail": "Invalid API key"}
    assert right[0] == 200
    assert len(right[2]["items"]) == 2


@pytest.mark.parametrize(
    ("params", "bad"),
    [
        ({"limit": "ten"}, "limit"),
        ({"limit": "-1"}, "limit"),
        ({"offset": "-5"}, "offset"),
        ({"offset": "1.5"}, "offset"),
        ({"status": "paused"}, "status"),
        ({"job_type": "PARSE"}, "job_type"),
    ],
)
async def test_bad_parameters_get_422(
    session: aiohttp.ClientSession, params: dict[str, str], bad: str
) -> None:
    """Malformed numbers and unknown enum values get a FastAPI-style 422."""
    async with FakeLlamaCloud(jobs=2) as cloud:
        status, _, body = await fetch(session, cloud, params)
    assert status == 422
    assert [error["loc"] for error in body["detail"]] == [["query", bad]]
    assert body["detail"][0]["input"] == params[bad]


async def test_unknown_path_gets_json_404(session: aiohttp.ClientSession) -> None:
    """Other paths get a JSON 404 with a request id."""
    async with FakeLlamaCloud() as cloud, session.get(cloud.url + "/api/v1/nope") as response:
        assert response.status == 404
        assert await response.json() == {"detail": "Not Found"}
        assert response.headers["x-request-id"].startswith("req-")


# ---------------------------------------------------------------- faults


async def test_fail_next_with_retry_after_then_recovers(session: aiohttp.ClientSession) -> None:
    """fail_next answers the next requests with the status and Retry-After, then normally."""
    async with FakeLlamaCloud(jobs=3) as cloud:
        fault = cloud.fail_next(503, times=2, retry_after="1")
        assert list(cloud.faults) == [fault, fault]
        results = [await fetch(session, cloud) for _ in range(3)]
        assert not cloud.faults
        assert [r.fault for r in cloud.requests] == [fault, fault, None]
    assert [status for status, _, _ in results] == [503, 503, 200]
    assert results[0][1]["Retry-After"] == "1"
    assert results[0][2] == {"detail": "Service Unavailable"}
    assert [headers["x-request-id"] for _, headers, _ in results] == ["req-1", "req-2", "req-3"]


async def test_fail_next_with_html_body_and_http_date(session: aiohttp.ClientSession) -> None:
    """fail_next can send an HTML page, extra headers and any Retry-After text."""
    async with FakeLlamaCloud() as cloud:
        cloud.fail_next(
            429,
            retry_after="Wed, 21 Oct 2015 07:28:00 GMT",
            body="<html>slow down</html>",
            content_type="text/html",
            headers={"X-RateLimit-Remaining": "0"},
        )
        async with session.get(cloud.endpoint_url) as response:
            assert response.status == 429
            assert response.headers["Content-Type"] == "text/html"
            assert response.headers["Retry-After"] == "Wed, 21 Oct 2015 07:28:00 GMT"
            assert response.headers["X-RateLimit-Remaining"] == "0"
            assert await response.text() == "<html>slow down</html>"


async def test_reset_next_drops_the_connection() -> None:
    """reset_next closes the connection unanswered: the client raises a ClientError."""
    async with (
        FakeLlamaCloud(jobs=2) as cloud,
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session,
    ):
        cloud.reset_next(times=2)  # aiohttp >= 3.10 resends an idempotent request once itself
        with pytest.raises(aiohttp.ClientError) as caught:
            await fetch(session, cloud)
        assert isinstance(caught.value, aiohttp.ClientOSError | aiohttp.ServerDisconnectedError)
        if cloud.faults:  # an older aiohttp gave up after the first reset
            with pytest.raises(aiohttp.ClientError):
                await fetch(session, cloud)
        status, _, _ = await fetch(session, cloud)
        assert status == 200
        assert [r.fault.kind if r.fault else None for r in cloud.requests] == [
            "reset",
            "reset",
            None,
        ]


async def test_truncate_next_cuts_the_body(session: aiohttp.ClientSession) -> None:
    """truncate_next sends a 200 with half its body: the client gets a payload error."""
    async with FakeLlamaCloud(jobs=10) as cloud:
        cloud.truncate_next()
        async with session.get(cloud.endpoint_url) as response:
            assert response.status == 200
            assert response.headers["x-request-id"] == "req-1"
            with pytest.raises(aiohttp.ClientPayloadError):
                await response.read()
        status, _, _ = await fetch(session, cloud)
        assert status == 200


async def test_delay_next_makes_a_client_time_out(session: aiohttp.ClientSession) -> None:
    """delay_next holds the answer long enough for a client timeout, then serves normally."""
    async with FakeLlamaCloud(jobs=2) as cloud:
        cloud.delay_next(5.0)
        started = time.monotonic()
        with pytest.raises(asyncio.TimeoutError):
            await fetch(session, cloud, timeout=aiohttp.ClientTimeout(total=0.2))
        assert time.monotonic() - started < 3
        cloud.delay_next(0.2)
        started = time.monotonic()
        status, _, _ = await fetch(session, cloud)
        assert status == 200
        assert time.monotonic() - started >= 0.2


async def test_stop_does_not_wait_for_a_delayed_answer(session: aiohttp.ClientSession) -> None:
    """stop() with a delayed request in flight returns at once; the client sees an error."""
    cloud = FakeLlamaCloud(jobs=2)
    await cloud.start()
    cloud.delay_next(30.0)
    request = asyncio.ensure_future(fetch(session, cloud))
    for _ in range(200):
        if cloud.requests:
            break
        await asyncio.sleep(0.01)
    started = time.monotonic()
    await cloud.stop()
    assert time.monotonic() - started < 1.5
    with pytest.raises(aiohttp.ClientError):
        await request


async def test_respond_next_sends_raw_bodies(session: aiohttp.ClientSession) -> None:
    """respond_next serves arbitrary bodies: HTML with a 200, then a JSON array."""
    async with FakeLlamaCloud(jobs=2) as cloud:
        cloud.respond_next(200, b"<html>maintenance</html>", content_type="text/html")
        cloud.respond_next(200, [1, 2, 3])
        async with session.get(cloud.endpoint_url) as response:
            assert response.headers["Content-Type"] == "text/html"
            assert await response.read() == b"<html>maintenance</html>"
        _, _, body = await fetch(session, cloud)
        assert body == [1, 2, 3]


async def test_redirect_next_to_another_host(session: aiohttp.ClientSession) -> None:
    """redirect_next sends the client to another fake on 127.0.0.2, whose echo shows the request."""
    other = FakeLlamaCloud(host="127.0.0.2")
    try:
        await other.start()
    except OSError:  # pragma: no cover - only Linux routes all of 127/8 to loopback
        pytest.skip("127.0.0.2 is not available here")
    try:
        async with FakeLlamaCloud() as cloud:
            cloud.redirect_next(other.url + "/echo?from=redirect", status=307)
            async with session.get(
                cloud.endpoint_url, cookies={"session": "abc"}, headers={"X-Trace": "t1"}
            ) as response:
                echo = await response.json()
                assert response.history[0].status == 307
                assert response.history[0].headers["Location"].startswith("http://127.0.0.2:")
    finally:
        await other.stop()
    assert echo["host"].startswith("127.0.0.2:")
    assert echo["query"] == {"from": "redirect"}
    assert echo["headers"]["X-Trace"] == "t1"
    assert [r.path for r in other.requests] == ["/echo"]
    assert cloud.requests[0].cookies == {"session": "abc"}


async def test_fault_rate_is_seeded_and_429_has_a_short_retry_after(
    session: aiohttp.ClientSession,
) -> None:
    """fault_rate draws the same faults for the same seed; 429 says Retry-After: 0.01."""
    kinds: list[list[str]] = []
    for _ in range(2):
        async with FakeLlamaCloud(jobs=3) as cloud:
            cloud.fault_rate(0.5, seed=11, kinds=("429", "503"))
            statuses = []
            for _ in range(20):
                status, headers, _ = await fetch(session, cloud)
                statuses.append(str(status))
                if status == 429:
                    assert headers["Retry-After"] == "0.01"
            kinds.append(statuses)
            cloud.clear_faults()
            assert (await fetch(session, cloud))[0] == 200
    assert kinds[0] == kinds[1]
    assert {"200", "429", "503"} <= set(kinds[0])


def test_fault_options_are_validated() -> None:
    """Out-of-range fault options raise ValueError."""
    cloud = FakeLlamaCloud()
    with pytest.raises(ValueError, match="times"):
        cloud.reset_next(times=0)
    with pytest.raises(ValueError, match="status"):
        cloud.fail_next(42)
    with pytest.raises(ValueError, match="rate"):
        cloud.fault_rate(1.5)
    with pytest.raises(ValueError, match="kind"):
        cloud.fault_rate(0.1, kinds=("boom",))
    assert Fault("reset") == Fault("reset")


async def outcome_of(session: aiohttp.ClientSession, url: str) -> str:
    try:
        async with session.get(url) as response:
            await response.read()
            return f"{response.status} {response.content_type}"
    except aiohttp.ClientPayloadError:
        return "payload"
    except aiohttp.ClientError:
        return "connection"


async def test_fault_rate_covers_every_kind(session: aiohttp.ClientSession) -> None:
    """With rate 1 every request gets a fault: HTML 502s, 500s, resets and truncations."""
    async with FakeLlamaCloud(jobs=3) as cloud:
        cloud.fault_rate(1.0, seed=2, kinds=("502", "500", "reset", "truncate"))
        outcomes = {await outcome_of(session, cloud.endpoint_url) for _ in range(16)}
        kinds = {r.fault.kind for r in cloud.requests if r.fault}
    assert outcomes == {"502 text/html", "500 application/json", "payload", "connection"}
    assert kinds == {"status", "reset", "truncate"}


def test_server_options_are_validated() -> None:
    """Nonsensical server options raise ValueError."""
    for options in ({"max_limit": 0}, {"default_limit": 0}, {"latency": -1.0}):
        with pytest.raises(ValueError, match="must be"):
            FakeLlamaCloud(**options)
    cloud = FakeLlamaCloud()
    with pytest.raises(ValueError, match="jobs"):
        cloud.insert_jobs(-1)
    with pytest.raises(ValueError, match="seconds"):
        cloud.delay_next(-1.0)
    with pytest.raises(ValueError, match="n must be"):
        make_jobs(-1)
    assert repr(cloud) == "<FakeLlamaCloud stopped jobs=0 faults=0>"


@pytest.mark.parametrize(
    ("option", "bad", "wording"),
    [
        ("seed", "1", r"^seed must be an int, got '1'$"),
        ("page_tokens", 1, r"^page_tokens must be True or False, got 1$"),
        ("paging", "tokens", r"^paging must be one of offset, both, token-ignored, token"),
        ("total_size", None, r"^total_size must be True or False, got None$"),
        ("max_limit", 0, r"^max_limit must be >= 1, got 0$"),
        ("default_limit", 0, r"^default_limit must be >= 1, got 0$"),
        ("organizations", ["p"], r"^organizations must be a mapping of str to str"),
        ("progress_seconds", 0, r"^progress_seconds must be a finite number of seconds > 0"),
        ("clock", 3.0, r"^clock must be a callable returning seconds, got 3.0$"),
        ("api_key", 7, r"^api_key must be a str, got 7$"),
        ("port", -1, r"^port must be >= 0, got -1$"),
        ("latency", -1.0, r"^latency must be a finite number of seconds >= 0, got -1.0$"),
        ("rate_limit", 0, r"^rate_limit must be >= 1, got 0$"),
    ],
)
def test_every_option_is_checked_at_construction_and_when_changed(
    option: str, bad: object, wording: str
) -> None:
    """Each option is declared once (ServerOptions): a bad value is a ValueError naming it."""
    options: dict[str, Any] = {option: bad}
    with pytest.raises(ValueError, match=wording):
        FakeLlamaCloud(**options)
    cloud = FakeLlamaCloud()
    with pytest.raises(ValueError, match=wording):
        setattr(cloud, option, bad)


def test_the_options_are_one_declaration_for_the_fake_and_the_listing() -> None:
    """Every declared option is a keyword and an attribute of both; unknown names are refused."""
    server = {field.alias for field in attrs.fields(ServerOptions)}
    listing = {field.alias for field in attrs.fields(ListingOptions)}
    assert listing < server
    assert {
        "latency",
        "api_key",
        "rate_limit",
        "rate_limit_retry_after",
        "host",
        "port",
    } == server - listing
    values: dict[str, Any] = {
        "seed": 3,
        "page_tokens": True,
        "paging": "token",
        "total_size": False,
        "max_limit": 9,
        "default_limit": 7,
        "ignore_offset": True,
        "repeat_token": True,
        "organizations": {"p": "o"},
        "progress": True,
        "progress_seconds": 2.5,
        "clock": time.perf_counter,
        "api_key": "k",
        "host": "127.0.0.2",
        "port": 8,
        "latency": 0.5,
        "rate_limit": 4,
        "rate_limit_retry_after": "0",
    }
    assert set(values) == server  # a new option gets a value here too
    cloud = FakeLlamaCloud(**values)
    plain = Listing(**{name: value for name, value in values.items() if name in listing})
    for name, value in values.items():
        assert getattr(cloud, name) == value, name
        if name in listing:
            assert getattr(plain, name) == value, name
    with pytest.raises(TypeError, match=r"^Listing got unknown option\(s\) 'latency'; its"):
        Listing(latency=1.0)
    with pytest.raises(TypeError, match=r"^FakeLlamaCloud got unknown option\(s\) 'laency'"):
        FakeLlamaCloud(laency=1.0)


def test_paging_follows_page_tokens_until_set() -> None:
    """paging=None pages by page_tokens; setting paging or page_tokens later changes it."""
    cloud = FakeLlamaCloud(paging=None, page_tokens=True)
    assert (cloud.paging, cloud.page_tokens) == ("both", True)
    assert FakeLlamaCloud(paging="token", page_tokens=False).paging == "token"
    cloud.page_tokens = False
    assert (cloud.paging, cloud.page_tokens) == ("offset", False)
    cloud.paging = "token-ignored"
    assert cloud.page_tokens
    with pytest.raises(ValueError, match=r"^page_tokens must be True or False"):
        cloud.page_tokens = "yes"  # type: ignore[assignment]


async def test_echo_and_method_not_allowed(session: aiohttp.ClientSession) -> None:
    """The echo route answers any method; the endpoint refuses PUT with a JSON 405."""
    async with FakeLlamaCloud() as cloud:
        async with session.post(cloud.url + "/echo?a=1", headers={"X-A": "1"}) as response:
            echo = await response.json()
        async with session.put(cloud.endpoint_url) as response:
            assert response.status == 405
            assert (await response.json())["detail"] == "Method Not Allowed"
        async with session.post(cloud.endpoint_url) as response:
            assert response.status == 422  # a create without its body
        assert "req-" in repr(cloud.requests[0])
    assert echo["method"] == "POST"
    assert echo["query"] == {"a": "1"}
    assert echo["headers"]["X-A"] == "1"


async def test_latency_is_added_to_every_response(session: aiohttp.ClientSession) -> None:
    """Latency delays each response of the endpoint."""
    async with FakeLlamaCloud(jobs=1, latency=0.15) as cloud:
        started = time.monotonic()
        await fetch(session, cloud)
        assert time.monotonic() - started >= 0.15


# ---------------------------------------------------------------- broken servers


async def test_ignore_offset_always_serves_the_first_page(session: aiohttp.ClientSession) -> None:
    """ignore_offset=True serves the first page whatever the offset."""
    async with FakeLlamaCloud(jobs=10, ignore_offset=True) as cloud:
        _, _, first = await fetch(session, cloud, {"limit": "3"})
        _, _, again = await fetch(session, cloud, {"limit": "3", "offset": "3"})
    assert first["items"] == again["items"]
    assert first["total_size"] == 10


async def test_repeat_token_always_sends_the_same_token(session: aiohttp.ClientSession) -> None:
    """repeat_token=True answers every page with one and the same next_page_token."""
    async with FakeLlamaCloud(jobs=10, repeat_token=True) as cloud:
        _, _, first = await fetch(session, cloud, {"limit": "3"})
        _, _, second = await fetch(
            session, cloud, {"limit": "3", "page_token": first["next_page_token"]}
        )
    assert first["next_page_token"] == second["next_page_token"]


# ---------------------------------------------------------------- recording


async def test_requests_are_recorded(session: aiohttp.ClientSession) -> None:
    """Method, path, query, headers, cookies and time of each request are recorded."""
    async with FakeLlamaCloud(jobs=1) as cloud:
        before = time.monotonic()
        await fetch(
            session,
            cloud,
            {"status": "failed"},
            headers={"Authorization": "Bearer k", "User-Agent": "tests/1"},
            cookies={"session": "s-1"},
        )
        recorded = cloud.requests[0]
    assert recorded.method == "GET"
    assert recorded.path == ENDPOINT_PATH
    assert recorded.query == {"status": "failed"}
    assert recorded.headers["authorization"] == "Bearer k"
    assert recorded.headers["USER-AGENT"] == "tests/1"
    assert recorded.cookies == {"session": "s-1"}
    assert before <= recorded.time <= time.monotonic()
    assert recorded.request_id == "req-1"
    assert recorded.fault is None


async def test_endpoint_is_served_under_a_path_prefix(session: aiohttp.ClientSession) -> None:
    """A base URL with a path prefix reaches the endpoint too."""
    async with (
        FakeLlamaCloud(jobs=2) as cloud,
        session.get(cloud.url + "/proxy" + ENDPOINT_PATH) as response,
    ):
        assert response.status == 200
        assert len((await response.json())["items"]) == 2


# ---------------------------------------------------------------- mutation


async def test_insert_jobs_shifts_later_offset_pages(session: aiohttp.ClientSession) -> None:
    """Jobs inserted at the head during an offset walk make the next page repeat items."""
    async with FakeLlamaCloud(jobs=20) as cloud:
        _, _, first = await fetch(session, cloud, {"limit": "5"})
        inserted = cloud.insert_jobs(2)
        _, _, second = await fetch(session, cloud, {"limit": "5", "offset": "5"})
        assert cloud.jobs[:2] == inserted
    assert second["items"][:2] == first["items"][3:5]
    assert second["total_size"] == 22
    newest = parse_timestamp(inserted[0]["created_at"])
    assert newest > parse_timestamp(inserted[1]["created_at"])
    assert parse_timestamp(inserted[1]["created_at"]) > parse_timestamp(
        first["items"][0]["created_at"]
    )


async def test_remove_and_update_jobs(session: aiohttp.ClientSession) -> None:
    """remove_jobs and update_job change what the endpoint serves."""
    async with FakeLlamaCloud(jobs=5) as cloud:
        gone = cloud.jobs[1]["id"]
        removed = cloud.remove_jobs([gone, "bjb-unknown"])
        updated = cloud.update_job(cloud.jobs[0]["id"], status="failed", error_message="boom")
        cloud.insert_jobs([{"id": "bjb-mine", "status": "pending"}], at=2)
        _, _, body = await fetch(session, cloud)
        with pytest.raises(KeyError):
            cloud.update_job("bjb-unknown", status="failed")
    assert [job["id"] for job in removed] == [gone]
    assert gone not in [job["id"] for job in body["items"]]
    assert body["items"][0] == updated
    assert body["items"][0]["error_message"] == "boom"
    assert body["items"][2] == {
        "id": "bjb-mine",
        "status": "pending",
        "job_type": "parse",
        "project_id": PROJECT_IDS[0],
        "total_items": 0,
    }


async def test_progress_moves_jobs_to_terminal_statuses(session: aiohttp.ClientSession) -> None:
    """progress=True runs in-flight jobs to completion as the clock advances."""
    now = [1000.0]
    jobs = [{"id": f"bjb-{i}", "status": "pending", "total_items": 10} for i in range(8)]
    async with FakeLlamaCloud(
        jobs, progress=True, progress_seconds=2.0, clock=lambda: now[0]
    ) as cloud:
        _, _, before = await fetch(session, cloud)
        now[0] += 0.9
        _, _, middle = await fetch(session, cloud)
        now[0] += 5.0
        _, _, after = await fetch(session, cloud)
    assert {job["status"] for job in before["items"]} == {"pending"}
    assert {job["status"] for job in middle["items"]} - {"pending", "running"} <= {
        "completed",
        "failed",
    }
    assert "running" in {job["status"] for job in middle["items"]}
    for job in after["items"]:
        assert job["status"] in {"completed", "failed"}
        assert job["completed_at"] is not None
        assert job["processed_items"] + job["failed_items"] + job["skipped_items"] == 10
        assert (job["error_message"] is not None) == (job["status"] == "failed")


async def test_progress_schedules_inserted_jobs_and_respects_manual_changes(
    session: aiohttp.ClientSession,
) -> None:
    """Jobs inserted while progressing progress too; a job a test changes is left alone."""
    now = [0.0]
    async with FakeLlamaCloud(
        [{"id": "bjb-a", "status": "running", "total_items": 4}],
        progress=True,
        clock=lambda: now[0],
    ) as cloud:
        cloud.insert_jobs([{"id": "bjb-b", "status": "pending", "total_items": 4}])
        cloud.update_job("bjb-a", status="cancelled")
        now[0] += 10.0
        _, _, body = await fetch(session, cloud)
    statuses = {job["id"]: job["status"] for job in body["items"]}
    assert statuses["bjb-a"] == "cancelled"
    assert statuses["bjb-b"] in {"completed", "failed"}


async def test_insert_jobs_into_an_empty_listing(session: aiohttp.ClientSession) -> None:
    """insert_jobs(n) on an empty server creates n fresh jobs, newest first."""
    async with FakeLlamaCloud() as cloud:
        inserted = cloud.insert_jobs(3)
        _, _, body = await fetch(session, cloud)
    assert body["items"] == inserted
    created = [parse_timestamp(job["created_at"]) for job in inserted]
    assert created == sorted(created, reverse=True)


# ---------------------------------------------------------------- synthetic jobs


def test_make_jobs_is_deterministic_and_realistic() -> None:
    """make_jobs gives equal lists for a seed, newest first, each record consistent."""
    jobs = make_jobs(250, seed=7)
    assert jobs == make_jobs(250, seed=7)
    assert jobs != make_jobs(250, seed=8)
    assert len({job["id"] for job in jobs}) == 250
    assert {job["status"] for job in jobs} == {
        "pending",
        "running",
        "dispatched",
        "completed",
        "failed",
        "cancelled",
    }
    assert {job["job_type"] for job in jobs} == {"parse", "extract", "classify"}
    created = [parse_timestamp(job["created_at"]) for job in jobs]
    assert created == sorted(created, reverse=True)
    assert len(set(created)) == 250
    for job in jobs:
        assert tuple(job) == JOB_FIELDS
        assert job["id"].startswith("bjb-")
        assert job["project_id"] in PROJECT_IDS
        assert job["directory_id"] in DIRECTORY_IDS
        assert job["created_at"].endswith("Z")
        handled = job["processed_items"] + job["failed_items"] + job["skipped_items"]
        assert 0 <= handled <= job["total_items"]
        terminal = job["status"] in {"completed", "failed", "cancelled"}
        assert (job["completed_at"] is not None) == terminal
        assert (job["error_message"] is not None) == (job["status"] == "failed")
        if job["status"] == "completed":
            assert handled == job["total_items"]
        if job["status"] in {"pending", "dispatched"}:
            assert handled == 0
            assert job["started_at"] is None


def test_make_job_fills_defaults_and_overrides_win() -> None:
    """make_job builds a consistent record for the given status; overrides win."""
    failed = make_job(status="failed", total_items=50)
    assert tuple(failed)[: len(JOB_FIELDS)] == JOB_FIELDS
    assert failed["error_message"]
    assert failed["completed_at"]
    assert failed["total_items"] == 50
    pending = make_job(status="pending", id="bjb-x", extra="kept")
    assert pending["id"] == "bjb-x"
    assert pending["extra"] == "kept"
    assert pending["completed_at"] is None
    assert make_job()["id"] != make_job()["id"]
    assert complete_job({"id": "bjb-y"}) == {
        "id": "bjb-y",
        "job_type": "parse",
        "project_id": PROJECT_IDS[0],
        "status": "completed",
        "total_items": 0,
    }


# ---------------------------------------------------------------- standalone server


def test_run_fake_server_prints_its_url_and_serves() -> None:
    """run_fake_server prints its URL on one line, serves, and exits on SIGTERM."""
    # The installed package (never the checkout: under nox the wheel is what is tested,
    # and coverage measures this subprocess too).
    env = dict(os.environ)
    code = (
        "from llama_batch_async.testing import run_fake_server; "
        "run_fake_server('127.0.0.1', 0, 7, page_tokens=True)"
    )
    with subprocess.Popen(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    ) as process:
        try:
            assert process.stdout is not None
            url = process.stdout.readline().strip()
            assert url.startswith("http://127.0.0.1:")

            async def get_page() -> Any:
                async with (
                    aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as client,
                    client.get(url + ENDPOINT_PATH, params={"limit": "5"}) as response,
                ):
                    return await response.json()

            body = asyncio.run(get_page())
            assert len(body["items"]) == 5
            assert body["total_size"] == 7
            assert body["next_page_token"]
        finally:
            process.terminate()
            _, stderr = process.communicate(timeout=10)
    assert process.returncode == 0, stderr


@pytest.mark.parametrize(("mode", "header"), [("seconds", "1"), ("0", "0"), (None, None)])
async def test_rate_limit_sends_the_retry_after_it_is_told(
    mode: str | None, header: str | None
) -> None:
    """rate_limit_retry_after: whole seconds to a free slot, a fixed text, or no header."""
    async with FakeLlamaCloud(jobs=3, rate_limit=1, rate_limit_retry_after=mode) as cloud:
        async with aiohttp.ClientSession() as session:
            async with session.get(cloud.endpoint_url) as first:
                assert first.status == 200
            async with session.get(cloud.endpoint_url) as second:
                assert second.status == 429
                assert second.headers.get("Retry-After") == header
            async with session.get(cloud.endpoint_url) as third:
                assert third.status == 429
        assert len(cloud.throttled) == 2
        # The second 429 came inside the pause the first announced, when it announced one.
        assert cloud.inside_pauses() == (1 if mode == "seconds" else 0)
        assert cloud.inside_pauses(grace=60.0) == 0
