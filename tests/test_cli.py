"""The ``llama-batch`` command against FakeLlamaCloud: in process, or installed where it matters."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from helpers import (
    TESTS,
    TIMEOUT,
    Result,
    arun_main,
    cli_env,
    on_pty,
    run_main,
    run_process,
    run_python,
)

from llama_batch_async import BatchClient, BatchJob, JobEvent, JobStatus, JobType
from llama_batch_async.cli import JOB_FIELDS, job_to_dict, main
from llama_batch_async.cli._watch import JOBS as WATCH_JOBS
from llama_batch_async.cli._watch import event_line
from llama_batch_async.testing import (
    DIRECTORY_IDS,
    ENDPOINT_PATH,
    ORGANIZATION_IDS,
    PROJECT_IDS,
    FakeLlamaCloud,
    make_jobs,
    serve_in_thread,
)
from llama_batch_async.testing import JOB_FIELDS as FAKE_JOB_FIELDS

KEY = "sk-cli-secret-0123456789"
# Most tests run `main()` in this process with piped stdout and stderr (helpers.run_main):
# a subprocess adds a Python start-up and nothing they are about. What needs a real
# descriptor, a terminal, a signal or the installed script runs the installed command.


def command(*args: str) -> list[str]:
    """The installed command, as ``python -m`` runs it from the tests folder."""
    return [sys.executable, "-m", "llama_batch_async.cli", *args]


def run_cli(*args: str, env: dict[str, str] | None = None) -> Result:
    """``llama-batch ARGS`` in this process; ``env`` is set on top of a clean environment."""
    return run_main(*args, env=env)


async def arun_cli(
    *args: str, env: dict[str, str] | None = None, encoding: str = "utf-8"
) -> Result:
    """`run_cli` while this loop keeps serving the fake cloud."""
    return await arun_main(*args, env=env, encoding=encoding)


def run_installed(*args: str, stdout: Any = subprocess.PIPE) -> Result:
    """The installed command in a subprocess: for what needs real descriptors."""
    done = run_process(command(*args), env=cli_env(), stdout=stdout)
    assert_no_traceback(done.stderr)
    return Result(done.returncode, done.stdout, done.stderr)


async def spawn_installed(*args: str) -> asyncio.subprocess.Process:
    """Start the installed command with piped output, for a test that signals it."""
    return await asyncio.create_subprocess_exec(
        *command(*args),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=cli_env(),
        cwd=TESTS,
    )


async def collect_process(proc: asyncio.subprocess.Process) -> Result:
    """Wait (bounded) for a spawned command to end; kill it if it does not."""
    try:
        out, err = await asyncio.wait_for(proc.communicate(), TIMEOUT)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode is not None
    result = Result(proc.returncode, out.decode(), err.decode())
    assert_no_traceback(result.stderr)
    return result


@contextlib.asynccontextmanager
async def serve_fake(*args: str) -> AsyncIterator[str]:
    """Run `llama-batch serve-fake` with ``args``; yield its URL; SIGTERM it, exit 0, quietly."""
    proc = await asyncio.create_subprocess_exec(
        *command("serve-fake", "--port", "0", *args),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=cli_env(),
        cwd=TESTS,
    )
    assert proc.stdout is not None
    assert proc.stderr is not None
    try:
        yield (await asyncio.wait_for(proc.stdout.readline(), TIMEOUT)).decode().strip()
    finally:
        if proc.returncode is None:
            proc.terminate()
        await asyncio.wait_for(proc.wait(), TIMEOUT)
    assert proc.returncode == 0
    assert_no_traceback((await proc.stderr.read()).decode())


def assert_no_traceback(stderr: str) -> None:
    assert "Traceback" not in stderr, stderr


def connect(cloud: FakeLlamaCloud) -> tuple[str, ...]:
    return ("--base-url", cloud.url, "--api-key", KEY)


def wire_records(jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The server's records restricted to the reference's fields."""
    return [{name: job.get(name) for name in FAKE_JOB_FIELDS} for job in jobs]


def jsonl(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


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


def test_bad_status_is_a_usage_error_naming_the_valid_values() -> None:
    """--status complete exits 2 and names every valid status."""
    result = run_cli("list", "--status", "complete", "--api-key", KEY)
    assert result.returncode == 2
    assert result.stdout == ""
    for status in JobStatus:
        assert status.value in result.stderr


def test_missing_key_exits_2_and_points_at_the_env_and_demo() -> None:
    """Without a key: one line naming both key variables, --api-key and --demo; exit 2."""
    result = run_cli("list")
    assert result.returncode == 2
    assert result.stderr == (
        "error: no API key: set LLAMA_CLOUD_API_KEY (or LLAMA_PARSE_API_KEY) or pass --api-key"
        " (or try --demo)\n"
    )


def test_library_value_errors_exit_2_with_flag_names() -> None:
    """A value the library refuses (page size 0, clear-text URL) is one line, exit 2."""
    result = run_cli("list", "--demo", "--page-size", "0")
    assert (result.returncode, result.stderr) == (2, "error: --page-size must be >= 1, got 0\n")
    result = run_cli("list", "--api-key", KEY, "--base-url", "http://example.com")
    assert result.returncode == 2
    assert "plain http" in result.stderr
    assert KEY not in result.stderr


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (("list", "--timeout", "inf"), "--timeout"),
        (("list", "--request-timeout", "nan"), "--request-timeout"),
        (("list", "--timeout=-inf"), "--timeout"),
        (("list", "--timeout", "0"), "--timeout"),
        (("watch", "--request-timeout", "Infinity"), "--request-timeout"),
        (("wait", "bjb-1", "--request-timeout", "inf"), "--request-timeout"),
    ],
)
def test_non_finite_attempt_timeout_is_a_usage_error_naming_the_flag(
    args: tuple[str, ...], flag: str
) -> None:
    """An infinite or NaN per-attempt timeout exits 2 naming the flag as typed, no traceback."""
    result = run_cli(*args, "--demo")
    assert result.returncode == 2
    assert result.stdout == ""
    assert f"error: argument {flag}: must be a finite number of seconds > 0" in result.stderr


def test_wait_timeout_inf_still_means_no_limit() -> None:
    """The whole wait's ``wait --timeout inf`` is accepted: it waits as long as it takes."""
    result = run_cli("wait", "--demo", "--timeout", "inf", "--poll-interval", "0.2")
    assert result.returncode in {0, 1}  # 1: a demo job failed, as demo jobs may
    assert "--timeout" not in result.stderr


def test_password_in_base_url_is_refused_unechoed() -> None:
    """--base-url with user:password@ exits 2 naming --base-url; the password is never shown."""
    result = run_cli("list", "--api-key", KEY, "--base-url", "https://u:hunter2-PW@api.example")
    assert result.returncode == 2
    assert result.stderr.startswith("error: --base-url must not contain a user name or password")
    assert "hunter2-PW" not in result.stderr


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


def test_help_exits_0_and_lists_the_commands() -> None:
    """--help names both subcommands; no subcommand at all is a usage error."""
    result = run_cli("--help")
    assert result.returncode == 0
    assert "list" in result.stdout
    assert "serve-fake" in result.stdout
    assert run_cli().returncode == 2


async def test_serve_fake_paging_kind_is_served() -> None:
    """serve-fake --paging token-ignored sends tokens, ignores page_token, honours offset."""
    async with serve_fake("--jobs", "30", "--paging", "token-ignored") as url:
        async with aiohttp.ClientSession() as session:

            async def page(**params: str) -> dict[str, Any]:
                async with session.get(url + ENDPOINT_PATH, params=params) as response:
                    body: dict[str, Any] = await response.json()
                return body

            first = await page(limit="10")
            again = await page(limit="10", page_token=first["next_page_token"])
            second = await page(limit="10", offset="10")
        assert again["items"] == first["items"]  # page_token ignored
        assert second["items"][0]["id"] != first["items"][0]["id"]  # offset honoured
        async with BatchClient(KEY, base_url=url) as client:
            jobs = await client.list_jobs(page_size=10).collect()
        assert len({job.id for job in jobs}) == len(jobs) == 30


async def test_serve_fake_answers_a_real_client() -> None:
    """serve-fake prints its URL first; a BatchClient lists its jobs; SIGTERM stops it."""
    options = ("--max-limit", "10", "--page-tokens", "--no-total-size", "--require-key", KEY)
    async with serve_fake("--jobs", "42", "--seed", "2", *options) as url:
        assert url.startswith("http://127.0.0.1:")
        async with BatchClient(KEY, base_url=url) as client:
            jobs = await client.list_jobs(page_size=25).collect()
        assert len(jobs) == 42
        assert len({job.id for job in jobs}) == 42
        async with (
            aiohttp.ClientSession() as session,
            session.get(
                url + ENDPOINT_PATH,
                params={"limit": "25"},
                headers={"Authorization": f"Bearer {KEY}"},
            ) as response,
        ):
            body = await response.json()
        assert len(body["items"]) == 10  # --max-limit
        assert body["next_page_token"]  # --page-tokens
        assert "total_size" not in body  # --no-total-size


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
async def test_ctrl_c_exits_130_quietly() -> None:
    """SIGINT during a walk exits 130 with nothing on stderr."""
    async with FakeLlamaCloud(jobs=10, api_key=KEY, latency=30) as cloud:
        proc = await asyncio.create_subprocess_exec(
            *command("list", *connect(cloud)),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=cli_env(),
            cwd=TESTS,
        )
        try:
            for _ in range(int(TIMEOUT / 0.05)):
                if cloud.requests:
                    break
                await asyncio.sleep(0.05)
            proc.send_signal(signal.SIGINT)
            out, err = await asyncio.wait_for(proc.communicate(), TIMEOUT)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    assert proc.returncode == 130
    assert (out, err) == (b"", b"")


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX pipes")
async def test_broken_pipe_exits_0_quietly() -> None:
    """A reader that stops early (`| head -1`) ends the command with status 0, no traceback."""
    async with FakeLlamaCloud(jobs=3000, api_key=KEY) as cloud:
        read_end, write_end = os.pipe()
        proc = await asyncio.create_subprocess_exec(
            *command("list", *connect(cloud), "--page-size", "500"),
            stdout=write_end,
            stderr=asyncio.subprocess.PIPE,
            env=cli_env(),
            cwd=TESTS,
        )
        os.close(write_end)
        try:
            loop = asyncio.get_running_loop()
            first = await asyncio.wait_for(loop.run_in_executor(None, os.read, read_end, 100), 30)
            assert first.startswith(b'{"id": ')
        finally:
            os.close(read_end)
        _, err = await asyncio.wait_for(proc.communicate(), TIMEOUT)
    assert proc.returncode == 0
    assert err == b""
    assert len(cloud.requests) < 6  # it stopped, not walked on into the void


def test_console_script_runs() -> None:
    """The installed `llama-batch` script (next to the interpreter) runs the demo."""
    script = Path(sys.executable).parent / ("llama-batch.exe" if os.name == "nt" else "llama-batch")
    if not script.exists():
        pytest.skip("the llama-batch console script is not installed in this environment")
    done = run_process([str(script), "list", "--demo", "--max-items", "3"], env=cli_env())
    assert done.returncode == 0, done.stderr
    assert len(jsonl(done.stdout)) == 3


# ----------------------------------------------------------------- in process


class Terminal(io.StringIO):
    """A captured stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


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
    assert progress.endswith("\r")  # the line is wiped before the command ends
    # What the walk cost the server rides along (issue 22).
    assert re.search(r"137 of ~137 jobs · \d+ requests", progress)


def test_main_reports_usage_errors_as_exit_codes(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """main() returns exit codes instead of raising: 2 for a missing key, 0 for --help."""
    monkeypatch.delenv("LLAMA_CLOUD_API_KEY", raising=False)
    assert main(["list"]) == 2
    assert "LLAMA_CLOUD_API_KEY" in capsys.readouterr().err
    assert main(["serve-fake", "--help"]) == 0
    assert "--page-tokens" in capsys.readouterr().out
    assert main(["list", "--job-type", "nope"]) == 2


def make_job(**fields: Any) -> BatchJob:
    base: dict[str, Any] = {
        "id": "bjb-1",
        "job_type": JobType.PARSE,
        "project_id": "proj-1",
        "status": JobStatus.RUNNING,
        "total_items": 40,
    }
    base.update(fields)
    return BatchJob(**base)


def test_job_to_dict_uses_wire_names_and_values() -> None:
    """Records keep reference order, enum values, unknown strings, nulls and Z timestamps."""
    created = datetime(2026, 11, 1, 10, 0, 0, 123000, tzinfo=timezone.utc)
    record = job_to_dict(make_job(status="paused", created_at=created, processed_items=12))
    assert tuple(record) == JOB_FIELDS
    assert record["job_type"] == "parse"
    assert record["status"] == "paused"
    assert record["created_at"] == "2026-11-01T10:00:00.123Z"
    assert record["processed_items"] == 12
    assert record["completed_at"] is None
    assert json.loads(json.dumps(record)) == record


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        (datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc), "2026-01-02T03:04:05.000Z"),
        (datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=timezone.utc), "2026-01-02T03:04:05.123456Z"),
        (
            datetime(2026, 1, 2, 5, 4, 5, tzinfo=timezone(timedelta(hours=2))),
            "2026-01-02T03:04:05.000Z",
        ),
    ],
)
def test_format_timestamp_is_utc_with_z(moment: datetime, text: str) -> None:
    """Timestamps are written in UTC with a Z; microseconds only when present."""
    assert job_to_dict(make_job(created_at=moment))["created_at"] == text


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


def test_broken_pipe_in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """A stdout whose reader went away ends main() with 0 and nothing on stderr."""

    class Gone(io.StringIO):
        def write(self, text: str) -> int:
            raise BrokenPipeError

    err = io.StringIO()
    monkeypatch.setattr(sys, "stdout", Gone())
    monkeypatch.setattr(sys, "stderr", err)
    assert main(["list", "--demo"]) == 0
    assert err.getvalue() == ""


def test_serve_fake_reports_a_busy_port(capsys: pytest.CaptureFixture[str]) -> None:
    """serve-fake on a port already in use: one error line, exit 1."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["serve-fake", "--port", str(port)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: cannot serve on 127.0.0.1:{port}: ")
    assert len(err.splitlines()) == 1


# ----------------------------------------------------------------- wait and watch

TERMINAL = frozenset({"completed", "failed", "cancelled"})
FAST = ("--poll-interval", "0.05")


def job(job_id: str, status: str = "running", **fields: Any) -> dict[str, Any]:
    return {"id": job_id, "status": status, "total_items": 10, "processed_items": 0, **fields}


def finish_job(cloud: FakeLlamaCloud, job_id: str, status: str = "completed") -> None:
    failed = 0 if status == "completed" else 3
    error = None if status == "completed" else "Worker lost while processing items"
    cloud.update_job(
        job_id, status=status, processed_items=10 - failed, failed_items=failed, error_message=error
    )


def spawn_cli(*args: str) -> asyncio.Task[Result]:
    """Start ``llama-batch ARGS`` in this process; `collect` its result."""
    return asyncio.create_task(arun_cli(*args))


async def collect(run: asyncio.Task[Result]) -> Result:
    return await run


async def requests_reach(cloud: FakeLlamaCloud, count: int) -> None:
    """Wait until the cloud has seen ``count`` requests (the command is polling)."""
    for _ in range(int(TIMEOUT / 0.01)):
        if len(cloud.requests) >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"fewer than {count} requests arrived")


def replay(events: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Apply watch events in order, checking each against the state before it."""
    state: dict[str, dict[str, Any]] = {}
    for event in events:
        assert tuple(event) == ("event", "at", "previous_status", "job")
        record = event["job"]
        if event["event"] == "added":
            assert record["id"] not in state
            assert event["previous_status"] is None
            state[record["id"]] = record
        elif event["event"] == "changed":
            assert event["previous_status"] == state[record["id"]]["status"]
            assert state[record["id"]] != record
            state[record["id"]] = record
        else:
            assert event["event"] == "removed"
            assert event["previous_status"] is None
            del state[record["id"]]
    return state


async def test_wait_prints_each_job_as_it_finishes_and_exits_0() -> None:
    """Each job is printed the poll it finishes (finish order); --project-id filters; exit 0."""
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
        assert [record["id"] for record in records] == ["bjb-a", "bjb-c", "bjb-b"]
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


@pytest.mark.parametrize(
    "args",
    [
        ("wait", "--api-key", KEY),
        ("wait", "bjb-1", "--api-key", KEY, "--poll-interval", "0"),
        ("wait", "bjb-1", "--api-key", KEY, "--timeout", "-1"),
        ("watch", "--demo", "--max-events", "0"),
        ("watch", "--demo", "--duration", "nan"),
        ("watch", "--demo", "--api-key", KEY),
    ],
)
def test_wait_and_watch_usage_errors_exit_2(
    args: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    """No ids, a zero interval, a negative timeout or a bad stop: exit 2, the key never shown."""
    assert main(list(args)) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert "error: " in err
    assert KEY not in err


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


def test_watch_on_a_terminal_prints_readable_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    """On a terminal, watch prints `HH:MM:SS added   bjb-... parse running 0/91` lines."""
    out = Terminal()
    monkeypatch.setattr(sys, "stdout", out)
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

FORGED_ID = "bjb-evil\nbjb-forged  parse  completed  10/10  0"
HOSTILE_JOBS = [
    {
        "id": FORGED_ID,
        "status": "failed",
        "error_message": "\x1b]0;pwned\x07\x1b[2J\rwiped \x9b31m C1 \u202eevil\u202c",
        "total_items": 10,
    },
    {"id": "bjb-esc\x1b[31m", "status": "runn\x1bing", "job_type": "par\x07se", "total_items": 1},
]
RAW_CONTROLS = ("\x1b", "\x07", "\r", "\x9b", "\u202e", "\u202c")


def assert_no_raw_controls(text: str) -> None:
    for char in RAW_CONTROLS:
        assert char not in text, f"{char!r} reached the terminal"


async def test_table_escapes_control_characters_in_server_text() -> None:
    """ESC, BEL, CR, C1, bidi and newlines in ids, statuses, types and errors print escaped."""
    async with FakeLlamaCloud(jobs=HOSTILE_JOBS, api_key=KEY) as cloud:
        result = await arun_cli("list", *connect(cloud), "--format", "table")
    assert (result.returncode, result.stderr) == (0, "")
    assert_no_raw_controls(result.stdout)
    _, *rows = result.stdout.splitlines()
    assert len(rows) == 2  # the newline in an id did not forge a third row
    assert rows[0].startswith("bjb-evil\\nbjb-forged  parse  completed  10/10  0  ")
    # The ERROR column is prose: its whitespace (the CR) folds to one space, as ever.
    assert rows[0].endswith("\\x1b]0;pwned\\x07\\x1b[2J wiped \\x9b31m C1 \\u202eevil\\u202c")
    assert rows[1].split()[:3] == ["bjb-esc\\x1b[31m", "par\\x07se", "runn\\x1bing"]


async def test_json_and_csv_stay_exact_with_control_characters() -> None:
    """JSON Lines and CSV carry the server's text exactly (JSON escapes it, CSV quotes it)."""
    async with FakeLlamaCloud(jobs=HOSTILE_JOBS, api_key=KEY) as cloud:
        lines = await arun_cli("list", *connect(cloud), "--format", "jsonl")
        table = await arun_cli("list", *connect(cloud), "--format", "csv")
        expected = wire_records(cloud.jobs)
    assert jsonl(lines.stdout) == expected
    assert_no_raw_controls(lines.stdout)  # JSON's own escapes
    rows = list(csv.DictReader(io.StringIO(table.stdout, newline="")))
    assert [row["id"] for row in rows] == [FORGED_ID, "bjb-esc\x1b[31m"]
    assert rows[0]["error_message"] == HOSTILE_JOBS[0]["error_message"]


async def test_watch_and_wait_lines_escape_server_text() -> None:
    """Watch's text lines and wait's refusal of such an id (stderr) escape control characters."""
    async with FakeLlamaCloud(jobs=HOSTILE_JOBS, api_key=KEY) as cloud:
        watched = await arun_cli("watch", *connect(cloud), "--format", "text", "--max-events", "2")
        waited = await arun_cli(
            "wait", FORGED_ID, *connect(cloud), "--format", "jsonl", "--poll-interval", "0.1"
        )
    assert watched.returncode == 0
    assert_no_raw_controls(watched.stdout)
    assert len(watched.stdout.splitlines()) == 2
    assert "bjb-evil\\nbjb-forged" in watched.stdout
    # An id with a newline is not one path segment (issue 24.9): refused before any
    # request, and the refusal echoes it escaped.
    assert waited.returncode == 2
    assert_no_raw_controls(waited.stderr)
    assert waited.stderr.startswith("error: JOB_ID must be a non-empty id string")
    assert "got 'bjb-evil\\nbjb-forged" in waited.stderr


async def test_error_lines_escape_server_text() -> None:
    """An API error quoting the server's body prints one stderr line with escapes."""
    async with FakeLlamaCloud(jobs=3, api_key=KEY) as cloud:
        cloud.respond_next(400, "bad \x1b[2J request\x07\r\nX-Forged: 1", content_type="text/plain")
        result = await arun_cli("list", *connect(cloud), "--max-retries", "0")
    assert result.returncode == 1
    assert_no_raw_controls(result.stderr)
    assert len(result.stderr.splitlines()) == 1
    assert "\\x1b[2J" in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        *(("list", "--demo", "--format", output) for output in ("table", "jsonl", "json", "csv")),
        ("watch", "--demo", "--max-events", "3"),
        ("serve-fake",),
    ],
)
def test_full_disk_is_one_error_line_and_exit_1(args: tuple[str, ...]) -> None:
    """Writing to /dev/full prints one error line and exits 1, without a traceback."""
    with open("/dev/full", "w") as full:
        done = run_installed(*args, stdout=full)
    assert done.returncode == 1
    assert done.stderr == "error: cannot write the output: No space left on device\n"


@pytest.mark.parametrize(
    "args",
    [
        ("list", "--demo", "--format", "table"),
        ("watch", "--demo", "--max-events", "3"),
        ("wait", "--demo", "--poll-interval", "0.2"),
        ("serve-fake",),
    ],
)
def test_closed_stdout_is_one_error_line_and_exit_1(args: tuple[str, ...]) -> None:
    """With stdout closed (``>&-``) each command says so in one line and exits 1."""
    done = run_process(
        ["/bin/sh", "-c", 'exec "$@" >&-', "sh", *command(*args)],
        env=cli_env(),
        stdout=subprocess.DEVNULL,
    )
    assert done.returncode == 1
    assert done.stderr == "error: cannot write the output: stdout is closed\n"


CJK_JOBS = [
    {
        "id": "bjb-中文-1",
        "status": "failed",
        "error_message": "处理失败 文件损坏",
        "total_items": 2,
    },
    {"id": "bjb-plain-2", "status": "completed", "total_items": 2},
]


@pytest.mark.parametrize("output_format", ["table", "csv"])
async def test_cp1252_stdout_gets_escapes_for_cjk_text(output_format: str) -> None:
    """A cp1252 stdout and CJK text: every row is written, the CJK as escapes, exit 0."""
    async with FakeLlamaCloud(jobs=CJK_JOBS, api_key=KEY) as cloud:
        result = await arun_cli(
            "list",
            *connect(cloud),
            "--format",
            output_format,
            encoding="cp1252",  # what PYTHONIOENCODING=cp1252 gives a piped stdout
        )
    assert (result.returncode, result.stderr) == (0, "")
    lines = result.stdout.splitlines()
    assert len(lines) == 3
    assert "bjb-\\u4e2d\\u6587-1" in lines[1]
    assert "\\u5904\\u7406\\u5931\\u8d25" in lines[1]
    assert lines[2].startswith("bjb-plain-2")


async def test_cp1252_watch_and_jsonl_need_no_escapes() -> None:
    """JSON Lines is ASCII on any stdout; watch text falls back to "->" and escapes CJK."""
    async with FakeLlamaCloud(jobs=CJK_JOBS, api_key=KEY) as cloud:
        lines = await arun_cli("list", *connect(cloud), "--format", "jsonl", encoding="cp1252")
        watched = await arun_cli(
            "watch", *connect(cloud), "--format", "text", "--max-events", "2", encoding="cp1252"
        )
        expected = wire_records(cloud.jobs)
    assert jsonl(lines.stdout) == expected
    assert watched.returncode == 0
    assert "bjb-\\u4e2d\\u6587-1" in watched.stdout


class StrictCp1252(io.StringIO):
    """A stdout that is no TextIOWrapper and refuses what cp1252 cannot encode."""

    encoding = "cp1252"

    def write(self, text: str, /) -> int:
        text.encode("cp1252")
        return super().write(text)


def test_an_encoding_failure_left_is_an_output_error_exit_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """If stdout still cannot encode a row, it is an output error (exit 1), never usage (2)."""
    with serve_in_thread(jobs=CJK_JOBS, api_key=KEY) as cloud:
        monkeypatch.setattr(sys, "stdout", StrictCp1252())
        code = main(["list", *connect(cloud), "--format", "table"])
    assert code == 1
    err = capsys.readouterr().err
    assert err == "error: cannot write the output: stdout's encoding (cp1252) cannot show it\n"


@pytest.mark.parametrize("output_format", ["table", "jsonl", "csv"])
async def test_timestamp_without_a_utc_equivalent_is_one_error_line(output_format: str) -> None:
    """A created_at with no UTC instant is an invalid response (exit 1), not an OverflowError."""
    jobs = [{"id": "bjb-edge", "created_at": "9999-12-31T23:59:59-05:00"}]
    async with FakeLlamaCloud(jobs=jobs, api_key=KEY) as cloud:
        result = await arun_cli("list", *connect(cloud), "--format", output_format)
    assert result.returncode == 1
    assert result.stderr.startswith("error: response body does not match the reference")
    assert "timestamp out of range in UTC @ $.items[0].created_at" in result.stderr


async def test_verbose_retry_lines_escape_server_text() -> None:
    """With -v, a retry WARNING quoting the server's body shows its control characters escaped."""
    async with FakeLlamaCloud(jobs=3, api_key=KEY) as cloud:
        cloud.fail_next(503, body="down \x1b[2J\x07 now", content_type="text/plain")
        result = await arun_cli("list", *connect(cloud), "-v")
    assert result.returncode == 0
    assert_no_raw_controls(result.stderr)
    assert "WARNING: retrying in" in result.stderr
    assert "down \\x1b[2J\\x07 now" in result.stderr


# ----------------------------------------------------------------- the package's shape


def test_cli_imports_only_the_public_package() -> None:
    """No module under cli/ imports a private module of the library (`_client`, `_watch`, ...)."""
    import ast  # noqa: PLC0415 - this test only
    import importlib.util  # noqa: PLC0415 - this test only

    spec = importlib.util.find_spec("llama_batch_async.cli")
    assert spec is not None
    assert spec.submodule_search_locations is not None
    folder = Path(next(iter(spec.submodule_search_locations)))
    sources = sorted(folder.glob("*.py"))
    assert {path.name for path in sources} >= {"__init__.py", "_list.py", "_wait.py"}
    private: list[str] = []
    for path in sources:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                names = [f"{node.module or ''}.{alias.name}" for alias in node.names]
                if node.level >= 2 or (node.module or "").startswith("llama_batch_async._"):
                    private.append(f"{path.name}: from {'.' * node.level}{node.module or ''}")
                elif node.level == 0 and node.module == "llama_batch_async":
                    private += [f"{path.name}: {name}" for name in names if "._" in name]
            elif isinstance(node, ast.Import):
                private += [
                    f"{path.name}: import {alias.name}"
                    for alias in node.names
                    if alias.name.startswith("llama_batch_async._")
                ]
    assert private == []


def test_command_modules_are_imported_only_when_their_command_runs() -> None:
    """Importing the CLI and `--help` load no command module; `list --help` loads only list's."""
    probe = (
        "import sys, contextlib, io\n"
        "from llama_batch_async.cli import main\n"
        "cli = 'llama_batch_async.cli.'\n"
        "loaded = lambda: sorted(m for m in sys.modules if m.startswith(cli))\n"
        "print(loaded())\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    main(['--help']); print(loaded(), file=sys.stderr)\n"
        "    main(['list', '--help'])\n"
        "print(loaded())\n"
        "print('llama_batch_async.testing' in sys.modules)\n"
    )
    done = run_python("-c", probe, env=cli_env())  # a fresh interpreter: nothing loaded yet
    assert done.returncode == 0, done.stderr
    shared = ["llama_batch_async.cli._options", "llama_batch_async.cli._output"]
    assert done.stdout.splitlines() == [
        str(shared),
        str(["llama_batch_async.cli._list", *shared, "llama_batch_async.cli._status"]),
        "False",
    ]
    assert done.stderr.strip() == str(shared)


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (("list", "--prefetch", "33"), "--prefetch"),
        (("list", "--prefetch", "many"), "--prefetch"),
        (("list", "--offset", "-1"), "--offset"),
        (("list", "--max-items", "-5"), "--max-items"),
        (("list", "--page-size", "0"), "--page-size"),
        (("list", "--page-size", "ten"), "--page-size"),
        (("list", "--max-retries", "-1"), "--max-retries"),
        (("list", "--timeout", "0"), "--timeout"),
        (("list", "--request-timeout", "-2"), "--request-timeout"),
        (("list", "--status", "done"), "--status"),
        (("list", "--job-type", "index"), "--job-type"),
        (("list", "--project-id", " "), "--project-id"),
        (("list", "--directory-id", ""), "--directory-id"),
        (("list", "--organization-id", "\t"), "--organization-id"),
        (("list", "--api-key", " "), "--api-key"),
        (("list", "--base-url", "ftp://example.com"), "--base-url"),
        (("list", "--offset", "3", "--resume-from", "abc"), "--resume-from"),
        (("list", "--resume-from", "not-a-cursor"), "--resume-from"),
        (("wait", "bjb-1", "--timeout", "-1"), "--timeout"),
        (("wait", "bjb-1", "--poll-interval", "0"), "--poll-interval"),
        (("wait", "bjb-1", "--request-timeout", "nan"), "--request-timeout"),
        (("watch", "--max-events", "0"), "--max-events"),
        (("watch", "--duration", "-1"), "--duration"),
        (("watch", "--page-size", "0"), "--page-size"),
        (("serve-fake", "--port", "70000"), "--port"),
        (("serve-fake", "--latency", "-1"), "--latency"),
    ],
)
def test_every_bad_flag_value_is_named_as_typed(
    args: tuple[str, ...], flag: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A refused value exits 2 with an error naming the flag as typed, never a parameter name."""
    demo = () if args[0] == "serve-fake" or "--api-key" in args else ("--demo",)
    assert main([*args, *demo]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    message = err.splitlines()[-1]
    assert "error: " in message
    assert flag in message
    parameter = flag.removeprefix("--").replace("-", "_")
    assert f" {parameter} " not in f" {message} ".replace(",", " ")


# ----------------------------------------------------------------- on a pseudo-terminal


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX pseudo-terminals")
@pytest.mark.parametrize("columns", [80, 100, 120, 140])
def test_table_fits_the_terminal_down_to_80_columns(columns: int) -> None:
    """On a terminal the table fits its width: columns shortened or dropped, ids never cut."""
    piped = run_cli("list", "--demo", "--status", "failed", "--format", "jsonl")
    ids = [record["id"] for record in jsonl(piped.stdout)]
    result = on_pty(command("list", "--demo", "--status", "failed"), columns=columns)
    assert result.returncode == 0
    header, *rows = [line for line in result.stdout.split("\n") if line.startswith(("ID", "bjb-"))]
    assert header.split()[:1] == ["ID"]
    assert "STATUS" in header
    assert "ERROR" in header
    assert [row.split()[0] for row in rows] == ids
    assert all(len(line) < columns for line in (header, *rows))
    if columns >= 140:
        assert "CREATED (UTC)" in header
        assert "TYPE" in header


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


def test_list_verbose_reports_what_the_walk_cost(monkeypatch: pytest.MonkeyPatch) -> None:
    """`list -v` logs the walk's requests, unused answers and 429s on stderr (issue 22)."""
    out, err = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(sys, "stderr", err)
    assert main(["list", "--demo", "--page-size", "50", "-v", "-o", "-", "--format", "jsonl"]) == 0
    assert re.search(
        r"INFO: walk: \d+ pages, \d+ requests \(\d+ unused, 0 refused with 429, 0 retries\)",
        err.getvalue(),
    )
