"""N worker processes on one Redis: one 429 pause and one request budget for the fleet.

Each worker is its own process with its own `BatchClient` and `RedisLimiter`; they meet
on the key derived from the base URL and API key, so after one worker's 429 every
worker waits it out, and together they send at most ``--rate`` requests (each slot
held ``--slack`` seconds past the rate's period, so they also arrive at most that many).

    LLAMA_CLOUD_API_KEY=... python examples/fleet.py --redis-url redis://localhost:6379/0 \\
        --workers 4 --rate 10/second

Set LLAMA_CLOUD_BASE_URL to point it elsewhere (e.g. `llama-batch serve-fake`). Each
worker prints one JSON line: how many jobs it walked, its requests and retries, and the
decisions it made alone while Redis was unreachable.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import sys

from llama_batch_async import BatchClient
from llama_batch_async.redis import DEFAULT_RATE_SLACK, RedisLimiter


async def walk(redis_url: str, rate: str | None, slack: float) -> dict[str, int]:
    """One worker's walk over every job, under the fleet's pause and budget."""
    async with (
        RedisLimiter(redis_url, rate=rate, slack=slack) as limiter,
        BatchClient(limiter=limiter, max_retries=10) as client,
    ):
        pager = client.list_jobs(page_size=50, prefetch=0)
        jobs = sum([1 async for _ in pager])
        return {
            "jobs": jobs,
            "requests": pager.stats.requests,
            "retries": pager.stats.retries,
            "redis_fallbacks": pager.stats.limiter_fallbacks,
        }


def worker(number: int, redis_url: str, rate: str | None, slack: float) -> None:
    """Run one worker in this process and print its figures."""
    figures = asyncio.run(walk(redis_url, rate, slack))
    # One write of the whole line: print() writes the text and its newline separately,
    # so with unbuffered output two workers' lines could interleave on the shared pipe.
    sys.stdout.write(json.dumps({"worker": number, **figures}) + "\n")
    sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--rate", default=None, help='fleet budget, e.g. "10/second"')
    parser.add_argument(
        "--slack",
        type=float,
        default=DEFAULT_RATE_SLACK,
        help="seconds each budget slot is held past the rate's period (default %(default)s)",
    )
    args = parser.parse_args()
    context = multiprocessing.get_context("spawn")
    processes = [
        context.Process(target=worker, args=(number, args.redis_url, args.rate, args.slack))
        for number in range(args.workers)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join()
    raise SystemExit(max(process.exitcode or 0 for process in processes))


if __name__ == "__main__":
    main()
