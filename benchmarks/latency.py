"""Realistic latency: walks against each kind of server at 80 ms per request.

Run with ``nox -s bench`` (or ``python benchmarks/latency.py`` in an environment
with the package and, for the SDK row, ``llama-cloud==2.10.0``).

For each kind of server (`FakeLlamaCloud`'s ``paging``: ``both`` sends tokens
and honours offset, ``token-ignored`` sends tokens and ignores ``page_token``,
``offset`` sends none), the server runs in its own process with ``--latency-ms``
added before every response. Each variant walks the whole listing ``--repeat``
times, interleaved round-robin; the table gives median wall seconds, the
sequential/prefetch ratio (per round, then the median) and requests per page.
Unless ``--no-docs``, the table replaces the block between the markers in
``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from _latency import API_KEY, Walked, fake_cloud, interleaved, summarize, write_block

from llama_batch_async import BatchClient
from llama_batch_async._config import DEFAULT_PREFETCH

START = "<!-- latency-table:start -->"
END = "<!-- latency-table:end -->"
KINDS = ("both", "token-ignored", "offset")


async def walk_client(url: str, page_size: int, prefetch: int | None) -> tuple[int, int]:
    """This client's walk; returns (jobs, requests sent)."""
    async with BatchClient(API_KEY, base_url=url) as client:
        if prefetch is None:
            pager = client.list_jobs(page_size=page_size)
        else:
            pager = client.list_jobs(page_size=page_size, prefetch=prefetch)
        count = 0
        async for _job in pager:
            count += 1
        return count, pager.stats.requests


async def walk_sdk(url: str, page_size: int) -> tuple[int, int]:
    """The official SDK's auto-pagination; requests are not counted (0)."""
    from llama_cloud import AsyncLlamaCloud  # type: ignore[import-not-found]  # noqa: PLC0415

    count = 0
    async with AsyncLlamaCloud(api_key=API_KEY, base_url=url) as sdk:
        async for _job in sdk.beta.batch.list(limit=page_size):
            count += 1
    return count, 0


def has_sdk() -> bool:
    """Whether ``llama-cloud`` is importable."""
    try:
        import llama_cloud  # type: ignore[import-not-found]  # noqa: F401, PLC0415
    except ImportError:
        return False
    return True


def timed(url: str, page_size: int, prefetch: object) -> Walked:
    """One walk of this client (``prefetch`` None: its default) or the SDK (``"sdk"``), timed."""
    started = time.perf_counter()
    if prefetch == "sdk":
        count, sent = asyncio.run(walk_sdk(url, page_size))
    else:
        assert prefetch is None or isinstance(prefetch, int)
        count, sent = asyncio.run(walk_client(url, page_size, prefetch))
    return Walked(count, sent, time.perf_counter() - started)


def measure(args: argparse.Namespace) -> list[dict[str, object]]:
    """Every kind and variant; one row per (kind, variant)."""
    rows: list[dict[str, object]] = []
    sdk = not args.no_sdk and has_sdk()
    for kind in KINDS:
        variants: list[tuple[str, object]] = [
            ("sequential (prefetch=0)", 0),
            (f"default (prefetch={DEFAULT_PREFETCH})", None),
        ]
        if sdk and kind == "both":
            variants.append(("official SDK 2.10.0", "sdk"))
        with fake_cloud(args.latency_ms, jobs=args.jobs, paging=kind) as url:
            walks = interleaved(
                variants,
                args.repeat,
                lambda prefetch: timed(url, args.page_size, prefetch),
                args.jobs,
            )
        pages = -(-args.jobs // args.page_size)
        for name, summary in summarize(walks, base=variants[1][0]).items():
            sent = walks[name][-1].requests
            rows.append(
                {
                    "kind": kind,
                    "variant": name,
                    "median": summary.median,
                    "ratio": summary.ratio,
                    "spread": summary.spread,
                    "per_page": sent / pages if sent else None,
                }
            )
    return rows


def table(rows: list[dict[str, object]], args: argparse.Namespace) -> str:
    """The Markdown table."""
    lines = [
        f"{args.jobs:,} jobs, page {args.page_size}, {args.latency_ms:g} ms per request on "
        f"the server (its own process), median of {args.repeat} interleaved rounds. "
        "'÷ default' is each round's wall time over the default walk's, then the median "
        "(min to max in brackets).",
        "",
        "| server | variant | wall, s | ÷ default | requests / pages |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for row in rows:
        low, high = row["spread"]  # type: ignore[misc]
        per_page = row["per_page"]
        lines.append(
            f"| {row['kind']} | {row['variant']} | {row['median']:.2f} | "
            f"{row['ratio']:.2f} ({low:.2f} to {high:.2f}) | "
            f"{'' if per_page is None else f'{per_page:.3f}'} |"
        )
    return "\n".join(lines)


def main() -> None:
    """Measure, print, and write the docs."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--page-size", type=int, default=100)
    parser.add_argument("--latency-ms", type=float, default=80.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-sdk", action="store_true")
    parser.add_argument("--no-docs", action="store_true")
    args = parser.parse_args()
    text = table(measure(args), args)
    print(text)
    if not args.no_docs:
        write_block(text, START, END)


if __name__ == "__main__":
    main()
