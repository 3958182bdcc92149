"""FastAPI: one shared client for the app's lifetime, dependency injection, NDJSON."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from llama_batch_async import BatchClient
from llama_batch_async.fastapi import (
    BatchClientDep,
    batch_client_lifespan,
    get_batch_client,
    ndjson_response,
)
from llama_batch_async.testing import FakeLlamaCloud, serve_in_thread

KEY = "sk-fastapi"


def make_app(base_url: str, seen: list[BatchClient], **options: Any) -> FastAPI:
    app = FastAPI(lifespan=batch_client_lifespan(api_key=KEY, base_url=base_url, **options))

    @app.get("/jobs/failed")
    async def failed_jobs(client: BatchClientDep) -> list[dict[str, Any]]:
        seen.append(client)
        jobs = await client.list_jobs(status="failed").collect()
        return [job.to_dict() for job in jobs]

    @app.get("/jobs/export")
    async def export(client: BatchClientDep) -> Any:
        seen.append(client)
        return ndjson_response(client.list_jobs(page_size=25))

    return app


def test_one_client_for_the_app_lifetime() -> None:
    """Requests share one client, created at startup and closed at shutdown."""
    seen: list[BatchClient] = []
    with serve_in_thread(jobs=60, seed=2) as cloud:
        with TestClient(make_app(cloud.url, seen)) as http:
            first = http.get("/jobs/failed")
            second = http.get("/jobs/failed")
            assert first.status_code == second.status_code == 200
            expected = [job["id"] for job in cloud.jobs if job["status"] == "failed"]
            assert [job["id"] for job in first.json()] == expected
            assert not seen[0].closed
        assert seen[0] is seen[1]
        assert seen[0].closed


def test_export_streams_every_job_as_ndjson() -> None:
    """A long walk streams as NDJSON, one reference-shaped object per line."""
    seen: list[BatchClient] = []
    with serve_in_thread(jobs=130) as cloud, TestClient(make_app(cloud.url, seen)) as http:
        response = http.get("/jobs/export")
        assert response.headers["content-type"] == "application/x-ndjson"
        lines = [json.loads(line) for line in response.text.splitlines()]
        assert [line["id"] for line in lines] == [job["id"] for job in cloud.jobs]
        assert lines[0] == cloud.jobs[0] | {
            key: lines[0][key] for key in lines[0] if key.endswith("_at")
        }


def test_stream_ends_with_an_error_line_and_cursor() -> None:
    """A walk failing mid-stream ends with an error line carrying the resume cursor."""
    seen: list[BatchClient] = []
    with serve_in_thread(jobs=130) as cloud:
        app = make_app(cloud.url, seen, max_retries=0)
        with TestClient(app) as http:
            original = cloud.jobs[50]["id"]
            cloud.jobs[50]["total_items"] = "broken"  # page 3 cannot be structured
            response = http.get("/jobs/export")
            lines = [json.loads(line) for line in response.text.splitlines()]
        assert len(lines) == 51
        assert lines[-1]["type"] == "ResponseValidationError"
        # the page that failed may be a prefetched guess starting one job early
        assert re.search(r"\$\.items\[[01]\]\.total_items", lines[-1]["error"])
        assert lines[-1]["cursor"]
        assert original not in [line.get("id") for line in lines]


def test_dependency_without_lifespan_says_how_to_wire_it() -> None:
    """Without the lifespan, the dependency raises a RuntimeError naming the fix."""

    class State:
        pass

    class FakeRequest:
        state = State()

    with pytest.raises(RuntimeError, match="batch_client_lifespan"):
        get_batch_client(FakeRequest())  # type: ignore[arg-type]


async def test_lifespan_closes_the_client() -> None:
    """The lifespan yields the client in the state and closes it on exit."""
    async with FakeLlamaCloud(jobs=3) as cloud:
        lifespan = batch_client_lifespan(api_key=KEY, base_url=cloud.url)
        async with lifespan(FastAPI()) as state:
            client = state["batch_client"]
            assert len(await client.list_jobs().collect()) == 3
        assert client.closed


@pytest.mark.parametrize("blocked", ["fastapi", "starlette"])
def test_import_without_fastapi_names_the_extra(blocked: str) -> None:
    """Without FastAPI installed, the import error says which extra to install."""
    code = f"import sys; sys.modules[{blocked!r}] = None; import llama_batch_async.fastapi"
    result = subprocess.run(  # noqa: S603 - this interpreter, fixed code
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("ModuleNotFoundError: llama_batch_async.fastapi needs FastAPI")
    assert last.endswith("python3 -m pip install '.[fastapi]' in a checkout of llama-batch-async")


def test_import_error_of_a_broken_install_is_not_masked() -> None:
    """A missing module other than FastAPI's own is reported as it is, without the hint."""
    code = "import sys; sys.modules['pydantic'] = None; import llama_batch_async.fastapi"
    result = subprocess.run(  # noqa: S603 - this interpreter, fixed code
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 1
    assert "pydantic" in result.stderr
    assert "pip install" not in result.stderr
