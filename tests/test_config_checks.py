"""base_url forms and API keys refused at construction, ids and page sizes before any request.

Issue 24, items 9, 10, 11 and 17: the client against FakeLlamaCloud on 127.0.0.1 (and
::1 where this machine has it), and the installed ``llama-batch`` in a subprocess.
"""

from __future__ import annotations

import socket
import sys

import pytest
from helpers import Result, cli_env, environment, run_process

from llama_batch_async import BatchClient
from llama_batch_async.testing import FakeLlamaCloud

KEY = "sk-harden-config-0123456789"
BAD_URLS = [
    "http://127.0.0.1:8080?",
    "http://127.0.0.1:8080#",
    "http://127.0.0.1:8080/?a=b",
    "http://127.0.0.1:99999",
    "http://127.0.0.1:0",
    "http://127.0.0.1:abc",
    "http://127.0.0.1:+80",
    "http://127.0.0.1:80\r\nX-Evil: 1",
    "http://127.0.0.1\n:80",
    "http://127.0.\t0.1",
    "http://127.0.0.1\x00",
    "http://127.0.0.1 /x",
    "unix:/tmp/socket",
    "file:///etc/passwd",
    "ftp://127.0.0.1",
    "ws://127.0.0.1",
]
BAD_KEYS = ["sk-abc\r\nX-Evil: 1", "sk-abc\n", "sk-\x00abc", "sk-\tabc", "sk-\x7fabc", "sk-€uro"]


def llama_batch(*args: str, **env: str) -> Result:
    """The installed command, run to its end; a traceback fails the test."""
    done = run_process([sys.executable, "-m", "llama_batch_async.cli", *args], env=cli_env(**env))
    assert "Traceback" not in done.stderr, done.stderr
    return Result(done.returncode, done.stdout, done.stderr)


def has_ipv6_loopback() -> bool:
    """True when ::1 can be bound on this machine."""
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


# ------------------------------------------------------------------ 10: base_url


@pytest.mark.parametrize("url", BAD_URLS)
def test_bad_base_url_is_refused_at_construction(url: str) -> None:
    """A query, fragment, bad port, control character or other scheme: ValueError, base_url."""
    with pytest.raises(ValueError, match=r"^base_url ") as caught:
        BatchClient(KEY, base_url=url)
    assert KEY not in str(caught.value)


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080?", "http://127.0.0.1:abc"])
def test_bad_base_url_from_the_environment_names_the_variable(url: str) -> None:
    """LLAMA_CLOUD_BASE_URL holding a bad URL: the ValueError names the variable."""
    with (
        environment(LLAMA_CLOUD_BASE_URL=url),
        pytest.raises(ValueError, match=r"^base_url \(from LLAMA_CLOUD_BASE_URL\) "),
    ):
        BatchClient(KEY)


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080?", "http://127.0.0.1:abc", "ftp://x"])
def test_cli_bad_base_url_is_a_usage_error(url: str) -> None:
    """--base-url or LLAMA_CLOUD_BASE_URL holding a bad URL: exit 2, one line naming it."""
    flag = llama_batch("list", "--api-key", KEY, "--base-url", url)
    assert flag.returncode == 2
    assert flag.stderr.startswith("error: --base-url ")
    variable = llama_batch("list", "--api-key", KEY, LLAMA_CLOUD_BASE_URL=url)
    assert variable.returncode == 2
    assert variable.stderr.startswith("error: base_url (from LLAMA_CLOUD_BASE_URL) ")
    assert variable.stderr.count("\n") == 1


async def test_base_url_with_a_path_prefix_still_works() -> None:
    """https://host/prefix forms keep working: requests go under the prefix."""
    async with FakeLlamaCloud(jobs=12, api_key=KEY) as cloud:
        async with BatchClient(KEY, base_url=cloud.url + "/tenant/a/") as client:
            jobs = await client.list_jobs(page_size=5).collect()
        assert len(jobs) == 12
        assert {request.path for request in cloud.requests} == {
            "/tenant/a/api/v1/beta/batch-processing"
        }


@pytest.mark.skipif(not has_ipv6_loopback(), reason="no ::1 on this machine")
async def test_ipv6_literal_base_url_still_works() -> None:
    """http://[::1]:PORT keeps working end to end."""
    async with FakeLlamaCloud(jobs=7, api_key=KEY, host="::1") as cloud:
        assert cloud.url.startswith("http://[::1]:")
        async with BatchClient(KEY, base_url=cloud.url) as client:
            jobs = await client.list_jobs().collect()
        assert len(jobs) == 7


# ------------------------------------------------------------------ 11: API keys


@pytest.mark.parametrize("key", BAD_KEYS)
def test_bad_api_key_is_refused_at_construction_without_echoing_it(key: str) -> None:
    """A key with control characters or beyond Latin-1: ValueError naming api_key, key unshown."""
    with pytest.raises(ValueError, match=r"^api_key must be printable") as caught:
        BatchClient(key, base_url="http://127.0.0.1:9")
    assert key not in str(caught.value)
    assert key.strip() not in str(caught.value)


@pytest.mark.parametrize("variable", ["LLAMA_CLOUD_API_KEY", "LLAMA_PARSE_API_KEY"])
def test_bad_api_key_from_the_environment_names_the_variable(variable: str) -> None:
    """A bad key in the environment: the ValueError names the variable, not the key."""
    with (
        environment(**{variable: BAD_KEYS[0]}),
        pytest.raises(ValueError, match=rf"^{variable} must be printable") as caught,
    ):
        BatchClient(base_url="http://127.0.0.1:9")
    assert "X-Evil" not in str(caught.value)


def test_cli_bad_api_key_names_the_flag_or_variable_without_echoing_it() -> None:
    """--api-key or LLAMA_CLOUD_API_KEY holding a control character: exit 2, key unshown."""
    url = ("--base-url", "http://127.0.0.1:9")
    flag = llama_batch("list", *url, "--api-key", "sk-secret\x01tail")
    assert flag.returncode == 2
    assert flag.stderr.startswith("error: --api-key must be printable")
    variable = llama_batch("list", *url, LLAMA_CLOUD_API_KEY="sk-secret\x01tail")
    assert variable.returncode == 2
    assert variable.stderr.startswith("error: LLAMA_CLOUD_API_KEY must be printable")
    assert "sk-secret" not in flag.stderr + variable.stderr


# ------------------------------------------------------------------ 17 and 9: before any request

BAD_IDS = ["", ".", "..", "a/b", "a?b", "a#b", "a%2Fb", "a b", "a\r\nb", "a\x00b", "a\tb", "a\\b"]


async def test_page_size_above_1000_is_refused_before_any_request() -> None:
    """list_jobs(page_size=1001) is a ValueError naming page_size; 1000 is sent as limit."""
    async with FakeLlamaCloud(jobs=3, api_key=KEY) as cloud:
        async with BatchClient(KEY, base_url=cloud.url) as client:
            with pytest.raises(ValueError, match=r"^page_size must be an int from 1 to 1000"):
                client.list_jobs(page_size=1001)
            assert cloud.requests == []
            assert len(await client.list_jobs(page_size=1000).collect()) == 3
        assert cloud.requests[0].query["limit"] == "1000"


def test_cli_page_size_above_1000_is_a_usage_error() -> None:
    """--page-size 1001 exits 2 naming --page-size."""
    done = llama_batch("list", "--demo", "--page-size", "1001")
    assert done.returncode == 2
    assert done.stderr == "error: --page-size must be from 1 to 1000, got 1001\n"


@pytest.mark.parametrize("batch_id", BAD_IDS)
async def test_id_that_is_not_one_path_segment_is_refused_before_any_request(
    batch_id: str,
) -> None:
    """get_batch and wait_for_batches refuse an id that is not one path segment; nothing sent."""
    async with FakeLlamaCloud(jobs=3, batches=3, api_key=KEY) as cloud:
        async with BatchClient(KEY, base_url=cloud.url) as client:
            with pytest.raises(ValueError, match=r"^batch_id must be a non-empty id string of one"):
                await client.get_batch(batch_id)
            with pytest.raises(ValueError, match=r"^batch_ids? must"):
                await client.wait_for_batches([batch_id], timeout=5)
        assert cloud.requests == []


async def test_wait_for_jobs_refuses_an_id_that_is_not_one_path_segment() -> None:
    """wait_for_jobs(['a/b']) is a ValueError naming job_ids before any request."""
    async with FakeLlamaCloud(jobs=3, api_key=KEY) as cloud:
        async with BatchClient(KEY, base_url=cloud.url) as client:
            with pytest.raises(ValueError, match=r"^job_ids must"):
                await client.wait_for_jobs(["a/b"], timeout=5, poll_interval=0.1)
        assert cloud.requests == []
