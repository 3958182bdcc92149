"""One measured walk in a fresh process; prints one JSON line of results.

``run.py`` starts this once per variant and repetition, so imports, caches and
peak RSS never leak from one variant into another. Only the walk itself is
timed (client creation and closing included, imports and interpreter start-up
not): wall seconds with `time.perf_counter`, client CPU seconds with
`time.process_time` (user + system, every thread of this process), and the
process's peak RSS (``ru_maxrss``) at the end.

Variants:

- ``floor``: raw `aiohttp.ClientSession`, ``json.loads`` into dicts, sequential
  ``limit``/``offset`` paging that stops on a short page (as this client does).
- ``client``: ``BatchClient(...).list_jobs(page_size=N, prefetch=P)``, items iterated.
- ``client-pages``: the same walk through ``.pages()``, counting ``len(page.items)``.
- ``sdk``: the official ``llama-cloud`` SDK, ``AsyncLlamaCloud(...).beta.batch.list(limit=N)``
  and its auto-pagination, items iterated.
- ``stream``: ``client`` over a long listing, RSS sampled every ``--sample-every`` jobs.
- ``split``: no walk; fetches one page and times the client's parse steps on it.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import resource
import sys
import time
from collections.abc import Callable
from typing import Any

API_KEY = "bench-key"
ENDPOINT_PATH = "/api/v1/beta/batch-processing"


def _rss_mb() -> float:
    """Current resident set size in MB (psutil when present, else /proc)."""
    try:
        import psutil  # type: ignore[import-untyped]  # noqa: PLC0415 - optional

        return float(psutil.Process().memory_info().rss) / 2**20
    except ImportError:  # pragma: no cover - the bench session installs psutil
        with open("/proc/self/statm") as statm:
            pages = int(statm.read().split()[1])
        return pages * resource.getpagesize() / 2**20


def _peak_rss_mb() -> float:
    # Linux reports ru_maxrss in KiB.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def use_orjson() -> None:
    """Experimental: make the client parse bodies with orjson instead of json.

    Swaps the ``json`` module the client's ``_convert.parse_body`` calls, for
    this process only; the client itself is not changed.
    """
    import types  # noqa: PLC0415

    import orjson  # noqa: PLC0415

    from llama_batch_async import _convert  # noqa: PLC0415 - benchmark-only patch

    shim = types.SimpleNamespace(loads=orjson.loads)
    _convert.json = shim  # type: ignore[attr-defined,assignment]


async def walk_floor(url: str, page_size: int) -> int:
    """The floor: what any client must at least do to list every job."""
    import aiohttp  # noqa: PLC0415

    count = 0
    offset = 0
    headers = {"Authorization": f"Bearer {API_KEY}", "Accept": "application/json"}
    async with aiohttp.ClientSession() as session:
        while True:
            params = {"limit": str(page_size), "offset": str(offset)}
            async with session.get(url + ENDPOINT_PATH, params=params, headers=headers) as resp:
                resp.raise_for_status()
                body = await resp.read()
            items = json.loads(body)["items"]
            for _item in items:
                count += 1
            if len(items) < page_size:
                return count
            offset += len(items)


async def walk_client(url: str, page_size: int, prefetch: int | None) -> int:
    """This client, the way a worker iterates every job (``prefetch`` None: the default)."""
    from llama_batch_async import BatchClient  # noqa: PLC0415

    count = 0
    async with BatchClient(API_KEY, base_url=url) as client:
        pager = (
            client.list_jobs(page_size=page_size)
            if prefetch is None
            else client.list_jobs(page_size=page_size, prefetch=prefetch)
        )
        async for _job in pager:
            count += 1
    return count


async def walk_client_pages(url: str, page_size: int) -> int:
    """This client, page by page: the walk without handing out single jobs."""
    from llama_batch_async import BatchClient  # noqa: PLC0415

    count = 0
    async with BatchClient(API_KEY, base_url=url) as client:
        async for page in client.list_jobs(page_size=page_size).pages():
            count += len(page.items)
    return count


async def walk_sdk(url: str, page_size: int) -> int:
    """The official SDK's auto-pagination (offset + total_size)."""
    from llama_cloud import AsyncLlamaCloud  # noqa: PLC0415

    count = 0
    client = AsyncLlamaCloud(api_key=API_KEY, base_url=url)
    try:
        async for _job in client.beta.batch.list(limit=page_size):
            count += 1
    finally:
        await client.close()
    return count


async def walk_stream(
    url: str, page_size: int, sample_every: int, samples: list[tuple[int, float]]
) -> int:
    """This client over a long listing, jobs dropped as they come; RSS sampled."""
    from llama_batch_async import BatchClient  # noqa: PLC0415

    count = 0
    samples.append((0, _rss_mb()))
    async with BatchClient(API_KEY, base_url=url) as client:
        async for _job in client.list_jobs(page_size=page_size):
            count += 1
            if count % sample_every == 0:
                samples.append((count, _rss_mb()))
    return count


async def split(url: str, page_size: int, rounds: int) -> dict[str, Any]:
    """Time one page's steps, round-robin in one process, best of ``rounds`` each.

    The steps: the floor's fetch (aiohttp GET + read) and ``json.loads``; the
    client's ``structure_page`` (and the timestamps within it); and one whole
    page through `BatchClient` (``max_items=page_size``: one request). Measured
    together so that a machine whose speed drifts cannot skew the split.
    """
    import aiohttp  # noqa: PLC0415

    from llama_batch_async import BatchClient, _convert  # noqa: PLC0415 - introspection

    orjson_loads: Callable[[bytes], object] | None
    try:
        from orjson import loads as orjson_loads  # noqa: PLC0415
    except ImportError:
        orjson_loads = None

    endpoint = url + ENDPOINT_PATH
    params = {"limit": str(page_size), "offset": "0"}
    times: dict[str, list[float]] = {}
    parse_dt = _convert._structure_opt_datetime
    async with aiohttp.ClientSession() as session, BatchClient(API_KEY, base_url=url) as client:

        async def fetch() -> bytes:
            async with session.get(endpoint, params=params) as resp:
                return await resp.read()

        body = await fetch()
        payload = json.loads(body)
        stamps = [
            job[name]
            for job in payload["items"]
            for name in ("completed_at", "created_at", "effective_at", "started_at", "updated_at")
            if job[name] is not None
        ]
        steps: dict[str, Callable[[], object]] = {
            "json_loads_ms": lambda: json.loads(body),
            "structure_page_ms": lambda: _convert.structure_page(payload),
            "datetimes_ms": lambda: [parse_dt(s, None) for s in stamps],
            # What FakeLlamaCloud spends encoding this page on every request.
            "fake_encode_ms": lambda: json.dumps(
                payload, separators=(",", ":"), default=str
            ).encode(),
        }
        if orjson_loads is not None:
            steps["orjson_loads_ms"] = lambda: orjson_loads(body)
        for _ in range(rounds):
            started = time.perf_counter()
            await fetch()
            times.setdefault("fetch_ms", []).append(time.perf_counter() - started)
            started = time.perf_counter()
            await client.list_jobs(page_size=page_size, max_items=page_size).collect()
            times.setdefault("client_page_ms", []).append(time.perf_counter() - started)
            for name, step in steps.items():
                started = time.perf_counter()
                step()
                times.setdefault(name, []).append(time.perf_counter() - started)
    result: dict[str, Any] = {name: min(values) * 1000 for name, values in times.items()}
    result.setdefault("orjson_loads_ms", None)
    result.update(page_size=page_size, body_bytes=len(body), timestamps=len(stamps))
    return result


def main() -> None:
    """Command line: see ``run.py``; prints one JSON line."""
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "variant", choices=["floor", "client", "client-pages", "sdk", "stream", "split"]
    )
    parser.add_argument("--url", required=True)
    parser.add_argument("--page-size", type=int, default=1000)
    parser.add_argument("--prefetch", type=int, default=None, help="default: the library's")
    parser.add_argument("--expect", type=int, default=None, help="jobs the walk must yield")
    parser.add_argument("--sample-every", type=int, default=100_000)
    parser.add_argument("--json-parser", choices=["json", "orjson"], default="json")
    parser.add_argument("--profile", default=None, help="write cProfile stats here")
    args = parser.parse_args()

    if args.json_parser == "orjson":
        use_orjson()
    if args.variant == "split":
        print(json.dumps(asyncio.run(split(args.url, args.page_size, rounds=30))))
        return

    samples: list[tuple[int, float]] = []
    walks = {
        "floor": lambda: walk_floor(args.url, args.page_size),
        "client": lambda: walk_client(args.url, args.page_size, args.prefetch),
        "client-pages": lambda: walk_client_pages(args.url, args.page_size),
        "sdk": lambda: walk_sdk(args.url, args.page_size),
        "stream": lambda: walk_stream(args.url, args.page_size, args.sample_every, samples),
    }
    # Import what the walk needs before the clock starts: start-up is not the walk.
    if args.variant == "sdk":
        import llama_cloud  # noqa: F401, PLC0415
    elif args.variant == "floor":
        import aiohttp  # noqa: F401, PLC0415
    else:
        import llama_batch_async  # noqa: F401, PLC0415
    rss_before = _rss_mb()
    profiler = cProfile.Profile() if args.profile else None

    wall0, cpu0 = time.perf_counter(), time.process_time()
    if profiler is not None:
        profiler.enable()
    count = asyncio.run(walks[args.variant]())
    if profiler is not None:
        profiler.disable()
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0

    if profiler is not None:
        profiler.dump_stats(args.profile)
    if args.expect is not None and count != args.expect:
        print(f"{args.variant}: walked {count} jobs, expected {args.expect}", file=sys.stderr)
        sys.exit(3)
    print(
        json.dumps(
            {
                "variant": args.variant,
                "page_size": args.page_size,
                "prefetch": args.prefetch,
                "jobs": count,
                "wall": wall,
                "cpu": cpu,
                "rss_before_mb": rss_before,
                "peak_rss_mb": _peak_rss_mb(),
                "samples": samples,
            }
        )
    )


if __name__ == "__main__":
    main()
