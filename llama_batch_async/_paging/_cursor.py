"""Where a walk stands: the page request, the position after a page, the resume cursor.

Leaf value types (no I/O, no converter, no paging rules), so that the wire, the
transport and the walk can share them without importing each other.
`PageRequest` is what the walk asks for next; `Position` is where it stands after
a page and encodes, on demand, to the opaque `JobPage.cursor` text; `Cursor` is
that text decoded and checked against the walk's query.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, NamedTuple

import attrs

from llama_batch_async._endpoints import BATCHES, ITEMS, JOBS, Endpoint

if TYPE_CHECKING:  # annotations only: the walk's import chain stays short (tests/test_layers.py)
    from ._query import JobQuery

__all__ = [
    "MAX_CURSOR_CHARS",
    "Cursor",
    "PageRequest",
    "Position",
    "decode_cursor",
    "encode_cursor",
    "id_digest",
    "parse_bound",
    "resume_start",
]

_CURSOR_VERSION = 1
# Which listing made a cursor ("k"; absent: v1 jobs, whose cursors predate the mark).
_JOBS_MARK = "j"
_BY_MARK: dict[str, Endpoint] = {
    endpoint.mark or _JOBS_MARK: endpoint for endpoint in (JOBS, ITEMS, BATCHES)
}
_TAIL_IDS_IN_CURSOR = 64
# A cursor is a few hundred characters plus the server's page token; anything
# longer is not ours, and is refused before it is decoded.
MAX_CURSOR_CHARS = 64 * 1024
# The JSON strings of a cursor document; what is left holds its structure.
_JSON_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)


class PageRequest(NamedTuple):
    """What to ask the server for: ``limit`` and either ``offset`` or ``page_token``."""

    limit: int
    offset: int | None
    token: str | None


@attrs.frozen(slots=True)
class Position:
    """Where a walk stands after a page; encodes to a `JobPage.cursor` on demand."""

    query: JobQuery
    offset: int
    token: str | None
    tail_ids: tuple[str, ...]
    by_token: bool = False
    window: tuple[str, str] | None = None
    skip: int = 0
    """Records of the page ``token`` names that were delivered already (a cut page)."""
    asked: str | None = attrs.field(default=None, eq=False)
    """The token that asked for the page this position follows (None: the first page)."""
    page_ids: tuple[str, ...] = attrs.field(default=(), eq=False, repr=False)
    """The ids of that page as the server sent it (v2 only: to cut it; not encoded)."""

    def encode(self) -> str:
        """The opaque cursor text for `list_jobs(resume_from=...)`."""
        return encode_cursor(
            self.query,
            offset=self.offset,
            token=self.token,
            tail_ids=self.tail_ids,
            by_token=self.by_token,
            window=self.window,
            skip=self.skip,
        )

    def cut(self, delivered: int) -> Position:
        """The position inside the page it follows, after its first ``delivered`` records.

        A windowed walk whose ``max_items`` ends within a page resumes there: the
        cursor names the token that asked for the page (``asked``) and how many of
        its records, in the server's order, were delivered (``skip``).
        """
        return attrs.evolve(
            self,
            token=self.asked,
            skip=delivered,
            tail_ids=self.page_ids[:delivered],
        )


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
    window: tuple[str, str] | None = None
    """For a windowed v2 walk: the ``created_at`` window (wire bounds) the position is in."""
    skip: int = 0
    """Records of the page ``token`` names (None: the first) delivered before the cut."""


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
    window: tuple[str, str] | None = None,
    skip: int = 0,
) -> str:
    """Encode a resume position as opaque, URL-safe text.

    Args:
        query: The walk's query; its fingerprint is stored so that a cursor is
            refused under other filters.
        offset: Items passed in the listing so far.
        token: The server's latest page token, if any.
        tail_ids: The ids last delivered, newest last; the last 64 are kept.
        by_token: Resume by ``token`` rather than by ``offset``.
        window: A windowed v2 walk's current window (its wire bounds), whose
            token ``token`` is; the windows older than it follow on resume.
        skip: Records of the page ``token`` names that were delivered already
            (a page cut by ``max_items``); resuming asks for that page again.
    """
    tail = [id_digest(job_id) for job_id in list(tail_ids)[-_TAIL_IDS_IN_CURSOR:]]
    doc = {"v": _CURSOR_VERSION, "f": query.fingerprint, "o": offset, "t": token, "s": tail}
    # Older cursors have no "m": their token, when set, meant "resume by token".
    doc["m"] = "t" if by_token and token is not None else "o"
    if query.endpoint.mark is not None:
        doc["k"] = query.endpoint.mark  # job cursors carry no "k"
    if window is not None:
        doc["w"] = list(window)
    if skip:
        doc["d"] = skip
    raw = json.dumps(doc, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: object, query: JobQuery) -> Cursor:
    """Decode a cursor made by `encode_cursor` and check it fits ``query``.

    Args:
        text: The cursor, as `JobPage.cursor` (`BatchPage.cursor`) or an error's ``.cursor``
            gave it.
        query: The query of the walk that wants to resume.

    Raises:
        ValueError: The text is not a cursor of this library (longer than
            `MAX_CURSOR_CHARS`, nested, or malformed), or it was made under
            other filters (``resume_from`` is named in the message).
    """
    endpoint = query.endpoint
    source = f"{endpoint.page}.cursor"  # where a good cursor comes from
    if not isinstance(text, str) or not text:
        raise ValueError(f"resume_from must be a cursor string from {source}")
    if len(text) > MAX_CURSOR_CHARS:
        raise ValueError(
            f"resume_from is not a cursor made by this library ({source}): "
            f"{len(text):,} characters, more than a cursor's {MAX_CURSOR_CHARS:,}"
        )
    try:
        # ASCII, as encode_cursor writes it: json.loads(bytes) would guess UTF-16
        # from NUL bytes, and then see other quotes than the check below.
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode("ascii")
        # One object holding at most two lists (ids, window): refuse anything more
        # before json.loads, which would recurse into it (RecursionError, not ValueError).
        structure = _JSON_STRINGS.sub("", raw)
        if structure.count("{") + structure.count("[") > 3:
            raise ValueError("nested too deeply")  # joins the refusals below
        doc = json.loads(raw)
        cursor = Cursor(
            fingerprint=doc["f"],
            offset=doc["o"],
            token=doc["t"],
            tail=tuple(doc["s"]),
            by_token=doc.get("m", "t") == "t" and doc["t"] is not None,
            window=tuple(doc["w"]) if "w" in doc else None,
            skip=doc.get("d", 0),
        )
        valid = (
            type(doc["v"]) is int
            and doc["v"] == _CURSOR_VERSION
            and isinstance(doc["s"], list)
            and isinstance(cursor.fingerprint, str)
            and type(cursor.offset) is int
            and cursor.offset >= 0
            and type(cursor.skip) is int
            and cursor.skip >= 0
            and (cursor.token is None or isinstance(cursor.token, str))
            and all(isinstance(digest, str) for digest in cursor.tail)
            and doc.get("m", "t") in {"t", "o"}
            and doc.get("k", _JOBS_MARK) in _BY_MARK
            and (cursor.window is None or _is_window(cursor.window))
        )
    except (ValueError, binascii.Error, KeyError, TypeError):
        valid = False
    if not valid:
        raise ValueError(f"resume_from is not a cursor made by this library ({source})")
    made_by = _BY_MARK[doc.get("k", _JOBS_MARK)].method
    if made_by != endpoint.method:
        raise ValueError(
            f"resume_from is a cursor of {made_by}, not of {endpoint.method}: "
            f"pass it back to {made_by} (jobs, a job's items and v2 batches are separate listings)"
        )
    if cursor.fingerprint != query.fingerprint:
        raise ValueError(
            "resume_from was made under other filters; resume with the same "
            + endpoint.filter_names
        )
    return cursor


def parse_bound(text: str) -> datetime:
    """A wire ``created_at`` bound back to an aware datetime: `_query.format_bound`'s inverse.

    Raises:
        ValueError: Not ISO 8601, or without a UTC offset.
    """
    value = text[:-1] + "+00:00" if text.endswith("Z") else text
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError(f"a created_at bound needs a UTC offset, got {text!r}")
    return moment


def _is_window(window: tuple[object, ...]) -> bool:
    """Two aware ISO 8601 ``created_at`` bounds, as `format_bound` writes them."""
    if len(window) != 2 or not all(isinstance(bound, str) for bound in window):
        return False
    try:
        for bound in window:
            parse_bound(str(bound))
    except ValueError:
        return False
    return True


def resume_start(resume_from: object, query: JobQuery, *, offset: int = 0) -> Cursor | None:
    """Where a walk starts: None (at ``query.offset``), or the decoded ``resume_from``.

    Raises:
        ValueError: Both ``offset`` and ``resume_from`` given, or a cursor that
            `decode_cursor` refuses.
    """
    if resume_from is None:
        return None
    if offset:
        raise ValueError("pass offset or resume_from, not both")
    return decode_cursor(resume_from, query)
