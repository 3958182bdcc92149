"""Requests per poll of ``finished_jobs`` / ``wait_for_jobs``: the wait-cost rows of the docs.

Run with ``python benchmarks/wait_cost.py`` in an environment with the package.
Costs are request COUNTS, not times: each scenario serves a FakeLlamaCloud on
127.0.0.1 (no latency), waits for some running jobs, counts the polls (the
``on_seen`` calls for the first awaited id) and the requests the fake
received, and after ``--polls`` polls marks every awaited job completed, so
the wait ends at the next poll. Requests per poll = requests / polls.

Scenarios:

- deep: 3 jobs at the end of a 5,000-job listing whose server caps pages at
  50 jobs (so the jobs are on page 100), and the same without a cap (page 50);
- many: 400 of 500 running jobs (pages of 100).

Prints a Markdown table; ``--docs`` replaces the block between the
``wait-cost`` markers at the end of ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import re
from pathlib import Path
from typing import Any

from llama_batch_async import BatchClient, BatchJob
from llama_batch_async.testing import FakeLlamaCloud, make_jobs

API_KEY = "llx-bench"
DOCS = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
BEGIN, END = "<!-- wait-cost:begin -->", "<!-- wait-cost:end -->"


def _running(count: int) -> list[dict[str, Any]]:
    jobs = make_jobs(count, seed=7)
    for job in jobs:
        job["status"] = "running"
        job["completed_at"] = None
    return jobs


async def measure(
    jobs: list[dict[str, Any]], awaited: list[str], *, max_limit: int | None, polls: int
) -> tuple[int, int]:
    """Wait for ``awaited`` for ``polls`` polls (then they complete); (requests, polls)."""
    async with FakeLlamaCloud(jobs, api_key=API_KEY, max_limit=max_limit) as cloud:
        seen = 0
        first = awaited[0]

        def on_seen(job: BatchJob) -> None:
            nonlocal seen
            if job.id != first:
                return
            seen += 1
            if seen == polls:
                # The next poll sees every awaited job finished, and the wait ends.
                for job_id in awaited:
                    cloud.update_job(job_id, status="completed")

        async with BatchClient(API_KEY, base_url=cloud.url) as client:
            finished = client.finished_jobs(awaited, poll_interval=0.001, on_seen=on_seen)
            async with contextlib.aclosing(finished) as stream:
                done = [job.id async for job in stream]
        assert sorted(done) == sorted(awaited), "every awaited job must finish"
        return len(cloud.requests), seen


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--polls", type=int, default=4, help="polls before the jobs complete")
    parser.add_argument("--docs", action="store_true", help="write the table into the docs")
    args = parser.parse_args()

    deep_jobs = _running(5000)
    deep_ids = [job["id"] for job in deep_jobs[-3:]]
    many_jobs = _running(500)
    many_ids = [job["id"] for job in random.Random(1).sample(many_jobs, 400)]

    rows = []
    for name, jobs, ids, cap in (
        ("3 jobs on page 100 of 5,000 (server cap 50)", deep_jobs, deep_ids, 50),
        ("3 jobs on page 50 of 5,000 (pages of 100)", deep_jobs, deep_ids, None),
        ("400 of 500 jobs (pages of 100)", many_jobs, many_ids, None),
    ):
        requests, polls = await measure(jobs, ids, max_limit=cap, polls=args.polls)
        rows.append(f"| {name} | {polls} | {requests} | {requests / polls:.1f} |")
    table = "\n".join(
        [
            "| wait | polls | requests | requests per poll |",
            "| --- | ---: | ---: | ---: |",
            *rows,
        ]
    )
    print(table)
    if args.docs:
        text = DOCS.read_text(encoding="utf-8")
        block = f"{BEGIN}\n{table}\n{END}"
        pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.DOTALL)
        DOCS.write_text(pattern.sub(lambda _: block, text), encoding="utf-8")


if __name__ == "__main__":
    asyncio.run(main())
