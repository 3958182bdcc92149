"""``get``, ``items``, ``cancel``, ``create``, ``batches get|cancel``: the installed command.

Against FakeLlamaCloud, with the formats, exit codes and error wording of the other verbs.
"""

from __future__ import annotations

import json
from pathlib import Path

from cli_helpers import KEY, connect, jsonl, run_installed

from llama_batch_async.testing import make_batch, make_job, serve_in_thread


def _jobs() -> list[dict[str, object]]:
    return [
        make_job(
            id="bjb-run",
            status="running",
            total_items=6,
            processed_items=2,
            failed_items=0,
            skipped_items=0,
        ),
        make_job(
            id="bjb-bad",
            status="failed",
            total_items=5,
            processed_items=2,
            failed_items=3,
            skipped_items=0,
        ),
    ]


def test_get_writes_each_job_and_exits_1_for_an_unknown_id() -> None:
    """Get JOB_ID...: one status request each, the list record; an unknown id on stderr, exit 1."""
    with serve_in_thread(_jobs(), api_key=KEY) as cloud:
        result = run_installed("get", "bjb-run", "bjb-nope", "bjb-bad", *connect(cloud))
        paths = [request.path for request in cloud.requests]
    assert result.returncode == 1
    assert [record["id"] for record in jsonl(result.stdout)] == ["bjb-run", "bjb-bad"]
    assert result.stderr == "error: job 'bjb-nope' not found (HTTP 404, request id req-2)\n"
    assert paths == [
        f"/api/v1/beta/batch-processing/{i}" for i in ("bjb-run", "bjb-nope", "bjb-bad")
    ]


def test_items_lists_the_failed_files_in_every_format(tmp_path: Path) -> None:
    """Items JOB_ID --status failed: the failed items; --fields and -o FILE as list has them."""
    with serve_in_thread(_jobs(), api_key=KEY) as cloud:
        piped = run_installed("items", "bjb-bad", "--status", "failed", *connect(cloud))
        out = tmp_path / "failed.csv"
        written = run_installed(
            "items", "bjb-bad", "--fields", "item_name,status", "-o", str(out), *connect(cloud)
        )
    assert piped.returncode == 0, piped.stderr
    records = jsonl(piped.stdout)
    assert [record["status"] for record in records] == ["failed"] * 3
    assert all(record["error_message"] for record in records)
    assert written.returncode == 0, written.stderr
    lines = out.read_text().splitlines()
    assert lines[0] == "item_name,status"
    assert len(lines) == 6


def test_items_of_an_unknown_job_exits_1() -> None:
    """Items of an unknown job: one line on stderr naming it, exit 1."""
    with serve_in_thread(_jobs(), api_key=KEY) as cloud:
        result = run_installed("items", "bjb-nope", *connect(cloud))
    assert result.returncode == 1
    assert "job 'bjb-nope' not found (HTTP 404" in result.stderr


def test_cancel_cancels_and_says_which_could_not_be() -> None:
    """Cancel JOB_ID... --reason: the answer per job; a finished one is said, exit 1."""
    with serve_in_thread(_jobs(), api_key=KEY) as cloud:
        result = run_installed("cancel", "bjb-run", "bjb-bad", "--reason", "oops", *connect(cloud))
        status = cloud.get_job("bjb-run")["status"]
    assert result.returncode == 1
    assert jsonl(result.stdout) == [
        {
            "job_id": "bjb-run",
            "status": "cancelled",
            "processed_items": 2,
            "message": "Batch job cancelled",
        }
    ]
    assert "job 'bjb-bad' cannot be cancelled: it has already finished (HTTP 409" in result.stderr
    assert status == "cancelled"


def test_create_starts_a_job_from_a_config_file(tmp_path: Path) -> None:
    """Create --config FILE --directory-id: the new job's record; a bad file is exit 2."""
    config = tmp_path / "job.json"
    config.write_text(json.dumps({"job_name": "parse_raw_file_job", "parameters": {}}))
    with serve_in_thread(_jobs(), api_key=KEY) as cloud:
        result = run_installed(
            "create", "--config", str(config), "--directory-id", "dir-7", *connect(cloud)
        )
        count = len(cloud.jobs)
    assert result.returncode == 0, result.stderr
    (record,) = jsonl(result.stdout)
    assert (record["status"], record["directory_id"]) == ("pending", "dir-7")
    assert count == 3
    (tmp_path / "bad.json").write_text("[1, 2]")
    bad = run_installed(
        "create", "--config", str(tmp_path / "bad.json"), "--item-ids", "a,b", "--demo"
    )
    assert bad.returncode == 2
    assert bad.stderr.endswith("--config must hold a JSON object (the job configuration)\n")


def test_a_bad_job_id_is_a_usage_error_before_any_request() -> None:
    """An id that is not one path segment: exit 2, the rule said with JOB_ID, no request."""
    with serve_in_thread(_jobs(), api_key=KEY) as cloud:
        result = run_installed("get", "../x", *connect(cloud))
        sent = len(cloud.requests)
    assert result.returncode == 2
    assert result.stderr.startswith("error: JOB_ID must be a non-empty id string of one path")
    assert sent == 0


def test_batches_get_and_cancel() -> None:
    """Batches get / cancel BATCH_ID...: the batch; a finished batch cannot be cancelled, exit 1."""
    batches = [
        make_batch(id="bat-run", status="RUNNING"),
        make_batch(id="bat-ok", status="COMPLETED"),
    ]
    with serve_in_thread(batches=batches, api_key=KEY) as cloud:
        shown = run_installed("batches", "get", "bat-run", "bat-ok", *connect(cloud))
        cancelled = run_installed("batches", "cancel", "bat-run", "bat-ok", *connect(cloud))
    assert shown.returncode == 0, shown.stderr
    assert [record["id"] for record in jsonl(shown.stdout)] == ["bat-run", "bat-ok"]
    assert cancelled.returncode == 1
    assert [record["status"] for record in jsonl(cancelled.stdout)] == ["CANCELLED"]
    assert (
        "batch 'bat-ok' cannot be cancelled: it has already finished (HTTP 409" in cancelled.stderr
    )


def test_the_demo_serves_the_new_verbs() -> None:
    """--demo: a listed job's status and items, with no key and no network."""
    listed = run_installed("list", "--demo", "--status", "failed", "--max-items", "1")
    job_id = jsonl(listed.stdout)[0]["id"]
    shown = run_installed("get", "--demo", job_id)
    items = run_installed("items", "--demo", job_id, "--status", "failed")
    assert (shown.returncode, items.returncode) == (0, 0)
    assert jsonl(shown.stdout)[0]["id"] == job_id
    assert len(jsonl(items.stdout)) == jsonl(listed.stdout)[0]["failed_items"]
