"""The examples in examples/ run, as users would run them, against a fake cloud.

The scripts run in this process (helpers.run_script: ``python -W error script args``
as ``__main__``, from the test's folder): a subprocess would add only Python's start-up.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from helpers import TIMEOUT, Result, run_script

from llama_batch_async.testing import FakeLlamaCloud, serve_in_thread

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
KEY = "sk-examples"


@pytest.fixture
def cloud() -> Iterator[FakeLlamaCloud]:
    with serve_in_thread(jobs=345, seed=11, api_key=KEY) as server:
        yield server


def run_example(cloud: FakeLlamaCloud, cwd: Path, script: str, *args: str) -> Result:
    """``cd CWD && python SCRIPT ARGS`` with the cloud's key and URL in the environment."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LLAMA_CLOUD_API_KEY", KEY)
        patch.setenv("LLAMA_CLOUD_BASE_URL", cloud.url)
        return run_script(Path(script), *args, cwd=cwd)


def test_worker_resumes_from_its_checkpoint(cloud: FakeLlamaCloud, tmp_path: Path) -> None:
    """Stopped after two pages and run again, the worker handles every job once."""
    worker = str(EXAMPLES / "worker.py")
    first = run_example(cloud, tmp_path, worker, "--stop-after-pages", "2")
    assert first.returncode == 0, first.stderr
    assert "handled 200 jobs" in first.stdout
    assert (tmp_path / "walk.cursor").exists()
    second = run_example(cloud, tmp_path, worker)
    assert second.returncode == 0, second.stderr
    assert "handled 145 jobs" in second.stdout
    assert not (tmp_path / "walk.cursor").exists()
    lines = (tmp_path / "jobs.jsonl").read_text().splitlines()
    assert [json.loads(line)["id"] for line in lines] == [job["id"] for job in cloud.jobs]


def test_worker_on_a_schedule_walks_everything_each_run(
    cloud: FakeLlamaCloud, tmp_path: Path
) -> None:
    """A completed walk deletes its checkpoint, so the next run handles every job again."""
    worker = str(EXAMPLES / "worker.py")
    for run in range(2):
        result = run_example(cloud, tmp_path, worker)
        assert result.returncode == 0, result.stderr
        assert "handled 345 jobs" in result.stdout, f"run {run + 1}: {result.stdout}"
        assert not (tmp_path / "walk.cursor").exists()


def test_deadline_call_lists_failed_parse_jobs(cloud: FakeLlamaCloud, tmp_path: Path) -> None:
    """The service call prints the project's failed parse jobs within its deadline."""
    project = cloud.jobs[0]["project_id"]
    result = run_example(cloud, tmp_path, str(EXAMPLES / "deadline.py"), project)
    expected = [
        job["id"]
        for job in cloud.jobs
        if job["project_id"] == project and job["status"] == "failed" and job["job_type"] == "parse"
    ]
    assert result.returncode == 0, result.stderr
    assert f"{len(expected)} failed parse jobs" in result.stdout
    assert [line.split()[0] for line in result.stdout.splitlines()[:-1]] == expected


def test_deadline_call_gives_up_in_time(cloud: FakeLlamaCloud, tmp_path: Path) -> None:
    """Past its deadline the service call stops with exit code 124."""
    cloud.delay_next(10)
    result = run_example(
        cloud, tmp_path, str(EXAMPLES / "deadline.py"), "proj-x", "--deadline", "0.5"
    )
    assert result.returncode == 124
    assert "no answer within 0.5 s" in result.stderr


def test_fastapi_example_serves_and_streams(
    cloud: FakeLlamaCloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The FastAPI example lists failed jobs and streams the export as NDJSON."""
    monkeypatch.setenv("LLAMA_CLOUD_API_KEY", KEY)
    monkeypatch.setenv("LLAMA_CLOUD_BASE_URL", cloud.url)
    monkeypatch.syspath_prepend(str(EXAMPLES))
    import fastapi_app  # noqa: PLC0415 - the example module, importable only from here

    with TestClient(fastapi_app.app) as http:
        failed = http.get("/jobs/failed", params={"limit": 5}).json()
        export = http.get("/jobs/export", params={"status": "completed"})
    assert [job["status"] for job in failed] == ["failed"] * len(failed)
    assert 0 < len(failed) <= 5
    completed = [json.loads(line)["id"] for line in export.text.splitlines()]
    assert completed == [job["id"] for job in cloud.jobs if job["status"] == "completed"]


def _alerts(state: Path) -> list[str]:
    path = state / "alerts.jsonl"
    if not path.exists():
        return []
    return [json.loads(line)["id"] for line in path.read_text().splitlines()]


def _failed(cloud: FakeLlamaCloud) -> list[str]:
    return [job["id"] for job in cloud.jobs if job["status"] == "failed"]


def test_failures_reacts_once_to_each_new_failure(cloud: FakeLlamaCloud, tmp_path: Path) -> None:
    """Walk after walk, the failures worker reacts only to jobs that failed since the last one."""
    script = str(EXAMPLES / "failures.py")
    state = tmp_path / "state"
    first = run_example(cloud, tmp_path, script, "--once", "--state", str(state))
    assert first.returncode == 0, first.stderr
    failed = _failed(cloud)
    assert f"{len(failed)} new failures" in first.stdout
    assert _alerts(state) == failed
    again = run_example(cloud, tmp_path, script, "--once", "--state", str(state))
    assert again.stdout == "0 new failures\n"
    newly = [job["id"] for job in cloud.jobs if job["status"] == "running"][:3]
    for job_id in newly:
        cloud.update_job(job_id, status="failed", error_message="Worker lost")
    third = run_example(cloud, tmp_path, script, "--once", "--state", str(state))
    assert third.stdout.splitlines()[-1] == "3 new failures"
    assert _alerts(state) == failed + [i for i in _failed(cloud) if i in newly]
    assert not (state / "failed.cursor").exists()  # each walk completed


def test_failures_killed_with_sigkill_resumes_and_repeats_at_most_one(
    cloud: FakeLlamaCloud, tmp_path: Path
) -> None:
    """`kill -9` mid-walk, run again: every failure handled, at most one reaction twice."""
    state = tmp_path / "state"
    args = [sys.executable, str(EXAMPLES / "failures.py"), "--once", "--state", str(state)]
    args += ["--page-size", "5", "--react-seconds", "0.02"]
    env = {**os.environ, "LLAMA_CLOUD_API_KEY": KEY, "LLAMA_CLOUD_BASE_URL": cloud.url}
    failed = _failed(cloud)
    assert len(failed) > 12
    proc = subprocess.Popen(args, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL)  # noqa: S603
    try:
        for _ in range(int(TIMEOUT / 0.01)):
            if len(_alerts(state)) >= 12 or proc.poll() is not None:
                break
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=TIMEOUT)
    assert proc.returncode == -signal.SIGKILL  # killed mid-walk, not finished
    assert (state / "failed.cursor").exists()  # a page or more was checkpointed
    rest = run_example(
        cloud, tmp_path, str(EXAMPLES / "failures.py"), "--once", "--state", str(state)
    )
    assert rest.returncode == 0, rest.stderr
    alerts = _alerts(state)
    assert set(alerts) == set(failed)
    assert len(alerts) - len(failed) <= 1  # only the reaction the kill interrupted
