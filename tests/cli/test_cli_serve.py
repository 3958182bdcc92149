"""``llama-batch serve-fake``: the fake cloud as a command."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import aiohttp
import pytest
from cli_helpers import (
    KEY,
    arun_cli,
    command,
    serve_fake,
)
from helpers import TESTS, TIMEOUT, cli_env

from llama_batch_async import BatchClient
from llama_batch_async.cli import main
from llama_batch_async.testing import (
    ENDPOINT_PATH,
)


async def test_serve_fake_paging_kind_is_served() -> None:
    """serve-fake --paging token-ignored sends tokens, ignores page_token, honours offset."""
    async with serve_fake("--jobs", "30", "--paging", "token-ignored") as url:
        async with aiohttp.ClientSession() as session:

            async def page(**params: str) -> dict[str, Any]:
                async with session.get(url + ENDPOINT_PATH, params=params) as response:
                    body: dict[str, Any] = await response.json()
                return body

            first = await page(limit="10")
            again = await page(limit="10", page_token=first["next_page_token"])
            second = await page(limit="10", offset="10")
        assert again["items"] == first["items"]  # page_token ignored
        assert second["items"][0]["id"] != first["items"][0]["id"]  # offset honoured
        async with BatchClient(KEY, base_url=url) as client:
            jobs = await client.list_jobs(page_size=10).collect()
        assert len({job.id for job in jobs}) == len(jobs) == 30


async def test_serve_fake_answers_a_real_client() -> None:
    """serve-fake prints its URL first; a BatchClient lists its jobs; SIGTERM stops it."""
    options = ("--max-limit", "10", "--page-tokens", "--no-total-size", "--require-key", KEY)
    async with serve_fake("--jobs", "42", "--seed", "2", *options) as url:
        assert url.startswith("http://127.0.0.1:")
        async with BatchClient(KEY, base_url=url) as client:
            jobs = await client.list_jobs(page_size=25).collect()
        assert len(jobs) == 42
        assert len({job.id for job in jobs}) == 42
        async with (
            aiohttp.ClientSession() as session,
            session.get(
                url + ENDPOINT_PATH,
                params={"limit": "25"},
                headers={"Authorization": f"Bearer {KEY}"},
            ) as response,
        ):
            body = await response.json()
        assert len(body["items"]) == 10  # --max-limit
        assert body["next_page_token"]  # --page-tokens
        assert "total_size" not in body  # --no-total-size


def test_serve_fake_reports_a_busy_port(capsys: pytest.CaptureFixture[str]) -> None:
    """serve-fake on a port already in use: one error line, exit 1."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["serve-fake", "--port", str(port)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: cannot serve on 127.0.0.1:{port}: ")
    assert len(err.splitlines()) == 1


async def test_serve_fake_rate_limit_answers_429_past_n_a_second() -> None:
    """`serve-fake --rate-limit 3`: a fourth request within a second is a 429 with Retry-After."""
    async with (
        serve_fake("--jobs", "5", "--rate-limit", "3") as url,
        aiohttp.ClientSession() as session,
    ):
        statuses, retry_after = [], []
        for _ in range(5):
            async with session.get(
                url + ENDPOINT_PATH, headers={"Authorization": f"Bearer {KEY}"}
            ) as response:
                statuses.append(response.status)
                retry_after.append(response.headers.get("Retry-After"))
    assert statuses[:3] == [200, 200, 200]
    assert 429 in statuses[3:]
    assert all(
        value == "1" for status, value in zip(statuses, retry_after, strict=True) if status == 429
    )


async def test_serve_fake_says_which_key_works_and_how_to_export_the_url() -> None:
    """After the URL line, stderr says which key works and the export line; never the key."""
    for args, key in (((), "anything"), (("--require-key", KEY), "<the --require-key value>")):
        proc = await asyncio.create_subprocess_exec(
            *command("serve-fake", "--port", "0", "--jobs", "1", *args),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=cli_env(),
            cwd=TESTS,
        )
        assert proc.stdout is not None
        assert proc.stderr is not None
        try:
            url = (await asyncio.wait_for(proc.stdout.readline(), TIMEOUT)).decode().strip()
            said = [
                (await asyncio.wait_for(proc.stderr.readline(), TIMEOUT)).decode() for _ in range(2)
            ]
        finally:
            proc.terminate()
            await asyncio.wait_for(proc.wait(), TIMEOUT)
        assert said[0].startswith(f"serving the fake LlamaCloud at {url} (")
        assert said[1] == f"  export LLAMA_CLOUD_BASE_URL={url} LLAMA_CLOUD_API_KEY={key}\n"
        assert KEY not in "".join(said)


async def test_serve_fake_by_default_serves_what_demo_lists() -> None:
    """`serve-fake` with no options serves the same jobs `--demo` lists, in the same order."""
    async with serve_fake() as url:
        served = await arun_cli("list", "--base-url", url, "--api-key", KEY, "--fields", "id")
    demo = await arun_cli("list", "--demo", "--fields", "id")
    assert served.returncode == demo.returncode == 0
    assert served.stdout == demo.stdout
    assert len(served.stdout.splitlines()) == 137
