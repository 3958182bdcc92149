"""RedisLimiter behind a slow link, and in front of a server that is not Redis (issue 24: 13, 14).

A real redis-server on a TCP port of 127.0.0.1 behind a small delaying proxy, and a
tiny RESP server (asyncio.start_server) that answers our scripts with wrong types.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from helpers import admit, cli_env, run_process

from llama_batch_async import BatchClient
from llama_batch_async.testing import FakeLlamaCloud

pytest.importorskip("redis.asyncio", reason="python3 -m pip install '.[redis]' in a checkout")
from llama_batch_async.redis import RedisLimiter

KEY = "sk-harden-redis-0123456789"
# One way: a round trip through the proxy is twice this, ~140 ms, the figure.
ONE_WAY_DELAY = 0.07


def free_port() -> int:
    """A TCP port on 127.0.0.1 free a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture
def redis_tcp(tmp_path: Path) -> Iterator[int]:
    """A real redis-server on a TCP port of 127.0.0.1, persistence off; its port."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    port = free_port()
    process = subprocess.Popen(  # noqa: S603 - a fixed local binary
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            if time.monotonic() > deadline or process.poll() is not None:
                pytest.fail("redis-server did not start within 10 s")
            time.sleep(0.01)
        yield port
    finally:
        process.kill()
        process.wait(5)


@contextlib.asynccontextmanager
async def delaying_proxy(target_port: int, delay: float) -> AsyncIterator[int]:
    """A TCP proxy on 127.0.0.1 that holds every chunk ``delay`` seconds each way; its port."""
    tasks: set[asyncio.Task[None]] = set()

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while chunk := await reader.read(65536):
                await asyncio.sleep(delay)
                writer.write(chunk)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        server_r, server_w = await asyncio.open_connection("127.0.0.1", target_port)
        for task in (
            asyncio.create_task(pipe(client_r, server_w)),
            asyncio.create_task(pipe(server_r, client_w)),
        ):
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()


async def no_sleep(seconds: float) -> None:
    """A limiter's sleep that does not wait (the test is about Redis, not pacing)."""
    del seconds


# ------------------------------------------------------------------ 13: a slow link


async def test_redis_140_ms_away_is_used(redis_tcp: int) -> None:
    """A Redis ~140 ms away (round trip) answers within the timeouts: no fallback."""
    async with (
        delaying_proxy(redis_tcp, ONE_WAY_DELAY) as port,
        RedisLimiter(f"redis://127.0.0.1:{port}/0", key="slow-link") as limiter,
    ):
        for _ in range(3):
            await asyncio.wait_for(admit(limiter, no_sleep), 10)
        await asyncio.wait_for(limiter.rate_limited(0.001), 10)
    assert limiter.fallbacks == 0
    assert limiter.outages == 0
    assert len(limiter.admitted) == 3
    assert len(limiter.paused) == 1


def test_cli_verbose_says_how_often_redis_was_not_used() -> None:
    """llama-batch -v with a Redis that is down says the fallback count on stderr."""
    url = f"redis://127.0.0.1:{free_port()}/0"
    done = run_process(
        [sys.executable, "-m", "llama_batch_async.cli", "list", "--demo", "--max-items", "3",
         "--prefetch", "0", "--redis-url", url, "-v"],
        env=cli_env(),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "INFO: Redis limiter: Redis not used for " in done.stderr
    assert "Traceback" not in done.stderr


# ------------------------------------------------------------------ 14: not Redis


def _bulk(text: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(text), text)


WRONG_REPLIES = {
    "simple-string": b"+OK\r\n",
    "integer": b":5\r\n",
    "bulk-string": _bulk(b"hello"),
    "three-integers": b"*3\r\n:1\r\n:2\r\n:3\r\n",
    "unknown-kind": b"*2\r\n:7\r\n:1\r\n",
    "string-in-array": b"*2\r\n" + _bulk(b"x") + b":1\r\n",
    "negative": b"*2\r\n:1\r\n:-5\r\n",
    "pause-of-years": b"*2\r\n:2\r\n:999999999999\r\n",
    "budget-past-window": b"*2\r\n:0\r\n:999999999999\r\n",
    "nil": b"$-1\r\n",
    "empty-array": b"*0\r\n",
}


async def _read_command(reader: asyncio.StreamReader) -> list[bytes]:
    """One RESP command (an array of bulk strings) as its parts."""
    header = await reader.readline()
    if not header.startswith(b"*"):
        raise ConnectionError("not a RESP array")
    parts = []
    for _ in range(int(header[1:])):
        size = int((await reader.readline())[1:])
        parts.append((await reader.readexactly(size + 2))[:-2])
    return parts


@contextlib.asynccontextmanager
async def wrong_server(reply: bytes) -> AsyncIterator[str]:
    """A RESP server on 127.0.0.1: +OK to set-up commands, ``reply`` to every script call."""
    tasks: set[asyncio.Task[None]] = set()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                command = (await _read_command(reader))[0].upper()
                if command == b"PING":
                    writer.write(b"+PONG\r\n")
                elif command in {b"EVALSHA", b"EVAL", b"SCRIPT", b"FCALL"}:
                    writer.write(reply)
                else:  # CLIENT SETINFO, SELECT, HELLO ...
                    writer.write(b"+OK\r\n")
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            writer.close()

    def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.create_task(serve(reader, writer))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield f"redis://127.0.0.1:{server.sockets[0].getsockname()[1]}/0"
    finally:
        server.close()
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()


@pytest.mark.parametrize("reply", list(WRONG_REPLIES.values()), ids=list(WRONG_REPLIES))
async def test_out_of_contract_reply_is_redis_unavailable(
    reply: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    """Wrong-typed script replies (and a 429 on the way): the walk completes, one WARNING."""
    caplog.set_level(logging.WARNING, logger="llama_batch_async.redis")
    async with wrong_server(reply) as url, FakeLlamaCloud(jobs=30, api_key=KEY) as cloud:
        cloud.fail_next(429, retry_after=0)
        async with (
            RedisLimiter(url, retry_interval=60) as limiter,
            BatchClient(KEY, base_url=cloud.url, limiter=limiter) as client,
        ):
            pager = client.list_jobs(page_size=10, prefetch=0)
            jobs = await asyncio.wait_for(pager.collect(), 30)
    assert len(jobs) == 30
    assert limiter.fallbacks >= 1
    assert pager.stats.limiter_fallbacks >= 1
    warnings = [r for r in caplog.records if r.name == "llama_batch_async.redis"]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert warnings[0].levelno == logging.WARNING
