"""What a walk costs the server: requests past the end, polls, 429 share, a fleet's 429s.

Run with ``nox -s bench`` (or ``python benchmarks/economy.py`` in an environment with
the package and its ``[redis]`` extra; the fleet rows need ``redis-server`` on PATH).
Every figure is a count taken by `FakeLlamaCloud` (requests received, 429s sent,
requests inside a pause a 429 announced), never a timing, except the wall seconds
shown beside the 429 shares. Unless ``--no-docs``, the tables replace the block
between the markers in ``docs/benchmarks.md``.

- **waste**: a default walk (``prefetch`` default) on a fresh client, then the same
  query again on that client, against an offset-only server, one that sends tokens
  and one that sends ``total_size``; "needed" is what a sequential walk
  (``prefetch=0``) sends.
- **watch**: ``watch_jobs`` over a 10-page listing; requests per poll.
- **429 share**: one walk of 3,000 jobs (page 100) against a server allowing
  5 requests a second, ``Retry-After`` 1 / 0 / absent, default and ``prefetch=0``.
- **fleet**: 4 processes sharing one ``RedisLimiter`` (no ``rate``) on a real
  ``redis-server``, a server allowing 8 requests a second.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import math
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from llama_batch_async import BatchClient, LlamaBatchError
from llama_batch_async.testing import FakeLlamaCloud, serve_in_thread

HERE = Path(__file__).resolve().parent
DOCS = HERE.parent / "docs" / "benchmarks.md"
WORKER = HERE / "_fleet_worker.py"
START = "<!-- economy-table:start -->"
END = "<!-- economy-table:end -->"
KEY = "bench-key"
SERVERS: dict[str, dict[str, Any]] = {
    "offset-only": {"paging": "offset", "total_size": False},
    "tokens": {"paging": "both", "total_size": False},
    "total_size": {"paging": "offset", "total_size": True},
}
RETRY_AFTER: dict[str, str | None] = {"1": "seconds", "0": "0", "absent": None}


async def _walk_requests(client: BatchClient, cloud: FakeLlamaCloud, **options: Any) -> int:
    """Requests the fake received for one walk of ``client``."""
    before = len(cloud.requests)
    await client.list_jobs(page_size=100, **options).collect()
    return len(cloud.requests) - before


async def waste(jobs: int, server: str) -> dict[str, Any]:
    """Needed, first-walk and repeated-walk requests for one listing."""
    async with FakeLlamaCloud(jobs=jobs, **SERVERS[server]) as cloud:
        async with BatchClient(KEY, base_url=cloud.url) as client:
            needed = await _walk_requests(client, cloud, prefetch=0)
        async with BatchClient(KEY, base_url=cloud.url) as client:
            first = await _walk_requests(client, cloud)
            again = await _walk_requests(client, cloud)
    return {"server": server, "jobs": jobs, "needed": needed, "first": first, "again": again}


async def watch(polls: int = 10) -> dict[str, Any]:
    """Requests per poll of ``watch_jobs`` over 1,000 jobs (10 pages of 100)."""

    def starts() -> list[float]:
        # A walk starts at offset 0 (or names none).
        return [r.time for r in cloud.requests if r.query.get("offset", "0") == "0"]

    async with FakeLlamaCloud(jobs=1000, **SERVERS["offset-only"]) as cloud:
        async with BatchClient(KEY, base_url=cloud.url) as client:

            async def consume() -> None:
                async for _event in client.watch_jobs(poll_interval=0.05, page_size=100):
                    pass

            task = asyncio.ensure_future(consume())
            deadline = time.monotonic() + 120
            while (  # noqa: ASYNC110 - polling the fake's record, bounded
                len(starts()) <= polls and time.monotonic() < deadline and not task.done()
            ):
                await asyncio.sleep(0.02)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        cut = starts()[polls]  # count whole polls only
        sent = sum(1 for r in cloud.requests if r.time < cut)
    return {"polls": polls, "requests": sent, "per_poll": round(sent / polls, 2)}


async def share(retry_after: str, prefetch: int | None, jobs: int, rate: int) -> dict[str, Any]:
    """One walk against a rate-limited server: requests, 429s, wall, whether it failed."""
    mode = RETRY_AFTER[retry_after]
    async with FakeLlamaCloud(jobs=jobs, rate_limit=rate, rate_limit_retry_after=mode) as cloud:
        async with BatchClient(KEY, base_url=cloud.url) as client:
            options = {} if prefetch is None else {"prefetch": prefetch}
            started = time.monotonic()
            error = None
            try:
                got = len(await client.list_jobs(page_size=100, **options).collect())
            except LlamaBatchError as exc:
                got, error = -1, type(exc).__name__
            wall = time.monotonic() - started
        requests, throttled = len(cloud.requests), len(cloud.throttled)
    pages = math.ceil(jobs / 100) + (jobs % 100 == 0)
    return {
        "retry_after": retry_after,
        "prefetch": "default" if prefetch is None else prefetch,
        "requests": requests,
        "429s": throttled,
        "share": round(throttled / requests, 3),
        "wall": round(wall, 1),
        "allowed_wall": round(pages / rate, 1),
        "failed": error,
        "complete": got == jobs,
    }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def redis_server() -> Iterator[str]:
    """A throwaway redis-server on a free port; its URL."""
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    port = _free_port()
    with tempfile.TemporaryDirectory() as home:
        process = subprocess.Popen(
            [binary, "--port", str(port), "--save", "", "--appendonly", "no", "--dir", home],
            stdout=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port)):
                    break
                time.sleep(0.05)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            process.terminate()
            process.wait(10)


def fleet(workers: int = 4, rate: int = 8, jobs: int = 2000) -> dict[str, Any]:
    """``workers`` processes sharing a RedisLimiter (no rate) against one server."""
    with redis_server() as redis_url, serve_in_thread(jobs=jobs, rate_limit=rate) as cloud:
        command = json.dumps({"base_url": cloud.url, "redis_url": redis_url, "key": "bench"})
        procs = [
            subprocess.Popen(
                [sys.executable, str(WORKER)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
            )
            for _ in range(workers)
        ]
        for proc in procs:
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == "ready"
        started = time.monotonic()
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write(command + "\n")
            proc.stdin.flush()
        outputs = []
        for proc in procs:
            assert proc.stdout is not None
            outputs.append(json.loads(proc.stdout.readline()))
            proc.wait(60)
        wall = time.monotonic() - started
        requests, throttled = len(cloud.requests), len(cloud.throttled)
        inside = cloud.inside_pauses(grace=0.05)
    return {
        "workers": workers,
        "requests": requests,
        "429s": throttled,
        "share": round(throttled / requests, 3),
        "inside_pauses": inside,
        "wall": round(wall, 1),
        "allowed_wall": round(workers * (math.ceil(jobs / 100) + 1) / rate, 1),
        "complete": all(o["jobs"] == jobs for o in outputs),
        "failed": sorted({o["error"] for o in outputs if o["error"]}),
    }


def markdown(results: dict[str, Any], command: str) -> str:
    """The tables for docs/benchmarks.md."""
    lines = [
        f"Made by `{command}` (counts from `FakeLlamaCloud`; page 100).",
        "",
        "Requests per walk (needed = a sequential walk's requests; goal: a first walk "
        "wastes at most max(2, 15% of needed), a repeated walk at most 1):",
        "",
        "| server | jobs | needed | first walk | wasted | repeated walk | wasted |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    lines.extend(
        f"| {row['server']} | {row['jobs']:,} | {row['needed']} | {row['first']} | "
        f"{row['first'] - row['needed']} | {row['again']} | {row['again'] - row['needed']} |"
        for row in results["waste"]
    )
    if (w := results.get("watch")) is not None:
        lines += [
            "",
            f"`watch_jobs` over 1,000 jobs (10 pages, 11 needed): **{w['per_poll']} requests "
            f"per poll** ({w['requests']} over {w['polls']} polls).",
        ]
    lines += [
        "",
        "One walk of 3,000 jobs against a server allowing 5 requests a second "
        "(goal: 429 share <= 15%, never fails, wall <= 1.5x what the rate allows):",
        "",
        "| `Retry-After` | prefetch | requests | 429s | share | wall s | rate allows s | result |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for row in results["share"]:
        result = row["failed"] or ("complete" if row["complete"] else "incomplete")
        lines.append(
            f"| {row['retry_after']} | {row['prefetch']} | {row['requests']} | {row['429s']} | "
            f"{row['share']:.0%} | {row['wall']} | {row['allowed_wall']} | {result} |"
        )
    if results.get("fleet"):
        f = results["fleet"]
        lines += [
            "",
            f"{f['workers']} processes sharing a `RedisLimiter` (no `rate`) on a real "
            f"`redis-server`, server allowing 8/s, 2,000 jobs each: {f['requests']} requests, "
            f"**{f['429s']} answered 429 ({f['share']:.0%})**, {f['inside_pauses']} inside an "
            f"announced pause (50 ms grace), {f['wall']} s "
            f"(the rate allows {f['allowed_wall']} s).",
        ]
    return "\n".join(lines)


def write_docs(text: str) -> None:
    """Replace the block between the markers in docs/benchmarks.md (append it if absent)."""
    doc = DOCS.read_text()
    block = f"{START}\n{text}\n{END}"
    if START in doc:
        head, rest = doc.split(START, 1)
        doc = head + block + rest.split(END, 1)[1]
    else:
        doc = doc.rstrip() + "\n\n## What a walk costs the server\n\n" + block + "\n"
    DOCS.write_text(doc)


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Every figure, in order."""
    results: dict[str, Any] = {"waste": [], "share": []}
    if not args.no_waste:
        for server in SERVERS:
            for jobs in (50, 999, 1000, 5000):
                results["waste"].append(await waste(jobs, server))
                print(json.dumps(results["waste"][-1]), flush=True)
    if not args.no_watch:
        results["watch"] = await watch()
        print(json.dumps(results["watch"]), flush=True)
    if not args.no_share:
        for retry_after in RETRY_AFTER:
            for prefetch in (None, 0):
                row = await share(retry_after, prefetch, args.share_jobs, args.share_rate)
                results["share"].append(row)
                print(json.dumps(row), flush=True)
    return results


def main() -> None:
    """Measure, print, and (unless --no-docs) write docs/benchmarks.md's block."""
    logging.basicConfig(level=logging.ERROR)  # the retries' WARNINGs are counted, not read
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--share-jobs", type=int, default=3000)
    parser.add_argument("--share-rate", type=int, default=5)
    parser.add_argument("--no-share", action="store_true")
    parser.add_argument("--no-waste", action="store_true")
    parser.add_argument("--no-watch", action="store_true")
    parser.add_argument("--no-fleet", action="store_true")
    parser.add_argument("--no-docs", action="store_true")
    args = parser.parse_args()
    results = asyncio.run(measure(args))
    if not args.no_fleet:
        results["fleet"] = fleet()
        print(json.dumps(results["fleet"]), flush=True)
    text = markdown(results, "python benchmarks/economy.py")
    print(text)
    if not args.no_docs:
        write_docs(text)


if __name__ == "__main__":
    main()
