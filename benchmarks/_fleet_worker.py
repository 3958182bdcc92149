"""One fleet process for benchmarks/economy.py: a default walk with a shared RedisLimiter.

Prints ``ready`` once imported, reads one JSON command (``base_url``, ``redis_url``,
``key``) from stdin, walks every job once with the library's defaults and a
`RedisLimiter` without a ``rate``, and prints one JSON line of counts.
"""

from __future__ import annotations

import asyncio
import json
import sys

from llama_batch_async import BatchClient, LlamaBatchError
from llama_batch_async.redis import RedisLimiter


async def walk(base_url: str, redis_url: str, key: str) -> dict[str, object]:
    """Walk every job once; the counts."""
    error = None
    async with (
        RedisLimiter(redis_url, key=key) as limiter,
        BatchClient("bench-key", base_url=base_url, limiter=limiter) as client,
    ):
        pager = client.list_jobs(page_size=100)
        try:
            jobs = len(await pager.collect())
        except LlamaBatchError as exc:
            jobs, error = -1, type(exc).__name__
    stats = pager.stats
    return {"jobs": jobs, "error": error, "requests": stats.requests, "retries": stats.retries}


def main() -> None:
    """Serve one command."""
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    command = json.loads(sys.stdin.readline())
    report = asyncio.run(walk(command["base_url"], command["redis_url"], command["key"]))
    sys.stdout.write(json.dumps(report) + "\n")


if __name__ == "__main__":
    main()
