"""v2 windowed walks: requests sent and wall time against sequential, in one run.

Run with ``python benchmarks/v2_windows.py`` (the package installed). One
FakeLlamaCloud serves ``--batches`` v2 batches with ``--latency`` seconds per
request; each round walks ``list_batches(created_after=<oldest>,
created_before=<newest>)`` once per ``windows`` value (the order rotates per
round), and the table shows, per value, the requests one walk sent (the same
every round) and the median wall time, with its ratio to the sequential walk.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from typing import Any

from llama_batch_async import BatchClient
from llama_batch_async.testing import FakeLlamaCloud, parse_timestamp


async def measure(
    batches: int, page_size: int, latency: float, rounds: int, windows: list[int]
) -> dict[str, Any]:
    """Walk once per windows value per round; requests and seconds per value."""
    result: dict[int, dict[str, Any]] = {w: {"requests": set(), "seconds": []} for w in windows}
    async with (
        FakeLlamaCloud(batches=batches, latency=latency) as cloud,
        BatchClient("k", base_url=cloud.url) as client,
    ):
        after = parse_timestamp(cloud.batches[-1]["created_at"])
        before = parse_timestamp(cloud.batches[0]["created_at"])
        expected = [batch["id"] for batch in cloud.batches]
        for rnd in range(rounds):
            order = windows[rnd % len(windows) :] + windows[: rnd % len(windows)]
            for count in order:
                pager = client.list_batches(
                    created_after=after, created_before=before, page_size=page_size, windows=count
                )
                started = time.perf_counter()
                got = [batch.id for batch in await pager.collect()]
                result[count]["seconds"].append(time.perf_counter() - started)
                result[count]["requests"].add(pager.stats.requests)
                assert got == expected, f"windows={count} lost or repeated batches"
    base = statistics.median(result[windows[0]]["seconds"])
    return {
        str(count): {
            "requests": sorted(row["requests"]),
            "median_s": round(statistics.median(row["seconds"]), 3),
            "ratio": round(statistics.median(row["seconds"]) / base, 2),
        }
        for count, row in result.items()
    }


def main(argv: list[str] | None = None) -> int:
    """Print the table (or one JSON line)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=2000)
    parser.add_argument("--page-size", type=int, default=100)
    parser.add_argument("--latency", type=float, default=0.08)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--windows", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    rows = asyncio.run(
        measure(args.batches, args.page_size, args.latency, args.rounds, args.windows)
    )
    if args.json:
        print(json.dumps(rows))
        return 0
    print(f"{'windows':>7} {'requests':>9} {'median s':>9} {'/ seq':>6}")
    for count, row in rows.items():
        requests = "/".join(str(n) for n in row["requests"])
        print(f"{count:>7} {requests:>9} {row['median_s']:>9.3f} {row['ratio']:>6.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
