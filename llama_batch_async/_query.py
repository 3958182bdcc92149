"""The validated query of one walk (the resume cursor is in `_cursor`).

Everything here runs before any I/O: a bad argument is a `ValueError` naming
the parameter and what would be valid, and nothing is sent.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping

import attrs

from ._models import JobStatus, JobType
from ._validate import check_choice, check_count, check_id, must_be

__all__ = ["RESERVED_PARAMETERS", "JobQuery", "make_query"]

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

    @property
    def fingerprint(self) -> str:
        """A short digest of the filters: a cursor is only valid under the same ones."""
        text = json.dumps(self.filters, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _enum_value(name: str, value: object, enum_cls: type[JobStatus] | type[JobType]) -> str | None:
    if value is None:
        return None
    if isinstance(value, enum_cls):
        return str(value.value)
    return check_choice(name, value, (member.value for member in enum_cls))


def _id_value(name: str, value: object) -> str | None:
    return None if value is None else check_id(name, value)


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
        page_size: Jobs to ask for per request (``limit``), at least 1.
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
        page_size=check_count("page_size", page_size, minimum=1),
        offset=check_count("offset", offset, minimum=0),
        max_items=None if max_items is None else check_count("max_items", max_items, minimum=0),
    )
