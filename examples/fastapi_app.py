"""A FastAPI app sharing one BatchClient for its whole lifetime.

    python3 -m pip install ".[fastapi]" uvicorn   # in a checkout of llama-batch-async
    LLAMA_CLOUD_API_KEY=... uvicorn examples.fastapi_app:app

GET /jobs/failed returns a JSON list; GET /jobs/export streams every job as NDJSON.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Query

from llama_batch_async import JobStatus
from llama_batch_async.fastapi import BatchClientDep, batch_client_lifespan, ndjson_response

app = FastAPI(title="batch jobs", lifespan=batch_client_lifespan())


@app.get("/jobs/failed")
async def failed_jobs(
    client: BatchClientDep, project_id: str | None = None, limit: int = Query(100, ge=1, le=1000)
) -> list[dict[str, Any]]:
    """The latest failed jobs, at most ``limit``."""
    pager = client.list_jobs(status=JobStatus.FAILED, project_id=project_id, max_items=limit)
    return [job.to_dict() for job in await pager.collect()]


@app.get("/jobs/export")
async def export_jobs(client: BatchClientDep, status: JobStatus | None = None) -> Any:  # noqa: ANN401
    """Every job (optionally of one status) as NDJSON, streamed as the walk goes."""
    return ndjson_response(client.list_jobs(status=status, page_size=500, prefetch=2))
