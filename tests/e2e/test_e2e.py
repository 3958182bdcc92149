"""End to end: the real aiohttp client against the package's own FakeLlamaCloud."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from helpers import all_ids, ids

from llama_batch_async import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    BatchClient,
    BatchJob,
    JobStatus,
    JobType,
    NotFoundError,
    PaginationError,
    RateLimitError,
    ResponseValidationError,
    ServerError,
)
from llama_batch_async.testing import ENDPOINT_PATH, PAGING_KINDS, FakeLlamaCloud, PagingKind

if sys.version_info >= (3, 11):
    from asyncio import timeout as async_timeout
else:  # pragma: no cover - Python 3.10
    from async_timeout import timeout as async_timeout  # type: ignore[import-not-found]

KEY = "sk-e2e-secret-0123456789"


@pytest.fixture
async def cloud() -> AsyncIterator[FakeLlamaCloud]:
    async with FakeLlamaCloud(jobs=137, seed=3, api_key=KEY) as server:
        yield server


def client_for(cloud: FakeLlamaCloud, **options: Any) -> BatchClient:
    options.setdefault("api_key", KEY)
    return BatchClient(base_url=cloud.url, **options)


@pytest.mark.parametrize("paging", PAGING_KINDS)
@pytest.mark.parametrize("total_size", [True, False], ids=["total", "no-total"])
@pytest.mark.parametrize("max_limit", [None, 7], ids=["uncapped", "capped"])
async def test_walks_every_job_exactly_once(
    paging: PagingKind, total_size: bool, max_limit: int | None
) -> None:
    """Every kind of server, total_size or not, capped or not: every job once, in order."""
    async with FakeLlamaCloud(
        jobs=61, paging=paging, total_size=total_size, max_limit=max_limit
    ) as cloud:
        async with client_for(cloud) as client:
            jobs = await client.list_jobs(page_size=10, prefetch=0).collect()
        assert ids(jobs) == all_ids(cloud)
        assert all(r.query["limit"] == "10" for r in cloud.requests)
        pages = -(-61 // (max_limit or 10))
        if paging in {"both", "token-ignored"}:
            # spec: pagination 2 - by offset, the tokens saying more follow: no probe
            assert len(cloud.requests) == pages
            assert all("page_token" not in r.query for r in cloud.requests)
        elif paging == "token":
            # one request finds that offset is ignored; the rest follow the tokens
            assert len(cloud.requests) == pages + 1
            assert all("page_token" in r.query for r in cloud.requests[2:])


async def test_records_are_typed(cloud: FakeLlamaCloud) -> None:
    """Records carry enums and timezone-aware datetimes."""
    async with client_for(cloud) as client:
        jobs = await client.list_jobs(max_items=20).collect()
    assert all(isinstance(job.status, JobStatus) for job in jobs)
    assert all(isinstance(job.job_type, JobType) for job in jobs)
    assert all(
        job.created_at is not None and job.created_at.utcoffset() is not None for job in jobs
    )


async def test_newer_enum_values_are_kept() -> None:
    """An unknown status or job type from the server is kept as a string."""
    jobs = [{"id": "j-1", "status": "archived", "job_type": "summarize"}]
    async with FakeLlamaCloud(jobs=jobs) as cloud, client_for(cloud) as client:
        (job,) = await client.list_jobs().collect()
    assert (job.status, job.job_type) == ("archived", "summarize")


async def test_filters_are_sent_and_applied(cloud: FakeLlamaCloud) -> None:
    """Every filter reaches the server as the reference names it."""
    async with client_for(cloud) as client:
        jobs = await client.list_jobs(status="failed", job_type=JobType.PARSE).collect()
        await client.list_jobs(
            directory_id="dir-x", project_id="proj-y", organization_id="org-z"
        ).collect()
    assert jobs
    assert all(j.status is JobStatus.FAILED and j.job_type is JobType.PARSE for j in jobs)
    assert cloud.requests[0].query["status"] == "failed"
    assert cloud.requests[0].query["job_type"] == "parse"
    last = cloud.requests[-1].query
    assert (last["directory_id"], last["project_id"], last["organization_id"]) == (
        "dir-x",
        "proj-y",
        "org-z",
    )


async def test_max_items_last_request_asks_only_for_what_is_left(cloud: FakeLlamaCloud) -> None:
    """max_items=25 with pages of 10: requests ask for 10, 10, then 5."""
    async with client_for(cloud) as client:
        jobs = await client.list_jobs(page_size=10, max_items=25, prefetch=0).collect()
    assert ids(jobs) == all_ids(cloud)[:25]
    assert [r.query["limit"] for r in cloud.requests] == ["10", "10", "5"]


async def test_bad_input_raises_before_any_request(cloud: FakeLlamaCloud) -> None:
    """Bad arguments are ValueErrors naming the parameter, and nothing is sent."""
    async with client_for(cloud) as client:
        with pytest.raises(ValueError, match=r"^status must be one of .*pending, running"):
            client.list_jobs(status="complete")
        with pytest.raises(ValueError, match="page_size"):
            client.list_jobs(page_size=0)
        with pytest.raises(ValueError, match="resume_from"):
            client.list_jobs(resume_from="garbage")
    assert cloud.requests == []


async def test_resume_from_page_cursor_in_a_new_client(cloud: FakeLlamaCloud) -> None:
    """A walk resumed from a page's cursor, by another client, continues right after it."""
    async with client_for(cloud) as client:
        pages = client.list_jobs(page_size=20).pages()
        first = [job async for page in _take(pages, 2) for job in page.items]
        cursor = _last_cursor
    async with client_for(cloud) as other:
        rest = await other.list_jobs(page_size=20, resume_from=cursor).collect()
    assert ids(first + rest) == all_ids(cloud)


_last_cursor = ""


async def _take(pages: AsyncIterator[Any], count: int) -> AsyncIterator[Any]:
    global _last_cursor  # noqa: PLW0603 - keeps the test above readable
    for _ in range(count):
        page = await anext(pages)
        _last_cursor = page.cursor
        yield page
    await pages.aclose()  # type: ignore[attr-defined]


async def test_resume_from_error_cursor(cloud: FakeLlamaCloud) -> None:
    """The error that ends a walk carries the cursor; resuming from it loses nothing."""
    seen: list[BatchJob] = []
    async with client_for(cloud, max_retries=1) as client:
        # one request at a time, so that the scripted faults hit the next page
        pages = client.list_jobs(page_size=30, prefetch=0).pages()
        with pytest.raises(ServerError) as caught:
            async for page in pages:
                seen.extend(page.items)
                if len(seen) == 60:
                    cloud.fail_next(503, times=2)
        assert caught.value.cursor is not None
        rest = await client.list_jobs(page_size=30, resume_from=caught.value.cursor).collect()
    assert ids(seen + rest) == all_ids(cloud)


@pytest.mark.parametrize(
    "fault",
    ["503", "502-html", "429", "reset", "truncate"],
)
async def test_faults_are_retried_without_loss_or_repeat(cloud: FakeLlamaCloud, fault: str) -> None:
    """Retried faults (5xx, 429, reset, truncated body) lose and double nothing."""
    async with client_for(cloud) as client:
        pager = client.list_jobs(page_size=25, prefetch=0)
        seen: list[BatchJob] = []
        async for page in pager.pages():
            seen.extend(page.items)
            if len(seen) == 50:
                if fault == "503":
                    cloud.fail_next(503, retry_after="0")
                elif fault == "502-html":
                    cloud.fail_next(502, body="<html>bad gateway</html>", content_type="text/html")
                elif fault == "429":
                    cloud.fail_next(429, retry_after="0")
                elif fault == "reset":
                    cloud.reset_next()
                else:
                    cloud.truncate_next()
    assert ids(seen) == all_ids(cloud)
    if fault != "reset":  # aiohttp itself resends a GET once when a reused connection drops
        assert pager.stats.retries == 1
    offsets = [r.query.get("offset") for r in cloud.requests]
    assert offsets.count("50") == 2  # the failed page was asked again, at the same offset


async def test_other_4xx_is_not_retried(cloud: FakeLlamaCloud) -> None:
    """A 404 is raised at once, typed, with the request id and a body excerpt."""
    cloud.fail_next(404, body={"detail": "no such project"})
    async with client_for(cloud) as client:
        with pytest.raises(NotFoundError) as caught:
            await client.list_jobs().collect()
    assert len(cloud.requests) == 1
    assert caught.value.status_code == 404
    assert caught.value.request_id == cloud.requests[0].request_id
    assert "no such project" in caught.value.body


async def test_wrong_key_is_an_authentication_error_without_the_key(
    cloud: FakeLlamaCloud,
) -> None:
    """A refused key raises AuthenticationError; the key is in no message or repr."""
    async with BatchClient("sk-wrong-key-abcdef", base_url=cloud.url) as client:
        with pytest.raises(AuthenticationError) as caught:
            await client.list_jobs().collect()
        assert "sk-wrong-key-abcdef" not in repr(client)
    assert "sk-wrong-key-abcdef" not in str(caught.value)
    assert "sk-wrong-key-abcdef" not in repr(caught.value)


async def test_long_retry_after_raises_rate_limit_at_once(cloud: FakeLlamaCloud) -> None:
    """A Retry-After past the cap raises RateLimitError with retry_after, no retry."""
    cloud.fail_next(429, retry_after="120")
    async with client_for(cloud, retry_after_cap=5) as client:
        with pytest.raises(RateLimitError) as caught:
            await client.list_jobs().collect()
    assert caught.value.retry_after == 120.0
    assert len(cloud.requests) == 1


async def test_429_pauses_the_whole_client(cloud: FakeLlamaCloud) -> None:
    """After a 429 with Retry-After, another walk of the same client waits it out too."""
    cloud.fail_next(429, retry_after="0.4")
    async with client_for(cloud) as client:
        first = asyncio.create_task(client.list_jobs(max_items=5).collect())
        while not cloud.requests:  # bounded by the test timeout
            await asyncio.sleep(0.005)
        await asyncio.sleep(0.05)
        second = await client.list_jobs(max_items=5, status="failed").collect()
        await first
    limited = cloud.requests[0]
    later = [r for r in cloud.requests[1:] if r.query.get("status") == "failed"]
    assert second
    assert later[0].time >= limited.time + 0.35


async def test_timeout_is_retried_then_typed(cloud: FakeLlamaCloud) -> None:
    """An attempt slower than timeout is an APITimeoutError, retried like a reset."""
    cloud.delay_next(1.0, times=2)
    async with client_for(cloud, timeout=0.2, max_retries=1) as client:
        with pytest.raises(APITimeoutError) as caught:
            await client.list_jobs().collect()
    assert isinstance(caught.value, APIConnectionError)
    assert len(cloud.requests) == 2


async def test_caller_timeout_cancels_without_retry(cloud: FakeLlamaCloud) -> None:
    """A caller's asyncio timeout ends the walk at once, with no further request."""
    cloud.delay_next(5.0)
    async with client_for(cloud) as client:
        with pytest.raises((TimeoutError, asyncio.TimeoutError)):
            async with async_timeout(0.3):
                await client.list_jobs().collect()
        await asyncio.sleep(0.3)
    assert len(cloud.requests) == 1


async def test_task_cancel_is_prompt_and_final(cloud: FakeLlamaCloud) -> None:
    """task.cancel() during a retry sleep ends the walk; nothing more is sent."""
    cloud.fail_next(503, retry_after="30")
    async with client_for(cloud) as client:
        task = asyncio.create_task(client.list_jobs().collect())
        while not cloud.requests:
            await asyncio.sleep(0.005)
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert len(cloud.requests) == 1


async def test_malformed_body_is_a_validation_error(cloud: FakeLlamaCloud) -> None:
    """An HTML page with status 200 is a ResponseValidationError, not a raw exception."""
    cloud.respond_next(200, body="<html>maintenance</html>", content_type="text/html")
    async with client_for(cloud) as client:
        with pytest.raises(ResponseValidationError, match="not JSON"):
            await client.list_jobs().collect()


async def test_bad_record_names_the_field_path() -> None:
    """A record with a wrong type names its JSON path in the error."""
    body = {
        "items": [
            {
                "id": "a",
                "job_type": "parse",
                "project_id": "p",
                "status": "failed",
                "total_items": "many",
            }
        ]
    }
    async with FakeLlamaCloud() as cloud, client_for(cloud) as client:
        cloud.respond_next(200, body=body)
        with pytest.raises(ResponseValidationError, match=r"\$\.items\[0\]\.total_items"):
            await client.list_jobs().collect()


async def test_server_that_ignores_offset_raises_pagination_error() -> None:
    """A server that repeats the first page raises PaginationError, not an endless walk."""
    async with FakeLlamaCloud(jobs=30, ignore_offset=True) as cloud, client_for(cloud) as client:
        with pytest.raises(PaginationError):
            await client.list_jobs(page_size=10).collect()
        assert len(cloud.requests) <= 5


async def test_repeated_token_raises_pagination_error() -> None:
    """A server that must be walked by token and repeats its token raises PaginationError."""
    cloud = FakeLlamaCloud(jobs=30, paging="token", repeat_token=True)
    async with cloud, client_for(cloud) as client:
        with pytest.raises(PaginationError, match="token"):
            await client.list_jobs(page_size=10).collect()


async def test_drift_during_a_walk_yields_each_job_once(cloud: FakeLlamaCloud) -> None:
    """Jobs created at the head mid-walk shift pages; each job is still yielded once."""
    original = all_ids(cloud)
    seen: list[BatchJob] = []
    async with client_for(cloud) as client:
        async for page in client.list_jobs(page_size=20).pages():
            seen.extend(page.items)
            cloud.insert_jobs(3)
    got = ids(seen)
    assert len(got) == len(set(got))
    assert set(original) <= set(got)


async def test_concurrent_walks_share_one_client(cloud: FakeLlamaCloud) -> None:
    """Many concurrent walks on one client each get every job."""
    async with client_for(cloud) as client:
        results = await asyncio.gather(
            *(client.list_jobs(page_size=page_size).collect() for page_size in (7, 13, 50, 100))
        )
    assert all(ids(jobs) == all_ids(cloud) for jobs in results)


async def test_callers_session_is_used_and_left_open(cloud: FakeLlamaCloud) -> None:
    """A caller's session is used and never closed by the client."""
    async with aiohttp.ClientSession() as session:
        async with client_for(cloud, session=session) as client:
            assert len(await client.list_jobs(max_items=3).collect()) == 3
        assert not session.closed


async def test_client_built_outside_a_loop_and_closed_twice(cloud: FakeLlamaCloud) -> None:
    """Aclose is idempotent; use after close is a clear RuntimeError."""
    client = client_for(cloud)
    await client.list_jobs(max_items=1).collect()
    await client.aclose()
    await client.aclose()
    assert client.closed
    with pytest.raises(RuntimeError, match="closed"):
        client.list_jobs()


def test_client_can_be_created_without_a_running_loop() -> None:
    """The session is made lazily, so a client can be built at import time."""
    client = BatchClient(KEY, base_url="http://127.0.0.1:9")
    assert "127.0.0.1" in repr(client)
    assert KEY not in repr(client)
    asyncio.run(client.aclose())


async def test_pager_in_flight_when_client_closes(cloud: FakeLlamaCloud) -> None:
    """A walk on a closed client raises RuntimeError rather than opening a new session."""
    client = client_for(cloud)
    pager = client.list_jobs()
    await client.aclose()
    with pytest.raises(RuntimeError, match="closed"):
        await pager.collect()


async def test_redirect_to_another_host_drops_credentials() -> None:
    """A redirect to another host gets no Authorization and no session cookie."""
    async with (
        FakeLlamaCloud(jobs=3) as origin,
        FakeLlamaCloud(jobs=3, host="127.0.0.2") as elsewhere,
    ):
        origin.redirect_next(elsewhere.url + ENDPOINT_PATH + "?limit=100&offset=0")
        async with client_for(origin, session_cookie="sess-1") as client:
            jobs = await client.list_jobs().collect()
        assert len(jobs) == 3
        arrived = elsewhere.requests[0]
        assert "Authorization" not in arrived.headers
        assert "session" not in arrived.cookies
        assert origin.requests[0].headers["Authorization"] == f"Bearer {KEY}"


async def test_redirect_on_the_same_host_keeps_credentials(cloud: FakeLlamaCloud) -> None:
    """A same-origin redirect keeps the bearer token."""
    cloud.redirect_next(ENDPOINT_PATH + "?limit=100&offset=0")
    async with client_for(cloud) as client:
        assert len(await client.list_jobs().collect()) == 137
    assert cloud.requests[1].headers["Authorization"] == f"Bearer {KEY}"


async def test_only_the_configured_cookie_is_sent(cloud: FakeLlamaCloud) -> None:
    """The session cookie is sent; cookies the server sets are never replayed."""
    page = {"items": [], "total_size": 0}
    cloud.respond_next(200, body=page, headers={"Set-Cookie": "tenant=acme; Path=/"})
    async with client_for(cloud, session_cookie="sess-42") as client:
        await client.list_jobs().collect()
        await client.list_jobs().collect()
    assert len(cloud.requests) >= 2
    assert all(r.cookies == {"session": "sess-42"} for r in cloud.requests)


async def test_proxy_variables_ignored_unless_trust_env(
    cloud: FakeLlamaCloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Proxy variables are read only with trust_env=True."""
    for name in ("HTTP_PROXY", "http_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    async with client_for(cloud) as client:
        assert len(await client.list_jobs(max_items=2).collect()) == 2
    async with client_for(cloud, trust_env=True, max_retries=0) as trusting:
        with pytest.raises(APIConnectionError, match="cannot reach"):
            await trusting.list_jobs(max_items=2).collect()


async def test_netrc_ignored_unless_trust_env(
    cloud: FakeLlamaCloud, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """.netrc is read only with trust_env=True, and never displaces the bearer token."""
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login user password netrc-secret\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    cloud.api_key = None
    for trust_env in (False, True):
        async with client_for(cloud, api_key=None, session_cookie="s", trust_env=trust_env) as c:
            await c.list_jobs(max_items=1).collect()
        async with client_for(cloud, trust_env=trust_env) as keyed:
            await keyed.list_jobs(max_items=1).collect()
    cookie_only = [r.headers.get("Authorization") for r in cloud.requests[0::2]]
    keyed_auth = [r.headers.get("Authorization") for r in cloud.requests[1::2]]
    assert cookie_only[0] is None
    assert cookie_only[1] is not None
    assert cookie_only[1].startswith("Basic ")
    assert keyed_auth == [f"Bearer {KEY}"] * 2


async def test_errors_are_ours_when_nothing_listens() -> None:
    """A refused connection is an APIConnectionError, never a raw aiohttp error."""
    async with BatchClient(KEY, base_url="http://127.0.0.1:9", max_retries=0) as client:
        with pytest.raises(APIConnectionError) as caught:
            await client.list_jobs().collect()
    assert not isinstance(caught.value, aiohttp.ClientError)


async def test_json_is_what_the_reference_shows(cloud: FakeLlamaCloud) -> None:
    """The fake serves the reference's field names; the client reads every one."""
    async with client_for(cloud) as client:
        (job,) = await client.list_jobs(max_items=1).collect()
    raw = cloud.jobs[0]
    assert json.loads(json.dumps(raw))["id"] == job.id
    assert job.total_items == raw["total_items"]
