"""A create is never sent twice when the first may have reached the server (seam 2).

Raw sockets on 127.0.0.1: one server reads the whole request and then resets
the connection (the request was sent: the job may exist), one port refuses
every connection (nothing was sent: retrying is safe). Plus the retry
predicate as a table, without I/O.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import AsyncIterator

import aiohttp
import attrs
import pytest

from llama_batch_async import (
    APIConnectionError,
    BatchClient,
    CreateUncertainError,
)
from llama_batch_async._errors import APITimeoutError, error_for_status
from llama_batch_async._http._retry import RetryPolicy

KEY = "sk-writes-0123456789"


class ResetAfterReading:
    """Reads each request whole (headers and body), then resets the connection."""

    def __init__(self) -> None:
        self.requests: list[bytes] = []
        self._server: asyncio.Server | None = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n"):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        body = await reader.readexactly(length)
        self.requests.append(head + body)
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[str]:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            self._server.close()
            await self._server.wait_closed()


def refusing_url() -> str:
    """A loopback URL nothing listens on: every connection is refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


async def no_sleep(_seconds: float) -> None:
    await asyncio.sleep(0)


def fast(client: BatchClient) -> BatchClient:
    client._context = attrs.evolve(client._context, sleep=no_sleep)
    return client


@pytest.mark.parametrize("which", ["job", "batch"])
async def test_a_create_reset_after_sending_is_uncertain_and_sent_once(which: str) -> None:
    """Read, then reset: CreateUncertainError naming where to look, after one request."""
    server = ResetAfterReading()
    async with server.running() as url, fast(BatchClient(KEY, base_url=url)) as client:
        with pytest.raises(CreateUncertainError) as info:
            if which == "job":
                await client.create_job(job_config={"job_name": "x"}, directory_id="dir-1")
            else:
                await client.create_batch(
                    source_directory_id="dir-1", job_type="parse_v2", configuration_id="c"
                )
    assert len(server.requests) == 1
    assert b'"directory_id":"dir-1"' in server.requests[0] or which == "batch"
    message = str(info.value)
    assert "may exist" in message
    assert ("list_jobs(directory_id='dir-1')" if which == "job" else "list_batches(") in message
    assert KEY not in message


async def test_a_get_reset_after_sending_is_retried() -> None:
    """The same reset for a read is retried: get_job is sent 1 + max_retries times."""
    server = ResetAfterReading()
    async with (
        server.running() as url,
        fast(BatchClient(KEY, base_url=url, max_retries=2)) as client,
    ):
        with pytest.raises(APIConnectionError) as info:
            await client.get_job("bjb-1")
    assert not isinstance(info.value, CreateUncertainError)
    assert len(server.requests) == 3


async def test_a_create_whose_connection_is_refused_is_retried() -> None:
    """Refused before sending: the create certainly did not reach the server, so it is retried."""
    attempts: list[str] = []

    async def on_start(*_: object) -> None:
        attempts.append("start")

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(on_start)
    client = BatchClient(KEY, base_url=refusing_url(), max_retries=2, trace_configs=[trace])
    async with fast(client):
        with pytest.raises(APIConnectionError) as info:
            await client.create_job(job_config={"job_name": "x"}, item_ids=["itm-1"])
    assert not isinstance(info.value, CreateUncertainError)
    assert info.value.sent is False
    assert len(attempts) == 3


@pytest.mark.parametrize(
    ("error", "create", "write"),
    [
        pytest.param(APIConnectionError("refused", sent=False), True, True, id="refused"),
        pytest.param(APIConnectionError("reset"), False, True, id="reset-after-send"),
        pytest.param(APITimeoutError("slow"), False, True, id="timeout-after-send"),
        pytest.param(error_for_status(429), True, True, id="429"),
        pytest.param(error_for_status(503, retry_after=1), True, True, id="503-retry-after"),
        pytest.param(error_for_status(503), False, True, id="503-bare"),
        pytest.param(error_for_status(500), False, True, id="500"),
        pytest.param(error_for_status(409), False, False, id="409"),
        pytest.param(error_for_status(400), False, False, id="400"),
    ],
)
def test_the_retry_predicate_for_creates_and_writes(
    error: Exception, create: bool, write: bool
) -> None:
    """A create is retried only when the server did not act; a cancel like a read, but not a 409."""
    policy = RetryPolicy()
    assert policy.for_request(write=True, idempotent=False).should_retry(error) is create
    assert policy.for_request(write=True, idempotent=True).should_retry(error) is write
    read = policy.for_request(write=False, idempotent=True)
    assert read is policy
    assert read.should_retry(error) is (write or getattr(error, "status_code", 0) == 409)
