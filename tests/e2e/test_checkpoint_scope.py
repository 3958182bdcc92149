"""Checkpoints tied to their endpoint and key, safe names, and CLI errors people can act on.

Issue 24, items 2, 12 and 15: the library against FakeLlamaCloud on 127.0.0.1, and the
installed ``llama-batch`` command in a subprocess against a fake on its own thread.
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import Result, cli_env, run_process

from llama_batch_async import BatchClient, FileCheckpointStore, checkpointed_pages
from llama_batch_async.testing import FakeLlamaCloud, serve_in_thread

KEY = "sk-harden-checkpoint-0123456789"
OTHER_KEY = "sk-harden-other-account-9876543210"
PASSWORD = "s3cret-redis-pass"
BAD_NAMES = ["nightly\n", "nightly\r", ".", "..", "a/b", "", "x" * 101, "-x", "ni ght", "a\0b"]


@pytest.fixture
def cloud() -> Iterator[FakeLlamaCloud]:
    """A fake cloud of 60 jobs on a thread of its own."""
    with serve_in_thread(jobs=60, seed=3, api_key=KEY) as server:
        yield server


def llama_batch(*args: str) -> Result:
    """The installed command, run to its end; a traceback fails the test."""
    done = run_process([sys.executable, "-m", "llama_batch_async.cli", *args], env=cli_env())
    assert "Traceback" not in done.stderr, done.stderr
    return Result(done.returncode, done.stdout, done.stderr)


def listing(cloud: FakeLlamaCloud, *args: str) -> Result:
    """``llama-batch list`` against ``cloud``, pages of 10, no prefetch or retries."""
    return llama_batch(
        "list", "--base-url", cloud.url, "--api-key", KEY,
        "--page-size", "10", "--prefetch", "0", "--max-retries", "0", *args,
    )  # fmt: skip


def closed_port() -> int:
    """A TCP port on 127.0.0.1 nothing listens on (free a moment ago)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


# ------------------------------------------------------------------ 2: tied to endpoint and key


async def _save_after_two_pages(client: BatchClient, store: FileCheckpointStore) -> None:
    """Walk two pages under the checkpoint ``nightly`` and stop (page one's cursor is saved)."""
    seen = 0
    async for _page in checkpointed_pages(client, store, "nightly", page_size=10):
        seen += 1
        if seen == 2:
            break


async def test_checkpoint_of_another_base_url_is_refused(tmp_path: Path) -> None:
    """A checkpoint saved against one base_url is refused (ValueError) by a client of another."""
    store = FileCheckpointStore(tmp_path)
    async with FakeLlamaCloud(jobs=40, seed=1) as first, FakeLlamaCloud(jobs=40, seed=1) as prod:
        async with BatchClient(KEY, base_url=first.url) as client:
            await _save_after_two_pages(client, store)
        async with BatchClient(KEY, base_url=prod.url) as client:
            with pytest.raises(ValueError, match="saved by a walk of http") as caught:
                await anext(checkpointed_pages(client, store, "nightly", page_size=10))
        assert prod.url in str(caught.value)
        assert prod.requests == []


async def test_checkpoint_of_another_api_key_is_refused_without_showing_either(
    tmp_path: Path,
) -> None:
    """A checkpoint saved with one API key is refused by a client of another; no key is stored."""
    store = FileCheckpointStore(tmp_path)
    async with FakeLlamaCloud(jobs=40, seed=1) as cloud:
        async with BatchClient(KEY, base_url=cloud.url) as client:
            await _save_after_two_pages(client, store)
        stored = (tmp_path / "nightly.cursor").read_text(encoding="ascii")
        assert KEY not in stored
        sent = len(cloud.requests)
        async with BatchClient(OTHER_KEY, base_url=cloud.url) as client:
            with pytest.raises(ValueError, match="another API key") as caught:
                await anext(checkpointed_pages(client, store, "nightly", page_size=10))
        assert KEY not in str(caught.value)
        assert OTHER_KEY not in str(caught.value)
        assert len(cloud.requests) == sent


async def test_checkpoint_of_the_same_endpoint_and_key_resumes(tmp_path: Path) -> None:
    """The same base_url and key resume right after the saved page: every job exactly once."""
    store = FileCheckpointStore(tmp_path)
    async with FakeLlamaCloud(jobs=40, seed=1) as cloud:
        async with BatchClient(KEY, base_url=cloud.url) as client:
            await _save_after_two_pages(client, store)
            rest = [
                job.id
                async for page in checkpointed_pages(client, store, "nightly", page_size=10)
                for job in page.items
            ]
        assert rest == [job["id"] for job in cloud.jobs[10:]]


def test_cli_checkpoint_of_another_base_url_exits_2(tmp_path: Path) -> None:
    """`list --checkpoint` saved against one fake and run against another: exit 2, nothing sent."""
    folder = ("--checkpoint", "n", "--checkpoint-dir", str(tmp_path))
    with (
        serve_in_thread(jobs=60, seed=3, api_key=KEY) as first,
        serve_in_thread(jobs=60, seed=3, api_key=KEY) as other,
    ):
        first.delay_next(0, times=2)
        first.fail_next(503)
        assert listing(first, *folder).returncode == 1
        done = listing(other, *folder)
        assert done.returncode == 2
        assert done.stderr.startswith("error: --checkpoint n is a bad resume point: ")
        assert f"saved by a walk of {first.url}" in done.stderr
        assert list(other.requests) == []


# ------------------------------------------------------------------ 12: names


@pytest.mark.parametrize("name", BAD_NAMES)
async def test_unsafe_checkpoint_names_are_refused_by_the_file_store(
    name: str, tmp_path: Path
) -> None:
    """A name that is not one safe segment (a trailing newline too) is a ValueError; no file."""
    store = FileCheckpointStore(tmp_path)
    with pytest.raises(ValueError, match="checkpoint name must be"):
        await store.save(name, "cursor")
    assert not any(tmp_path.iterdir())  # noqa: ASYNC240 - a test's listing of its own folder


@pytest.mark.parametrize("name", ["nightly\n", ".."])
async def test_unsafe_checkpoint_names_are_refused_by_the_redis_store(name: str) -> None:
    """The Redis store refuses the same names, before it connects anywhere."""
    redis = pytest.importorskip("llama_batch_async.redis")
    store = redis.RedisCheckpointStore(f"redis://127.0.0.1:{closed_port()}")
    try:
        with pytest.raises(ValueError, match="checkpoint name must be"):
            await store.load(name)
    finally:
        await store.aclose()


def test_cli_checkpoint_name_with_a_newline_is_a_usage_error(cloud: FakeLlamaCloud) -> None:
    """--checkpoint with a trailing newline exits 2 naming --checkpoint, before any request."""
    done = listing(cloud, "--checkpoint", "nightly\n")
    assert done.returncode == 2
    assert done.stderr.startswith("error: --checkpoint must be 1-100 letters")
    assert list(cloud.requests) == []


# ------------------------------------------------------------------ 15: errors to act on


def test_checkpoint_file_that_is_a_folder_is_one_error_line(
    cloud: FakeLlamaCloud, tmp_path: Path
) -> None:
    """A checkpoint path that is a folder: one error line naming it, exit 2, nothing sent."""
    (tmp_path / "nightly.cursor").mkdir()
    done = listing(cloud, "--checkpoint", "nightly", "--checkpoint-dir", str(tmp_path))
    assert done.returncode == 2
    assert done.stderr.startswith("error: --checkpoint nightly cannot be read: ")
    assert done.stderr.count("\n") == 1
    assert list(cloud.requests) == []


def test_corrupt_checkpoint_is_a_bad_resume_point_saying_how_to_clear_it(
    cloud: FakeLlamaCloud, tmp_path: Path
) -> None:
    """A checkpoint holding garbage: a bad resume point, naming the file to delete; exit 2."""
    path = tmp_path / "nightly.cursor"
    path.write_text("garbage", encoding="ascii")
    done = listing(cloud, "--checkpoint", "nightly", "--checkpoint-dir", str(tmp_path))
    assert done.returncode == 2
    assert done.stderr.startswith("error: --checkpoint nightly is a bad resume point: ")
    assert done.stderr.rstrip().endswith(f"to start over, delete {path}")
    assert list(cloud.requests) == []


def test_checkpoint_dir_that_is_a_file_is_one_error_line(
    cloud: FakeLlamaCloud, tmp_path: Path
) -> None:
    """--checkpoint-dir naming a file: one error line naming the flag, exit 2, nothing sent."""
    plain = tmp_path / "plain"
    plain.write_text("x", encoding="ascii")
    done = listing(cloud, "--checkpoint", "nightly", "--checkpoint-dir", str(plain))
    assert done.returncode == 2
    assert done.stderr == f"error: --checkpoint-dir {plain} is not a folder\n"
    assert list(cloud.requests) == []


@pytest.mark.parametrize(
    "url",
    [f"redis://:{PASSWORD}@localhost:notaport", f"http://:{PASSWORD}@localhost:6379"],
)
def test_malformed_redis_url_is_one_error_line_without_the_password(
    cloud: FakeLlamaCloud, url: str
) -> None:
    """A malformed --redis-url: exit 2, one line naming the flag, the password nowhere."""
    pytest.importorskip("llama_batch_async.redis")
    done = listing(cloud, "--redis-url", url)
    assert done.returncode == 2
    assert done.stderr.startswith("error: --redis-url is not a Redis URL")
    assert done.stderr.count("\n") == 1
    assert PASSWORD not in done.stdout + done.stderr
    assert list(cloud.requests) == []


def test_checkpoint_with_redis_down_is_one_error_line_without_the_password(
    cloud: FakeLlamaCloud,
) -> None:
    """--checkpoint kept in a Redis that is down: exit 1, one line, the password nowhere."""
    pytest.importorskip("llama_batch_async.redis")
    url = f"redis://:{PASSWORD}@127.0.0.1:{closed_port()}/0"
    done = listing(cloud, "--redis-url", url, "--checkpoint", "nightly")
    assert done.returncode == 1
    assert done.stderr.startswith("error: cannot use Redis for --checkpoint nightly: ")
    assert done.stderr.count("\n") == 1
    assert PASSWORD not in done.stdout + done.stderr
    assert list(cloud.requests) == []
