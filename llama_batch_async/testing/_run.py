"""Running a `FakeLlamaCloud` outside a test's own loop: a thread, or a blocking process."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, TextIO

from ._server import FakeLlamaCloud

__all__ = ["run_fake_server", "serve_in_thread"]


async def _serve_forever(cloud: FakeLlamaCloud, stream: TextIO) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signum, stop.set)
    async with cloud:
        stream.write(cloud.url + "\n")
        stream.flush()
        await stop.wait()


@contextlib.contextmanager
def serve_in_thread(
    jobs: int | Sequence[Mapping[str, Any]] = 0,
    **options: Any,  # noqa: ANN401 - FakeLlamaCloud's keyword options
) -> Iterator[FakeLlamaCloud]:
    """Run a `FakeLlamaCloud` on its own event loop in a background thread.

    For synchronous tests, such as FastAPI's ``TestClient``, whose app runs in
    a loop of its own:

        with serve_in_thread(jobs=20) as cloud:
            app = make_app(base_url=cloud.url)
            ...

    Scripting faults and reading ``cloud.requests`` from the test's thread is
    fine: each is one list or deque operation.

    Args:
        jobs: As for `FakeLlamaCloud`.
        **options: `FakeLlamaCloud` keyword options.
    """
    cloud = FakeLlamaCloud(jobs, **options)
    loop = asyncio.new_event_loop()
    ready = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(cloud.start())
        ready.set()
        loop.run_forever()
        loop.run_until_complete(cloud.stop())
        loop.close()

    thread = threading.Thread(target=run, name="FakeLlamaCloud", daemon=True)
    thread.start()
    if not ready.wait(30):  # pragma: no cover - a broken machine
        raise RuntimeError("FakeLlamaCloud did not start within 30 s")
    try:
        yield cloud
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(30)


def run_fake_server(
    host: str = "127.0.0.1",
    port: int = 0,
    jobs: int | Sequence[Mapping[str, Any]] = 250,
    *,
    stream: TextIO | None = None,
    **options: Any,  # noqa: ANN401 - FakeLlamaCloud's keyword options
) -> None:
    """Run a `FakeLlamaCloud` until SIGINT or SIGTERM (blocks).

    Once listening, it writes its base URL on one line to ``stream`` and flushes.

    Args:
        host: The address to listen on.
        port: The port to listen on; 0 lets the OS choose.
        jobs: How many synthetic jobs to serve, or the jobs themselves.
        stream: Where to write the URL; standard output by default.
        **options: `FakeLlamaCloud`'s keyword options (``seed``, ``api_key``,
            ``paging``, ``batches``, ``latency``, ``progress``, ...), declared
            once there and checked by it.
    """
    cloud = FakeLlamaCloud(jobs, host=host, port=port, **options)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve_forever(cloud, stream or sys.stdout))
