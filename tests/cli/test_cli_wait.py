"""``llama-batch wait``: each job printed as it finishes, exit codes, the live status line."""

from __future__ import annotations

import asyncio
import json
import re
import sys

import pytest
from cli_helpers import (
    FAST,
    KEY,
    TERMINAL,
    Terminal,
    arun_cli,
    collect,
    command,
    connect,
    finish_job,
    job,
    jsonl,
    requests_reach,
    run_cli,
    screen,
    spawn_cli,
    wire_records,
)
from helpers import (
    on_pty,
)

from llama_batch_async.cli import main
from llama_batch_async.testing import (
    PROJECT_IDS,
    FakeLlamaCloud,
    make_jobs,
)


async def test_wait_prints_each_job_as_it_finishes_and_exits_0() -> None:
    """Each job is printed the poll it finishes, each once; --project-id scopes."""
    project = PROJECT_IDS[1]
    jobs = [job(job_id, project_id=project) for job_id in ("bjb-c", "bjb-b", "bjb-a")]
    async with FakeLlamaCloud(jobs, api_key=KEY) as cloud:
        proc = spawn_cli(
            "wait", "bjb-a", "bjb-b", "bjb-c", *connect(cloud), *FAST, "--project-id", project
        )
        await requests_reach(cloud, 1)
        finish_job(cloud, "bjb-a")
        await requests_reach(cloud, len(cloud.requests) + 2)  # bjb-a is printed by now
        finish_job(cloud, "bjb-b")
        finish_job(cloud, "bjb-c")
        result = await collect(proc)
        assert (result.returncode, result.stderr) == (0, "")
        records = jsonl(result.stdout)
        # bjb-a finished polls before the others; bjb-b and bjb-c finished between two
        # requests of one per-id poll, or before it (then in the order given): either order.
        ids = [record["id"] for record in records]
        assert ids[0] == "bjb-a"
        assert sorted(ids[1:]) == ["bjb-b", "bjb-c"]
        by_id = {record["id"]: record for record in wire_records(cloud.jobs)}
        assert records == [by_id[record["id"]] for record in records]
        assert all(request.query["project_id"] == project for request in cloud.requests)


async def test_wait_with_a_failed_job_exits_1_and_names_it() -> None:
    """A job that fails ends wait with exit 1 and one error line naming it and its status."""
    jobs = [job("bjb-done", "completed", processed_items=10), job("bjb-doomed")]
    async with FakeLlamaCloud(jobs, api_key=KEY) as cloud:
        proc = spawn_cli("wait", "bjb-done", "bjb-doomed", *connect(cloud), *FAST)
        await requests_reach(cloud, 2)
        finish_job(cloud, "bjb-doomed", "failed")
        result = await collect(proc)
    assert result.returncode == 1
    assert [(r["id"], r["status"]) for r in jsonl(result.stdout)] == [
        ("bjb-done", "completed"),
        ("bjb-doomed", "failed"),
    ]
    assert result.stderr == "error: 1 of 2 jobs did not complete: bjb-doomed failed\n"


async def test_wait_on_a_progressing_cloud_matches_its_final_state() -> None:
    """Against progress=True: one line per in-flight job, each its final record; exit agrees."""
    async with FakeLlamaCloud(30, seed=11, api_key=KEY, progress=True, progress_seconds=1) as cloud:
        ids = [j["id"] for j in cloud.jobs if j["status"] not in TERMINAL]
        assert ids
        result = await arun_cli("wait", *ids, *connect(cloud), "--poll-interval", "0.1")
        final = {record["id"]: record for record in wire_records(cloud.jobs)}
    records = jsonl(result.stdout)
    assert sorted(record["id"] for record in records) == sorted(ids)
    assert all(record == final[record["id"]] for record in records)
    assert all(record["status"] in TERMINAL for record in records)
    unsuccessful = [r["id"] for r in records if r["status"] != "completed"]
    assert result.returncode == (1 if unsuccessful else 0)
    assert all(job_id in result.stderr for job_id in unsuccessful)


async def test_wait_timeout_exits_124_naming_the_pending_ids() -> None:
    """--timeout: finished jobs are printed, the unfinished ids are on stderr, exit 124."""
    jobs = [job("bjb-slow"), job("bjb-quick", "completed"), job("bjb-stuck", "pending")]
    async with FakeLlamaCloud(jobs, api_key=KEY) as cloud:
        result = await arun_cli(
            "wait", "bjb-slow", "bjb-quick", "bjb-stuck", *connect(cloud), *FAST,
            "--timeout", "0.5",
        )  # fmt: skip
    assert result.returncode == 124
    assert [record["id"] for record in jsonl(result.stdout)] == ["bjb-quick"]
    assert result.stderr == (
        "error: timed out after 0.5 s; 2 of 3 jobs unfinished: bjb-slow bjb-stuck\n"
    )


async def test_wait_for_unknown_ids_exits_1_naming_them() -> None:
    """Ids absent from the listing walk after walk: one error line naming each, exit 1."""
    async with FakeLlamaCloud([job("bjb-real", "completed")], api_key=KEY) as cloud:
        result = await arun_cli(
            "wait", "bjb-real", "bjb-ghost-1", "bjb-ghost-2", *connect(cloud), *FAST
        )
    assert result.returncode == 1
    assert [record["id"] for record in jsonl(result.stdout)] == ["bjb-real"]
    assert result.stderr == (
        "error: 2 of 3 jobs not found in the listing: bjb-ghost-1 bjb-ghost-2 (check the ids)\n"
    )


def test_wait_demo_waits_for_every_unfinished_demo_job() -> None:
    """`wait --demo` with no ids: every in-flight demo job, printed once, final status."""
    demo = make_jobs(137, seed=7)  # what --demo serves
    in_flight = {record["id"] for record in demo if record["status"] not in TERMINAL}
    result = run_cli("wait", "--demo", "--poll-interval", "0.2", "--timeout", "30")
    records = jsonl(result.stdout)
    assert {record["id"] for record in records} == in_flight
    assert len(records) == len(in_flight)
    assert all(record["status"] in TERMINAL for record in records)
    unsuccessful = [record for record in records if record["status"] != "completed"]
    assert result.returncode == (1 if unsuccessful else 0)
    assert len(result.stderr.splitlines()) == (1 if unsuccessful else 0)


async def test_wait_on_a_terminal_prints_an_aligned_table(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On a terminal, wait prints a header and one aligned row per job, however wide."""
    out = Terminal()
    monkeypatch.setattr(sys, "stdout", out)
    jobs = [
        job("bjb-1", "completed", job_type="parse"),
        job("bjb-2", "failed", job_type="classify"),
    ]
    async with FakeLlamaCloud(jobs, api_key=KEY) as cloud:
        args = ["wait", "bjb-1", "bjb-2", *connect(cloud), *FAST]
        assert await asyncio.to_thread(main, args) == 1
    header, first, second = out.getvalue().splitlines()
    column = header.index("STATUS")
    assert first[column:].startswith("completed")
    assert second[column:].startswith("failed")
    assert header.index("PROGRESS") + len("PROGRESS") == first.index("0/10") + len("0/10")


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX pseudo-terminals")
def test_wait_on_a_terminal_shows_a_live_status_line() -> None:
    """On a terminal, wait shows `waiting for N of M jobs (K finished), m:ss` until it ends."""
    result = on_pty(command("wait", "--demo", "--poll-interval", "0.2", "--format", "jsonl"))
    assert result.returncode in {0, 1}  # 1: a demo job failed, as demo jobs may
    assert "waiting for 12 of 12 jobs (0 finished), 0:00" in result.stdout
    assert "(1 finished)" in result.stdout
    # Each record is written after the status line was wiped back to column 0.
    records = [line.split("\r")[-1] for line in result.stdout.split("\n") if '"id": ' in line]
    assert len(records) == 12
    assert all(json.loads(record)["status"] in TERMINAL for record in records)


async def test_wait_piped_shows_no_status_line() -> None:
    """Piped, wait writes nothing to stderr while it waits: the live line is for terminals."""
    result = await arun_cli("wait", "--demo", "--poll-interval", "0.2")
    assert len(jsonl(result.stdout)) == 12
    assert "waiting for" not in result.stderr


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX pseudo-terminals")
@pytest.mark.parametrize("columns", [50, 80, 200])
def test_wait_json_on_a_terminal_is_json_on_the_screen_despite_the_live_line(columns: int) -> None:
    """`wait --format json` on a terminal: the record lines on screen are the JSON array, whole."""
    result = on_pty(
        command("wait", "--demo", "--poll-interval", "0.2", "--format", "json"), columns=columns
    )
    assert result.returncode in {0, 1}  # 1: a demo job failed, as demo jobs may
    shown = [line for line in screen(result.stdout, columns) if line]
    errors = [line for line in shown if line.startswith("error: ")]
    assert len(errors) == result.returncode
    records = json.loads("\n".join(line for line in shown if line not in errors))
    assert len(records) == 12
    assert all(record["status"] in TERMINAL for record in records)
    # The live line fits one row, so `\r` redraws it whole (a wrapped line leaves rows behind).
    drawn = [part for part in re.split(r"[\r\n]", result.stdout) if "waiting for" in part]
    assert drawn
    assert all(len(part.rstrip()) < columns for part in drawn)
