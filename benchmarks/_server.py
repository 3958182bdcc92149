"""A benchmark-only server: FakeLlamaCloud's records, served from pre-rendered bytes.

Why not `FakeLlamaCloud` itself: it encodes every page with ``json.dumps`` per
request (about 10 ms for a page of 1000 jobs on the reference machine), which is
more than the floor client spends parsing that page. In a sequential walk the
client waits for the server, so that cost would be added to every variant and
dilute every ratio. This server serves the *same* records (``make_jobs`` with
seed 0, encoded the way the fake encodes them) but renders each job once at
start-up and each page body once, so a request costs aiohttp's own overhead
plus a dict lookup. The point is to measure the client.

One process, three listeners on 127.0.0.1 (port 0 each):

- ``fast``: ``--jobs`` jobs, no added latency;
- ``slow``: the same jobs, ``--latency-ms`` added before every response;
- ``stream``: ``--stream-jobs`` jobs for the memory run. Job ``i`` reuses the
  record body of job ``i % --jobs`` but gets a unique id rendered from ``i``
  (``bjb-<i as 8 hex digits>-<rest of the base job's uuid>``), so the client's
  duplicate window never drops one. Stream pages are rendered per request
  (about 1 ms per 1000 jobs) and not cached.

Every listener pages by ``limit``/``offset`` like the reference, sends
``total_size`` (the official SDK's pager needs it to go past page one) and
no ``next_page_token``. The first stdout line is a JSON object of the three
base URLs; the server runs until SIGTERM/SIGINT (or, with ``--watch-stdin``, until
stdin closes).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from llama_batch_async.testing import ENDPOINT_PATH, make_jobs

_ID_PREFIX = b'{"id":"bjb-'
_ID_HEAD = len(_ID_PREFIX) + 8  # the prefix and the uuid's first 8 hex digits


class Catalog:
    """Pre-encoded jobs and the page bodies made of them."""

    def __init__(self, jobs: int, *, seed: int = 0) -> None:
        started = time.perf_counter()
        records = make_jobs(jobs, seed=seed)
        self.generate_seconds = time.perf_counter() - started
        started = time.perf_counter()
        # Encoded as FakeLlamaCloud's _json_response encodes them.
        self.encoded = [json.dumps(job, separators=(",", ":")).encode() for job in records]
        self.encode_seconds = time.perf_counter() - started
        self.size = jobs
        self._pages: dict[tuple[int, int], bytes] = {}
        # For the stream listener: each record without its id's first 8 hex digits.
        self._tails = [body[_ID_HEAD:] for body in self.encoded]
        if any(not body.startswith(_ID_PREFIX) for body in self.encoded[:10]):
            raise RuntimeError("records no longer start with their bjb- id; update _server.py")

    def prerender(self, page_size: int) -> None:
        """Render every page of a sequential walk at ``page_size`` ahead of time."""
        for offset in range(0, self.size + 1, page_size):
            self.page(offset, page_size)

    def page(self, offset: int, limit: int) -> bytes:
        """The body for one page of the ``fast``/``slow`` listing (cached)."""
        key = (offset, limit)
        body = self._pages.get(key)
        if body is None:
            items = b",".join(self.encoded[offset : offset + limit])
            body = b'{"items":[' + items + b'],"total_size":%d}' % self.size
            self._pages[key] = body
        return body

    def stream_page(self, offset: int, limit: int, total: int) -> bytes:
        """The body for one page of the ``stream`` listing of ``total`` unique jobs."""
        end = min(offset + limit, total)
        tails, n = self._tails, self.size
        items = b",".join(b'{"id":"bjb-%08x' % i + tails[i % n] for i in range(offset, end))
        return b'{"items":[' + items + b'],"total_size":%d}' % total


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _paging(request: web.Request) -> tuple[int, int]:
    query = request.query
    return max(0, int(query.get("offset", "0"))), max(0, int(query.get("limit", "50")))


def make_handler(catalog: Catalog, *, latency: float = 0.0, stream_total: int = 0) -> Handler:
    """One listener's request handler."""

    async def handle(request: web.Request) -> web.StreamResponse:
        offset, limit = _paging(request)
        if latency:
            await asyncio.sleep(latency)
        if stream_total:
            body = catalog.stream_page(offset, limit, stream_total)
        else:
            body = catalog.page(offset, limit)
        return web.Response(body=body, content_type="application/json")

    return handle


async def _listen(handler: Handler) -> tuple[web.AppRunner, str]:
    app = web.Application()
    app.router.add_get(ENDPOINT_PATH, handler)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}"


async def serve(
    jobs: int,
    stream_jobs: int,
    latency: float,
    *,
    prerender: tuple[int, ...] = (),
    watch_stdin: bool = False,
) -> None:
    """Start the three listeners, print their URLs, and wait for a stop signal."""
    catalog = Catalog(jobs)
    for page_size in prerender:
        catalog.prerender(page_size)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    if watch_stdin:
        # A parent that dies closes our stdin pipe: stop then too, never linger.
        loop.add_reader(sys.stdin.fileno(), stop.set)
    runners: list[web.AppRunner] = []
    urls: dict[str, object] = {}
    for name, handler in (
        ("fast", make_handler(catalog)),
        ("slow", make_handler(catalog, latency=latency)),
        ("stream", make_handler(catalog, stream_total=stream_jobs)),
    ):
        runner, url = await _listen(handler)
        runners.append(runner)
        urls[name] = url
    urls["generate_seconds"] = round(catalog.generate_seconds, 3)
    urls["encode_seconds"] = round(catalog.encode_seconds, 3)
    print(json.dumps(urls), flush=True)
    try:
        await stop.wait()
    finally:
        for runner in runners:
            await runner.cleanup()


def main() -> None:
    """Command line: ``python benchmarks/_server.py --jobs N --stream-jobs M --latency-ms L``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--stream-jobs", type=int, default=1_000_000)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument(
        "--prerender", default="100,1000", help="page sizes whose pages are rendered at start"
    )
    parser.add_argument("--watch-stdin", action="store_true", help="stop when stdin closes")
    args = parser.parse_args()
    sizes = tuple(int(size) for size in args.prerender.split(",") if size.strip())
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(
            serve(
                args.jobs,
                args.stream_jobs,
                args.latency_ms / 1000,
                prerender=sizes,
                watch_stdin=args.watch_stdin,
            )
        )


if __name__ == "__main__":
    main()
