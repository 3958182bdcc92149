"""``llama-batch watch``: events that replay to the cloud's state, readable lines."""

from __future__ import annotations

import re
import signal
import sys
from datetime import datetime, timezone

import pytest
from cli_helpers import (
    FAST,
    KEY,
    TERMINAL,
    Terminal,
    arun_cli,
    collect,
    collect_process,
    command,
    connect,
    finish_job,
    job,
    jsonl,
    make_job,
    replay,
    requests_reach,
    run_cli,
    screen,
    spawn_cli,
    spawn_installed,
    wire_records,
)
from helpers import on_pty

from llama_batch_async import JobEvent, JobStatus
from llama_batch_async.cli import main
from llama_batch_async.cli._watch import JOBS as WATCH_JOBS
from llama_batch_async.cli._watch import event_line
from llama_batch_async.testing import (
    FakeLlamaCloud,
)


async def test_watch_events_replay_to_the_clouds_final_state() -> None:
    """Events of watch --duration, applied in order, give the cloud's final listing."""
    async with FakeLlamaCloud(25, seed=11, api_key=KEY, progress=True, progress_seconds=1) as cloud:
        initial = [j["id"] for j in cloud.jobs]
        proc = spawn_cli("watch", *connect(cloud), "--poll-interval", "0.1", "--duration", "2.5")
        await requests_reach(cloud, 1)
        # Jobs inserted now run and finish within a second, whenever the command started.
        cloud.insert_jobs([job("bjb-new-1", "pending"), job("bjb-new-2", "running")])
        result = await collect(proc)
        final = {record["id"]: record for record in wire_records(cloud.jobs)}
    assert (result.returncode, result.stderr) == (0, "")
    events = jsonl(result.stdout)
    assert [e["job"]["id"] for e in events[:25]] == initial  # the first poll: all added
    assert replay(events) == final
    assert {final["bjb-new-1"]["status"], final["bjb-new-2"]["status"]} <= TERMINAL
    moves = {(e["previous_status"], e["job"]["status"]) for e in events if e["event"] == "changed"}
    assert any(after in TERMINAL and before not in TERMINAL for before, after in moves)


async def test_watch_max_events_stops_after_n_and_sends_the_filters() -> None:
    """--max-events N prints N events and exits 0; the filters reach the server."""
    async with FakeLlamaCloud(60, seed=2, api_key=KEY) as cloud:
        result = await arun_cli(
            "watch", *connect(cloud), "--job-type", "parse", "--page-size", "5", "--max-events", "7"
        )
        expected = [j["id"] for j in cloud.jobs if j["job_type"] == "parse"][:7]
        assert all(request.query["job_type"] == "parse" for request in cloud.requests)
        assert cloud.requests[0].query["limit"] == "5"
    assert result.returncode == 0
    events = jsonl(result.stdout)
    assert [event["event"] for event in events] == ["added"] * 7
    assert [event["job"]["id"] for event in events] == expected


async def test_watch_no_initial_reports_only_changes() -> None:
    """--no-initial prints nothing for jobs already there, then each change as it comes."""
    async with FakeLlamaCloud([job("bjb-x"), job("bjb-y")], api_key=KEY) as cloud:
        proc = spawn_cli("watch", *connect(cloud), *FAST, "--no-initial", "--max-events", "2")
        await requests_reach(cloud, 2)
        finish_job(cloud, "bjb-y", "cancelled")
        cloud.remove_jobs("bjb-x")
        result = await collect(proc)
    assert (result.returncode, result.stderr) == (0, "")
    first, second = jsonl(result.stdout)
    assert (first["event"], first["previous_status"], first["job"]["status"]) == (
        "changed",
        "running",
        "cancelled",
    )
    assert (second["event"], second["job"]["id"]) == ("removed", "bjb-x")


def test_watch_demo_shows_jobs_moving() -> None:
    """`watch --demo`: every demo job added, then changes as in-flight jobs move along."""
    result = run_cli("watch", "--demo", "--poll-interval", "0.2", "--max-events", "140")
    assert (result.returncode, result.stderr) == (0, "")
    events = jsonl(result.stdout)
    assert [event["event"] for event in events] == ["added"] * 137 + ["changed"] * 3
    replay(events)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
async def test_watch_ctrl_c_exits_130_quietly() -> None:
    """SIGINT while watching exits 130 with nothing on stderr."""
    async with FakeLlamaCloud([job("bjb-x")], api_key=KEY) as cloud:
        proc = await spawn_installed("watch", *connect(cloud), *FAST)
        await requests_reach(cloud, 2)
        proc.send_signal(signal.SIGINT)
        result = await collect_process(proc)
    assert result.returncode == 130
    assert result.stderr == ""
    assert [event["job"]["id"] for event in jsonl(result.stdout)] == ["bjb-x"]


def test_watch_on_a_terminal_prints_readable_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    """On a wide terminal, watch prints `HH:MM:SS added   bjb-... parse running 0/91` lines."""
    out = Terminal()
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setenv("COLUMNS", "200")
    assert main(["watch", "--demo", "--max-events", "3"]) == 0
    lines = out.getvalue().splitlines()
    assert len(lines) == 3
    for line in lines:
        clock, kind, job_id, job_type, status, progress, *_ = line.split()
        assert len(clock) == 8
        assert clock.count(":") == 2
        assert kind == "added"
        assert job_id.startswith("bjb-")
        assert job_type in {"parse", "extract", "classify"}
        assert status in {s.value for s in JobStatus}
        assert "/" in progress


def test_event_line_shows_the_status_move() -> None:
    """A changed event's line reads `previous → new`, with progress, failures and the error."""
    moment = datetime(2026, 11, 1, 12, 0, 1, tzinfo=timezone.utc)
    before = make_job(status=JobStatus.RUNNING, processed_items=20)
    after = make_job(
        status=JobStatus.FAILED, processed_items=36, failed_items=4, error_message="Worker\nlost"
    )
    line = event_line(WATCH_JOBS, JobEvent("changed", after, before), moment)
    assert line == "12:00:01 changed bjb-1 parse    running → failed 36/40 (4 failed) Worker lost"
    assert event_line(WATCH_JOBS, JobEvent("added", before), moment, "->") == (
        "12:00:01 added   bjb-1 parse    running 20/40"
    )


# --- hostile text, broken outputs, narrow encodings -----------------------------------------


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX pseudo-terminals")
@pytest.mark.parametrize("columns", [80, 200])
def test_watch_lines_fit_the_terminal_and_a_job_leaving_the_filter_was_running(
    columns: int,
) -> None:
    """`watch --status running` on a terminal: lines fit; a job that left reads `was running`."""
    args = ("watch", "--demo", "--status", "running", "--poll-interval", "0.3", "--duration", "7")
    result = on_pty(command(*args), columns=columns)
    assert result.returncode == 0
    shown = [line for line in screen(result.stdout, columns) if line]
    assert all(len(line) < columns for line in shown)
    removed = [line for line in shown if " removed " in line]
    assert removed  # the demo finishes every running job within 5 s
    assert all(
        re.search(r" removed bjb-[0-9a-f-]{36} (\w+ +)?was running \d+/\d+", line)
        for line in removed
    )
    if columns == 200:
        assert all(
            " parse " in line or " extract " in line or " classify " in line for line in shown
        )
