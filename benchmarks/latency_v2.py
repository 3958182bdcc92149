"""The v2 row: walks of ``/api/v2/batches`` at 80 ms per request, this client and the SDK.

Run with ``nox -s bench`` (or ``python benchmarks/latency_v2.py --sdk-python
PATH`` in an environment with the package, where PATH is the interpreter of a
second environment holding ``llama-cloud==2.19.0``; without it the SDK row is
left out).

One FakeLlamaCloud serving only v2 batches runs in its own process with
``--latency-ms`` before every response. Each variant walks every batch
``--repeat`` times, interleaved round-robin:

- this client, sequential: ``list_batches(page_size=...)``, one token after another;
- this client, windowed: ``list_batches(windows=N, created_after=..., created_before=...)``,
  the ``created_at`` range of the listing split into N windows walked concurrently
  (the bounds are the oldest and newest batch, so the same batches are listed);
- the official SDK 2.19.0: ``batches.list(page_size=...)`` auto-pagination, in a
  subprocess of its own environment (``_sdk_v2.py``).

Only the walk is timed (each inside its own process or event loop), and every
variant must list every batch. The table gives median wall seconds, each
round's wall time over the sequential walk's (then the median, min to max),
and the requests each walk sent. Unless ``--no-docs``, it replaces the block
between the markers in ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import statistics
import subprocess
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from _latency import API_KEY, Walked, fake_cloud, interleaved, summarize, write_block

from llama_batch_async import BatchClient
from llama_batch_async.testing import make_batches, parse_timestamp

SDK_WORKER = Path(__file__).resolve().parent / "_sdk_v2.py"
START = "<!-- v2-latency-table:start -->"
END = "<!-- v2-latency-table:end -->"
SEED = 0


def bounds(batches: int) -> tuple[datetime, datetime]:
    """The oldest and newest ``created_at`` of the served batches (same count and seed)."""
    stamps = [parse_timestamp(batch["created_at"]) for batch in make_batches(batches, seed=SEED)]
    return min(stamps), max(stamps)


def has_windows() -> bool:
    """Whether this version of the library has ``list_batches(windows=...)``."""
    return "windows" in inspect.signature(BatchClient.list_batches).parameters


async def walk_client(url: str, page_size: int, window: dict[str, Any]) -> dict[str, Any]:
    """This client's walk of every batch; ``window`` adds ``windows`` and the bounds."""
    async with BatchClient(API_KEY, base_url=url) as client:
        pager = client.list_batches(page_size=page_size, **window)
        started = time.perf_counter()
        count = 0
        async for _batch in pager:
            count += 1
        seconds = time.perf_counter() - started
        return {"batches": count, "requests": pager.stats.requests, "seconds": seconds}


def walk_sdk(python: str, url: str, page_size: int) -> dict[str, Any]:
    """The official SDK's walk, in its own environment's interpreter."""
    done = subprocess.run(
        [python, str(SDK_WORKER), url, API_KEY, str(page_size)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the SDK worker failed:\n{done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return result


def measure(args: argparse.Namespace) -> tuple[list[dict[str, Any]], str | None]:
    """Every variant, ``--repeat`` interleaved rounds; one row per variant, and the SDK version."""
    variants: list[tuple[str, Any]] = [("this client, sequential", {})]
    if has_windows():
        oldest, newest = bounds(args.batches)
        window = {"windows": args.windows, "created_after": oldest, "created_before": newest}
        variants.append((f"this client, windows={args.windows}", window))
    if args.sdk_python:
        variants.append(("official SDK", "sdk"))
    version = None

    def walk(url: str, how: Any) -> Walked:
        nonlocal version
        if how == "sdk":
            result = walk_sdk(args.sdk_python, url, args.page_size)
            version = result["version"]
        else:
            result = asyncio.run(walk_client(url, args.page_size, how))
        return Walked(result["batches"], result["requests"], result["seconds"])

    with fake_cloud(args.latency_ms, jobs=0, batches=args.batches, seed=SEED) as url:
        walks = interleaved(variants, args.repeat, lambda how: walk(url, how), args.batches)
    rows = []
    for name, summary in summarize(walks, base=variants[0][0]).items():
        rows.append(
            {
                "variant": f"official SDK {version}" if name == "official SDK" else name,
                "median": summary.median,
                "ratio": summary.ratio,
                "spread": summary.spread,
                "requests": statistics.median(walked.requests for walked in walks[name]),
            }
        )
    return rows, version


def table(rows: list[dict[str, Any]], args: argparse.Namespace) -> str:
    """The Markdown table."""
    pages = -(-args.batches // args.page_size)
    lines = [
        f"{args.batches:,} v2 batches, page {args.page_size} ({pages} pages), "
        f"{args.latency_ms:g} ms per request on the server (its own process), median of "
        f"{args.repeat} interleaved rounds, the walk alone timed. '÷ sequential' is each "
        "round's wall time over the sequential walk's, then the median (min to max in "
        "brackets).",
        "",
        "| variant | wall, s | ÷ sequential | requests sent |",
        "| --- | ---: | ---: | ---: |",
    ]
    for row in rows:
        low, high = row["spread"]
        lines.append(
            f"| {row['variant']} | {row['median']:.2f} | "
            f"{row['ratio']:.2f} ({low:.2f} to {high:.2f}) | {row['requests']:g} |"
        )
    return "\n".join(lines)


def main() -> None:
    """Measure, print, and write the docs."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=2_000)
    parser.add_argument("--page-size", type=int, default=100)
    parser.add_argument("--windows", type=int, default=8)
    parser.add_argument("--latency-ms", type=float, default=80.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--sdk-python", help="the interpreter of an environment with llama-cloud==2.19.0"
    )
    parser.add_argument("--no-docs", action="store_true")
    args = parser.parse_args()
    rows, _ = measure(args)
    text = table(rows, args)
    print(text)
    if not args.no_docs:
        write_block(text, START, END)


if __name__ == "__main__":
    main()
