"""``llama-batch list --fields`` and ``--output``, run in-process over a fake cloud in a thread."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import job

from llama_batch_async.cli import main
from llama_batch_async.cli._table import FieldTableWriter
from llama_batch_async.testing import FakeLlamaCloud, serve_in_thread

KEY = "sk-cli-fields-0123456789"


@pytest.fixture(scope="module")
def cloud() -> Iterator[FakeLlamaCloud]:
    with serve_in_thread(jobs=23, seed=4, api_key=KEY) as server:
        yield server


@pytest.fixture(autouse=True)
def _fresh(cloud: FakeLlamaCloud) -> None:
    cloud.clear_faults()
    cloud.requests.clear()


def run_list(cloud: FakeLlamaCloud, *args: str) -> int:
    return main(["list", "--base-url", cloud.url, "--api-key", KEY, *args])


# ------------------------------------------------------------------ --fields


def test_fields_jsonl_keeps_only_named_fields(
    cloud: FakeLlamaCloud, capsys: pytest.CaptureFixture[str]
) -> None:
    """--fields with jsonl: each object has exactly the named keys, in the order given."""
    assert run_list(cloud, "--fields", "status,id", "--max-items", "4") == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4
    for line in lines:
        assert list(json.loads(line)) == ["status", "id"]


def test_fields_csv_header_and_columns(
    cloud: FakeLlamaCloud, capsys: pytest.CaptureFixture[str]
) -> None:
    """--fields with csv: the header is the fields, each row holds their values."""
    code = run_list(cloud, "--format", "csv", "--fields", "id,total_items,error_message")
    assert code == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows[0] == ["id", "total_items", "error_message"]
    assert len(rows) == 24
    assert all(len(row) == 3 and row[1].isdigit() for row in rows[1:])


def test_fields_json_and_repeats(cloud: FakeLlamaCloud, capsys: pytest.CaptureFixture[str]) -> None:
    """--fields with json: an array of objects; a repeated name counts once."""
    assert run_list(cloud, "--format", "json", "--fields", "id, status,id", "--max-items", "3") == 0
    records = json.loads(capsys.readouterr().out)
    assert [list(record) for record in records] == [["id", "status"]] * 3


def test_fields_table_piped(cloud: FakeLlamaCloud, capsys: pytest.CaptureFixture[str]) -> None:
    """--fields with table: capitalised headers, one column per field, '-' for None."""
    code = run_list(
        cloud, "--format", "table", "--fields", "id,status,started_at", "--max-items", "5"
    )
    assert code == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["ID", "STATUS", "STARTED_AT"]
    assert len(lines) == 6


@pytest.mark.parametrize("value", ["id,nope", "", ",", "ID"])
def test_bad_fields_refused_before_any_request(
    cloud: FakeLlamaCloud, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    """An unknown or empty field list: exit 2, the error names --fields and every valid name."""
    assert run_list(cloud, "--fields", value) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --fields ")
    assert "id, job_type," in err
    assert "workflow_id" in err
    if value in {"id,nope", "ID"}:  # the bad name itself, as typed
        assert f"names an unknown job field: {value.rsplit(',', maxsplit=1)[-1]!r}" in err
    assert cloud.requests == []


class _Terminal(io.StringIO):
    """A stream that says it is a terminal (the width comes from COLUMNS)."""

    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("columns", [80, 100, 160, 240])
def test_fields_table_fits_terminal(monkeypatch: pytest.MonkeyPatch, columns: int) -> None:
    """On a terminal a --fields table fits whole, or is one `field: value` block per job."""
    monkeypatch.setenv("COLUMNS", str(columns))
    jobs = [
        job(
            f"bjb-{index:04d}-0cb1-429c-a58c-da1495e60af5",
            "failed",
            directory_id="dir-" + "d" * 40,
            workflow_id="wf-" + "w" * 50,
            error_message="a long error message " * 6,
        )
        for index in range(6)
    ]
    stream = _Terminal()
    fields = ("id", "directory_id", "workflow_id", "status", "error_message")
    writer = FieldTableWriter(stream, fields)
    writer.write_page(jobs)
    writer.end()
    lines = stream.getvalue().splitlines()
    if columns < 240:  # 152 columns before the error message's 24
        blocks = stream.getvalue().split("\n\n")
        assert len(blocks) == 6
        for block, item in zip(blocks, jobs, strict=True):
            assert block.splitlines()[0].split() == ["id:", item.id]
            assert f"error_message: {' '.join((item.error_message or '').split())}" in block
            assert f"workflow_id:   {item.workflow_id}" in block
    else:
        assert len(lines) == 7
        assert all(len(line) <= columns - 1 for line in lines)
        assert lines[0].split()[0] == "ID"
        assert all(str(item.workflow_id) in stream.getvalue() for item in jobs)


# ------------------------------------------------------------------ --output


def test_output_file_written_and_renamed(
    cloud: FakeLlamaCloud, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--output FILE: a complete walk lands in FILE (format from its suffix), said on stderr."""
    target = tmp_path / "jobs.csv"
    assert run_list(cloud, "--output", str(target), "--fields", "id,status") == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == f"wrote {target}\n"  # one line says where the output went
    rows = list(csv.reader(io.StringIO(target.read_text(encoding="utf-8"))))
    assert rows[0] == ["id", "status"]
    assert len(rows) == 24
    assert [path.name for path in tmp_path.iterdir()] == ["jobs.csv"]  # no partial file left


def test_output_failed_walk_keeps_partial_and_old_file(
    cloud: FakeLlamaCloud, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A walk failing on page 2: FILE as it was, page 1 in a partial file, the cursor on stderr."""
    target = tmp_path / "jobs.jsonl"
    target.write_text("old\n", encoding="utf-8")
    cloud.delay_next(0.01)  # the first page answers
    cloud.fail_next(500)  # once: the resume below needs no retry
    code = run_list(
        cloud, "-o", str(target), "--page-size", "10", "--prefetch", "0", "--max-retries", "0"
    )
    assert code == 1
    assert target.read_text(encoding="utf-8") == "old\n"
    err = capsys.readouterr().err
    partial = Path(err.split("the jobs listed so far are in ")[1].split("\n")[0])
    assert partial.parent == tmp_path
    assert len(partial.read_text(encoding="utf-8").splitlines()) == 10
    cursor = err.split("resume with: --resume-from ")[1].split()[0]
    # The cursor resumes the rest into the same file: its partial file is continued.
    assert run_list(cloud, "-o", str(target), "--page-size", "10", "--resume-from", cursor) == 0
    assert len(target.read_text(encoding="utf-8").splitlines()) == 23
    assert not partial.exists()


def test_output_unwritable_is_usage_error(
    cloud: FakeLlamaCloud, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An --output in a missing directory: exit 2 naming --output, before any request."""
    assert run_list(cloud, "--output", str(tmp_path / "missing" / "x.json")) == 2
    assert capsys.readouterr().err.startswith("error: --output cannot write ")
    assert cloud.requests == []


def test_output_directory_is_refused_before_any_request(
    cloud: FakeLlamaCloud, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """FILE is a directory: exit 2, one error line naming --output, nothing sent."""
    target = tmp_path / "taken"
    target.mkdir()
    assert run_list(cloud, "-o", str(target), "--max-items", "3") == 2
    assert capsys.readouterr().err == f"error: --output {target} is a folder: name a file\n"
    assert cloud.requests == []
    assert target.is_dir()


def test_fields_table_of_nothing_says_no_jobs_match(
    cloud: FakeLlamaCloud, capsys: pytest.CaptureFixture[str]
) -> None:
    """An empty listing as a --fields table is one line, `no jobs match`."""
    args = ("--organization-id", "org-none", "--format", "table", "--fields", "id,status")
    assert run_list(cloud, *args) == 0
    assert capsys.readouterr().out == "no jobs match\n"


def test_fields_that_cannot_fit_are_blocks_with_nothing_cut(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Fields too wide for 80 columns: a block per job, every value whole, nothing dropped."""
    monkeypatch.setenv("COLUMNS", "80")
    long: dict[str, Any] = {
        name: name[:3] + "-" + "x" * 40 for name in ("directory_id", "workflow_id")
    }
    jobs = [job(f"bjb-{index:04d}-0cb1-429c-a58c-da1495e60af5", **long) for index in range(2)]
    stream = _Terminal()
    fields = ("id", "directory_id", "workflow_id", "job_record_id", "status", "error_message")
    writer = FieldTableWriter(stream, fields)
    writer.write_page(jobs)
    blocks = stream.getvalue().rstrip("\n").split("\n\n")
    assert len(blocks) == len(jobs)
    for block, item in zip(blocks, jobs, strict=True):
        assert [line.split(":")[0] for line in block.splitlines()] == list(fields)
        assert f"directory_id:  {long['directory_id']}" in block
        assert block.splitlines()[0] == f"id:            {item.id}"


def test_fields_table_aligns_counts_on_the_right(monkeypatch: pytest.MonkeyPatch) -> None:
    """In a --fields table the item counts are right-aligned, as in the standard table."""
    monkeypatch.setenv("COLUMNS", "120")
    jobs = [job("bjb-1", total_items=5), job("bjb-2", total_items=1234)]
    stream = _Terminal()
    writer = FieldTableWriter(stream, ("id", "total_items", "status"))
    writer.write_page(jobs)
    header, first, second = stream.getvalue().splitlines()
    assert header == "ID     TOTAL_ITEMS  STATUS"
    assert first == "bjb-1            5  running"
    assert second == "bjb-2         1234  running"
