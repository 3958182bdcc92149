"""One fleet worker process for tests/e2e/test_redis.py (not collected: no test_ prefix).

Usage: ``python fleet_worker.py REDIS_URL RATE SLACK``. It prints ``ready`` once imported,
then reads one JSON command a line from stdin (``base_url``, ``key``, ``mode``: ``rate``
for the shared pause and budget, ``pause`` for the shared pause only, ``local`` for the
default in-process limiter, ``adaptive`` for the shared pause and rate with the
library's defaults: no budget, default prefetch and retries, pages of 4), walks every
job once, and prints one JSON line: the job
ids, the walk's counters, and the Redis-clock times of its admissions and pauses.
It exits at the end of stdin.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from llama_batch_async import BatchClient
from llama_batch_async.redis import RedisLimiter


async def walk(
    base_url: str, redis_url: str, key: str, mode: str, rate: str, slack: float
) -> dict[str, object]:
    """Walk every job once with the limiter the mode names; return what came back."""
    limiter = None
    if mode != "local":
        # A Redis timeout far above any scheduling delay: this test measures the
        # shared limiter, never its local fallback (asserted through "fallbacks").
        limiter = RedisLimiter(
            redis_url,
            key=key,
            rate=rate if mode == "rate" else None,
            slack=slack,
            timeout=10.0,
        )
    adaptive = mode == "adaptive"
    options: dict[str, Any] = {} if adaptive else {"max_retries": 30, "retry_after_cap": 10.0}
    try:
        async with BatchClient(
            "fleet-api-key", base_url=base_url, limiter=limiter, **options
        ) as client:
            if adaptive:
                pager = client.list_jobs(page_size=4)
            else:
                pager = client.list_jobs(page_size=10, prefetch=0)
            ids = [job.id for job in await pager.collect()]
        return {
            "ids": ids,
            "requests": pager.stats.requests,
            "retries": pager.stats.retries,
            "fallbacks": limiter.fallbacks if limiter is not None else 0,
            "admitted": list(limiter.admitted) if limiter is not None else [],
            "paused": list(limiter.paused) if limiter is not None else [],
        }
    finally:
        if limiter is not None:
            await limiter.aclose()


def main(redis_url: str, rate: str, slack: str) -> None:
    """Serve walk commands from stdin until it ends."""
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    for line in sys.stdin:
        command = json.loads(line)
        report = asyncio.run(
            walk(
                command["base_url"], redis_url, command["key"], command["mode"], rate, float(slack)
            )
        )
        sys.stdout.write(json.dumps(report) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main(*sys.argv[1:4])
