"""``llama-batch list -o FILE`` under resumes, planted links and a second run (issue 24).

Each test runs the installed command in a subprocess against a FakeLlamaCloud served
on its own thread, so faults are scripted from here while the command runs.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import Result, cli_env, run_process

from llama_batch_async.testing import FakeLlamaCloud, serve_in_thread

KEY = "sk-harden-export-0123456789"
JOBS = 60


@pytest.fixture
def cloud() -> Iterator[FakeLlamaCloud]:
    """A fake cloud of 60 jobs on a thread of its own."""
    with serve_in_thread(jobs=JOBS, seed=7, api_key=KEY) as server:
        yield server


def llama_batch(cloud: FakeLlamaCloud, *args: str, env: dict[str, str] | None = None) -> Result:
    """The installed command against ``cloud``: ``list`` with its connection flags."""
    done = run_process(
        [sys.executable, "-m", "llama_batch_async.cli", "list", "--base-url", cloud.url,
         "--api-key", KEY, *args],
        env=cli_env(**(env or {})),
    )  # fmt: skip
    assert "Traceback" not in done.stderr, done.stderr
    return Result(done.returncode, done.stdout, done.stderr)


def ids_in(path: Path) -> list[str]:
    """The job ids of a JSON-lines file."""
    return [json.loads(line)["id"] for line in path.read_text(encoding="utf-8").splitlines()]


def every_id(cloud: FakeLlamaCloud) -> list[str]:
    """The fake's job ids in listing order."""
    return [job["id"] for job in cloud.jobs]


WALK = ("--page-size", "10", "--prefetch", "0", "--max-retries", "0")


def fail_third_page(cloud: FakeLlamaCloud) -> None:
    """Let two pages through, then fail the third request once (not retried)."""
    cloud.delay_next(0, times=2)
    cloud.fail_next(503)


def test_resume_from_continues_the_partial_file(cloud: FakeLlamaCloud, tmp_path: Path) -> None:
    """A walk failing on page 3, resumed by --resume-from into the same FILE: it holds every job."""
    target = tmp_path / "jobs.jsonl"
    fail_third_page(cloud)
    first = llama_batch(cloud, *WALK, "-o", str(target))
    assert first.returncode == 1
    assert not target.exists()
    cursor = first.stderr.split("resume with: --resume-from ")[1].split()[0]
    second = llama_batch(cloud, *WALK, "-o", str(target), "--resume-from", cursor)
    assert second.returncode == 0, second.stderr
    assert ids_in(target) == every_id(cloud)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["jobs.jsonl"]


def test_checkpoint_continues_the_partial_file(cloud: FakeLlamaCloud, tmp_path: Path) -> None:
    """A walk failing on page 3, run again with the same --checkpoint: FILE holds every job."""
    target = tmp_path / "jobs.csv"
    checkpoint = ("--checkpoint", "nightly", "--checkpoint-dir", str(tmp_path / "cp"))
    fail_third_page(cloud)
    first = llama_batch(cloud, *WALK, *checkpoint, "-o", str(target), "--fields", "id")
    assert first.returncode == 1
    second = llama_batch(cloud, *WALK, *checkpoint, "-o", str(target), "--fields", "id")
    assert second.returncode == 0, second.stderr
    assert target.read_text(encoding="utf-8").splitlines() == ["id", *every_id(cloud)]


def test_resume_without_its_partial_file_is_refused(cloud: FakeLlamaCloud, tmp_path: Path) -> None:
    """A resumed export whose partial file is gone (another FILE) exits 2 before any request."""
    fail_third_page(cloud)
    first = llama_batch(cloud, *WALK, "-o", str(tmp_path / "jobs.jsonl"))
    cursor = first.stderr.split("resume with: --resume-from ")[1].split()[0]
    cloud.requests.clear()
    other = tmp_path / "other.jsonl"
    second = llama_batch(cloud, *WALK, "-o", str(other), "--resume-from", cursor)
    assert second.returncode == 2
    assert second.stderr.startswith("error: --output ")
    assert not other.exists()
    assert list(cloud.requests) == []


def test_planted_symlink_at_the_partial_name_is_not_followed(
    cloud: FakeLlamaCloud, tmp_path: Path
) -> None:
    """A symlink at FILE.partial: its target is untouched and FILE gets every job."""
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n", encoding="utf-8")
    target = tmp_path / "jobs.jsonl"
    (tmp_path / "jobs.jsonl.partial").symlink_to(victim)
    done = llama_batch(cloud, "-o", str(target))
    assert done.returncode == 0, done.stderr
    assert victim.read_text(encoding="utf-8") == "precious\n"
    assert ids_in(target) == every_id(cloud)


def test_two_runs_with_one_output_file_do_not_share_a_partial(
    cloud: FakeLlamaCloud, tmp_path: Path
) -> None:
    """Two runs at once with the same -o FILE: each exits 0 and FILE is one whole listing."""
    target = tmp_path / "jobs.jsonl"
    cloud.delay_next(0.05, times=40)  # the runs overlap
    command = [sys.executable, "-m", "llama_batch_async.cli", "list", "--base-url", cloud.url,
               "--api-key", KEY, *WALK, "-o", str(target)]  # fmt: skip
    import subprocess  # noqa: PLC0415 - this test alone runs two at once

    procs = [
        subprocess.Popen(command, env=cli_env(), stderr=subprocess.PIPE, text=True)  # noqa: S603
        for _ in range(2)
    ]
    errors = [proc.communicate(timeout=60)[1] for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], errors
    assert b"\0" not in target.read_bytes()
    assert ids_in(target) == every_id(cloud)


def test_output_directory_is_refused_before_any_request(
    cloud: FakeLlamaCloud, tmp_path: Path
) -> None:
    """-o naming a folder exits 2 with one error line naming --output, and sends nothing."""
    done = llama_batch(cloud, "-o", str(tmp_path))
    assert done.returncode == 2
    assert done.stderr.startswith("error: --output ")
    assert done.stderr.count("\n") == 1
    assert list(cloud.requests) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes to read-only folders")
def test_output_in_a_read_only_folder_is_refused_before_any_request(
    cloud: FakeLlamaCloud, tmp_path: Path
) -> None:
    """-o into a folder this user cannot write exits 2 naming --output, and sends nothing."""
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        done = llama_batch(cloud, "-o", str(folder / "jobs.jsonl"))
    finally:
        folder.chmod(0o700)
    assert done.returncode == 2
    assert done.stderr.startswith("error: --output ")
    assert list(cloud.requests) == []


def _first_run(cloud: FakeLlamaCloud, target: Path, *args: str) -> tuple[str, Path]:
    """A walk into ``target`` failing on page 3: its resume cursor and its partial file."""
    fail_third_page(cloud)
    first = llama_batch(cloud, *WALK, "-o", str(target), *args)
    assert first.returncode == 1
    cursor = first.stderr.split("resume with: --resume-from ")[1].split()[0]
    partial = Path(first.stderr.split("the jobs listed so far are in ")[1].split("\n")[0])
    return cursor, partial


def test_resumed_json_export_is_refused(cloud: FakeLlamaCloud, tmp_path: Path) -> None:
    """A JSON array cannot be continued: a resumed -o FILE.json exits 2, nothing sent."""
    target = tmp_path / "jobs.json"
    cursor, _ = _first_run(cloud, target)
    cloud.requests.clear()
    done = llama_batch(cloud, *WALK, "-o", str(target), "--resume-from", cursor)
    assert done.returncode == 2
    assert done.stderr.startswith("error: --output cannot continue a json file")
    assert list(cloud.requests) == []


def test_partial_file_another_run_holds_is_refused(cloud: FakeLlamaCloud, tmp_path: Path) -> None:
    """A resume whose partial file another run has locked exits 2 naming it; it is untouched."""
    import fcntl  # noqa: PLC0415 - POSIX only

    target = tmp_path / "jobs.jsonl"
    cursor, partial = _first_run(cloud, target)
    before = partial.read_bytes()
    with partial.open("rb") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)  # as a run continuing it would
        done = llama_batch(cloud, *WALK, "-o", str(target), "--resume-from", cursor)
    assert done.returncode == 2
    assert done.stderr.startswith(f"error: --output another run is writing {partial}")
    assert partial.read_bytes() == before
    assert not target.exists()


def test_resume_under_other_filters_names_the_cursor_not_the_file(
    cloud: FakeLlamaCloud, tmp_path: Path
) -> None:
    """-o with a --resume-from of other filters is refused as the cursor, exit 2."""
    target = tmp_path / "jobs.jsonl"
    cursor, _ = _first_run(cloud, target)
    done = llama_batch(
        cloud, *WALK, "-o", str(target), "--status", "failed", "--resume-from", cursor
    )
    assert done.returncode == 2
    assert done.stderr.startswith("error: --resume-from was made under other filters")


def test_checkpoint_one_page_behind_the_partial_file_resumes_from_it(
    cloud: FakeLlamaCloud, tmp_path: Path
) -> None:
    """A run killed after writing a page but before saving its checkpoint: FILE still whole.

    The checkpoint is saved when the next page is asked for; the partial file's state keeps
    the page before too, so the resumed run cuts the file back to it and goes on from there.
    """
    target = tmp_path / "jobs.jsonl"
    folder = tmp_path / "cp"
    checkpoint = ("--checkpoint", "nightly", "--checkpoint-dir", str(folder))
    fail_third_page(cloud)
    first = llama_batch(cloud, *WALK, *checkpoint, "-o", str(target))
    assert first.returncode == 1
    partial = Path(first.stderr.split("the jobs listed so far are in ")[1].split("\n")[0])
    state = json.loads(partial.with_name(partial.name + ".state").read_text(encoding="utf-8"))
    (first_cursor, _), _ = state["pages"]
    saved = json.loads((folder / "nightly.cursor").read_text(encoding="ascii"))
    saved["cursor"] = first_cursor  # as if killed before page two's checkpoint was saved
    (folder / "nightly.cursor").write_text(json.dumps(saved), encoding="ascii")
    done = llama_batch(cloud, *WALK, *checkpoint, "-o", str(target))
    assert done.returncode == 0, done.stderr
    assert ids_in(target) == every_id(cloud)
