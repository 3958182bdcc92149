"""The validated query of one walk, and the resume cursor.

Everything here runs before any I/O: a bad argument is a `ValueError` naming
the parameter and what would be valid, and nothing is sent.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Iterable

import attrs

from ._models import JobStatus, JobType
from ._validate import check_choice, check_count, check_id

__all__ = ["Cursor", "JobQuery", "decode_cursor", "encode_cursor", "make_query"]

_CURSOR_VERSION = 1
_TAIL_IDS_IN_CURSOR = 64
# A cursor is a few hundred characters plus the server's page token; anything
# longer is not ours, and is refused before it is decoded.
MAX_CURSOR_CHARS = 64 * 1024
# The JSON strings of a cursor document; what is left holds its structure.
_JSON_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)


@attrs.frozen(slots=True)
class JobQuery:
    """The filters and bounds of one walk, already validated.

    ``filters`` holds only the filters that were given, as the wire values, in
    a fixed order, so the same query always builds the same request.
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


@attrs.frozen(slots=True)
class Cursor:
    """Where a walk stands after a page: decoded form of `JobPage.cursor`.

    Attributes:
        fingerprint: `JobQuery.fingerprint` of the walk that made it.
        offset: Items passed in the listing so far (the next offset to send).
        token: The server's latest page token, if it sent one.
        tail: Short digests of the last ids delivered, so items that drift
            into the next page after a resume are still yielded once.
        by_token: Resume by ``token`` (the walk saw the server honour tokens)
            rather than by ``offset``.
    """

    fingerprint: str
    offset: int
    token: str | None
    tail: tuple[str, ...] = ()
    by_token: bool = False


def _enum_value(name: str, value: object, enum_cls: type[JobStatus] | type[JobType]) -> str | None:
    if value is None:
        return None
    if isinstance(value, enum_cls):
        return str(value.value)
    return check_choice(name, value, (member.value for member in enum_cls))


def _id_value(name: str, value: object) -> str | None:
    return None if value is None else check_id(name, value)


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
        filters=tuple((key, value) for key, value in candidates if value is not None),
        page_size=check_count("page_size", page_size, minimum=1),
        offset=check_count("offset", offset, minimum=0),
        max_items=None if max_items is None else check_count("max_items", max_items, minimum=0),
    )


def id_digest(job_id: str) -> str:
    """The short digest of a job id that a cursor carries instead of the id."""
    return hashlib.blake2b(job_id.encode(), digest_size=6).hexdigest()


def encode_cursor(
    query: JobQuery,
    *,
    offset: int,
    token: str | None,
    tail_ids: Iterable[str],
    by_token: bool = False,
) -> str:
    """Encode a resume position as opaque, URL-safe text.

    Args:
        query: The walk's query; its fingerprint is stored so that a cursor is
            refused under other filters.
        offset: Items passed in the listing so far.
        token: The server's latest page token, if any.
        tail_ids: The ids last delivered, newest last; the last 64 are kept.
        by_token: Resume by ``token`` rather than by ``offset``.
    """
    tail = [id_digest(job_id) for job_id in list(tail_ids)[-_TAIL_IDS_IN_CURSOR:]]
    doc = {"v": _CURSOR_VERSION, "f": query.fingerprint, "o": offset, "t": token, "s": tail}
    # Older cursors have no "m": their token, when set, meant "resume by token".
    doc["m"] = "t" if by_token and token is not None else "o"
    raw = json.dumps(doc, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: object, query: JobQuery) -> Cursor:
    """Decode a cursor made by `encode_cursor` and check it fits ``query``.

    Args:
        text: The cursor, as `JobPage.cursor` or an error's ``.cursor`` gave it.
        query: The query of the walk that wants to resume.

    Raises:
        ValueError: The text is not a cursor of this library (longer than
            `MAX_CURSOR_CHARS`, nested, or malformed), or it was made under
            other filters (``resume_from`` is named in the message).
    """
    if not isinstance(text, str) or not text:
        raise ValueError("resume_from must be a cursor string from JobPage.cursor")
    if len(text) > MAX_CURSOR_CHARS:
        raise ValueError(
            f"resume_from is not a cursor made by this library (JobPage.cursor): "
            f"{len(text):,} characters, more than a cursor's {MAX_CURSOR_CHARS:,}"
        )
    try:
        # ASCII, as encode_cursor writes it: json.loads(bytes) would guess UTF-16
        # from NUL bytes, and then see other quotes than the check below.
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode("ascii")
        # One object holding one list: refuse deeper nesting before json.loads,
        # which would recurse into it (RecursionError, not ValueError).
        structure = _JSON_STRINGS.sub("", raw)
        if structure.count("{") + structure.count("[") > 2:
            raise ValueError("nested too deeply")  # joins the refusals below
        doc = json.loads(raw)
        cursor = Cursor(
            fingerprint=doc["f"],
            offset=doc["o"],
            token=doc["t"],
            tail=tuple(doc["s"]),
            by_token=doc.get("m", "t") == "t" and doc["t"] is not None,
        )
        valid = (
            type(doc["v"]) is int
            and doc["v"] == _CURSOR_VERSION
            and isinstance(doc["s"], list)
            and isinstance(cursor.fingerprint, str)
            and type(cursor.offset) is int
            and cursor.offset >= 0
            and (cursor.token is None or isinstance(cursor.token, str))
            and all(isinstance(digest, str) for digest in cursor.tail)
            and doc.get("m", "t") in {"t", "o"}
        )
    except (ValueError, binascii.Error, KeyError, TypeError):
        valid = False
    if not valid:
        raise ValueError("resume_from is not a cursor made by this library (JobPage.cursor)")
    if cursor.fingerprint != query.fingerprint:
        raise ValueError(
            "resume_from was made under other filters; resume with the same "
            "directory_id, job_type, status, project_id and organization_id"
        )
    return cursor
