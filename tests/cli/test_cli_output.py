"""What the commands write: records, escaped server text, encodings, full disks, widths."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest
from cli_helpers import (
    KEY,
    Terminal,
    arun_cli,
    command,
    connect,
    jsonl,
    make_job,
    run_cli,
    run_installed,
    screen,
    wire_records,
)
from helpers import (
    cli_env,
    on_pty,
    run_process,
)

from llama_batch_async.cli import JOB_FIELDS, job_to_dict, main
from llama_batch_async.cli._status import StatusLine
from llama_batch_async.testing import (
    FakeLlamaCloud,
    serve_in_thread,
)


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


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX pseudo-terminals")
@pytest.mark.parametrize("columns", [80, 100, 120, 140])
def test_table_fits_the_terminal_down_to_80_columns(columns: int) -> None:
    """On a terminal the table fits its width: columns shortened or dropped, ids never cut.

    STATUS is left out: `--status failed` makes it `failed` on every row.
    """
    piped = run_cli("list", "--demo", "--status", "failed", "--format", "jsonl")
    ids = [record["id"] for record in jsonl(piped.stdout)]
    result = on_pty(command("list", "--demo", "--status", "failed"), columns=columns)
    assert result.returncode == 0
    header, *rows = [line for line in result.stdout.split("\n") if line.startswith(("ID", "bjb-"))]
    assert header.split()[:1] == ["ID"]
    assert "STATUS" not in header
    assert "ERROR" in header
    assert [row.split()[0] for row in rows] == ids
    assert all(len(line) < columns for line in (header, *rows))
    if columns >= 140:
        assert "CREATED (UTC)" in header
        assert "TYPE" in header


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX pseudo-terminals")
@pytest.mark.parametrize("columns", [80, 200])
def test_fields_on_a_terminal_never_cut_or_wrap_a_value(columns: int) -> None:
    """Five --fields at 80 columns are `field: value` blocks, at 200 a table: every value whole."""
    fields = "id,status,created_at,updated_at,error_message"
    args = ("list", "--demo", "--status", "failed", "--fields", fields, "--max-items", "6")
    records = jsonl(run_cli(*args, "--format", "jsonl").stdout)
    result = on_pty(command(*args), columns=columns)
    assert result.returncode == 0
    shown = screen(result.stdout, columns)
    assert all(len(line) < columns for line in shown)  # no row wrapped
    text = "\n".join(shown)
    assert "..." not in text
    for record in records:
        assert record["id"] in text
        assert record["error_message"] in text
        assert record["updated_at"][:19].replace("T", " ") in text
    if columns == 80:
        assert text.count("\nerror_message: ") == len(records)
    else:
        assert shown[0].split() == ["ID", "STATUS", "CREATED_AT", "UPDATED_AT", "ERROR_MESSAGE"]
        assert len([line for line in shown if line]) == len(records) + 1


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX pseudo-terminals")
@pytest.mark.parametrize("columns", [80, 200])
def test_the_failed_jobs_table_drops_the_status_the_filter_pins(columns: int) -> None:
    """`list --status failed` on a terminal has no STATUS column; at 200 the errors are whole."""
    records = jsonl(run_cli("list", "--demo", "--status", "failed", "--format", "jsonl").stdout)
    result = on_pty(command("list", "--demo", "--status", "failed"), columns=columns)
    assert result.returncode == 0
    header, *rows = [line for line in screen(result.stdout, columns) if line]
    assert "STATUS" not in header
    assert not any(" failed " in row for row in rows)
    assert all(len(line) < columns for line in (header, *rows))
    if columns == 200:
        assert all(
            record["error_message"] in row for record, row in zip(records, rows, strict=True)
        )


def test_a_status_line_is_wiped_with_the_echoed_ctrl_c_after_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Clearing a status line also wipes the two columns a terminal's `^C` echo takes."""
    monkeypatch.setenv("COLUMNS", "80")
    stream = Terminal()
    line = StatusLine(stream, enabled=True)
    line.show("waiting for 3 of 4 jobs (1 finished), 0:02")
    line.clear()
    width = len("waiting for 3 of 4 jobs (1 finished), 0:02")
    assert stream.getvalue().endswith("\r" + " " * (width + 2) + "\r")
    line.show("x" * 200)  # cut to the width, and wiped within it
    line.clear()
    assert stream.getvalue().endswith("\r" + " " * 79 + "\r")
