"""``llama-batch list``: formats, filters, resume, checkpoints, progress and failures."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
import signal
import socket
import sys
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import (
    KEY,
    Terminal,
    arun_cli,
    collect_process,
    command,
    connect,
    json_on_screen,
    jsonl,
    run_cli,
    run_installed,
    spawn_installed,
    wire_records,
)
from helpers import (
    TIMEOUT,
    on_pty,
)

from llama_batch_async import BatchClient
from llama_batch_async.cli import JOB_FIELDS, main
from llama_batch_async.testing import (
    DIRECTORY_IDS,
    ORGANIZATION_IDS,
    PROJECT_IDS,
    FakeLlamaCloud,
    serve_in_thread,
)
from llama_batch_async.testing import JOB_FIELDS as FAKE_JOB_FIELDS


async def test_jsonl_is_the_default_when_piped_and_matches_the_server() -> None:
    """Piped without --format: one JSON object per line, equal to the server's records."""
    async with FakeLlamaCloud(jobs=137, seed=3, api_key=KEY) as cloud:
        # The installed command, piped for real (a smoke test of the whole path).
        args = ("list", *connect(cloud), "--page-size", "40", "--prefetch", "2")
        result = await collect_process(await spawn_installed(*args))
        assert result.returncode == 0
        assert result.stderr == ""
        assert jsonl(result.stdout) == wire_records(cloud.jobs)


async def test_json_is_one_array_of_the_records() -> None:
    """--format json writes one valid JSON array holding every record."""
    async with FakeLlamaCloud(jobs=75, seed=4, api_key=KEY) as cloud:
        result = await arun_cli("list", *connect(cloud), "--format", "json", "--page-size", "30")
        assert result.returncode == 0
        assert json.loads(result.stdout) == wire_records(cloud.jobs)


async def test_json_of_nothing_is_an_empty_array() -> None:
    """An empty listing in --format json is still valid JSON: []."""
    async with FakeLlamaCloud(jobs=0, api_key=KEY) as cloud:
        result = await arun_cli("list", *connect(cloud), "--format", "json")
        assert result.returncode == 0
        assert json.loads(result.stdout) == []


async def test_csv_has_the_reference_header_and_one_row_per_job() -> None:
    """--format csv: the 17 field names in reference order, then rows with nulls empty."""
    async with FakeLlamaCloud(jobs=60, seed=5, api_key=KEY) as cloud:
        result = await arun_cli("list", *connect(cloud), "--format", "csv")
        assert result.returncode == 0
        rows = list(csv.reader(io.StringIO(result.stdout)))
        assert tuple(rows[0]) == FAKE_JOB_FIELDS == JOB_FIELDS
        expected = [
            ["" if job[name] is None else str(job[name]) for name in FAKE_JOB_FIELDS]
            for job in wire_records(cloud.jobs)
        ]
        assert rows[1:] == expected


async def test_table_has_aligned_columns_and_readable_values() -> None:
    """--format table: a header, then aligned id, type, status, progress, failed, created."""
    async with FakeLlamaCloud(jobs=30, seed=6, api_key=KEY) as cloud:
        result = await arun_cli("list", *connect(cloud), "--format", "table")
        assert result.returncode == 0
        header, *lines = result.stdout.splitlines()
        assert header.split()[:5] == ["ID", "TYPE", "STATUS", "PROGRESS", "FAILED"]
        assert [line.split()[0] for line in lines] == [job["id"] for job in cloud.jobs]
        status_column = header.index("STATUS")
        created_column = header.index("CREATED (UTC)")
        for line, job in zip(lines, cloud.jobs, strict=True):
            assert line[status_column:].startswith(job["status"])
            progress = f"{job['processed_items']}/{job['total_items']}"
            assert progress in line.split()
            created = job["created_at"][:19].replace("T", " ")
            assert line[created_column:].startswith(created)
        assert "2026-11-01 10:00:00" in lines[0]


@pytest.mark.parametrize(
    ("flag", "name", "value"),
    [
        ("--status", "status", "failed"),
        ("--job-type", "job_type", "extract"),
        ("--directory-id", "directory_id", DIRECTORY_IDS[1]),
        ("--project-id", "project_id", PROJECT_IDS[0]),
        ("--organization-id", "organization_id", ORGANIZATION_IDS[1]),
    ],
)
async def test_each_filter_reaches_the_server(flag: str, name: str, value: str) -> None:
    """Every filter flag is sent as its query parameter, and only matching jobs are listed."""
    async with FakeLlamaCloud(jobs=120, seed=8, api_key=KEY) as cloud:
        result = await arun_cli("list", *connect(cloud), flag, value, "--page-size", "25")
        assert result.returncode == 0
        assert cloud.requests
        assert all(request.query[name] == value for request in cloud.requests)

        def matches(job: dict[str, Any]) -> bool:
            if name == "organization_id":
                return cloud.organization_of(job) == value
            return bool(job[name] == value)

        expected = [job["id"] for job in cloud.jobs if matches(job)]
        assert expected
        assert [record["id"] for record in jsonl(result.stdout)] == expected


async def test_max_items_and_page_size_bound_the_walk() -> None:
    """--max-items stops the walk; --page-size is the limit, shrunk for the last page."""
    async with FakeLlamaCloud(jobs=100, api_key=KEY) as cloud:
        result = await arun_cli("list", *connect(cloud), "--max-items", "30", "--page-size", "20")
        assert result.returncode == 0
        assert [r["id"] for r in jsonl(result.stdout)] == [j["id"] for j in cloud.jobs[:30]]
        assert [request.query["limit"] for request in cloud.requests][:2] == ["20", "10"]


async def test_failure_keeps_output_and_resume_lists_every_job_once() -> None:
    """A 503 after page one: partial output, a resume cursor; resuming completes the listing."""
    async with FakeLlamaCloud(jobs=137, seed=9, api_key=KEY) as cloud:
        cloud.delay_next(0)  # the first request passes ...
        cloud.fail_next(503)  # ... the second fails, and is not retried
        first = await arun_cli(
            "list", *connect(cloud), "--format", "json", "--page-size", "50", "--max-retries", "0"
        )
        assert first.returncode == 1
        listed = json.loads(first.stdout)  # still a complete JSON document
        assert [job["id"] for job in listed] == [job["id"] for job in cloud.jobs[:50]]
        error, resume = first.stderr.splitlines()
        assert error.startswith("error: HTTP 503")
        flag, cursor = resume.removeprefix("resume with: ").split()
        assert flag == "--resume-from"

        second = await arun_cli("list", *connect(cloud), "--page-size", "50", flag, cursor)
        assert second.returncode == 0
        ids = [job["id"] for job in listed] + [job["id"] for job in jsonl(second.stdout)]
        assert ids == [job["id"] for job in cloud.jobs]


async def test_resume_under_other_filters_is_refused() -> None:
    """A cursor made under other filters is a usage error (exit 2), and nothing is sent."""
    async with FakeLlamaCloud(jobs=20, api_key=KEY) as cloud:
        async with BatchClient(KEY, base_url=cloud.url) as client:
            pages = [page async for page in client.list_jobs(page_size=5, max_items=5).pages()]
        cursor = pages[-1].cursor
        sent = len(cloud.requests)
        result = await arun_cli(
            "list", *connect(cloud), "--status", "failed", "--resume-from", cursor
        )
        assert result.returncode == 2
        assert result.stderr.startswith("error: --resume-from was made under other filters")
        assert len(cloud.requests) == sent


async def test_environment_supplies_key_and_base_url() -> None:
    """LLAMA_CLOUD_API_KEY and LLAMA_CLOUD_BASE_URL stand in for --api-key and --base-url."""
    async with FakeLlamaCloud(jobs=12, api_key=KEY) as cloud:
        env = {"LLAMA_CLOUD_API_KEY": KEY, "LLAMA_CLOUD_BASE_URL": cloud.url}
        result = await arun_cli("list", env=env)
        assert result.returncode == 0
        assert len(jsonl(result.stdout)) == 12
        assert cloud.requests[0].headers["Authorization"] == f"Bearer {KEY}"


async def test_refused_key_exits_1_without_printing_it() -> None:
    """HTTP 401 is one line saying the key was refused, exit 1; the key is never shown."""
    wrong = "sk-wrong-key-never-print-me"
    async with FakeLlamaCloud(jobs=5, api_key=KEY) as cloud:
        result = await arun_cli("list", "--base-url", cloud.url, "--api-key", wrong)
    assert result.returncode == 1
    assert result.stderr == "error: the API key was refused (HTTP 401)\n"
    assert result.stdout == ""
    assert wrong not in result.stdout + result.stderr


def test_demo_prints_real_jobs() -> None:
    """`llama-batch list --demo` lists the demo cloud's jobs with no key and no network."""
    result = run_cli("list", "--demo", "--max-items", "5")
    assert result.returncode == 0
    records = jsonl(result.stdout)
    assert len(records) == 5
    assert all(tuple(record) == JOB_FIELDS for record in records)
    assert records[0]["created_at"] == "2026-11-01T10:00:00.123Z"


def test_demo_table_lists_all_demo_jobs() -> None:
    """--demo --format table shows the header and all 137 demo jobs."""
    result = run_cli("list", "--demo", "--format", "table")
    assert result.returncode == 0
    header, *rows = result.stdout.splitlines()
    assert header.startswith("ID")
    assert len(rows) == 137


def test_demo_refuses_a_real_key_or_url() -> None:
    """--demo with --api-key is a usage error (the demo serves its own jobs)."""
    result = run_cli("list", "--demo", "--api-key", KEY)
    assert result.returncode == 2
    assert KEY not in result.stderr


def test_terminal_gets_a_table_and_progress_on_stderr(monkeypatch: pytest.MonkeyPatch) -> None:
    """On a terminal: table by default, and `N of ~total jobs` redrawn on stderr, then cleared."""
    out, err = Terminal(), Terminal()
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(sys, "stderr", err)
    monkeypatch.setenv("COLUMNS", "140")
    assert main(["list", "--demo", "--page-size", "50"]) == 0
    header, *rows = out.getvalue().splitlines()
    assert header.startswith("ID")
    assert len(rows) == 137
    assert all(len(row) <= 140 for row in rows)
    progress = err.getvalue()
    assert "\r50 of ~137 jobs" in progress
    assert "\r137 of ~137 jobs" in progress
    # What the walk cost the server rides along (issue 22).
    assert re.search(r"137 of ~137 jobs · \d+ requests", progress)
    assert progress.endswith("\r")  # the line is wiped before the command ends


@pytest.mark.parametrize("output", ["json", "jsonl", "csv"])
def test_demo_formats_in_process(output: str, capsys: pytest.CaptureFixture[str]) -> None:
    """main() writes every demo job in each machine format."""
    assert main(["list", "--demo", "--format", output]) == 0
    text = capsys.readouterr().out
    if output == "json":
        assert len(json.loads(text)) == 137
    elif output == "jsonl":
        assert len(jsonl(text)) == 137
    else:
        assert len(list(csv.reader(io.StringIO(text)))) == 138


async def test_failure_and_retries_in_process(capsys: pytest.CaptureFixture[str]) -> None:
    """In process: -v shows the retry, a 503 ends the walk with a cursor, a 401 is refused."""
    async with FakeLlamaCloud(jobs=30, api_key=KEY) as cloud:
        cloud.delay_next(0)
        cloud.fail_next(503, times=2, retry_after="0")
        # --prefetch 0: both 503s go to the same page request, not to two in flight.
        args = ["list", *connect(cloud), "--page-size", "10", "--max-retries", "1", "-v"]
        args += ["--prefetch", "0"]
        assert await asyncio.to_thread(main, [*args, "--format", "table"]) == 1
        captured = capsys.readouterr()
        assert len(captured.out.splitlines()) == 11  # header and the first page
        warning, error, resume = captured.err.splitlines()
        assert warning.startswith("WARNING: retrying")
        assert error.startswith("error: HTTP 503")
        assert resume.startswith("resume with: --resume-from ")

        wrong = ["list", "--base-url", cloud.url, "--api-key", "sk-wrong"]
        assert await asyncio.to_thread(main, wrong) == 1
        assert capsys.readouterr().err == "error: the API key was refused (HTTP 401)\n"


def test_empty_table_says_no_jobs_match() -> None:
    """An empty listing as a table is one line, `no jobs match`, not a bare header."""
    result = run_cli("list", "--demo", "--organization-id", "org-none", "--format", "table")
    assert (result.returncode, result.stdout) == (0, "no jobs match\n")


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX pseudo-terminals")
def test_list_progress_on_a_terminal_counts_to_max_items() -> None:
    """The `N of ~total jobs` line counts to --max-items when that is below the listing's size."""
    result = on_pty(
        command("list", "--demo", "--max-items", "60", "--page-size", "20"), columns=140
    )
    assert result.returncode == 0
    assert "20 of ~60 jobs" in result.stdout
    assert "60 of ~60 jobs" in result.stdout
    assert "~137" not in result.stdout


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
async def test_ctrl_c_during_a_long_list_prints_the_resume_cursor() -> None:
    """SIGINT mid-walk exits 130 with the cursor on stderr; resuming lists the rest once."""
    async with FakeLlamaCloud(jobs=200, api_key=KEY, latency=0.1) as cloud:
        args = ("list", *connect(cloud), "--page-size", "10", "--prefetch", "0")
        proc = await spawn_installed(*args)
        try:
            for _ in range(int(TIMEOUT / 0.05)):
                if len(cloud.requests) >= 4:
                    break
                await asyncio.sleep(0.05)
            proc.send_signal(signal.SIGINT)
            first = await collect_process(proc)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        assert first.returncode == 130
        flag, cursor = first.stderr.strip().removeprefix("resume with: ").split()
        assert flag == "--resume-from"
        cloud.latency = 0.0
        rest = await arun_cli(*args, flag, cursor)
        ids = [job["id"] for job in cloud.jobs]
    listed = [record["id"] for record in jsonl(first.stdout) + jsonl(rest.stdout)]
    assert 0 < len(jsonl(first.stdout)) < 200
    assert listed == ids


def test_connection_refused_is_said_in_our_words() -> None:
    """A refused connection: `cannot connect to URL: connection refused`, no HTTP library noise."""
    with socket.socket() as probe:  # a port that was free a moment ago, now closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    result = run_cli("list", "--api-key", KEY, "--base-url", url, "--max-retries", "0")
    assert result.returncode == 1
    assert result.stderr == f"error: cannot connect to {url}: connection refused\n"


async def test_checkpoint_resumes_after_a_failure_and_is_deleted_at_the_end(
    tmp_path: Path,
) -> None:
    """List --checkpoint: a failed walk keeps its place; the next run finishes and deletes it."""
    folder = tmp_path / "checkpoints"
    options = ("--checkpoint", "nightly", "--checkpoint-dir", str(folder))
    async with FakeLlamaCloud(jobs=120, seed=4, api_key=KEY) as cloud:
        cloud.delay_next(0)  # the first page passes ...
        cloud.fail_next(503)  # ... the second fails, and is not retried
        walk = ("--page-size", "50", "--prefetch", "0", "--max-retries", "0", *options)
        first = await arun_cli("list", *connect(cloud), *walk)
        assert first.returncode == 1
        assert "the checkpoint nightly keeps the last page written" in first.stderr
        assert (folder / "nightly.cursor").exists()
        second = await arun_cli("list", *connect(cloud), *walk)
        assert second.returncode == 0, second.stderr
        ids = [job["id"] for job in jsonl(first.stdout) + jsonl(second.stdout)]
        assert ids == [job["id"] for job in cloud.jobs]
        assert not (folder / "nightly.cursor").exists()
        third = await arun_cli("list", *connect(cloud), *walk)  # a new full walk, not nothing
        assert len(jsonl(third.stdout)) == 120


def test_checkpoint_and_resume_from_are_exclusive() -> None:
    """--checkpoint decides where to start: with --resume-from it is a usage error."""
    result = run_cli("list", "--demo", "--checkpoint", "x", "--resume-from", "abc")
    assert result.returncode == 2
    assert "--checkpoint" in result.stderr


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX pseudo-terminals")
@pytest.mark.parametrize("columns", [80, 200])
def test_json_on_a_terminal_is_json_on_the_screen_despite_the_progress_line(columns: int) -> None:
    """`list --format json` on a terminal: the screen, progress and all, reads as the JSON array."""
    args = ("list", "--demo", "--format", "json", "--page-size", "10", "--max-items", "45")
    result = on_pty(command(*args), columns=columns)
    assert result.returncode == 0
    assert "10 of ~45 jobs" in result.stdout  # the progress line was drawn between pages
    records = json_on_screen(result.stdout, columns)
    assert [record["id"] for record in records] == [
        record["id"] for record in jsonl(run_cli(*args[:2], *args[4:]).stdout)
    ]


def _closed_port_url() -> str:
    with socket.socket() as probe:  # a port that was free a moment ago, now closed
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


@pytest.mark.parametrize("failure", ["wrong key", "unreachable", "tls"])
def test_no_jobs_match_is_never_said_of_a_failed_walk(failure: str) -> None:
    """A refused key, a closed port or a TLS failure: exit 1, an error, and no "no jobs match"."""
    with serve_in_thread(jobs=0, api_key=KEY) as cloud:
        url, key = cloud.url, KEY
        if failure == "wrong key":
            key = "sk-not-the-key-0123456789"
        elif failure == "unreachable":
            url = _closed_port_url()
        else:
            url = cloud.url.replace("http://", "https://")
        result = run_installed(
            "list", "--format", "table", "--base-url", url, "--api-key", key, "--max-retries", "0"
        )
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith("error: ")


@pytest.mark.parametrize("output_format", ["table", "json"])
def test_a_completed_empty_walk_says_so(output_format: str) -> None:
    """Through the installed command: an empty listing says `no jobs match` ([] in JSON); exit 0."""
    with serve_in_thread(jobs=0, api_key=KEY) as cloud:
        result = run_installed("list", "--format", output_format, *connect(cloud))
    assert result.returncode == 0
    assert result.stdout == ("no jobs match\n" if output_format == "table" else "[]\n")


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
async def test_ctrl_c_with_a_checkpoint_says_run_it_again(tmp_path: Path) -> None:
    """SIGINT during `list --checkpoint`: the hint says to run it again, not `--resume-from`."""
    async with FakeLlamaCloud(jobs=200, api_key=KEY, latency=0.1) as cloud:
        args = ("list", *connect(cloud), "--page-size", "10", "--prefetch", "0")
        checkpoint = ("--checkpoint", "nightly", "--checkpoint-dir", str(tmp_path))
        proc = await spawn_installed(*args, *checkpoint)
        try:
            for _ in range(int(TIMEOUT / 0.05)):
                if len(cloud.requests) >= 4:
                    break
                await asyncio.sleep(0.05)
            proc.send_signal(signal.SIGINT)
            first = await collect_process(proc)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        assert first.returncode == 130
        assert "--resume-from" not in first.stderr
        assert first.stderr == "the checkpoint nightly keeps the last page written: run it again\n"
        cloud.latency = 0.0
        rest = await arun_cli(*args, *checkpoint)
        ids = [job["id"] for job in cloud.jobs]
    assert rest.returncode == 0
    listed = [record["id"] for record in jsonl(first.stdout) + jsonl(rest.stdout)]
    assert listed == ids


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
async def test_ctrl_c_during_a_json_list_leaves_whole_json_and_loses_nothing() -> None:
    """SIGINT mid `--format json`: stdout is one whole JSON array; the resume lists the rest."""
    async with FakeLlamaCloud(jobs=200, api_key=KEY, latency=0.1) as cloud:
        args = ("list", *connect(cloud), "--page-size", "10", "--prefetch", "0")
        proc = await spawn_installed(*args, "--format", "json")
        try:
            for _ in range(int(TIMEOUT / 0.05)):
                if len(cloud.requests) >= 4:
                    break
                await asyncio.sleep(0.05)
            proc.send_signal(signal.SIGINT)
            first = await collect_process(proc)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        assert first.returncode == 130
        flag, cursor = first.stderr.strip().removeprefix("resume with: ").split()
        cloud.latency = 0.0
        rest = await arun_cli(*args, flag, cursor)
        ids = [job["id"] for job in cloud.jobs]
    before = [record["id"] for record in json.loads(first.stdout)]  # whole JSON
    assert 0 < len(before) < 200
    assert before + [record["id"] for record in jsonl(rest.stdout)] == ids


def test_list_verbose_reports_what_the_walk_cost(monkeypatch: pytest.MonkeyPatch) -> None:
    """`list -vv` logs the walk's requests, unused answers and 429s on stderr (issue 22)."""
    out, err = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(sys, "stderr", err)
    assert main(["list", "--demo", "--page-size", "50", "-vv", "-o", "-", "--format", "jsonl"]) == 0
    assert re.search(
        r"DEBUG: walk: \d+ pages, \d+ requests \(\d+ unused, 0 refused with 429, 0 retries\)",
        err.getvalue(),
    )
