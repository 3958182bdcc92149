"""One `Endpoint` value per listing: old cursors still decode, requests are built from data."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path

import pytest
from helpers import config

from llama_batch_async._endpoints import BATCHES, ITEMS, JOBS
from llama_batch_async._paging._cursor import PageRequest, decode_cursor, encode_cursor
from llama_batch_async._paging._pager import page_request
from llama_batch_async._paging._query import (
    JobQuery,
    make_batch_query,
    make_item_query,
    make_query,
)

PACKAGE = Path(__file__).resolve().parents[2] / "llama_batch_async"

# Encoded by the code on main before `Endpoint` existed (commit 154eb6c), pasted here:
# a cursor a user saved then must resume now.
OLD_JOBS_FILTERED = (
    "eyJ2IjoxLCJmIjoiODY3ZWFlNmViOTU3MDM4NyIsIm8iOjEwMCwidCI6bnVsbCwicyI6WyJjODliYzcwNDdhNzYi"
    "LCJhNmNmYTU3Nzg2ZjciXSwibSI6Im8ifQ"
)
OLD_JOBS_PLAIN = (
    "eyJ2IjoxLCJmIjoiNGY1M2NkYTE4YzJiYWEwYyIsIm8iOjUwLCJ0IjoidG9rLTIiLCJzIjpbIjFmZGRkZWQwZWUz"
    "YyJdLCJtIjoidCJ9"
)
OLD_BATCHES = (
    "eyJ2IjoxLCJmIjoiZWE1YTI2MTcyZjA2NmYzYiIsIm8iOjAsInQiOiJwMiIsInMiOlsiMzE0YzVmMDhmMDFmIiwi"
    "Y2YyMzIyMjBmZWYxIl0sIm0iOiJ0IiwiayI6ImIifQ"
)
OLD_BATCHES_WINDOW = (
    "eyJ2IjoxLCJmIjoiZDY5OGEwYjk5NThiY2Q0ZCIsIm8iOjAsInQiOiJwMyIsInMiOlsiYzlhOTczOTk1NzQ2Il0s"
    "Im0iOiJ0IiwiayI6ImIiLCJ3IjpbIjIwMjYtMDEtMDFUMDA6MDA6MDAuMDAwWiIsIjIwMjYtMDEtMTVUMDA6MDA6"
    "MDAuMDAwWiJdLCJkIjoyfQ"
)


def _jobs(**filters: object) -> JobQuery:
    arguments: dict[str, object] = {
        "directory_id": None,
        "job_type": None,
        "status": None,
        "project_id": None,
        "organization_id": None,
        "page_size": 50,
        "offset": 0,
        "max_items": None,
    }
    return make_query(**{**arguments, **filters})  # type: ignore[arg-type]


def _batches(**filters: object) -> JobQuery:
    arguments: dict[str, object] = {
        "status": None,
        "project_id": None,
        "organization_id": None,
        "source_directory_id": None,
        "created_after": None,
        "created_before": None,
        "page_size": 20,
        "max_items": None,
    }
    return make_batch_query(**{**arguments, **filters})  # type: ignore[arg-type]


def _items(job_id: str = "bjb-1", status: str | None = None) -> JobQuery:
    return make_item_query(
        job_id=job_id,
        status=status,
        project_id=None,
        organization_id=None,
        page_size=50,
        offset=0,
        max_items=None,
    )


def test_old_job_cursors_still_decode() -> None:
    """Job cursors made before `Endpoint` decode under the same filters, offset and tail intact."""
    filtered = decode_cursor(OLD_JOBS_FILTERED, _jobs(directory_id="dir-1", status="completed"))
    assert (filtered.offset, filtered.token, len(filtered.tail)) == (100, None, 2)
    plain = decode_cursor(OLD_JOBS_PLAIN, _jobs())
    assert (plain.offset, plain.token, plain.by_token) == (50, "tok-2", True)


def test_old_batch_cursors_still_decode() -> None:
    """v2 cursors made before `Endpoint` decode, windowed ones with their window and skip."""
    plain = decode_cursor(OLD_BATCHES, _batches(status="RUNNING"))
    assert (plain.token, len(plain.tail)) == ("p2", 2)
    windowed = decode_cursor(
        OLD_BATCHES_WINDOW,
        _batches(
            created_after=datetime(2026, 1, 1, tzinfo=timezone.utc),
            created_before=datetime(2026, 2, 1, tzinfo=timezone.utc),
        ),
    )
    assert windowed.window == ("2026-01-01T00:00:00.000Z", "2026-01-15T00:00:00.000Z")
    assert windowed.skip == 2


def test_an_old_job_cursor_is_refused_by_the_items_listing() -> None:
    """A job cursor passed to list_job_items is refused, naming the method that takes it."""
    with pytest.raises(ValueError, match="cursor of list_jobs, not of list_job_items"):
        decode_cursor(OLD_JOBS_PLAIN, _items())


@pytest.mark.parametrize(
    ("job_id", "status"), [("bjb-2", None), ("bjb-1", "failed")], ids=["other-job", "other-status"]
)
def test_an_item_cursor_is_refused_for_another_job_or_filter(
    job_id: str, status: str | None
) -> None:
    """An items cursor is bound to its job id and status filter: resume_from is named."""
    text = encode_cursor(_items(), offset=10, token=None, tail_ids=["itm-9"])
    assert decode_cursor(text, _items()).offset == 10
    with pytest.raises(ValueError, match=r"resume_from was made under other filters.*job_id"):
        decode_cursor(text, _items(job_id, status))


def test_requests_are_built_from_the_endpoint() -> None:
    """Each listing's path, limit name and paging mode come from its Endpoint value."""
    cfg = config(base_url="https://api.example.com")
    page = PageRequest(limit=7, offset=14, token=None)
    jobs = page_request(cfg, _jobs(), page)
    assert jobs.url == "https://api.example.com" + JOBS.path
    assert ("limit", "7") in jobs.params
    assert ("offset", "14") in jobs.params
    items = page_request(cfg, _items("bjb:1", "failed"), page)
    assert items.url == "https://api.example.com/api/v1/beta/batch-processing/bjb%3A1/items"
    assert items.params == (("status", "failed"), ("limit", "7"), ("offset", "14"))
    batches = page_request(cfg, _batches(), page)
    assert batches.url == "https://api.example.com" + BATCHES.path
    assert batches.params == (("page_size", "7"),)  # token-only: no offset, ever
    assert ITEMS.limit_param == "limit"
    assert not ITEMS.token_only


def test_no_listing_name_switches_in_the_walk_or_the_wire() -> None:
    """The walk and the request layer branch on no listing's name (goal: zero)."""
    found = [
        f"{path.relative_to(PACKAGE)}:{number}"
        for folder in ("_paging", "_http")
        for path in sorted((PACKAGE / folder).glob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r'"batches"', line)
    ]
    assert found == []
