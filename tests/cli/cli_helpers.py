"""What the ``llama-batch`` tests share: running the command, records, wait/watch helpers.

Most tests run `main()` in this process with piped stdout and stderr (helpers.run_main):
a subprocess adds a Python start-up and nothing they are about. What needs a real
descriptor, a terminal, a signal or the installed script runs the installed command.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any

from helpers import (
    TESTS,
    TIMEOUT,
    Result,
    arun_main,
    cli_env,
    run_main,
    run_process,
)

from llama_batch_async import BatchJob, JobStatus, JobType
from llama_batch_async.testing import JOB_FIELDS as FAKE_JOB_FIELDS
from llama_batch_async.testing import (
    FakeLlamaCloud,
)

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


class Terminal(io.StringIO):
    """A captured stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


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


def make_job(**fields: Any) -> BatchJob:
    """A valid `BatchJob` (parse, proj-1, running, 40 items) with ``fields`` changed."""
    base: dict[str, Any] = {
        "id": "bjb-1",
        "job_type": JobType.PARSE,
        "project_id": "proj-1",
        "status": JobStatus.RUNNING,
        "total_items": 40,
    }
    base.update(fields)
    return BatchJob(**base)


def screen(text: str, columns: int) -> list[str]:
    r"""What a terminal ``columns`` wide shows after ``text``: its lines, as a user copies them.

    A small emulator of what the CLI writes: ``\r`` returns to the start of the
    row, ``\n`` starts the next, a character overwrites the cell under the cursor,
    and a row that fills wraps onto the next (a soft wrap, which a copy joins
    back). Trailing blanks are dropped, as a copy drops them.
    """
    rows: list[list[str]] = [[]]
    soft: list[bool] = [False]  # soft[i]: row i wrapped onto row i + 1
    row, column = 0, 0
    for char in text:
        if char == "\n":
            row, column = row + 1, 0
        elif char == "\r":
            column = 0
        else:
            if column == columns:  # the cursor waits at the margin: wrap now
                soft[row] = True
                row, column = row + 1, 0
            while len(rows) <= row:
                rows.append([])
                soft.append(False)
            line = rows[row]
            line.extend(" " * (column + 1 - len(line)))
            line[column] = char
            column += 1
        while len(rows) <= row:
            rows.append([])
            soft.append(False)
    lines: list[str] = []
    joined = ""
    for cells, wrapped in zip(rows, soft, strict=True):
        joined += "".join(cells)
        if not wrapped:
            lines.append(joined.rstrip())
            joined = ""
    return lines


def json_on_screen(text: str, columns: int) -> Any:
    """The screen's non-blank lines read as one JSON document: what a user would copy."""
    return json.loads("\n".join(line for line in screen(text, columns) if line))
