"""JSON bodies to records: the converter's hooks and its validation messages."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import cattrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from llama_batch_async._convert import (
    RawPage,
    _converter,
    _fast_job,
    parse_body,
    structure_cancellation,
    structure_item_page,
    structure_job_progress,
    structure_page,
)
from llama_batch_async._errors import ResponseValidationError
from llama_batch_async._models import (
    BatchItem,
    BatchJob,
    ItemStatus,
    JobCancellation,
    JobStatus,
    JobType,
)

# The example response of list-batch-jobs.md, verbatim.
REFERENCE_ITEM: dict[str, Any] = {
    "id": "bjb-aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
    "job_type": "parse",
    "project_id": "proj-aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
    "status": "pending",
    "total_items": 0,
    "completed_at": "2019-12-27T18:11:19.117Z",
    "created_at": "2019-12-27T18:11:19.117Z",
    "directory_id": "dir-aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
    "effective_at": "2019-12-27T18:11:19.117Z",
    "error_message": "error_message",
    "failed_items": 0,
    "job_record_id": "job_record_id",
    "processed_items": 0,
    "skipped_items": 0,
    "started_at": "2019-12-27T18:11:19.117Z",
    "updated_at": "2019-12-27T18:11:19.117Z",
    "workflow_id": "workflow_id",
}
REFERENCE_BODY: dict[str, Any] = {
    "items": [REFERENCE_ITEM],
    "next_page_token": "next_page_token",
    "total_size": 0,
}

MINIMAL_ITEM: dict[str, Any] = {
    "id": "bjb-1",
    "job_type": "parse",
    "project_id": "proj-1",
    "status": "running",
    "total_items": 3,
}

OPTIONAL_FIELDS = [
    "completed_at",
    "created_at",
    "directory_id",
    "effective_at",
    "error_message",
    "failed_items",
    "job_record_id",
    "processed_items",
    "skipped_items",
    "started_at",
    "updated_at",
    "workflow_id",
]
TIMESTAMP_FIELDS = [
    "completed_at",
    "created_at",
    "effective_at",
    "started_at",
    "updated_at",
]
COUNT_FIELDS = ["total_items", "failed_items", "processed_items", "skipped_items"]

SECRET_VALUE = "PAYLOAD-LEAK-CANARY-7f3a9c"
REFERENCE_TIME = datetime(2019, 12, 27, 18, 11, 19, 117000, tzinfo=timezone.utc)


def item(**changes: object) -> dict[str, Any]:
    """A minimal valid item with ``changes`` applied."""
    return {**MINIMAL_ITEM, **changes}


def one_job(**changes: object) -> BatchJob:
    """Structure a page of one minimal item with ``changes`` and return its job."""
    page = structure_page({"items": [item(**changes)]})
    assert len(page.items) == 1
    return page.items[0]


def validation_error(payload: object) -> ResponseValidationError:
    """The ResponseValidationError ``structure_page(payload)`` raises."""
    with pytest.raises(ResponseValidationError) as info:
        structure_page(payload)
    return info.value


# --- the reference example ----------------------------------------------------------------


def test_reference_example_structures_every_field() -> None:
    """The reference's example response becomes a BatchJob with all 17 fields typed."""
    page = structure_page(parse_body(json.dumps(REFERENCE_BODY).encode()))

    assert page.next_page_token == "next_page_token"
    assert page.total_size == 0
    [job] = page.items
    assert type(job) is BatchJob
    assert job == BatchJob(
        id="bjb-aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
        job_type=JobType.PARSE,
        project_id="proj-aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
        status=JobStatus.PENDING,
        total_items=0,
        completed_at=REFERENCE_TIME,
        created_at=REFERENCE_TIME,
        directory_id="dir-aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
        effective_at=REFERENCE_TIME,
        error_message="error_message",
        failed_items=0,
        job_record_id="job_record_id",
        processed_items=0,
        skipped_items=0,
        started_at=REFERENCE_TIME,
        updated_at=REFERENCE_TIME,
        workflow_id="workflow_id",
    )
    assert job.job_type is JobType.PARSE
    assert job.status is JobStatus.PENDING


def test_reference_example_round_trips_through_to_dict() -> None:
    """A structured reference item turns back into the reference's JSON object exactly."""
    [job] = structure_page(copy.deepcopy(REFERENCE_BODY)).items

    assert job.to_dict() == REFERENCE_ITEM
    assert list(job.to_dict()) == list(REFERENCE_ITEM)


def test_structured_job_is_frozen_and_hashable() -> None:
    """A structured record is the frozen, hashable BatchJob, not its mutable builder."""
    job = one_job()

    assert hash(job) == hash(one_job())
    with pytest.raises(AttributeError):
        job.id = "other"  # type: ignore[misc]


# --- timestamps ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("2019-12-27T18:11:19.117Z", REFERENCE_TIME, id="Z"),
        pytest.param("2019-12-27T18:11:19.117+00:00", REFERENCE_TIME, id="+00:00"),
        pytest.param(
            "2019-12-27T20:11:19.117+02:00",
            datetime(2019, 12, 27, 20, 11, 19, 117000, tzinfo=timezone(timedelta(hours=2))),
            id="+02:00",
        ),
        pytest.param("2019-12-27T18:11:19.117", REFERENCE_TIME, id="no-offset-is-utc"),
        pytest.param(
            "2019-12-27T18:11:19Z", datetime(2019, 12, 27, 18, 11, 19, tzinfo=timezone.utc), id="0"
        ),
        pytest.param(
            "2019-12-27T18:11:19.1Z", REFERENCE_TIME.replace(microsecond=100000), id="1-digit"
        ),
        pytest.param(
            "2019-12-27T18:11:19.12Z", REFERENCE_TIME.replace(microsecond=120000), id="2-digits"
        ),
        pytest.param("2019-12-27T18:11:19.117Z", REFERENCE_TIME, id="3-digits"),
        pytest.param(
            "2019-12-27T18:11:19.1234Z", REFERENCE_TIME.replace(microsecond=123400), id="4-digits"
        ),
        pytest.param(
            "2019-12-27T18:11:19.12345Z", REFERENCE_TIME.replace(microsecond=123450), id="5-digits"
        ),
        pytest.param(
            "2019-12-27T18:11:19.123456Z",
            REFERENCE_TIME.replace(microsecond=123456),
            id="6-digits",
        ),
        pytest.param(
            "2019-12-27T18:11:19.1234567Z",
            REFERENCE_TIME.replace(microsecond=123456),
            id="7-digits",
        ),
        pytest.param(
            "2019-12-27T18:11:19.12345678Z",
            REFERENCE_TIME.replace(microsecond=123456),
            id="8-digits",
        ),
        pytest.param(
            "2019-12-27T18:11:19.123456789+02:00",
            datetime(2019, 12, 27, 18, 11, 19, 123456, tzinfo=timezone(timedelta(hours=2))),
            id="9-digits-offset",
        ),
        pytest.param(
            "2019-12-27T18:11:19.123456789",
            REFERENCE_TIME.replace(microsecond=123456),
            id="9-digits-no-offset",
        ),
    ],
)
@pytest.mark.parametrize("field", TIMESTAMP_FIELDS)
def test_timestamps_become_aware_datetimes(field: str, text: str, expected: datetime) -> None:
    """Every timestamp form the server sends becomes the same timezone-aware instant."""
    value = getattr(one_job(**{field: text}), field)

    assert isinstance(value, datetime)
    assert value.tzinfo is not None
    assert value == expected
    assert value.utcoffset() == expected.utcoffset()


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("0001-01-01T00:00:00+05:00", id="before-year-1-in-utc"),
        pytest.param("9999-12-31T23:59:59-05:00", id="after-year-9999-in-utc"),
        pytest.param("9999-12-31T23:59:59.999999-00:01", id="one-minute-over"),
    ],
)
@pytest.mark.parametrize("field", TIMESTAMP_FIELDS)
def test_timestamp_without_a_utc_equivalent_is_refused(field: str, text: str) -> None:
    """A timestamp whose UTC instant is outside datetime's range is refused at parse time."""
    error = validation_error({"items": [item(**{field: text})]})

    assert error.paths == (f"timestamp out of range in UTC @ $.items[0].{field}",)


@pytest.mark.parametrize(
    "text",
    [
        "0001-01-01T00:00:00-05:00",
        "0001-01-01T00:00:00Z",
        "0001-01-01T00:00:00",
        "9999-12-31T23:59:59.999999Z",
        "9999-12-31T23:59:59+05:00",
    ],
)
def test_timestamp_at_the_edge_of_range_is_kept_and_serialisable(text: str) -> None:
    """Edge-of-range timestamps with a UTC equivalent parse, and to_dict() writes them."""
    expected = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if expected.tzinfo is None:
        expected = expected.replace(tzinfo=timezone.utc)

    job = one_job(created_at=text)

    assert job.created_at == expected
    assert isinstance(job.to_dict()["created_at"], str)


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("yesterday", id="words"),
        pytest.param("", id="empty"),
        pytest.param("2019-13-45T99:11:19Z", id="out-of-range"),
        pytest.param(1577470279, id="epoch-int"),
        pytest.param(True, id="bool"),
        pytest.param(["2019-12-27T18:11:19Z"], id="list"),
    ],
)
def test_bad_timestamp_is_a_validation_error(value: object) -> None:
    """A timestamp that is not ISO 8601 text is reported at its path."""
    error = validation_error({"items": [item(created_at=value)]})

    assert error.paths == ("expected an ISO 8601 timestamp @ $.items[0].created_at",)
    assert "$.items[0].created_at" in str(error)


# --- open enums ---------------------------------------------------------------------------


@pytest.mark.parametrize("member", list(JobType), ids=lambda m: m.value)
def test_known_job_type_becomes_member(member: JobType) -> None:
    """A job_type this library knows becomes its JobType member."""
    assert one_job(job_type=member.value).job_type is member


@pytest.mark.parametrize("member", list(JobStatus), ids=lambda m: m.value)
def test_known_status_becomes_member(member: JobStatus) -> None:
    """A status this library knows becomes its JobStatus member."""
    assert one_job(status=member.value).status is member


@pytest.mark.parametrize(
    ("field", "value"),
    [
        pytest.param("status", "archived", id="status-newer"),
        pytest.param("status", "FAILED", id="status-other-case"),
        pytest.param("status", "", id="status-empty"),
        pytest.param("job_type", "ocr", id="job_type-newer"),
        pytest.param("job_type", "Parse", id="job_type-other-case"),
    ],
)
def test_unknown_enum_value_is_kept_as_pseudo_member(field: str, value: str) -> None:
    """A value newer than the library is kept as a pseudo-member of the field's enum."""
    kept = getattr(one_job(**{field: value}), field)

    assert isinstance(kept, JobStatus if field == "status" else JobType)
    assert kept == value
    assert str(kept) == value
    assert kept.value == value
    assert not kept.is_known


@pytest.mark.parametrize(
    ("field", "value"),
    [
        pytest.param("status", 3, id="status-int"),
        pytest.param("status", None, id="status-null"),
        pytest.param("status", ["failed"], id="status-list"),
        pytest.param("job_type", {"v": "parse"}, id="job_type-object"),
        pytest.param("job_type", False, id="job_type-bool"),
    ],
)
def test_non_string_enum_is_a_validation_error(field: str, value: object) -> None:
    """An enum field that is not a string at all is reported at its path."""
    error = validation_error({"items": [item(**{field: value})]})

    assert len(error.paths) == 1
    assert error.paths[0].endswith(f"@ $.items[0].{field}")


# --- shape tolerance ----------------------------------------------------------------------


def test_unknown_item_keys_are_ignored() -> None:
    """Keys the reference does not name are ignored on an item."""
    job = one_job(color="blue", nested={"a": [1, 2]}, total_items_v2="x")

    assert job == one_job()


def test_unknown_envelope_keys_are_ignored() -> None:
    """Keys the reference does not name are ignored on the envelope."""
    page = structure_page({"items": [item()], "facets": {"a": 1}, "next": None, "v": [1]})

    assert page == RawPage(items=[one_job()])


@pytest.mark.parametrize("field", OPTIONAL_FIELDS)
@pytest.mark.parametrize("form", ["absent", "null"])
def test_optional_field_absent_or_null_is_none(field: str, form: str) -> None:
    """An optional field that is missing or null becomes None."""
    full = dict(REFERENCE_ITEM)
    if form == "absent":
        del full[field]
    else:
        full[field] = None

    [job] = structure_page({"items": [full]}).items

    assert getattr(job, field) is None


def test_envelope_optionals_absent_are_none() -> None:
    """A body of only ``items`` has no next_page_token and no total_size."""
    assert structure_page({"items": []}) == RawPage(items=[], next_page_token=None, total_size=None)


def test_empty_next_page_token_is_kept() -> None:
    """An empty next_page_token stays "" in the RawPage; the walk treats it as none."""
    assert structure_page({"items": [], "next_page_token": ""}).next_page_token == ""


@pytest.mark.parametrize("field", COUNT_FIELDS)
@pytest.mark.parametrize("value", [True, False], ids=["true", "false"])
def test_bool_is_not_a_count(field: str, value: bool) -> None:
    """A JSON boolean is never accepted where the reference wants a number."""
    error = validation_error({"items": [item(**{field: value})]})

    assert error.paths == (f"expected an integer @ $.items[0].{field}",)


@pytest.mark.parametrize("field", COUNT_FIELDS)
def test_integral_float_is_a_count(field: str) -> None:
    """An integral float (3.0) is a number the reference allows and becomes an int."""
    value = getattr(one_job(**{field: 3.0}), field)

    assert value == 3
    assert type(value) is int


@pytest.mark.parametrize("field", COUNT_FIELDS)
@pytest.mark.parametrize(
    "value",
    [
        pytest.param(3.5, id="fraction"),
        pytest.param("3", id="numeric-string"),
        pytest.param(float("nan"), id="nan"),
        pytest.param(float("inf"), id="inf"),
        pytest.param([3], id="list"),
    ],
)
def test_non_integer_count_is_a_validation_error(field: str, value: object) -> None:
    """A count that is not an integral number is reported at its path."""
    error = validation_error({"items": [item(**{field: value})]})

    assert error.paths == (f"expected an integer @ $.items[0].{field}",)


def test_null_total_items_is_a_validation_error() -> None:
    """total_items is required by the reference: null is not allowed."""
    error = validation_error({"items": [item(total_items=None)]})

    assert error.paths == ("expected an integer @ $.items[0].total_items",)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(7, 7, id="int"),
        pytest.param(7.0, 7, id="integral-float"),
        pytest.param(0, 0, id="zero"),
        pytest.param(None, None, id="null"),
        pytest.param("12", None, id="string"),
        pytest.param(-1, None, id="negative"),
        pytest.param(True, None, id="bool"),
        pytest.param(float("nan"), None, id="nan"),
        pytest.param(float("inf"), None, id="inf"),
        pytest.param([], None, id="list"),
        pytest.param({"n": 1}, None, id="object"),
    ],
)
def test_total_size_garbage_is_unknown(value: object, expected: int | None) -> None:
    """total_size is display-only: a value that cannot be read becomes None, never an error."""
    page = structure_page({"items": [item()], "total_size": value})

    assert page.total_size == expected
    assert len(page.items) == 1


@pytest.mark.parametrize(
    ("field", "value"),
    [
        pytest.param("id", None, id="id-null"),
        pytest.param("id", 5, id="id-int"),
        pytest.param("project_id", ["p"], id="project_id-list"),
        pytest.param("directory_id", 5, id="directory_id-int"),
        pytest.param("error_message", {"m": 1}, id="error_message-object"),
        pytest.param("workflow_id", True, id="workflow_id-bool"),
    ],
)
def test_wrong_string_field_is_a_validation_error(field: str, value: object) -> None:
    """A string field holding another JSON type is reported at its path."""
    error = validation_error({"items": [item(**{field: value})]})

    assert len(error.paths) == 1
    assert error.paths[0].endswith(f"@ $.items[0].{field}")


# --- errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"<html>502 Bad Gateway</html>", id="html"),
        pytest.param(b"", id="empty"),
        pytest.param(b'{"items": [', id="truncated"),
        pytest.param(b"\xff\xfe\x00garbage", id="not-utf8"),
    ],
)
def test_parse_body_refuses_non_json(body: bytes) -> None:
    """A body that is not JSON is a ResponseValidationError at ``$``, giving only its size."""
    with pytest.raises(ResponseValidationError) as info:
        parse_body(body)

    assert info.value.paths == ("$",)
    assert f"({len(body)} bytes)" in str(info.value)


def test_parse_body_message_has_no_payload() -> None:
    """The not-JSON message never repeats the body."""
    with pytest.raises(ResponseValidationError) as info:
        parse_body(f"<html>{SECRET_VALUE}</html>".encode())

    assert SECRET_VALUE not in str(info.value)


def test_parse_body_decodes_json() -> None:
    """A JSON body decodes to the plain value."""
    assert parse_body(b'{"items": [], "total_size": 2}') == {"items": [], "total_size": 2}


@pytest.mark.parametrize(
    ("body", "type_name"),
    [
        pytest.param(b"[]", "list", id="list"),
        pytest.param(b'[{"items": []}]', "list", id="list-of-envelope"),
        pytest.param(b'"items"', "str", id="string"),
        pytest.param(b"42", "int", id="int"),
        pytest.param(b"4.5", "float", id="float"),
        pytest.param(b"true", "bool", id="bool"),
        pytest.param(b"null", "NoneType", id="null"),
    ],
)
def test_non_object_json_is_refused(body: bytes, type_name: str) -> None:
    """JSON that is not an object is a ResponseValidationError at ``$``."""
    error = validation_error(parse_body(body))

    assert error.paths == ("$",)
    assert f"JSON {type_name}" in str(error)
    assert "@ $" in str(error)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        pytest.param({}, "required field missing", id="missing"),
        pytest.param({"jobs": []}, "required field missing", id="other-name"),
        pytest.param({"items": None}, "expected a list", id="null"),
        pytest.param({"items": {"0": MINIMAL_ITEM}}, "expected a list", id="object"),
        pytest.param({"items": "[]"}, "expected a list", id="string"),
        pytest.param({"items": 0}, "expected a list", id="number"),
    ],
)
def test_items_must_be_a_list(payload: dict[str, object], reason: str) -> None:
    """A body without an ``items`` list is reported at ``$.items``."""
    error = validation_error(payload)

    assert error.paths == ("$.items",)
    assert f"{reason} @ $.items" in str(error)


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(None, id="null"),
        pytest.param(5, id="int"),
        pytest.param("bjb-1", id="string"),
        pytest.param([MINIMAL_ITEM], id="list"),
    ],
)
def test_item_not_an_object_is_reported(bad: object) -> None:
    """An item that is not a JSON object is reported at (or inside) its index only."""
    error = validation_error({"items": [item(), bad]})

    assert error.paths
    assert all(re.search(r"@ \$\.items\[1\](\.\w+)?$", path) for path in error.paths)


def test_missing_required_fields_are_each_reported() -> None:
    """Each missing required field is its own path."""
    error = validation_error({"items": [{}]})

    assert error.paths == tuple(
        f"required field missing @ $.items[0].{name}"
        for name in ("id", "job_type", "project_id", "status", "total_items")
    )


def test_path_names_the_item_index_and_field() -> None:
    """The message names the offending place as ``$.items[3].total_items``."""
    items = [item(id=f"bjb-{n}") for n in range(5)]
    items[3]["total_items"] = SECRET_VALUE

    error = validation_error({"items": items})

    assert error.paths == ("expected an integer @ $.items[3].total_items",)
    assert str(error) == (
        "response body does not match the reference (1 problem): "
        "expected an integer @ $.items[3].total_items"
    )


def test_message_shows_three_paths_and_a_count() -> None:
    """At most 3 paths are shown, then "and N more"; ``.paths`` carries them (up to 50)."""
    items = [item(id=f"bjb-{n}", total_items=f"{SECRET_VALUE}-{n}") for n in range(7)]

    error = validation_error({"items": items})

    expected = tuple(f"expected an integer @ $.items[{n}].total_items" for n in range(7))
    assert error.paths == expected
    message = str(error)
    assert "(7 problems)" in message
    for path in expected[:3]:
        assert path in message
    for path in expected[3:]:
        assert path not in message
    assert message.endswith("; and 4 more")


def test_exactly_three_problems_have_no_more_suffix() -> None:
    """Three problems are all shown, with no "and N more"."""
    items = [item(total_items="x") for _ in range(3)]

    message = str(validation_error({"items": items}))

    assert "(3 problems)" in message
    assert "more" not in message


def test_paths_cover_items_and_envelope_in_body_order() -> None:
    """Problems in several items and in the envelope are all listed."""
    payload = {
        "items": [item(created_at="nope"), item(), item(status=1, failed_items=True)],
        "next_page_token": 17,
    }

    error = validation_error(payload)

    assert set(error.paths) == {
        "expected an ISO 8601 timestamp @ $.items[0].created_at",
        "expected a JobStatus string @ $.items[2].status",
        "expected an integer @ $.items[2].failed_items",
        "expected a string or null @ $.next_page_token",
    }
    assert error.paths.index("expected an ISO 8601 timestamp @ $.items[0].created_at") < (
        error.paths.index("expected an integer @ $.items[2].failed_items")
    )


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"total_items": SECRET_VALUE}, id="count"),
        pytest.param({"created_at": SECRET_VALUE}, id="timestamp"),
        pytest.param({"status": {SECRET_VALUE: SECRET_VALUE}}, id="enum-object"),
        pytest.param({"id": [SECRET_VALUE]}, id="id-list"),
        pytest.param({"failed_items": SECRET_VALUE, "updated_at": SECRET_VALUE}, id="two"),
    ],
)
def test_message_never_contains_the_payload(changes: dict[str, object]) -> None:
    """The validation message and paths never repeat the offending values."""
    error = validation_error({"items": [item(**changes)] * 5, "total_size": SECRET_VALUE})

    assert SECRET_VALUE not in str(error)
    assert all(SECRET_VALUE not in path for path in error.paths)
    assert SECRET_VALUE not in repr(error)


def test_validation_error_is_not_chained_to_cattrs() -> None:
    """The error is raised ``from None``: no cattrs group with values hangs off it."""
    error = validation_error({"items": [item(total_items=SECRET_VALUE)]})

    assert error.__cause__ is None
    assert error.__suppress_context__ is True


def test_hostile_page_of_empty_items_is_explained_with_bounded_work() -> None:
    """100,000 ``{}`` items: the first 10 are explained, the rest are counted, not checked."""
    error = validation_error(parse_body(json.dumps({"items": [{}] * 100_000}).encode()))

    assert len(error.paths) == 50  # 5 missing required fields x the first 10 items
    assert error.paths[-1] == "required field missing @ $.items[9].total_items"
    message = str(error)
    assert message.startswith(
        "response body does not match the reference "
        "(at least 50 problems; 99,990 more items not checked): "
        "required field missing @ $.items[0].id; "
    )
    assert message.endswith("; and 47 more")


def test_paths_are_capped_and_the_rest_counted() -> None:
    """Past 50 paths, problems are counted in the message but not kept in ``.paths``."""
    # A list where every field wants something else: 17 problems an item.
    bad: dict[str, object] = {name: [] for name in [*MINIMAL_ITEM, *OPTIONAL_FIELDS]}
    error = validation_error({"items": [bad] * 4, "next_page_token": 5})

    assert len(error.paths) == 50
    assert "(69 problems)" in str(error)  # 4 x 17 + the token
    assert str(error).endswith("; and 66 more")


def test_bad_items_after_good_ones_keep_the_good_ones_cheap() -> None:
    """A bad item after many good ones is found; the good ones are not reported."""
    items = [item(id=f"bjb-{n}") for n in range(1000)]
    items.append(item(total_items="x"))

    error = validation_error({"items": items})

    assert error.paths == ("expected an integer @ $.items[1000].total_items",)


# --- properties ---------------------------------------------------------------------------

JSON_SCALARS: st.SearchStrategy[object] = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text()
)
JSON_VALUES: st.SearchStrategy[object] = st.recursive(
    JSON_SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.dictionaries(st.text(max_size=8), children, max_size=5),
    ),
    max_leaves=30,
)
SMALL_JSON_VALUES: st.SearchStrategy[object] = st.recursive(
    JSON_SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=2),
        st.dictionaries(st.text(max_size=3), children, max_size=2),
    ),
    max_leaves=4,
)
FIELD_NAMES = [*MINIMAL_ITEM, *OPTIONAL_FIELDS]
# Nearly valid items: the reference's keys with arbitrary JSON values, so the hooks run.
NEAR_ITEMS: st.SearchStrategy[dict[str, object]] = st.dictionaries(
    st.sampled_from(FIELD_NAMES), SMALL_JSON_VALUES, max_size=6
).map(lambda changes: {**MINIMAL_ITEM, **changes})
NEAR_PAGES: st.SearchStrategy[object] = st.fixed_dictionaries(
    {"items": st.lists(NEAR_ITEMS, max_size=4)},
    optional={"next_page_token": SMALL_JSON_VALUES, "total_size": SMALL_JSON_VALUES},
)


def check_total(payload: object) -> None:
    """``structure_page`` returns a RawPage or raises ResponseValidationError, nothing else."""
    paths: tuple[str, ...] = ()
    try:
        page = structure_page(payload)
    except ResponseValidationError as error:
        paths = error.paths
    else:
        assert isinstance(page, RawPage)
        assert all(type(job) is BatchJob for job in page.items)
        return
    assert paths
    assert all(" @ $" in path or path.startswith("$") for path in paths)


@given(JSON_VALUES)
def test_any_json_value_structures_or_is_refused(payload: object) -> None:
    """Any JSON value gives a RawPage or a ResponseValidationError, never another exception."""
    check_total(payload)


@given(NEAR_PAGES)
def test_near_valid_pages_structure_or_are_refused(payload: object) -> None:
    """Reference-shaped bodies with arbitrary field values never escape as other exceptions."""
    check_total(payload)


TIMESTAMPS = st.datetimes(
    min_value=datetime(1970, 1, 1),  # hypothesis wants naive bounds
    max_value=datetime(2100, 1, 1),
    timezones=st.integers(-23 * 60, 23 * 60).map(lambda m: timezone(timedelta(minutes=m))),
)
COUNTS = st.integers(min_value=0, max_value=2**53)
VALID_JOBS: st.SearchStrategy[dict[str, Any]] = st.fixed_dictionaries(
    {
        "id": st.text(min_size=1),
        "job_type": st.sampled_from([m.value for m in JobType]) | st.text(),
        "project_id": st.text(),
        "status": st.sampled_from([m.value for m in JobStatus]) | st.text(),
        "total_items": COUNTS,
    },
    optional={
        "created_at": TIMESTAMPS.map(datetime.isoformat),
        "updated_at": st.none() | TIMESTAMPS.map(datetime.isoformat),
        "failed_items": st.none() | COUNTS,
        "processed_items": st.none() | COUNTS.map(float),
        "skipped_items": COUNTS,
        "directory_id": st.none() | st.text(),
    },
)


@given(st.lists(VALID_JOBS, max_size=5))
def test_valid_jobs_keep_their_values(jobs: list[dict[str, Any]]) -> None:
    """Structuring valid job dicts preserves id, status, type, counts and instants."""
    page = structure_page({"items": jobs})

    assert len(page.items) == len(jobs)
    for source, job in zip(jobs, page.items, strict=True):
        assert job.id == source["id"]
        assert job.status == source["status"]
        assert str(job.status) == source["status"]
        assert job.job_type == source["job_type"]
        assert job.total_items == source["total_items"]
        for name in ("failed_items", "processed_items", "skipped_items"):
            expected = source.get(name)
            assert getattr(job, name) == (None if expected is None else int(expected))
        for name in ("created_at", "updated_at"):
            text = source.get(name)
            value = getattr(job, name)
            if text is None:
                assert value is None
            else:
                assert value == datetime.fromisoformat(text)
                assert value.tzinfo is not None


@given(st.lists(VALID_JOBS, max_size=5))
def test_fast_path_and_converter_agree(jobs: list[dict[str, Any]]) -> None:
    """Valid jobs structure the same whether or not a sibling sends the page to the converter."""
    # An integral-float count is valid but leaves the fast path for the full converter.
    slow = structure_page({"items": [*jobs, item(total_items=3.0)]})
    fast = structure_page({"items": jobs})

    assert slow.items[:-1] == fast.items
    assert [type(job.status) for job in slow.items[:-1]] == [type(j.status) for j in fast.items]
    assert [type(job.job_type) for job in slow.items[:-1]] == [type(j.job_type) for j in fast.items]


EDGE_TIMESTAMPS = st.datetimes(
    timezones=st.integers(-23 * 60, 23 * 60).map(lambda m: timezone(timedelta(minutes=m)))
).map(datetime.isoformat) | st.sampled_from(
    ["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00", "0001-01-01T04:59:59+05:00"]
)


@given(EDGE_TIMESTAMPS)
def test_fast_path_and_converter_agree_on_any_timestamp(text: str) -> None:
    """Both paths keep a timestamp with a UTC equivalent, and both refuse one without."""
    raw = item(created_at=text, updated_at=text)
    fast = _outcome(lambda: _fast_job(copy.deepcopy(raw)))
    slow = _outcome(lambda: _converter.structure(copy.deepcopy(raw), BatchJob))

    assert fast == slow
    if fast is not None:
        assert isinstance(fast.to_dict()["created_at"], str)  # never OverflowError later


def _outcome(build: Callable[[], BatchJob]) -> BatchJob | None:
    try:
        return build()
    except (ValueError, cattrs.BaseValidationError):
        return None


# Near-valid items in any key order: the reference's keys, some with arbitrary JSON
# values, some dropped, shuffled; the values lean towards what the hot path accepts.
NEAR_VALUES: st.SearchStrategy[object] = (
    SMALL_JSON_VALUES
    | st.sampled_from([m.value for m in JobStatus] + [m.value for m in JobType])
    | st.sampled_from(["2024-01-02T03:04:05Z", "2024-01-02T03:04:05.123456+02:00"])
    | st.sampled_from(["2024-01-02T03:04:05", "0001-01-01T00:00:00+05:00", "2024-13-01"])
    | COUNTS
    | COUNTS.map(float)
)
SHUFFLED_NEAR_ITEMS: st.SearchStrategy[dict[str, object]] = st.tuples(
    st.dictionaries(st.sampled_from(FIELD_NAMES), NEAR_VALUES, max_size=8),
    st.sets(st.sampled_from(FIELD_NAMES), max_size=2),
    st.permutations(FIELD_NAMES),
).map(
    lambda parts: {
        name: value
        for name in parts[2]
        for value in [{**REFERENCE_ITEM, **parts[0]}[name]]
        if name not in parts[1]
    }
)


@given(SHUFFLED_NEAR_ITEMS)
def test_whatever_the_fast_path_accepts_the_converter_accepts_equally(
    raw: dict[str, object],
) -> None:
    """On near-valid items the hot path returns nothing the converter refuses or differs on."""
    try:
        fast = _fast_job(copy.deepcopy(raw))
    except ValueError:
        return
    slow = _converter.structure(copy.deepcopy(raw), BatchJob)

    assert fast == slow
    assert type(fast) is BatchJob
    for name in ("status", "job_type"):
        assert type(getattr(fast, name)) is type(getattr(slow, name))
    for name in TIMESTAMP_FIELDS:
        assert (getattr(fast, name) is None) == (getattr(slow, name) is None)
        if getattr(fast, name) is not None:
            assert getattr(fast, name).tzinfo is not None


@given(SHUFFLED_NEAR_ITEMS)
def test_near_valid_items_in_any_order_structure_or_are_refused(raw: dict[str, object]) -> None:
    """Shuffled, near-valid items give a RawPage or a ResponseValidationError."""
    check_total({"items": [raw]})


def test_a_bug_in_the_hot_path_is_not_blamed_on_the_server(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Only ValueError sends a page to the converter; our own TypeError escapes as is."""

    def broken(_item: object) -> BatchJob:
        raise TypeError("a bug of ours")

    monkeypatch.setattr("llama_batch_async._convert._fast_job", broken)

    with pytest.raises(TypeError, match="a bug of ours"):
        structure_page(REFERENCE_BODY)


def test_equal_timestamps_in_one_record_are_parsed_once() -> None:
    """Equal texts share one datetime; all of a record's timestamps stay aware."""
    job = _fast_job(copy.deepcopy(REFERENCE_ITEM))

    assert job.updated_at is job.effective_at is job.completed_at
    assert job.updated_at == REFERENCE_TIME
    assert job.updated_at.tzinfo is not None


# ---------------------------------------------------------------- a job's status, items, cancel

VALID_ITEMS: st.SearchStrategy[dict[str, Any]] = st.fixed_dictionaries(
    {
        "item_id": st.text(min_size=1),
        "item_name": st.text(),
        "status": st.sampled_from([m.value for m in ItemStatus]) | st.text(),
    },
    optional={
        "job_id": st.none() | st.text(),
        "error_message": st.none() | st.text(),
        "skip_reason": st.none() | st.text(),
        "started_at": st.none() | TIMESTAMPS.map(datetime.isoformat),
        "completed_at": TIMESTAMPS.map(datetime.isoformat),
    },
)
ITEM_FIELDS = ["item_id", "item_name", "status", "job_id", "error_message", "started_at"]
NEAR_BATCH_ITEMS: st.SearchStrategy[dict[str, object]] = st.dictionaries(
    st.sampled_from(ITEM_FIELDS), SMALL_JSON_VALUES, max_size=4
).map(lambda changes: {"item_id": "itm-1", "item_name": "a.pdf", "status": "failed", **changes})


def check_total_with(structure: Callable[[object], object], payload: object) -> None:
    """``structure`` returns a record or raises ResponseValidationError with paths, nothing else."""
    paths: tuple[str, ...] = ("$",)
    try:
        structure(payload)
    except ResponseValidationError as error:
        paths = error.paths
    assert paths
    assert all(" @ $" in path or path.startswith("$") for path in paths)


@given(st.lists(VALID_ITEMS, max_size=5))
def test_valid_items_keep_their_values(items: list[dict[str, Any]]) -> None:
    """Valid item dicts keep ids, names, statuses (newer ones as pseudo-members) and instants."""
    page = structure_item_page({"items": items, "total_size": len(items)})
    assert page.total_size == len(items)
    for source, record in zip(items, page.items, strict=True):
        assert type(record) is BatchItem
        assert record.item_id == record.id == source["item_id"]
        assert record.item_name == source["item_name"]
        assert isinstance(record.status, ItemStatus)
        assert str(record.status) == source["status"]
        assert record.status.is_known == (source["status"] in {m.value for m in ItemStatus})
        started = source.get("started_at")
        assert record.started_at == (None if started is None else datetime.fromisoformat(started))
        assert record.to_dict()["item_id"] == source["item_id"]


@given(JSON_VALUES)
def test_any_json_value_is_an_item_page_or_refused(payload: object) -> None:
    """Any JSON value gives an item page or a ResponseValidationError, never another exception."""
    check_total_with(structure_item_page, payload)


@given(st.lists(NEAR_BATCH_ITEMS, max_size=4))
def test_near_valid_items_structure_or_are_refused(items: list[dict[str, object]]) -> None:
    """Reference-shaped items with arbitrary field values never escape as other exceptions."""
    check_total_with(structure_item_page, {"items": items})


@given(VALID_JOBS, st.floats(0, 100) | st.integers(0, 100))
def test_a_status_job_is_the_job_a_listing_yields(raw: dict[str, Any], progress: float) -> None:
    """Differential: get_job's record (the converter) equals the listing's (the hot path)."""
    status = structure_job_progress({"job": copy.deepcopy(raw), "progress_percentage": progress})
    listed = structure_page({"items": [copy.deepcopy(raw)]}).items[0]
    assert status.job == listed
    assert type(status.job.status) is type(listed.status)
    assert status.progress_percentage == float(progress)
    assert type(status.progress_percentage) is float


@given(JSON_VALUES)
def test_any_json_value_is_a_job_status_or_refused(payload: object) -> None:
    """get_job's body: a JobProgress or a ResponseValidationError, never another exception."""
    check_total_with(structure_job_progress, payload)


@given(JSON_VALUES)
def test_any_json_value_is_a_cancellation_or_refused(payload: object) -> None:
    """cancel_job's body: a JobCancellation or a ResponseValidationError, nothing else."""
    check_total_with(structure_cancellation, payload)


@pytest.mark.parametrize(
    ("payload", "path"),
    [
        pytest.param({"job": REFERENCE_ITEM, "progress_percentage": "50"}, "progress", id="str"),
        pytest.param({"job": REFERENCE_ITEM, "progress_percentage": True}, "progress", id="bool"),
        pytest.param({"job": {}, "progress_percentage": 1}, "$.job.id", id="empty-job"),
        pytest.param({"progress_percentage": 1}, "$.job", id="no-job"),
    ],
)
def test_a_bad_status_body_names_its_path(payload: object, path: str) -> None:
    """A bad status body is refused with the JSON path of what is wrong."""
    with pytest.raises(ResponseValidationError) as info:
        structure_job_progress(payload)
    assert any(path in one for one in info.value.paths)


def test_a_cancellation_keeps_a_newer_status_and_optional_fields() -> None:
    """The cancel record keeps a newer status value; processed_items and message are optional."""
    record = structure_cancellation({"job_id": "bjb-1", "status": "cancelling"})
    assert record == JobCancellation(job_id="bjb-1", status="cancelling")
    assert not record.status.is_known
    assert record.to_dict() == {
        "job_id": "bjb-1",
        "status": "cancelling",
        "processed_items": None,
        "message": None,
    }
