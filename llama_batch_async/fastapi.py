"""FastAPI integration: one shared client for the app's lifetime, and NDJSON streaming.

Needs the ``fastapi`` extra (``python3 -m pip install '.[fastapi]'`` in a checkout; without
FastAPI, importing this module raises a `ModuleNotFoundError` that says so):

    from fastapi import FastAPI
    from llama_batch_async.fastapi import BatchClientDep, batch_client_lifespan, ndjson_response

    app = FastAPI(lifespan=batch_client_lifespan())

    @app.get("/jobs/failed")
    async def failed_jobs(client: BatchClientDep) -> list[dict[str, object]]:
        jobs = await client.list_jobs(status="failed", max_items=100).collect()
        return [job.to_dict() for job in jobs]

    @app.get("/jobs/export")
    async def export(client: BatchClientDep):
        return ndjson_response(client.list_jobs(page_size=500))

An app with a lifespan of its own opens the client inside it instead:
``async with BatchClient() as client: yield {"batch_client": client}``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterable, AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Annotated, Any

try:
    from fastapi import Depends, FastAPI, Request
    from fastapi.responses import StreamingResponse
except ModuleNotFoundError as exc:
    # Only FastAPI's own absence gets the hint; a broken install says what broke.
    if (exc.name or "").partition(".")[0] not in {"fastapi", "starlette"}:
        raise
    raise ModuleNotFoundError(
        "llama_batch_async.fastapi needs FastAPI, which is not installed: "
        "python3 -m pip install '.[fastapi]' in a checkout of llama-batch-async",
        name=exc.name,
    ) from exc

from ._client import BatchClient
from ._errors import LlamaBatchError
from ._models import BatchJob

__all__ = [
    "STATE_KEY",
    "BatchClientDep",
    "batch_client_lifespan",
    "get_batch_client",
    "ndjson_lines",
    "ndjson_response",
]

STATE_KEY = "batch_client"
"""The lifespan-state key (and ``request.state`` attribute) holding the client."""


def batch_client_lifespan(
    **client_options: Any,  # noqa: ANN401 - forwarded to BatchClient as they are
) -> Callable[[FastAPI], AbstractAsyncContextManager[dict[str, BatchClient]]]:
    """A FastAPI ``lifespan`` that opens one `BatchClient` and closes it at shutdown.

    The client is shared by every request (it is safe for concurrent use) and
    reached through `get_batch_client` / `BatchClientDep`.

    Args:
        **client_options: Passed to `BatchClient` (``api_key``, ``base_url``,
            ``timeout``, ...); by default the environment configures it.
    """

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[dict[str, BatchClient]]:
        async with BatchClient(**client_options) as client:
            yield {STATE_KEY: client}

    return lifespan


def get_batch_client(request: Request) -> BatchClient:
    """The app's shared client: a FastAPI dependency.

    Args:
        request: The current request (FastAPI supplies it).

    Raises:
        RuntimeError: The app's lifespan did not provide a client.
    """
    client = getattr(request.state, STATE_KEY, None)
    if not isinstance(client, BatchClient):
        raise RuntimeError(
            "no BatchClient in the app state: create the app with "
            "FastAPI(lifespan=batch_client_lifespan()) or yield "
            f"{{{STATE_KEY!r}: client}} from your own lifespan"
        )
    return client


BatchClientDep = Annotated[BatchClient, Depends(get_batch_client)]
"""``client: BatchClientDep`` in an endpoint's signature injects the shared client."""


async def ndjson_lines(jobs: AsyncIterable[BatchJob]) -> AsyncIterator[bytes]:
    """Encode jobs as NDJSON lines, one JSON object per job, as the walk goes.

    If the walk fails after the stream has begun (the status line is already
    sent), the last line is ``{"error": ..., "type": ..., "cursor": ...}`` so the
    receiver knows the listing is incomplete and where it could resume.

    Args:
        jobs: A `JobPager` (or any async iterable of jobs).
    """
    try:
        async for job in jobs:
            yield json.dumps(job.to_dict(), separators=(",", ":")).encode() + b"\n"
    except LlamaBatchError as exc:
        error = {"error": str(exc), "type": type(exc).__name__, "cursor": exc.cursor}
        yield json.dumps(error, separators=(",", ":")).encode() + b"\n"


def ndjson_response(jobs: AsyncIterable[BatchJob], **response_options: Any) -> StreamingResponse:  # noqa: ANN401
    """Stream a walk to the HTTP client as NDJSON (``application/x-ndjson``).

    Memory stays flat however long the walk: each page is sent as it arrives.

    Args:
        jobs: A `JobPager` (or any async iterable of jobs).
        **response_options: Passed to `StreamingResponse` (``headers``, ...).
    """
    return StreamingResponse(
        ndjson_lines(jobs), media_type="application/x-ndjson", **response_options
    )
