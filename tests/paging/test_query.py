"""Query validation and the resume cursor, before any I/O."""

from __future__ import annotations

import base64
import json

import pytest
from helpers import query

from llama_batch_async import BatchClient
from llama_batch_async._models import JobStatus, JobType
from llama_batch_async._paging._cursor import (
    MAX_CURSOR_CHARS,
    Cursor,
    decode_cursor,
    encode_cursor,
    id_digest,
)
from llama_batch_async._paging._query import JobQuery

STATUS_VALUES = "pending, running, dispatched, completed, failed, cancelled"
JOB_TYPE_VALUES = "parse, extract, classify"


def b64(raw: bytes) -> str:
    """URL-safe base64 text without padding, as cursors are written."""
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def cursor_doc(**changes: object) -> str:
    """A hand-made cursor for ``query()`` with ``changes`` to its JSON document."""
    doc: dict[str, object] = {"v": 1, "f": query().fingerprint, "o": 0, "t": None, "s": []}
    doc.update(changes)
    return b64(json.dumps(doc).encode())


# --- validation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "name", "extra"),
    [
        pytest.param({"status": "complete"}, "status", STATUS_VALUES, id="status-unknown"),
        pytest.param({"status": "FAILED"}, "status", STATUS_VALUES, id="status-case"),
        pytest.param({"status": JobType.PARSE}, "status", STATUS_VALUES, id="status-other-enum"),
        pytest.param({"status": 3}, "status", STATUS_VALUES, id="status-int"),
        pytest.param({"job_type": "ocr"}, "job_type", JOB_TYPE_VALUES, id="job_type-unknown"),
        pytest.param(
            {"job_type": JobStatus.FAILED}, "job_type", JOB_TYPE_VALUES, id="job_type-other-enum"
        ),
        pytest.param({"job_type": ""}, "job_type", JOB_TYPE_VALUES, id="job_type-empty"),
        pytest.param({"page_size": 0}, "page_size", "from 1 to 1000", id="page_size-0"),
        pytest.param({"page_size": -5}, "page_size", "from 1 to 1000", id="page_size-negative"),
        pytest.param({"page_size": 1001}, "page_size", "from 1 to 1000", id="page_size-1001"),
        pytest.param({"page_size": True}, "page_size", "int", id="page_size-bool"),
        pytest.param({"page_size": 1.5}, "page_size", "int", id="page_size-float"),
        pytest.param({"page_size": 10.0}, "page_size", "int", id="page_size-integral-float"),
        pytest.param({"page_size": "10"}, "page_size", "int", id="page_size-str"),
        pytest.param({"page_size": None}, "page_size", "int", id="page_size-none"),
        pytest.param({"offset": -1}, "offset", ">= 0", id="offset-negative"),
        pytest.param({"offset": False}, "offset", "int", id="offset-bool"),
        pytest.param({"max_items": -1}, "max_items", ">= 0", id="max_items-negative"),
        pytest.param({"max_items": 2.0}, "max_items", "int", id="max_items-float"),
        pytest.param({"directory_id": ""}, "directory_id", "non-empty", id="directory_id-empty"),
        pytest.param({"project_id": "  "}, "project_id", "non-empty", id="project_id-blank"),
        pytest.param({"project_id": "\t\n"}, "project_id", "non-empty", id="project_id-ws"),
        pytest.param({"organization_id": 3}, "organization_id", "string", id="organization_id-int"),
        pytest.param({"directory_id": b"dir-1"}, "directory_id", "string", id="directory_id-bytes"),
    ],
)
def test_bad_input_is_a_value_error_naming_the_parameter(
    changes: dict[str, object], name: str, extra: str
) -> None:
    """Every bad argument raises ValueError naming it (and, for enums, every valid value)."""
    with pytest.raises(ValueError, match=name) as info:
        query(**changes)

    assert str(info.value).startswith(name)
    assert extra in str(info.value)


def test_default_query() -> None:
    """With no filters the query has no filters and list_jobs' bounds."""
    assert query() == JobQuery(filters=(), page_size=100, offset=0, max_items=None)


@pytest.mark.parametrize(
    ("changes", "filters"),
    [
        pytest.param({}, (), id="none"),
        pytest.param({"status": "failed"}, (("status", "failed"),), id="status-str"),
        pytest.param({"status": JobStatus.FAILED}, (("status", "failed"),), id="status-enum"),
        pytest.param({"job_type": JobType.EXTRACT}, (("job_type", "extract"),), id="type-enum"),
        pytest.param({"job_type": "classify"}, (("job_type", "classify"),), id="type-str"),
        pytest.param({"project_id": "proj-1"}, (("project_id", "proj-1"),), id="project"),
        pytest.param(
            {
                "organization_id": "org-1",
                "project_id": "proj-1",
                "status": JobStatus.RUNNING,
                "job_type": JobType.PARSE,
                "directory_id": "dir-1",
            },
            (
                ("directory_id", "dir-1"),
                ("job_type", "parse"),
                ("status", "running"),
                ("project_id", "proj-1"),
                ("organization_id", "org-1"),
            ),
            id="all-in-fixed-order",
        ),
        pytest.param(
            {"organization_id": "org-1", "directory_id": "dir-1"},
            (("directory_id", "dir-1"), ("organization_id", "org-1")),
            id="two-in-fixed-order",
        ),
        pytest.param({"directory_id": " dir-1 "}, (("directory_id", " dir-1 "),), id="kept-as-is"),
    ],
)
def test_filters_in_fixed_order_as_wire_values(
    changes: dict[str, object], filters: tuple[tuple[str, str], ...]
) -> None:
    """Only given filters appear, in a fixed order, enum members as their wire strings."""
    built = query(**changes)

    assert built.filters == filters
    assert all(type(value) is str for _, value in built.filters)


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"page_size": 1}, id="page_size-1"),
        pytest.param({"offset": 0}, id="offset-0"),
        pytest.param({"offset": 10**9}, id="offset-large"),
        pytest.param({"max_items": 0}, id="max_items-0"),
        pytest.param({"max_items": 500}, id="max_items-500"),
    ],
)
def test_bounds_at_their_limits_are_accepted(changes: dict[str, int]) -> None:
    """The smallest allowed bounds are accepted and kept."""
    built = query(**changes)

    for name, value in changes.items():
        assert getattr(built, name) == value


# --- fingerprint --------------------------------------------------------------------------


def test_fingerprint_equal_for_equal_filters() -> None:
    """The same filters give the same fingerprint, however the enums were spelled."""
    a = query(status=JobStatus.FAILED, job_type="parse", project_id="p")
    b = query(status="failed", job_type=JobType.PARSE, project_id="p")

    assert a.fingerprint == b.fingerprint
    assert len(a.fingerprint) == 16


@pytest.mark.parametrize(
    ("left", "right"),
    [
        pytest.param({}, {"status": "failed"}, id="none-vs-status"),
        pytest.param({"status": "failed"}, {"status": "running"}, id="status"),
        pytest.param({"job_type": "parse"}, {"job_type": "extract"}, id="job_type"),
        pytest.param({"project_id": "a"}, {"organization_id": "a"}, id="same-value-other-key"),
        pytest.param({"directory_id": "a"}, {"directory_id": "b"}, id="directory"),
        pytest.param(
            {"project_id": "p"}, {"project_id": "p", "organization_id": "o"}, id="extra-filter"
        ),
    ],
)
def test_fingerprint_differs_for_different_filters(
    left: dict[str, object], right: dict[str, object]
) -> None:
    """Different filters give different fingerprints."""
    assert query(**left).fingerprint != query(**right).fingerprint


def test_fingerprint_ignores_bounds() -> None:
    """page_size, offset and max_items do not change the fingerprint."""
    base = query(status="failed")

    assert query(status="failed", page_size=7, offset=30, max_items=9).fingerprint == (
        base.fingerprint
    )


# --- cursor -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("offset", "token", "tail_ids"),
    [
        pytest.param(0, None, [], id="start"),
        pytest.param(200, None, ["bjb-1", "bjb-2"], id="offset"),
        pytest.param(0, "tok/+=&?ünï", ["bjb-1"], id="token"),
        pytest.param(1234, "t", [f"bjb-{n}" for n in range(64)], id="64-tail"),
    ],
)
def test_cursor_round_trip(offset: int, token: str | None, tail_ids: list[str]) -> None:
    """A cursor decodes to the offset, token and tail digests it was made from."""
    built = query(status="running", project_id="p")

    text = encode_cursor(built, offset=offset, token=token, tail_ids=tail_ids)

    assert decode_cursor(text, built) == Cursor(
        fingerprint=built.fingerprint,
        offset=offset,
        token=token,
        tail=tuple(id_digest(job_id) for job_id in tail_ids),
    )


def test_cursor_is_url_safe_text() -> None:
    """A cursor is unpadded URL-safe text that holds no id or token in clear."""
    text = encode_cursor(query(), offset=5, token="tok+/=", tail_ids=["bjb-secretive"])

    assert set(text) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert "bjb-secretive" not in base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()


def test_cursor_keeps_the_last_64_tail_ids() -> None:
    """Only the newest 64 ids are kept, as short digests, newest last."""
    ids = [f"bjb-{n}" for n in range(100)]

    cursor = decode_cursor(encode_cursor(query(), offset=100, token=None, tail_ids=ids), query())

    assert cursor.tail == tuple(id_digest(job_id) for job_id in ids[-64:])
    assert len(cursor.tail) == 64


def test_cursor_accepts_a_generator_of_ids() -> None:
    """tail_ids may be any iterable, consumed once."""
    ids = (f"bjb-{n}" for n in range(3))

    cursor = decode_cursor(encode_cursor(query(), offset=3, token=None, tail_ids=ids), query())

    assert cursor.tail == tuple(id_digest(f"bjb-{n}") for n in range(3))


def test_cursor_ignores_bounds_of_the_resuming_query() -> None:
    """A cursor resumes under the same filters with other page_size/offset/max_items."""
    text = encode_cursor(query(status="failed"), offset=40, token=None, tail_ids=[])

    cursor = decode_cursor(text, query(status="failed", page_size=5, offset=3, max_items=1))

    assert cursor.offset == 40


def test_id_digest_is_short_and_stable() -> None:
    """The tail digest of an id is 12 hex characters and deterministic."""
    assert id_digest("bjb-1") == id_digest("bjb-1")
    assert id_digest("bjb-1") != id_digest("bjb-2")
    assert len(id_digest("bjb-1")) == 12
    int(id_digest("bjb-1"), 16)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty"),
        pytest.param("x", id="one-char"),
        pytest.param("!!!!not base64!!!!", id="non-base64"),
        pytest.param(b64(b"hello, world"), id="base64-of-text"),
        pytest.param(b64(b"\xff\xfe\xfd"), id="base64-of-binary"),
        pytest.param(b64(b"[1, 2, 3]"), id="json-list"),
        pytest.param(b64(b'"cursor"'), id="json-string"),
        pytest.param(b64(b"{}"), id="json-empty-object"),
        pytest.param(cursor_doc(v=2), id="wrong-version"),
        pytest.param(cursor_doc(v="1"), id="version-str"),
        pytest.param(cursor_doc(o=-1), id="negative-offset"),
        pytest.param(cursor_doc(o=1.5), id="float-offset"),
        pytest.param(cursor_doc(o=True), id="bool-offset"),
        pytest.param(cursor_doc(o="10"), id="str-offset"),
        pytest.param(cursor_doc(t=5), id="int-token"),
        pytest.param(cursor_doc(s=[1, 2]), id="int-tail"),
        pytest.param(cursor_doc(s=None), id="null-tail"),
        pytest.param(cursor_doc(f=None), id="null-fingerprint"),
        pytest.param(cursor_doc(v=None), id="missing-version-value"),
        pytest.param(None, id="None"),
        pytest.param(42, id="int"),
        pytest.param(b"abc", id="bytes"),
        pytest.param(["cursor"], id="list"),
    ],
)
def test_decode_refuses_garbage(text: object) -> None:
    """Anything not made by encode_cursor is a ValueError that names resume_from."""
    with pytest.raises(ValueError, match="resume_from"):
        decode_cursor(text, query())


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(b64(b"[" * 100_000 + b"]" * 100_000), id="list-100000-deep"),
        pytest.param(b64(b"[" * 5_000 + b"]" * 5_000), id="list-5000-deep"),
        pytest.param(cursor_doc(s=[[[]]]), id="nested-tail"),
        pytest.param(
            b64(json.dumps({"v": 1, "t": None, "s": []}).encode()[:-1] + b',"x":' + b"{" * 3000),
            id="objects-3000-deep",
        ),
        pytest.param(
            b64(json.dumps({"v": 1, "t": "a[{", "s": []}).encode()[:-1] + b',"x":[[]]}'),
            id="brackets-in-a-string-then-nesting",
        ),
        pytest.param(b64(("[\x00" * 2000 + "]\x00" * 2000).encode()), id="utf-16-nesting"),
    ],
)
def test_decode_refuses_nested_documents_with_value_error(text: str) -> None:
    """A deeply nested cursor document is a ValueError naming resume_from, not RecursionError."""
    with pytest.raises(ValueError, match="resume_from"):
        decode_cursor(text, query())


def test_decode_refuses_an_overlong_cursor_before_decoding() -> None:
    """Text longer than MAX_CURSOR_CHARS is refused by length, naming resume_from."""
    text = "A" * (MAX_CURSOR_CHARS + 1)

    with pytest.raises(ValueError, match=r"resume_from .*65,537 characters"):
        decode_cursor(text, query())


def test_brackets_inside_the_token_are_not_nesting() -> None:
    """A page token full of brackets and quotes round-trips: only structure is counted."""
    token = '[[{{"\\[' * 50

    text = encode_cursor(query(), offset=3, token=token, tail_ids=["bjb-1"])

    assert decode_cursor(text, query()).token == token


def test_list_jobs_refuses_a_nested_cursor_before_any_request() -> None:
    """BatchClient.list_jobs(resume_from=<nested>) raises ValueError naming resume_from."""
    client = BatchClient("key", base_url="http://127.0.0.1:9")
    nested = b64(b"[" * 100_000 + b"]" * 100_000)[:MAX_CURSOR_CHARS]

    with pytest.raises(ValueError, match="resume_from"):
        client.list_jobs(resume_from=nested)


@pytest.mark.parametrize("text", ["", "not-a-cursor", "A" * (MAX_CURSOR_CHARS + 1)])
def test_a_refused_cursor_names_the_page_of_its_listing(text: str) -> None:
    """A bad resume_from names where a good one comes from: JobPage or BatchPage.cursor."""
    client = BatchClient("key", base_url="http://127.0.0.1:9")

    with pytest.raises(ValueError, match=r"resume_from .*\(?JobPage\.cursor") as jobs:
        client.list_jobs(resume_from=text)
    with pytest.raises(ValueError, match=r"resume_from .*\(?BatchPage\.cursor") as batches:
        client.list_batches(resume_from=text)

    assert "BatchPage" not in str(jobs.value)
    assert "JobPage" not in str(batches.value)


def test_decode_refuses_missing_keys() -> None:
    """A cursor document missing a key is refused with a ValueError naming resume_from."""
    for key in ("v", "f", "o", "t", "s"):
        doc: dict[str, object] = {"v": 1, "f": query().fingerprint, "o": 0, "t": None, "s": []}
        del doc[key]
        with pytest.raises(ValueError, match="resume_from"):
            decode_cursor(b64(json.dumps(doc).encode()), query())


def test_hand_made_valid_cursor_is_accepted() -> None:
    """The document format itself (sanity check of the garbage table's base)."""
    assert decode_cursor(cursor_doc(o=7, t="x", m="o"), query()) == Cursor(
        fingerprint=query().fingerprint, offset=7, token="x", tail=()
    )


def test_cursor_without_a_mode_resumes_by_its_token() -> None:
    """A cursor from 0.1 (no "m") with a token still resumes by that token."""
    assert decode_cursor(cursor_doc(o=7, t="x"), query()).by_token
    assert not decode_cursor(cursor_doc(o=7, t=None), query()).by_token


def test_cursor_with_an_unknown_mode_is_refused() -> None:
    """A cursor whose paging mode is neither token nor offset is refused."""
    with pytest.raises(ValueError, match="resume_from"):
        decode_cursor(cursor_doc(o=7, t="x", m="z"), query())


@pytest.mark.parametrize(
    ("made", "resumed"),
    [
        pytest.param({"status": "failed"}, {"status": "running"}, id="status"),
        pytest.param({"status": "failed"}, {}, id="dropped-filter"),
        pytest.param({}, {"project_id": "p"}, id="added-filter"),
        pytest.param({"directory_id": "a"}, {"directory_id": "b"}, id="directory"),
    ],
)
def test_decode_refuses_cursor_from_other_filters(
    made: dict[str, object], resumed: dict[str, object]
) -> None:
    """A cursor made under other filters is refused with a ValueError saying so."""
    text = encode_cursor(query(**made), offset=10, token=None, tail_ids=["bjb-1"])

    with pytest.raises(ValueError, match="other filters") as info:
        decode_cursor(text, query(**resumed))

    assert "resume_from" in str(info.value)
