"""The installed ``llama-batch`` on a pseudo-terminal and in pipes: live line, width, Ctrl-C."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import attrs
import pytest
from helpers import on_pty

from llama_batch_async.testing import serve_in_thread

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX pseudo-terminals")

KEY = "sk-cli-live-0123456789"
SECONDS = 40.0
LLAMA_BATCH = str(Path(sys.executable).with_name("llama-batch"))


def _env(columns: int) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("LLAMA_CLOUD_", "LLAMA_PARSE_", "LLAMA_BATCH_"))
    }
    env["COLUMNS"] = str(columns)
    return env


@attrs.frozen
class Run:
    """What a command did: its exit code and everything the terminal (or pipes) showed."""

    code: int
    text: str
    stderr: str = ""


def run_on_pty(
    *args: str,
    columns: int = 80,
    interrupt_when: Path | Callable[[], bool] | None = None,
    cwd: Path | None = None,
) -> Run:
    """Run ``llama-batch args`` with stdout and stderr on a pseudo-terminal ``columns`` wide.

    With ``interrupt_when``, send SIGINT (Ctrl-C) once that file has some bytes in it.
    """
    done = on_pty(
        [LLAMA_BATCH, *args],
        columns=columns,
        env=_env(columns),
        cwd=cwd,
        seconds=SECONDS,
        interrupt_when=interrupt_when,
    )
    return Run(done.returncode, done.stdout)


def piped(*args: str) -> Run:
    """Run ``llama-batch args`` with stdout and stderr on pipes."""
    done = subprocess.run(  # noqa: S603 - the installed command of this package
        [LLAMA_BATCH, *args],
        capture_output=True,
        text=True,
        env=_env(80),
        timeout=SECONDS,
        check=False,
    )
    assert "Traceback" not in done.stderr
    return Run(done.returncode, done.stdout, done.stderr)


def test_wait_live_line_counts_running_and_pending() -> None:
    """On a terminal, wait's line counts running and pending jobs as the demo's jobs move."""
    run = run_on_pty("wait", "--demo", "--poll-interval", "0.2", "--format", "jsonl", columns=100)
    assert run.code in {0, 1}  # 1: a demo job failed, as demo jobs may
    lines = re.findall(
        r"waiting for (\d+) of 12 jobs \((\d+) finished\), \d+:\d\d; (\d+) running, (\d+) pending",
        run.text,
    )
    assert lines, run.text
    assert ("12", "0", "0", "12") in lines  # before the first poll answers
    assert any(int(running) > 0 for _, _, running, _ in lines)
    for waiting, finished, running, pending in lines:
        assert int(waiting) == 12 - int(finished)
        assert int(running) + int(pending) == int(waiting)


def test_wait_piped_has_no_live_line() -> None:
    """In pipes, wait writes the finished jobs and no status line at all."""
    run = piped("wait", "--demo", "--poll-interval", "0.2")
    assert run.code in {0, 1}
    assert len(run.text.splitlines()) == 12
    assert "waiting for" not in run.stderr
    assert " running, " not in run.stderr


@pytest.mark.parametrize(
    ("columns", "fields"),
    [
        (80, "id,status,workflow_id,error_message"),
        (120, "id,status,project_id,workflow_id,error_message"),
    ],
)
def test_fields_table_fits_the_terminal(columns: int, fields: str) -> None:
    """On a terminal, list --fields: a table or `field: value` blocks, no line as wide as it."""
    run = run_on_pty("list", "--demo", "--status", "failed", "--fields", fields, columns=columns)
    assert run.code == 0
    lines = [line.split("\r")[-1] for line in run.text.split("\n")]
    assert [line for line in lines if len(line) >= columns] == []
    rows = [line for line in lines if line.startswith(("ID", "bjb-"))]
    ids = [line.split()[1] for line in lines if line.startswith("id: ")]
    if rows:  # a table: a header, then a row per job
        assert rows[0].split()[:2] == ["ID", "STATUS"]
        assert all(re.match(r"bjb-[0-9a-f-]{36}  ", row) for row in rows[1:])  # ids whole
        assert len(rows) > 3
    else:  # blocks: every value whole
        assert all(re.fullmatch(r"bjb-[0-9a-f-]{36}", job_id) for job_id in ids)
        assert len(ids) > 3
        assert sum(line.startswith("error_message: ") for line in lines) == len(ids)


def test_ctrl_c_with_output_keeps_partial_and_prints_cursor(tmp_path: Path) -> None:
    """Ctrl-C during list --output on a terminal: exit 130, FILE untouched, partial file, cursor."""
    target = tmp_path / "jobs.jsonl"

    def partials() -> list[Path]:
        return [path for path in tmp_path.glob(".jobs.jsonl.*.partial") if path.stat().st_size]

    with serve_in_thread(jobs=300, api_key=KEY, latency=0.1) as cloud:
        run = run_on_pty(
            "list",
            "--base-url",
            cloud.url,
            "--api-key",
            KEY,
            "--page-size",
            "10",
            "--prefetch",
            "0",
            "--output",
            str(target),
            interrupt_when=lambda: bool(partials()),
            columns=100,
        )
        assert run.code == 130
        assert not target.exists()
        [partial] = partials()
        listed = partial.read_text(encoding="utf-8").splitlines()
        assert 0 < len(listed) < 300
        assert f"the jobs listed so far are in {partial}" in run.text
        cursor = re.findall(r"resume with: --resume-from (\S+)", run.text)
        assert len(cursor) == 1
        rest = piped(
            "list", "--base-url", cloud.url, "--api-key", KEY, "--page-size", "10",
            "--resume-from", cursor[0],
        )  # fmt: skip
    assert rest.code == 0
    assert len(listed) + len(rest.text.splitlines()) == 300
