"""The API key falls back to LLAMA_PARSE_API_KEY, as the official llama-cloud SDK's does."""

from __future__ import annotations

import json

import pytest
from helpers import run_main

from llama_batch_async import BatchClient
from llama_batch_async.testing import FakeLlamaCloud, serve_in_thread


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("LLAMA_CLOUD_API_KEY", "LLAMA_PARSE_API_KEY", "LLAMA_CLOUD_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


async def sent_key(cloud: FakeLlamaCloud, api_key: str | None = None) -> str:
    async with BatchClient(api_key, base_url=cloud.url) as client:
        await client.list_jobs().collect()
    return cloud.requests[-1].headers["Authorization"]


async def test_parse_key_is_used_when_the_cloud_key_is_unset(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With only LLAMA_PARSE_API_KEY set, the client authenticates with it."""
    monkeypatch.setenv("LLAMA_PARSE_API_KEY", "llx-parse")
    async with FakeLlamaCloud(jobs=3, api_key="llx-parse") as cloud:
        assert await sent_key(cloud) == "Bearer llx-parse"


async def test_cloud_key_wins_over_the_parse_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """LLAMA_CLOUD_API_KEY is read first when both variables are set."""
    monkeypatch.setenv("LLAMA_CLOUD_API_KEY", "llx-cloud")
    monkeypatch.setenv("LLAMA_PARSE_API_KEY", "llx-parse")
    async with FakeLlamaCloud(jobs=3, api_key="llx-cloud") as cloud:
        assert await sent_key(cloud) == "Bearer llx-cloud"


async def test_empty_cloud_key_falls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    """An empty LLAMA_CLOUD_API_KEY counts as unset, as in the official SDK."""
    monkeypatch.setenv("LLAMA_CLOUD_API_KEY", "")
    monkeypatch.setenv("LLAMA_PARSE_API_KEY", "llx-parse")
    async with FakeLlamaCloud(jobs=3, api_key="llx-parse") as cloud:
        assert await sent_key(cloud) == "Bearer llx-parse"


async def test_argument_wins_over_both_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """An api_key argument is used whatever the environment holds."""
    monkeypatch.setenv("LLAMA_CLOUD_API_KEY", "llx-cloud")
    monkeypatch.setenv("LLAMA_PARSE_API_KEY", "llx-parse")
    async with FakeLlamaCloud(jobs=3, api_key="llx-arg") as cloud:
        assert await sent_key(cloud, "llx-arg") == "Bearer llx-arg"


def test_no_key_in_either_variable_is_still_an_error() -> None:
    """With neither variable set and no argument, the client refuses to start."""
    with pytest.raises(ValueError, match="no API key"):
        BatchClient()


def test_the_cli_reads_the_parse_key_too() -> None:
    """`llama-batch list` with only LLAMA_PARSE_API_KEY set authenticates with it."""
    with serve_in_thread(jobs=3, api_key="llx-parse") as cloud:
        env = {"LLAMA_PARSE_API_KEY": "llx-parse"}
        result = run_main("list", "--base-url", cloud.url, "--format", "json", env=env)
    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)) == 3
    assert cloud.requests[-1].headers["Authorization"] == "Bearer llx-parse"
