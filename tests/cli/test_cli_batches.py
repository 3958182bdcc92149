"""``llama-batch batches list|wait|watch`` and ``serve-fake --batches``.

Where the terminal does not matter, `main(argv)` runs in this process with
captured streams against a FakeLlamaCloud on a thread of its own; where it
does (the table's width, the live lines, Ctrl-C), the installed
``llama-batch`` command runs on a pseudo-terminal or as a child process.
"""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from helpers import on_pty

from llama_batch_async.cli import main
from llama_batch_async.testing import BATCHES_PATH, FakeLlamaCloud, make_batch, serve_in_thread

KEY = "sk-batches-cli-secret-0123456789"
TIMEOUT = 60.0
FAST = ("--poll-interval", "0.05")
TERMINAL = {"COMPLETED", "FAILED", "CANCELLED"}
LLAMA_BATCH = Path(sys.executable).with_name("llama-batch")


class Result(NamedTuple):
    """A command's exit code and what it wrote."""

    code: int
    stdout: str
    stderr: str


Cli = Callable[..., Result]


@pytest.fixture
def cloud() -> Iterator[FakeLlamaCloud]:
    """A fake cloud with 45 seeded v2 batches, its own thread and loop."""
    with serve_in_thread(0, batches=45, seed=3, api_key=KEY) as fake:
        yield fake


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Cli:
    """Run ``main(argv)`` in this process; return the exit code and what it wrote."""
    for name in list(os.environ):
        if name.startswith(("LLAMA_CLOUD_", "LLAMA_PARSE_", "LLAMA_BATCH_")):
            monkeypatch.delenv(name)
    capsys.readouterr()

    def run(*args: str) -> Result:
        code = main(list(args))
        out, err = capsys.readouterr()
        assert "Traceback" not in err
        assert KEY not in out + err
        return Result(code, out, err)

    return run


def at(fake: FakeLlamaCloud) -> tuple[str, ...]:
    return ("--base-url", fake.url, "--api-key", KEY)


def jsonl(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line]


def batch_requests(fake: FakeLlamaCloud) -> list[Any]:
    return [request for request in fake.requests if request.path.startswith(BATCHES_PATH)]


# ----------------------------------------------------------------- list, piped


def test_list_jsonl_is_every_batch_once_as_the_wire_record(cloud: FakeLlamaCloud, cli: Cli) -> None:
    """Piped, batches list writes JSON Lines: every batch once, in order, as the server sent it."""
    result = cli("batches", "list", *at(cloud), "--page-size", "10")
    assert result.code == 0
    records = jsonl(result.stdout)
    assert [record["id"] for record in records] == [batch["id"] for batch in cloud.batches]
    first = cloud.batches[0]
    assert records[0]["status"] == first["status"]
    assert records[0]["config"] == first["config"]
    assert records[0]["results"] is None  # the list does not expand results
    assert len(batch_requests(cloud)) == 5


def test_list_json_is_one_array_and_empty_is_brackets(cloud: FakeLlamaCloud, cli: Cli) -> None:
    """--format json is one valid array; a listing with no match is `[]`."""
    full = cli("batches", "list", *at(cloud), "--format", "json", "--page-size", "20")
    assert [record["id"] for record in json.loads(full.stdout)] == [b["id"] for b in cloud.batches]
    empty = cli("batches", "list", *at(cloud), "--format", "json", "--project-id", "proj-none")
    assert (empty.code, empty.stdout) == (0, "[]\n")


def test_list_csv_flattens_config_and_keeps_every_value(cloud: FakeLlamaCloud, cli: Cli) -> None:
    """--format csv: a header with config.job flattened, then one exact row per batch."""
    cloud.set_batches([make_batch(id="bat-comma", source_directory_id='dir-"a",\nb')])
    result = cli("batches", "list", *at(cloud), "--format", "csv")
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[0] == [
        "id",
        "project_id",
        "source_directory_id",
        "status",
        "config.job.type",
        "config.job.configuration_id",
        "created_at",
        "updated_at",
        "results",
    ]
    batch = cloud.batches[0]
    assert rows[1][:6] == [
        "bat-comma",
        batch["project_id"],
        'dir-"a",\nb',
        batch["status"],
        batch["config"]["job"]["type"],
        batch["config"]["job"]["configuration_id"],
    ]
    assert rows[1][8] == ""  # results not asked for: empty, not "null"
    assert len(rows) == 2


def test_list_sends_the_filters_as_v2_query_parameters(cloud: FakeLlamaCloud, cli: Cli) -> None:
    """Each filter flag becomes its v2 query parameter; a time without offset is UTC."""
    result = cli(
        "batches", "list", *at(cloud),
        "--status", "RUNNING",
        "--source-directory-id", "dir-x",
        "--created-after", "2026-10-01",
        "--created-before", "2026-11-01T12:00:00+02:00",
    )  # fmt: skip
    assert result.code == 0
    query = batch_requests(cloud)[0].query
    assert query["status"] == "RUNNING"
    assert query["source_directory_id"] == "dir-x"
    assert query["created_at_on_or_after"].startswith("2026-10-01T00:00:00")
    assert query["created_at_on_or_after"].endswith(("Z", "+00:00"))
    assert query["created_at_on_or_before"].startswith("2026-11-01T10:00:00")


def test_list_max_items_is_exact(cloud: FakeLlamaCloud, cli: Cli) -> None:
    """--max-items N writes exactly N batches."""
    result = cli("batches", "list", *at(cloud), "--max-items", "13", "--page-size", "5")
    assert len(jsonl(result.stdout)) == 13


def test_a_failed_walk_keeps_its_output_and_prints_a_cursor_that_resumes(
    cloud: FakeLlamaCloud, cli: Cli
) -> None:
    """A walk failing part-way exits 1, keeps what it listed, and prints a cursor that resumes."""
    args = ("batches", "list", *at(cloud), "--page-size", "10", "--max-retries", "0")
    cloud.delay_next(0.01, times=2)  # two pages answered, then the third request fails
    cloud.fail_next(503)
    failed = cli(*args)
    assert failed.code == 1
    listed = [record["id"] for record in jsonl(failed.stdout)]
    assert listed == [batch["id"] for batch in cloud.batches[:20]]
    assert "error: " in failed.stderr
    assert "503" in failed.stderr
    cursor = failed.stderr.split("resume with: --resume-from ")[1].split()[0]
    assert len(batch_requests(cloud)) == 3
    resumed = cli(*args, "--resume-from", cursor)
    assert resumed.code == 0
    rest = [record["id"] for record in jsonl(resumed.stdout)]
    assert listed + rest == [batch["id"] for batch in cloud.batches]


def test_windowed_list_writes_what_the_sequential_walk_writes(
    cloud: FakeLlamaCloud, cli: Cli
) -> None:
    """--windows 4 over the listing's created_at range writes the same batches, in order."""
    sequential = cli("batches", "list", *at(cloud), "--page-size", "5")
    requests = len(batch_requests(cloud))
    oldest = cloud.batches[-1]["created_at"]
    windowed = cli(
        "batches", "list", *at(cloud), "--page-size", "5",
        "--windows", "4", "--created-after", oldest,
    )  # fmt: skip
    assert windowed.code == 0
    assert windowed.stdout == sequential.stdout
    assert len(batch_requests(cloud)) - requests > 4  # the windows were asked for, each


def test_a_failed_windowed_walk_resumes_from_its_cursor(cloud: FakeLlamaCloud, cli: Cli) -> None:
    """A --windows walk that fails prints a cursor; resuming with it lists the rest, once each."""
    window = ("--windows", "3", "--created-after", cloud.batches[-1]["created_at"])
    args = ("batches", "list", *at(cloud), "--page-size", "5", "--max-retries", "0", *window)
    cloud.delay_next(0.01, times=4)
    cloud.fail_next(503)
    failed = cli(*args)
    assert failed.code == 1
    assert len(jsonl(failed.stdout)) < len(cloud.batches)
    cursor = failed.stderr.split("resume with: --resume-from ")[1].split()[0]
    resumed = cli(*args, "--resume-from", cursor)
    assert resumed.code == 0
    listed = [record["id"] for record in jsonl(failed.stdout) + jsonl(resumed.stdout)]
    assert listed == [batch["id"] for batch in cloud.batches]


@pytest.mark.parametrize(
    ("args", "flag", "why"),
    [
        (("--created-after", "yesterday"), "--created-after", "ISO 8601"),
        (("--created-before", "2026-13-01"), "--created-before", "ISO 8601"),
        (
            ("--created-after", "2026-11-02", "--created-before", "2026-11-01"),
            "--created-before",
            "at or after --created-after",
        ),
        (("--page-size", "0"), "--page-size", ">= 1"),
        (("--max-items", "-1"), "--max-items", ">= 0"),
        (("--resume-from", "not-a-cursor"), "--resume-from", "cursor"),
        (("--project-id", " "), "--project-id", "blank"),
        (("--status", "runing"), "--status", "invalid choice"),
        (("--windows", "0"), "--windows", ">= 1"),
        (("--windows", "4"), "--windows", "needs --created-after"),
    ],
)
def test_a_bad_flag_is_named_as_typed_before_any_request(
    cloud: FakeLlamaCloud, cli: Cli, args: tuple[str, ...], flag: str, why: str
) -> None:
    """A refused value exits 2 naming the flag as typed (never the parameter), sending nothing."""
    result = cli("batches", "list", *at(cloud), *args)
    assert result.code == 2
    assert result.stdout == ""
    message = result.stderr.strip().splitlines()[-1]
    assert flag in message
    assert why in message
    parameter = flag.removeprefix("--").replace("-", "_")
    assert f" {parameter} " not in f" {message} ".replace(",", " ")
    assert batch_requests(cloud) == []


def test_a_bad_cursor_is_refused_in_v2_words(cloud: FakeLlamaCloud, cli: Cli) -> None:
    """`batches list --resume-from BAD` names BatchPage.cursor and a failed batches list, exit 2."""
    result = cli("batches", "list", *at(cloud), "--resume-from", "BAD")
    assert result.code == 2
    assert result.stdout == ""
    assert result.stderr == (
        "error: --resume-from is not a cursor made by this library (BatchPage.cursor) "
        "(give a cursor a failed batches list printed, with the same filters)\n"
    )
    assert "JobPage" not in result.stderr
    assert batch_requests(cloud) == []


def test_a_v1_cursor_is_refused_by_batches_list(cloud: FakeLlamaCloud, cli: Cli) -> None:
    """A cursor printed by `list` (v1 jobs) is a usage error for `batches list`, exit 2."""
    cloud.set_jobs(30)
    cloud.delay_next(0.01)
    cloud.fail_next(503)
    failed = cli("list", *at(cloud), "--page-size", "10", "--max-retries", "0", "--prefetch", "0")
    assert failed.code == 1
    cursor = failed.stderr.split("--resume-from ")[1].split()[0]
    result = cli("batches", "list", *at(cloud), "--resume-from", cursor)
    assert result.code == 2
    assert "--resume-from" in result.stderr
    assert batch_requests(cloud) == []


def test_a_refused_key_is_one_line_without_the_key(cloud: FakeLlamaCloud, cli: Cli) -> None:
    """HTTP 401 is `the API key was refused`, exit 1, and the key is never printed."""
    result = cli("batches", "list", "--base-url", cloud.url, "--api-key", "sk-wrong-key-987654")
    assert result.code == 1
    assert result.stderr == "error: the API key was refused (HTTP 401)\n"
    assert "sk-wrong" not in result.stdout + result.stderr


def test_list_demo_serves_its_own_batches(cli: Cli) -> None:
    """--demo lists the built-in fake's batches with no key and no network."""
    result = cli("batches", "list", "--demo", "--format", "jsonl")
    records = jsonl(result.stdout)
    assert result.code == 0
    assert len(records) == 60
    assert all(record["id"].startswith("bat-") for record in records)


def test_demo_with_a_key_is_a_usage_error(cli: Cli) -> None:
    """--demo with --api-key is refused as for the v1 commands: exit 2."""
    result = cli("batches", "list", "--demo", "--api-key", KEY)
    assert result.code == 2
    assert "--demo" in result.stderr


# ----------------------------------------------------------------- wait and watch


def _two_running(fake: FakeLlamaCloud) -> tuple[str, str]:
    fake.set_batches(
        [make_batch(id="bat-one", status="RUNNING"), make_batch(id="bat-two", status="PENDING")]
    )
    return "bat-one", "bat-two"


def test_wait_exits_0_when_every_batch_completed(cloud: FakeLlamaCloud, cli: Cli) -> None:
    """Wait prints each batch once it is final, and exits 0 when all completed."""
    one, two = _two_running(cloud)
    cloud.update_batch(one, status="COMPLETED")
    cloud.update_batch(two, status="COMPLETED")
    result = cli("batches", "wait", one, two, *at(cloud), *FAST)
    assert result.code == 0
    assert sorted(record["id"] for record in jsonl(result.stdout)) == [one, two]
    assert result.stderr == ""


def test_wait_exits_1_naming_a_failed_batch(cloud: FakeLlamaCloud, cli: Cli) -> None:
    """A batch that ends FAILED makes wait exit 1, naming it and its status."""
    one, two = _two_running(cloud)
    cloud.update_batch(one, status="COMPLETED")
    cloud.update_batch(two, status="FAILED")
    result = cli("batches", "wait", one, two, *at(cloud), *FAST)
    assert result.code == 1
    assert result.stderr == f"error: 1 of 2 batches did not complete: {two} FAILED\n"


def test_wait_exits_1_for_a_batch_that_does_not_exist(cloud: FakeLlamaCloud, cli: Cli) -> None:
    """An id the server answers 404 for, poll after poll, is `not found`, exit 1."""
    one, _ = _two_running(cloud)
    cloud.update_batch(one, status="COMPLETED")
    result = cli("batches", "wait", one, "bat-ghost", *at(cloud), *FAST)
    assert result.code == 1
    assert "1 of 2 batches not found: bat-ghost" in result.stderr


def test_wait_timeout_exits_124_listing_the_unfinished(cloud: FakeLlamaCloud, cli: Cli) -> None:
    """--timeout running out exits 124 and names the batches still unfinished."""
    one, two = _two_running(cloud)
    result = cli("batches", "wait", one, two, *at(cloud), *FAST, "--timeout", "0.3")
    assert result.code == 124
    assert "timed out after 0.3 s; 2 of 2 batches unfinished: bat-one bat-two" in result.stderr


def test_wait_without_ids_and_without_demo_is_usage(cli: Cli) -> None:
    """`batches wait` with no BATCH_ID (and no --demo) is a usage error, exit 2."""
    result = cli("batches", "wait", "--api-key", KEY)
    assert result.code == 2
    assert "BATCH_ID" in result.stderr


@pytest.mark.parametrize("command", ["wait", "watch"])
def test_a_blank_batch_id_is_usage(cloud: FakeLlamaCloud, cli: Cli, command: str) -> None:
    """A blank BATCH_ID exits 2 in the library's words, naming BATCH_ID, before any request."""
    result = cli("batches", command, "bat-1", " ", *at(cloud))
    assert result.code == 2
    assert result.stderr.startswith("error: BATCH_ID must be a non-empty id string of one path")
    assert result.stderr.endswith(", got ' '\n")
    assert batch_requests(cloud) == []


def test_watch_prints_added_then_changed_with_the_previous_status(cli: Cli) -> None:
    """watch: one JSON line per batch first seen, then `changed` with previous_status."""
    result = cli("batches", "watch", "--demo", *FAST, "--format", "jsonl")
    assert result.code == 0
    events = jsonl(result.stdout)
    added = [event for event in events if event["event"] == "added"]
    changed = [event for event in events if event["event"] == "changed"]
    assert added
    assert all(event["previous_status"] is None for event in added)
    assert {event["batch"]["id"] for event in changed} <= {event["batch"]["id"] for event in added}
    assert all(event["previous_status"] != event["batch"]["status"] for event in changed)
    finals = {event["batch"]["id"]: event["batch"]["status"] for event in events}
    assert set(finals.values()) <= TERMINAL  # watch ends once every batch has finished


def test_watch_no_initial_and_max_events(cli: Cli) -> None:
    """--no-initial skips `added`; --max-events N stops after N lines, exit 0."""
    result = cli("batches", "watch", "--demo", *FAST, "--no-initial", "--max-events", "2")
    assert result.code == 0
    events = jsonl(result.stdout)
    assert [event["event"] for event in events] == ["changed", "changed"]


def test_watch_without_ids_watches_the_unfinished_batches_the_filters_match(
    cloud: FakeLlamaCloud, cli: Cli
) -> None:
    """No BATCH_ID: the unfinished batches of the listing under the filters, and only those."""
    cloud.set_batches(
        [
            make_batch(id="bat-a1", project_id="proj-a", status="RUNNING"),
            make_batch(id="bat-a2", project_id="proj-a", status="THROTTLED"),
            make_batch(id="bat-a3", project_id="proj-a", status="COMPLETED"),
            make_batch(id="bat-b1", project_id="proj-b", status="RUNNING"),
        ]
    )
    result = cli("batches", "watch", *at(cloud), "--project-id", "proj-a", *FAST, "--duration", "1")
    assert result.code == 0
    events = jsonl(result.stdout)
    assert sorted(event["batch"]["id"] for event in events) == ["bat-a1", "bat-a2"]
    assert {event["event"] for event in events} == {"added"}
    assert batch_requests(cloud)[0].query["project_id"] == "proj-a"


def test_watch_with_nothing_unfinished_says_so(cloud: FakeLlamaCloud, cli: Cli) -> None:
    """Without ids and with no unfinished batch under the filters, watch says so and exits 0."""
    result = cli("batches", "watch", *at(cloud), "--status", "COMPLETED", *FAST)
    assert result.code == 0
    assert result.stdout == ""
    assert "no unfinished batch" in result.stderr


def test_watch_text_lines_show_the_status_change(cli: Cli) -> None:
    """--format text: `HH:MM:SS changed bat-... RUNNING → COMPLETED parse_v2`, one per change."""
    result = cli("batches", "watch", "--demo", *FAST, "--format", "text", "--no-initial")
    assert result.code == 0
    lines = result.stdout.splitlines()
    assert lines
    for line in lines:
        clock, kind, batch_id, before, arrow, after, job_type = line.split()
        assert len(clock) == 8
        assert clock[2] == clock[5] == ":"
        assert (kind, arrow) == ("changed", "→")
        assert batch_id.startswith("bat-")
        assert before != after
        assert job_type in {"parse_v2", "extract_v2"}


def test_watch_duration_stops_with_0(cli: Cli) -> None:
    """--duration ends the watch early, exit 0, with what was printed so far."""
    # Polls 30 s apart: without --duration the watch would outlive the test's timeout.
    result = cli("batches", "watch", "--demo", "--poll-interval", "30", "--duration", "1")
    assert result.code == 0
    # At most the one poll: the batches as first seen, none reported as changed.
    assert {event["event"] for event in jsonl(result.stdout)} <= {"added"}


def test_watch_an_id_that_does_not_exist_exits_1(cloud: FakeLlamaCloud, cli: Cli) -> None:
    """Watch BATCH_ID for a batch answered 404 poll after poll: `not found`, exit 1."""
    result = cli("batches", "watch", "bat-ghost", *at(cloud), *FAST)
    assert result.code == 1
    assert "1 of 1 batches not found: bat-ghost" in result.stderr


@pytest.mark.parametrize("command", ["wait", "watch"])
def test_wait_and_watch_report_a_refused_key(cloud: FakeLlamaCloud, cli: Cli, command: str) -> None:
    """Wait and watch report HTTP 401 in one line, exit 1, never the key."""
    result = cli(
        "batches", command, "bat-1", "--base-url", cloud.url, "--api-key", "sk-wrong-1234", *FAST
    )
    assert result.code == 1
    assert result.stderr == "error: the API key was refused (HTTP 401)\n"


def test_a_status_newer_than_the_library_round_trips(cloud: FakeLlamaCloud, cli: Cli) -> None:
    """A status the library does not know (`PAUSED`) is written as sent, in every format."""
    cloud.set_batches([make_batch(id="bat-new", status="PAUSED")])
    assert jsonl(cli("batches", "list", *at(cloud)).stdout)[0]["status"] == "PAUSED"
    table = cli("batches", "list", *at(cloud), "--format", "table").stdout
    assert table.splitlines()[1].split()[:2] == ["bat-new", "PAUSED"]
    rows = list(
        csv.reader(io.StringIO(cli("batches", "list", *at(cloud), "--format", "csv").stdout))
    )
    assert rows[1][3] == "PAUSED"


def test_the_table_escapes_control_characters_from_the_server(
    cloud: FakeLlamaCloud, cli: Cli
) -> None:
    """An id or directory holding ESC or a newline is shown escaped: it cannot forge a row."""
    cloud.set_batches([make_batch(id="bat-\x1b[31mred", source_directory_id="dir\nbat-forged")])
    result = cli("batches", "list", *at(cloud), "--format", "table")
    assert "\x1b" not in result.stdout
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    assert lines[1].startswith("bat-\\x1b[31mred")
    assert "dir\\nbat-forged" in lines[1]


# ----------------------------------------------------------------- the installed command


def run_installed(*args: str, seconds: float = TIMEOUT) -> Result:
    done = subprocess.run(  # noqa: S603 - the installed command
        [str(LLAMA_BATCH), *args],
        capture_output=True,
        text=True,
        timeout=seconds,
        check=False,
        env={k: v for k, v in os.environ.items() if not k.startswith("LLAMA_CLOUD_")},
    )
    return Result(done.returncode, done.stdout, done.stderr)


def run_on_pty(*args: str, columns: int = 80) -> Result:
    """The installed command with stdout and stderr on a pseudo-terminal this wide."""
    done = on_pty([str(LLAMA_BATCH), *args], columns=columns, cwd=None, seconds=TIMEOUT)
    return Result(done.returncode, done.stdout, "")


posix = pytest.mark.skipif(sys.platform == "win32", reason="POSIX pseudo-terminals and signals")


@posix
@pytest.mark.parametrize("columns", [80, 160])
def test_table_fits_the_terminal_and_never_cuts_an_id(columns: int) -> None:
    """On a terminal the table fits its width: columns dropped at 80, all shown at 160."""
    piped = run_installed("batches", "list", "--demo", "--max-items", "12", "--format", "jsonl")
    ids = [record["id"] for record in jsonl(piped.stdout)]
    result = run_on_pty("batches", "list", "--demo", "--max-items", "12", columns=columns)
    assert result.code == 0
    lines = [line.split("\r")[-1] for line in result.stdout.split("\n")]
    header, *rows = [line for line in lines if line.startswith(("ID", "bat-"))]
    assert [row.split()[0] for row in rows] == ids
    assert all(len(line) < columns for line in (header, *rows))
    if columns == 80:
        assert "UPDATED" not in header
        assert "SOURCE DIRECTORY" not in header
    else:
        assert header.split("  ")[0].strip() == "ID"
        assert "UPDATED (UTC)" in header
        assert "SOURCE DIRECTORY" in header


@posix
def test_list_progress_on_a_terminal_counts_batches() -> None:
    """On a terminal stderr shows `N of ~total batches` while the walk runs."""
    result = run_on_pty(
        "batches", "list", "--demo", "--max-items", "40", "--page-size", "20", columns=200
    )
    assert result.code == 0
    assert "20 of ~40 batches" in result.stdout


@posix
def test_wait_on_a_terminal_shows_a_live_status_line() -> None:
    """On a terminal, batches wait shows `waiting for N of M batches (K finished), m:ss`."""
    result = run_on_pty("batches", "wait", "--demo", *FAST, "--format", "jsonl")
    assert result.code in {0, 1}  # 1: a demo batch failed, as demo batches may
    assert "waiting for 8 of 8 batches (0 finished), 0:00" in result.stdout
    records = [line.split("\r")[-1] for line in result.stdout.split("\n") if '"id": ' in line]
    assert len(records) == 8
    assert all(json.loads(record)["status"] in TERMINAL for record in records)


@posix
def test_ctrl_c_during_batches_list_prints_the_resume_cursor() -> None:
    """SIGINT mid-walk exits 130 with the cursor on stderr; resuming lists the rest once."""
    with serve_in_thread(0, batches=120, seed=2, api_key=KEY, latency=0.1) as fake:
        args = ("batches", "list", *at(fake), "--page-size", "10")
        env = {k: v for k, v in os.environ.items() if not k.startswith("LLAMA_CLOUD_")}
        proc = subprocess.Popen(  # noqa: S603 - the installed command
            [str(LLAMA_BATCH), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        try:
            deadline = time.monotonic() + TIMEOUT
            while len(batch_requests(fake)) < 4 and time.monotonic() < deadline:
                time.sleep(0.02)
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=TIMEOUT)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        assert proc.returncode == 130
        assert "Traceback" not in err
        cursor = err.split("resume with: --resume-from ")[1].split()[0]
        rest = run_installed(*args, "--resume-from", cursor)
        listed = [r["id"] for r in jsonl(out)] + [r["id"] for r in jsonl(rest.stdout)]
        assert listed == [batch["id"] for batch in fake.batches]


def test_a_reader_that_stops_early_is_exit_0() -> None:
    """`llama-batch batches list | head -1`: the reader closing the pipe is not a failure."""
    # 400 records are several times a pipe's buffer: the command is still writing.
    with (
        serve_in_thread(0, batches=400, api_key=KEY) as fake,
        subprocess.Popen(  # noqa: S603 - the installed command
            [str(LLAMA_BATCH), "batches", "list", *at(fake), "--page-size", "20"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        ) as proc,
    ):
        assert proc.stdout is not None
        assert proc.stderr is not None
        first = proc.stdout.readline()
        proc.stdout.close()
        err = proc.stderr.read()
        assert proc.wait(TIMEOUT) == 0
        assert len(batch_requests(fake)) < 20  # it stopped before walking the rest
    assert json.loads(first)["id"].startswith("bat-")
    assert err == ""


def test_serve_fake_serves_v2_batches() -> None:
    """`serve-fake --batches N` serves N batches at /api/v2/batches beside the v1 jobs."""
    proc = subprocess.Popen(  # noqa: S603 - the installed command
        [str(LLAMA_BATCH), "serve-fake", "--jobs", "3", "--batches", "17"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        result = run_installed("batches", "list", "--base-url", url, "--api-key", "any")
        assert result.code == 0
        assert len(jsonl(result.stdout)) == 17
    finally:
        proc.terminate()
        proc.wait(TIMEOUT)
        if proc.stdout is not None:
            proc.stdout.close()


def test_help_lists_the_batches_subcommands() -> None:
    """`llama-batch batches --help` names list, wait and watch."""
    result = run_installed("batches", "--help")
    assert result.code == 0
    for name in ("list", "wait", "watch"):
        assert f"    {name} " in result.stdout


# ----------------------------------------------------------------- the same output options as list


def test_batches_status_takes_either_case(cloud: FakeLlamaCloud) -> None:
    """`batches list --status failed` (as `list` spells it) is `--status FAILED`."""
    lower = run_installed("batches", "list", *at(cloud), "--status", "failed")
    upper = run_installed("batches", "list", *at(cloud), "--status", "FAILED")
    assert (lower.code, upper.code) == (0, 0)
    assert lower.stdout == upper.stdout
    assert {record["status"] for record in jsonl(lower.stdout)} == {"FAILED"}


def test_batches_fields_cut_every_format_to_the_names_given(cloud: FakeLlamaCloud) -> None:
    """`batches list --fields`: JSON keys and CSV columns in the order given, config flattened."""
    names = "id,config.job.type,status"
    whole = jsonl(run_installed("batches", "list", *at(cloud)).stdout)
    cut = run_installed("batches", "list", *at(cloud), "--fields", names)
    assert cut.code == 0
    assert jsonl(cut.stdout) == [
        {"id": b["id"], "config.job.type": b["config"]["job"]["type"], "status": b["status"]}
        for b in whole
    ]
    rows = list(
        csv.reader(
            io.StringIO(
                run_installed(
                    "batches", "list", *at(cloud), "--fields", names, "--format", "csv"
                ).stdout
            )
        )
    )
    assert rows[0] == names.split(",")
    assert len(rows) == len(whole) + 1


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX pseudo-terminals")
def test_batches_fields_table_on_a_terminal(cloud: FakeLlamaCloud) -> None:
    """`batches list --fields` on a terminal: one column per field, headed in capitals."""
    args = ("batches", "list", *at(cloud), "--fields", "id,status,created_at", "--max-items", "3")
    done = on_pty([str(LLAMA_BATCH), *args], columns=100, cwd=None, seconds=TIMEOUT)
    assert done.returncode == 0
    header, *rows = [line.split("\r")[-1] for line in done.stdout.splitlines()][:4]
    assert header.split() == ["ID", "STATUS", "CREATED_AT"]
    assert [row.split()[0][:4] for row in rows] == ["bat-"] * 3


def test_batches_bad_field_is_named(cloud: FakeLlamaCloud) -> None:
    """`batches list --fields id,bogus`: exit 2, the error names 'bogus' and the batch fields."""
    done = run_installed("batches", "list", *at(cloud), "--fields", "id,bogus")
    assert done.code == 2
    assert "names an unknown batch field: 'bogus'" in done.stderr
    assert "config.job.type" in done.stderr
    assert cloud.requests == []


def test_batches_output_file_is_written_whole(cloud: FakeLlamaCloud, tmp_path: Path) -> None:
    """`batches list -o FILE.csv`: CSV (the suffix) in FILE, no FILE.partial left, stdout empty."""
    target = tmp_path / "batches.csv"
    done = run_installed("batches", "list", *at(cloud), "-o", str(target))
    assert done.code == 0
    assert done.stdout == ""
    with target.open(encoding="utf-8", newline="") as file:
        rows = list(csv.reader(file))
    assert rows[0][:2] == ["id", "project_id"]
    assert len(rows) == 46
    assert not target.with_name("batches.csv.partial").exists()
