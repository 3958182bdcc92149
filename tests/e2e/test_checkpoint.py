"""Checkpointed walks: resume from the stored cursor, save after each page, clear at the end."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from llama_batch_async import BatchClient, FileCheckpointStore, checkpointed_pages
from llama_batch_async.testing import FakeLlamaCloud, serve_in_thread

WORKER = Path(__file__).with_name("checkpoint_worker.py")


async def test_completed_walk_leaves_no_checkpoint(tmp_path: Path) -> None:
    """A walk to the end delivers every job once and clears its checkpoint."""
    store = FileCheckpointStore(tmp_path)
    async with FakeLlamaCloud(jobs=25) as cloud, BatchClient("k", base_url=cloud.url) as client:
        ids = [
            job.id
            async for page in checkpointed_pages(client, store, "nightly", page_size=10, prefetch=0)
            for job in page.items
        ]
    assert len(ids) == len(set(ids)) == 25
    assert await store.load("nightly") is None
    assert not any(tmp_path.iterdir())  # noqa: ASYNC240 - a test, one folder


async def test_abandoned_walk_resumes_with_the_unfinished_page(tmp_path: Path) -> None:
    """A walk stopped while handling page 2 resumes at page 2: only it is repeated."""
    store = FileCheckpointStore(tmp_path)
    async with FakeLlamaCloud(jobs=35) as cloud, BatchClient("k", base_url=cloud.url) as client:
        first: list[str] = []
        pages = checkpointed_pages(client, store, "nightly", page_size=10, prefetch=0)
        async for page in pages:
            first.extend(job.id for job in page.items)
            if len(first) == 20:
                break  # "crash" while handling page 2: its cursor is never saved
        await pages.aclose()
        assert await store.load("nightly") is not None
        second = [
            job.id
            async for page in checkpointed_pages(client, store, "nightly", page_size=10, prefetch=0)
            for job in page.items
        ]
    assert second[:10] == first[10:20]
    assert sorted(set(first + second)) == sorted(job["id"] for job in cloud.jobs)
    assert len(first) + len(second) == 35 + 10


async def test_cursor_of_other_filters_is_refused(tmp_path: Path) -> None:
    """A stored cursor made under other filters raises ValueError before any request."""
    store = FileCheckpointStore(tmp_path)
    async with FakeLlamaCloud(jobs=25) as cloud, BatchClient("k", base_url=cloud.url) as client:
        # prefetch=0: no request of this walk still in flight when `sent` is counted
        pager = client.list_jobs(page_size=10, prefetch=0)
        async for page in pager.pages():
            await store.save("nightly", page.cursor)
            break
        sent = len(cloud.requests)
        with pytest.raises(ValueError, match="filters"):
            async for _ in checkpointed_pages(client, store, "nightly", status="failed"):
                pass
        assert len(cloud.requests) == sent


@pytest.mark.parametrize("name", ["", "../etc", "a/b", "x" * 101])
async def test_bad_names_are_refused(tmp_path: Path, name: str) -> None:
    """A checkpoint name is letters, digits and _.- only: never a path."""
    with pytest.raises(ValueError, match="checkpoint name"):
        await FileCheckpointStore(tmp_path).save(name, "c")


def test_sigkill_mid_page_repeats_only_that_page(tmp_path: Path) -> None:
    """A worker SIGKILLed while handling page 3, restarted, repeats page 3 and nothing else."""
    folder = tmp_path / "checkpoints"
    with serve_in_thread(jobs=50) as cloud:
        first = subprocess.Popen(  # noqa: S603 - this interpreter, our script
            [sys.executable, str(WORKER), cloud.url, str(folder), "3"],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert first.stdout is not None
        handled: list[str] = []
        for _ in range(100):
            line = first.stdout.readline().strip()
            if line in {"hanging", ""}:
                break
            handled.append(line)
        first.kill()  # SIGKILL
        first.wait(10)
        first.stdout.close()
        second = subprocess.run(  # noqa: S603 - this interpreter, our script
            [sys.executable, str(WORKER), cloud.url, str(folder), "0"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        expected = sorted(job["id"] for job in cloud.jobs)
    rest = second.stdout.split()
    assert rest[-1] == "done"
    rest = rest[:-1]
    assert len(handled) == 30
    assert rest[:10] == handled[20:30]  # the interrupted page, and only it, again
    assert sorted(set(handled + rest)) == expected
    assert len(handled) + len(rest) == 50 + 10
    assert list(folder.iterdir()) == []
