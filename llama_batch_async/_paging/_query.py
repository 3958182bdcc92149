"""The validated query of one walk (the resume cursor is in `_cursor`).

Everything here runs before any I/O: a bad argument is a `ValueError` naming
the parameter and what would be valid, and nothing is sent.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Literal

import attrs

from llama_batch_async._config import MAX_PAGE_SIZE
from llama_batch_async._models import BatchStatus, JobStatus, JobType, OpenStrEnum
from llama_batch_async._validate import (
    check_aware_datetime,
    check_choice,
    check_count,
    check_query_id,
    must_be,
)

__all__ = [
    "AFTER_PARAM",
    "BEFORE_PARAM",
    "RESERVED_PARAMETERS",
    "JobQuery",
    "Listing",
    "format_bound",
    "make_batch_query",
    "make_query",
    "parse_bound",
    "split_range",
    "window_query",
]

Listing = Literal["jobs", "batches"]
"""Which listing a query walks: v1 jobs (``list_jobs``) or v2 batches (``list_batches``)."""

# The v2 wire names of the created_at bounds (both inclusive).
AFTER_PARAM = "created_at_on_or_after"
BEFORE_PARAM = "created_at_on_or_before"

RESERVED_PARAMETERS = frozenset(
    {
        # the walk's own paging parameters
        "limit",
        "offset",
        "page_size",
        "page_token",
        # the filters list_jobs takes by name
        "directory_id",
        "job_type",
        "status",
        "project_id",
        "organization_id",
    }
)
"""Names ``extra_query`` may not set: the walk's paging and `list_jobs`' own filters."""


@attrs.frozen(slots=True)
class JobQuery:
    """The filters and bounds of one walk, already validated.

    ``filters`` holds only the filters that were given, as the wire values, in
    a fixed order, so the same query always builds the same request; the
    ``extra_query`` pairs follow, sorted by name. All of them are in the
    fingerprint.
    """

    filters: tuple[tuple[str, str], ...]
    page_size: int
    offset: int
    max_items: int | None
    listing: Listing = "jobs"

    @property
    def fingerprint(self) -> str:
        """A short digest of the filters: a cursor is only valid under the same ones."""
        shown: object = self.filters
        if self.listing != "jobs":  # v1 cursors made before v2 keep their digest
            shown = [self.listing, self.filters]
        text = json.dumps(shown, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def filter(self, name: str) -> str | None:
        """The wire value of filter ``name``, if the query has it."""
        for key, value in self.filters:
            if key == name:
                return value
        return None


def _enum_value(name: str, value: object, enum_cls: type[OpenStrEnum]) -> str | None:
    if value is None:
        return None
    if isinstance(value, enum_cls):
        # A member, or a pseudo-member the caller took from a record (a newer value).
        return str(value.value)
    return check_choice(name, value, (member.value for member in enum_cls))


def _id_value(name: str, value: object) -> str | None:
    return None if value is None else check_query_id(name, value)


def _extra_pairs(extra_query: object) -> tuple[tuple[str, str], ...]:
    """``extra_query`` as sorted wire pairs: str names and values, no reserved name."""
    if extra_query is None:
        return ()
    rule = "None or a mapping of str query names to str values"
    if not isinstance(extra_query, Mapping):
        raise must_be("extra_query", rule, extra_query)
    pairs = []
    for key, value in extra_query.items():
        if not isinstance(key, str) or not key or not isinstance(value, str):
            raise must_be("extra_query", rule, {key: value})
        if key in RESERVED_PARAMETERS:
            # spec: pagination - the walk owns its paging; a known filter has its argument
            reserved = ", ".join(sorted(RESERVED_PARAMETERS))
            raise must_be("extra_query", f"free of the walk's own names ({reserved})", {key: value})
        pairs.append((key, value))
    return tuple(sorted(pairs))


def make_query(
    *,
    directory_id: str | None,
    job_type: JobType | str | None,
    status: JobStatus | str | None,
    project_id: str | None,
    organization_id: str | None,
    page_size: int,
    offset: int,
    max_items: int | None,
    extra_query: Mapping[str, str] | None = None,
) -> JobQuery:
    """Validate `list_jobs` arguments into a `JobQuery`.

    Args:
        directory_id: Filter by directory id.
        job_type: Filter by job type (a `JobType` or its value).
        status: Filter by status (a `JobStatus` or its value).
        project_id: Filter by project id.
        organization_id: Filter by organization id.
        page_size: Jobs to ask for per request (``limit``), 1 to 1000.
        offset: Jobs to skip at the start, at least 0.
        max_items: Stop after this many jobs; None for all.
        extra_query: More query parameters for every request (a server filter
            newer than this library): str names and values, none of them a
            paging parameter or a filter named above.

    Raises:
        ValueError: An argument is out of range or not a known value; the
            message names it and the valid values.
    """
    candidates = (
        ("directory_id", _id_value("directory_id", directory_id)),
        ("job_type", _enum_value("job_type", job_type, JobType)),
        ("status", _enum_value("status", status, JobStatus)),
        ("project_id", _id_value("project_id", project_id)),
        ("organization_id", _id_value("organization_id", organization_id)),
    )
    return JobQuery(
        filters=(
            *((key, value) for key, value in candidates if value is not None),
            *_extra_pairs(extra_query),
        ),
        # spec: the vendor's schema bounds limit to 1-1000; the server answers 422 above it
        page_size=check_count("page_size", page_size, minimum=1, maximum=MAX_PAGE_SIZE),
        offset=check_count("offset", offset, minimum=0),
        max_items=None if max_items is None else check_count("max_items", max_items, minimum=0),
    )


def format_bound(moment: datetime) -> str:
    """A ``created_at`` bound as the wire takes it: ISO 8601 in UTC with a ``Z``.

    Microseconds are kept when the moment has them (both bounds are inclusive,
    so rounding would move the edge).
    """
    utc = moment.astimezone(timezone.utc).replace(tzinfo=None)
    spec = "milliseconds" if utc.microsecond % 1000 == 0 else "microseconds"
    return utc.isoformat(timespec=spec) + "Z"


def parse_bound(text: str) -> datetime:
    """A wire ``created_at`` bound back to an aware datetime: `format_bound`'s inverse.

    Raises:
        ValueError: Not ISO 8601, or without a UTC offset.
    """
    value = text[:-1] + "+00:00" if text.endswith("Z") else text
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError(f"a created_at bound needs a UTC offset, got {text!r}")
    return moment


def make_batch_query(
    *,
    status: BatchStatus | str | None,
    project_id: str | None,
    organization_id: str | None,
    source_directory_id: str | None,
    created_after: datetime | None,
    created_before: datetime | None,
    page_size: int,
    max_items: int | None,
) -> JobQuery:
    """Validate `list_batches` arguments into a `JobQuery` of the v2 listing.

    Args:
        status: Filter by status (a `BatchStatus` or its value, ``"RUNNING"``, ...).
        project_id: Filter by project id.
        organization_id: Filter by organization id.
        source_directory_id: Filter by source directory id.
        created_after: Only batches created at or after this aware datetime.
        created_before: Only batches created at or before this aware datetime.
        page_size: Batches to ask for per request (``page_size``), at least 1.
        max_items: Stop after this many batches; None for all.

    Raises:
        ValueError: An argument is out of range, not a known value, or a naive
            datetime; the message names it.
    """
    after = None if created_after is None else check_aware_datetime("created_after", created_after)
    before = (
        None if created_before is None else check_aware_datetime("created_before", created_before)
    )
    if after is not None and before is not None and after > before:
        raise must_be(
            "created_before", f"at or after created_after ({after.isoformat()})", before.isoformat()
        )
    candidates = (
        ("status", _enum_value("status", status, BatchStatus)),
        ("project_id", _id_value("project_id", project_id)),
        ("organization_id", _id_value("organization_id", organization_id)),
        ("source_directory_id", _id_value("source_directory_id", source_directory_id)),
        (AFTER_PARAM, None if after is None else format_bound(after)),
        (BEFORE_PARAM, None if before is None else format_bound(before)),
    )
    return JobQuery(
        filters=tuple((key, value) for key, value in candidates if value is not None),
        page_size=check_count("page_size", page_size, minimum=1),
        offset=0,
        max_items=None if max_items is None else check_count("max_items", max_items, minimum=0),
        listing="batches",
    )


_TICK = timedelta(microseconds=1)


def split_range(after: datetime, before: datetime, windows: int) -> list[tuple[datetime, datetime]]:
    """``[after, before]`` as ``windows`` inclusive, disjoint ranges, newest first.

    Adjacent windows meet one microsecond apart (the bounds are inclusive), so
    a ``created_at`` falls in exactly one. A range shorter than ``windows``
    microseconds gives fewer windows.
    """
    span = before - after
    count = max(1, min(windows, span // _TICK + 1))
    starts = [after + span * k / count for k in range(count)]
    ranges = [
        (start, (starts[k + 1] - _TICK) if k + 1 < count else before)
        for k, start in enumerate(starts)
    ]
    return ranges[::-1]


def window_query(query: JobQuery, low: datetime, high: datetime) -> JobQuery:
    """``query`` with its ``created_at`` bounds replaced by ``[low, high]``."""
    kept = [(key, value) for key, value in query.filters if key not in (AFTER_PARAM, BEFORE_PARAM)]
    kept += [(AFTER_PARAM, format_bound(low)), (BEFORE_PARAM, format_bound(high))]
    return attrs.evolve(query, filters=tuple(kept))
