"""One walk of ``/api/v2/batches`` by the official SDK (``llama-cloud`` 2.19.0), as JSON.

Run by ``benchmarks/latency_v2.py`` with the interpreter of a separate
environment that has ``llama-cloud==2.19.0`` (it has no v1 endpoint, so it
cannot share the v1 benchmarks' environment, which pins 2.10.0). It imports
only the SDK and prints one line: ``{"batches": N, "requests": N, "seconds": S,
"version": "2.19.0"}``. Requests are counted by an httpx event hook.

Usage: ``python _sdk_v2.py BASE_URL API_KEY PAGE_SIZE``
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

# Only this environment's SDK and its HTTP library: the package under test is not here.
import httpx  # type: ignore[import-not-found]
import llama_cloud  # type: ignore[import-not-found]
from llama_cloud import AsyncLlamaCloud  # type: ignore[import-not-found]


async def walk(url: str, key: str, page_size: int) -> dict[str, object]:
    """The SDK's auto-pagination over every batch; the walk alone is timed."""
    requests = 0

    async def count(request: httpx.Request) -> None:
        nonlocal requests
        if request.url.path.endswith("/api/v2/batches"):
            requests += 1

    async with httpx.AsyncClient(event_hooks={"request": [count]}) as http:
        sdk = AsyncLlamaCloud(api_key=key, base_url=url, http_client=http)
        resource = sdk.batches  # imported lazily: outside the timed walk
        started = time.perf_counter()
        batches = 0
        async for _batch in resource.list(page_size=page_size):
            batches += 1
        seconds = time.perf_counter() - started
    return {
        "batches": batches,
        "requests": requests,
        "seconds": seconds,
        "version": llama_cloud.__version__,
    }


if __name__ == "__main__":
    url, key, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
    print(json.dumps(asyncio.run(walk(url, key, size))))
