"""JSON bytes to records: the package's one cattrs converter and its hooks.

The converter is private and configured in `_make_converter` only; it is the
reference for what a record may be. The hot path, `_fast_job`, is generated from
the same field table (`attrs.fields(BatchJob)`) and declines anything unusual
with a `ValueError`, upon which the converter decides; a property test holds the
two equal on valid and near-valid records. Hooks raise `_InvalidValueError`
with a fixed reason (the scalar ones, for str, int and timestamps, come first
below); `structure_page` turns a cattrs error group into one
`ResponseValidationError` whose message lists JSON paths, never the payload.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any, Generic, TypeVar

import attrs
import cattrs
from cattrs.v import transform_error

from ._errors import ResponseValidationError
from ._models import (
    FIELD_NAMES,
    JOB_FIELDS,
    Batch,
    BatchItem,
    BatchJob,
    BatchJobType,
    BatchResult,
    BatchStatus,
    ItemStatus,
    JobBuilder,
    JobCancellation,
    JobProgress,
    JobStatus,
    JobType,
    OpenStrEnum,
)

__all__ = [
    "RawPage",
    "parse_body",
    "structure_batch",
    "structure_batch_page",
    "structure_cancellation",
    "structure_item_page",
    "structure_job",
    "structure_job_progress",
    "structure_listing",
    "structure_page",
]


# The scalar hooks: a decoded JSON value -> the field's value, or `_InvalidValueError`
# with a fixed reason (never the value). The hot path shares the timestamp parse.


class _InvalidValueError(ValueError):
    """A hook's verdict on one value; the message is a fixed reason, never the value."""


def _structure_str(value: object, _: object) -> str:
    if type(value) is str:
        return value
    raise _InvalidValueError("expected a string")


def _structure_opt_str(value: object, _: object) -> str | None:
    if value is None or type(value) is str:
        return value
    raise _InvalidValueError("expected a string or null")


def _as_int(value: object) -> int:
    # bool is an int subclass but never a count; an integral float ("3.0") is a
    # number the reference allows.
    if type(value) is int:
        return value
    if type(value) is float and value.is_integer():
        return int(value)
    raise _InvalidValueError("expected an integer")


def _structure_int(value: object, _: object) -> int:
    return _as_int(value)


def _structure_float(value: object, _: object) -> float:
    # A JSON number, finite (orjson reads neither NaN nor Infinity; json would).
    if type(value) in (int, float) and math.isfinite(value):  # type: ignore[arg-type]
        return float(value)  # type: ignore[arg-type]
    raise _InvalidValueError("expected a number")


def _structure_opt_int(value: object, _: object) -> int | None:
    return None if value is None else _as_int(value)


def _structure_total_size(value: object, _: object) -> int | None:
    # The reference calls total_size an estimate "for display purposes only": a
    # value we cannot read must not break a walk, so it becomes "unknown".
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return int(value) if math.isfinite(value) else None
    return None


_FRACTION = re.compile(r"\.(\d+)")
_EDGE_YEARS = frozenset({datetime.min.year, datetime.max.year})
_UTC = timezone.utc


def _settle(parsed: datetime) -> datetime:
    """Make a parsed timestamp aware (no offset = UTC) and refuse one with no UTC instant."""
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=_UTC)
    if parsed.year in _EDGE_YEARS:
        # 0001-01-01T00:00+05:00 parses, but has no UTC equivalent, so to_dict()
        # and every CLI format would raise OverflowError later: refuse it now.
        try:
            parsed.astimezone(_UTC)
        except OverflowError:
            raise _InvalidValueError("timestamp out of range in UTC") from None
    return parsed


def _fromisoformat_fixed(text: str) -> datetime:
    """`datetime.fromisoformat`, plus what Python 3.10's lacks: ``Z`` and 1-9 fraction digits."""
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        # Older Pythons accept only 3 or 6 fraction digits; servers send 1 to 9.
        fixed = _FRACTION.sub(lambda m: "." + m.group(1)[:6].ljust(6, "0"), text, count=1)
        if fixed.endswith(("Z", "z")):
            fixed = fixed[:-1] + "+00:00"
        try:
            return datetime.fromisoformat(fixed)
        except ValueError:
            raise _InvalidValueError("expected an ISO 8601 timestamp") from None


# perf: docs/benchmarks.md, "datetimes" in the one-page split - on 3.11+ the hot
# path calls the C `fromisoformat` directly (about 0.37 µs per timestamp); the
# Python fix-up wrapper runs only where the C parser needs it (3.10, odd fractions).
_fromisoformat = datetime.fromisoformat if sys.version_info >= (3, 11) else _fromisoformat_fixed


def _parse_datetime(text: str) -> datetime:
    return _settle(_fromisoformat_fixed(text))


def _structure_opt_datetime(value: object, _: object) -> datetime | None:
    if value is None:
        return None
    if type(value) is not str:
        raise _InvalidValueError("expected an ISO 8601 timestamp")
    return _parse_datetime(value)


try:
    # perf: orjson parses a page of 1000 jobs in about half the time of json
    # (docs/benchmarks.md); json stays the fallback where orjson has no wheel.
    from orjson import loads as _loads
except ImportError:  # pragma: no cover - CPython always has orjson wheels
    from json import loads as _loads  # type: ignore[assignment]

_T = TypeVar("_T")
_E = TypeVar("_E", bound=OpenStrEnum)
_Item = TypeVar("_Item", BatchJob, Batch, BatchItem)
_R = TypeVar("_R")
_MAX_PATHS_SHOWN = 3
# A bad page is explained only this far: see `_structure_slowly`.
_MAX_BAD_ITEMS = 10
_MAX_PATHS_KEPT = 50


@attrs.frozen(slots=True)
class RawPage(Generic[_Item]):
    """The response envelope: the reference's three top-level keys, structured."""

    items: list[_Item]
    next_page_token: str | None = None
    total_size: int | None = None


_STATUSES: dict[object, JobStatus] = {member.value: member for member in JobStatus}
_TYPES: dict[object, JobType] = {member.value: member for member in JobType}


class _NotFastError(ValueError):
    """The hot path declines a record; the converter then gives the verdict."""


# How the hot path checks and converts a value of each field type of the record:
# (check on the raw JSON value `{v}`, or None when the type needs a timestamp parse;
# the expression that converts it). A field of any other type fails at import.
_FAST_RULES: dict[object, tuple[str, str]] = {
    str: ("type({v}) is str", "{v}"),
    str | None: ("({v} is None or type({v}) is str)", "{v}"),
    int: ("type({v}) is int", "{v}"),
    int | None: ("({v} is None or type({v}) is int)", "{v}"),
    # A value newer than the library becomes the enum's pseudo-member (`OpenStrEnum`).
    JobType: ("type({v}) is str", "(_TYPES.get({v}) or _JobType({v}))"),
    JobStatus: ("type({v}) is str", "(_STATUSES.get({v}) or _JobStatus({v}))"),
    datetime | None: ("({v} is None or type({v}) is str)", "{v}_"),
}


def _fast_job_source(*, dedupe: bool = True) -> str:
    """The hot path's source, derived from `BatchJob`'s one field table (`JOB_FIELDS`).

    For each field, the rule of its type (`_FAST_RULES`) checks the JSON value;
    the timestamps are parsed after every check passed, a text equal to an
    earlier timestamp of the same record taking that one's value.
    """
    names = [field.name for field in JOB_FIELDS]
    unknown = [field.name for field in JOB_FIELDS if field.type not in _FAST_RULES]
    if unknown:  # pragma: no cover - guards the next field someone adds
        raise TypeError(f"no hot-path rule for BatchJob fields {unknown}")
    rules = [_FAST_RULES[field.type] for field in JOB_FIELDS]
    checks = "\n        and ".join(
        check.format(v=name) for (check, _), name in zip(rules, names, strict=True)
    )
    stamps = [field.name for field in JOB_FIELDS if field.type == datetime | None]
    lines = [
        "def _fast_job(o):",
        "    if type(o) is not dict:",
        "        raise _NotFastError",
        # perf: docs/benchmarks.md, "this client / floor" rows - one unpack when the
        # keys come in the reference's order (as servers send them); else one get each.
        "    if tuple(o) == _ORDER:",
        f"        ({', '.join(names)},) = o.values()",
        "    else:",
        "        get = o.get",
        *(f"        {name} = get({name!r})" for name in names),
        "    if not (",
        f"        {checks}",
        "    ):",
        "        raise _NotFastError",
    ]
    for index, name in enumerate(stamps):
        # perf: docs/benchmarks.md, "datetimes" in the split - equal texts in one
        # record (updated_at, effective_at, completed_at of a finished job) are
        # parsed once; no memo across records (it cost more than it saved).
        lines += [f"    if {name} is None:", f"        {name}_ = None"]
        for earlier in reversed(stamps[:index] if dedupe else []):
            lines += [f"    elif {name} == {earlier}:", f"        {name}_ = {earlier}_"]
        lines += [
            "    else:",
            f"        {name}_ = _fromisoformat({name})",
            f"        if {name}_.tzinfo is None or {name}_.year in _EDGE_YEARS:",
            f"            {name}_ = _settle({name}_)",
        ]
    values = ", ".join(
        convert.format(v=name) for (_, convert), name in zip(rules, names, strict=True)
    )
    # perf: docs/benchmarks.md profile, make_job_fast - the builder called here,
    # not through make_job_fast(*values): one Python call and one tuple fewer.
    lines += [f"    job = JobBuilder({values})", "    job.__class__ = BatchJob", "    return job"]
    return "\n".join(lines) + "\n"


def _compile_fast_job(
    *, parse: Callable[[str], datetime] = _fromisoformat, dedupe: bool = True
) -> Callable[[object], BatchJob]:
    """Compile `_fast_job_source`; the options exist for benchmarks/records.py."""
    namespace: dict[str, Any] = {
        "_NotFastError": _NotFastError,
        "_ORDER": FIELD_NAMES,
        "_TYPES": _TYPES,
        "_STATUSES": _STATUSES,
        "_JobType": JobType,
        "_JobStatus": JobStatus,
        "_fromisoformat": parse,
        "_EDGE_YEARS": _EDGE_YEARS,
        "_settle": _settle,
        "JobBuilder": JobBuilder,
        "BatchJob": BatchJob,
    }
    # A named pseudo-file, so profiles show the generated function as _convert's.
    code = compile(_fast_job_source(dedupe=dedupe), "<llama_batch_async._convert>", "exec")
    exec(code, namespace)  # noqa: S102 - source built from our own field table
    fast_job: Callable[[object], BatchJob] = namespace["_fast_job"]
    fast_job.__doc__ = """Build a record that matches the reference with the fewest calls.

    Generated from the field table by `_fast_job_source`. It raises `ValueError`
    (`_NotFastError`, or a timestamp the parser refuses) on anything unusual, upon
    which the converter says precisely what is wrong; so it never returns what
    the converter would refuse, and any other exception is a bug of ours.
    """
    return fast_job


# perf: docs/benchmarks.md, "this client / floor" rows - the hot path; a cattrs
# converter with detailed_validation=False measured slower (benchmarks/records.py).
_fast_job = _compile_fast_job()


def _open_enum(enum_cls: type[_E]) -> Callable[[object, object], _E]:
    """A hook keeping known values as members and newer ones as pseudo-members."""
    members: dict[object, _E] = {member.value: member for member in enum_cls}

    def structure(value: object, _: object) -> _E:
        member = members.get(value)
        if member is not None:
            return member
        if type(value) is str:
            return enum_cls(value)
        raise _InvalidValueError(f"expected a {enum_cls.__name__} string")

    return structure


def _make_converter() -> cattrs.Converter:
    converter = cattrs.Converter(detailed_validation=True, forbid_extra_keys=False)
    converter.register_structure_hook(str, _structure_str)
    converter.register_structure_hook(str | None, _structure_opt_str)
    converter.register_structure_hook(int, _structure_int)
    converter.register_structure_hook(int | None, _structure_opt_int)
    converter.register_structure_hook(datetime | None, _structure_opt_datetime)
    converter.register_structure_hook(float, _structure_float)
    for enum_cls in (JobStatus, JobType, BatchStatus, BatchJobType, ItemStatus):
        converter.register_structure_hook(enum_cls, _open_enum(enum_cls))
    # v2: results must be a JSON list (cattrs would iterate a string or an object).
    results = tuple[BatchResult, ...] | None

    def structure_results(value: object, _: object) -> tuple[BatchResult, ...] | None:
        if value is None:
            return None
        if type(value) is not list:
            raise _InvalidValueError("expected a list or null")
        return converter.structure(value, tuple[BatchResult, ...])

    converter.register_structure_hook(results, structure_results)
    # The record's own attrs __init__: the converter is the reference, not the hot path.
    # A page is structured item by item (`_structure_slowly`), so RawPage has no hook.
    converter.register_structure_hook(
        BatchJob, cattrs.gen.make_dict_structure_fn(BatchJob, converter)
    )
    return converter


_converter = _make_converter()


def _reason(exc: BaseException, _type: object) -> str:
    if isinstance(exc, KeyError):
        return "required field missing"
    if isinstance(exc, _InvalidValueError):
        return str(exc)
    if isinstance(exc, TypeError | AttributeError):
        return "expected a different JSON type"
    return "invalid value"


def parse_body(body: bytes) -> object:
    """Decode a response body as JSON, or raise `ResponseValidationError`.

    Args:
        body: The raw response body.
    """
    try:
        return _loads(body)
    except (ValueError, UnicodeDecodeError):
        raise ResponseValidationError(
            f"response body is not JSON ({len(body)} bytes)", paths=("$",)
        ) from None


def structure_page(payload: object) -> RawPage[BatchJob]:
    """Structure a decoded response body into a `RawPage`.

    Args:
        payload: The decoded JSON body.

    Raises:
        ResponseValidationError: The body does not match the reference; the
            message lists the first few offending JSON paths and their count.
    """
    if not isinstance(payload, dict):
        raise ResponseValidationError(
            f"response body is a JSON {type(payload).__name__}, expected an object @ $",
            paths=("$",),
        )
    if not isinstance(payload.get("items"), list):
        reason = "required field missing" if "items" not in payload else "expected a list"
        raise ResponseValidationError(
            f"response body does not match the reference: {reason} @ $.items",
            paths=("$.items",),
        )
    token = payload.get("next_page_token")
    try:
        # perf: the hot path; it raises ValueError on anything unusual, never returns
        # wrong data. Any other exception is a bug of ours and is not blamed on the server.
        return RawPage(
            items=[_fast_job(item) for item in payload["items"]],
            next_page_token=_structure_opt_str(token, None),
            total_size=_structure_total_size(payload.get("total_size"), None),
        )
    except ValueError:
        pass  # the converter below gives the verdict
    return _structure_slowly(
        payload["items"], token, payload.get("total_size"), BatchJob, _fast_job
    )


def _envelope_items(payload: object) -> list[object]:
    """The ``items`` list of a page body, or `ResponseValidationError` for anything else."""
    if not isinstance(payload, dict):
        raise ResponseValidationError(
            f"response body is a JSON {type(payload).__name__}, expected an object @ $",
            paths=("$",),
        )
    items = payload.get("items")
    if not isinstance(items, list):
        reason = "required field missing" if "items" not in payload else "expected a list"
        raise ResponseValidationError(
            f"response body does not match the reference: {reason} @ $.items",
            paths=("$.items",),
        )
    return items


def structure_batch_page(payload: object) -> RawPage[Batch]:
    """Structure a decoded v2 list body (``items``, ``next_page_token``) into a `RawPage`.

    Batches are few and nested, so there is no hot path: the converter
    structures each item, and a bad page is explained as boundedly as a v1 one.

    Raises:
        ResponseValidationError: The body does not match the v2 shape.
    """
    items = _envelope_items(payload)
    assert isinstance(payload, dict)  # noqa: S101 - checked by _envelope_items
    return _structure_slowly(
        items, payload.get("next_page_token"), payload.get("total_size"), Batch, None
    )


def structure_batch(payload: object) -> Batch:
    """Structure a decoded ``GET /api/v2/batches/{id}`` body into a `Batch`.

    Raises:
        ResponseValidationError: The body does not match the v2 shape; the
            message lists the first few offending paths from ``$``.
    """
    return _structure_one(payload, Batch)


def structure_listing(payload: object, record: type[_Item]) -> RawPage[_Item]:
    """Structure a decoded listing page of ``record`` s (an endpoint's record class).

    Jobs take the generated hot path (`structure_page`); batches and items,
    fewer and read once, the converter item by item.

    Raises:
        ResponseValidationError: The body does not match the reference.
    """
    if record is BatchJob:
        return structure_page(payload)
    items = _envelope_items(payload)
    assert isinstance(payload, dict)  # noqa: S101 - checked by _envelope_items
    return _structure_slowly(
        items, payload.get("next_page_token"), payload.get("total_size"), record, None
    )


def structure_item_page(payload: object) -> RawPage[BatchItem]:
    """Structure a decoded items body (``GET .../{job_id}/items``) into a `RawPage`.

    The envelope is the job listing's; items are structured by the converter
    (a page of items is small and read once), a bad page explained as boundedly.

    Raises:
        ResponseValidationError: The body does not match the reference.
    """
    items = _envelope_items(payload)
    assert isinstance(payload, dict)  # noqa: S101 - checked by _envelope_items
    return _structure_slowly(
        items, payload.get("next_page_token"), payload.get("total_size"), BatchItem, None
    )


def _structure_one(payload: object, record: type[_R]) -> _R:
    """One record from ``$``, or `ResponseValidationError` listing the first few paths."""
    try:
        return _converter.structure(payload, record)
    except (cattrs.BaseValidationError, ValueError, TypeError, KeyError, AttributeError) as exc:
        found = _paths(exc, "$")
        paths = found[:_MAX_PATHS_KEPT]
        message = _message(paths, len(found) - len(paths), 0)
        raise ResponseValidationError(message, paths=tuple(paths)) from None


def structure_job(payload: object) -> BatchJob:
    """Structure one job record (a create's 201 body) into a `BatchJob`.

    Raises:
        ResponseValidationError: The body does not match the reference.
    """
    return _structure_one(payload, BatchJob)


def structure_job_progress(payload: object) -> JobProgress:
    """Structure ``GET .../{job_id}`` (``{"job": ..., "progress_percentage": ...}``).

    Raises:
        ResponseValidationError: The body does not match the reference; paths
            are from ``$`` (``$.job.status``).
    """
    return _structure_one(payload, JobProgress)


def structure_cancellation(payload: object) -> JobCancellation:
    """Structure ``POST .../{job_id}/cancel``'s body into a `JobCancellation`.

    Raises:
        ResponseValidationError: The body does not match the reference.
    """
    return _structure_one(payload, JobCancellation)


def _structure_slowly(
    items: list[object],
    token: object,
    total_size: object,
    record: type[_Item],
    fast: Callable[[object], _Item] | None,
) -> RawPage[_Item]:
    """Structure a page the fast path refused, item by item, and report why.

    The converter builds a path for every problem, so a hostile page (100,000
    ``{}`` items: 500,000 paths, 10 s and 680 MB) would block the event loop.
    The work is bounded instead: each item tries the fast path first, the
    converter explains only the items that fail it, and the walk over the page
    stops after `_MAX_BAD_ITEMS` bad ones.
    """
    jobs: list[_Item] = []
    paths: list[str] = []
    bad_items = checked = dropped = 0
    for index, item in enumerate(items):
        checked = index + 1
        if fast is not None:
            try:
                jobs.append(fast(item))
                continue
            except ValueError:
                pass  # the converter below gives the verdict
        try:
            jobs.append(_converter.structure(item, record))
            continue
        except (cattrs.BaseValidationError, ValueError, TypeError, KeyError) as exc:
            found = _paths(exc, f"$.items[{index}]")
        kept = found[: max(0, _MAX_PATHS_KEPT - len(paths))]
        paths.extend(kept)
        dropped += len(found) - len(kept)
        bad_items += 1
        if bad_items == _MAX_BAD_ITEMS:
            break
    try:
        next_page_token = _structure_opt_str(token, None)
    except _InvalidValueError as exc:
        next_page_token = None
        if len(paths) < _MAX_PATHS_KEPT:
            paths.append(f"{exc} @ $.next_page_token")
        else:
            dropped += 1
    if not paths:  # valid after all, just unusual (a count sent as 3.0)
        return RawPage(jobs, next_page_token, _structure_total_size(total_size, None))
    message = _message(paths, dropped, len(items) - checked)
    raise ResponseValidationError(message, paths=tuple(paths)) from None


def _paths(exc: Exception, path: str) -> list[str]:
    if isinstance(exc, cattrs.BaseValidationError):
        return list(transform_error(exc, path=path, format_exception=_reason))
    return [f"{_reason(exc, None)} @ {path}"]


def _message(paths: list[str], dropped: int, unchecked: int) -> str:
    """``... (N problems): a; b; c; and N more``, saying what was left uncounted."""
    found = len(paths) + dropped
    problems = "problem" if found == 1 else "problems"
    counted = f"{found:,} {problems}"
    if unchecked:
        counted = f"at least {counted}; {unchecked:,} more items not checked"
    shown = "; ".join(paths[:_MAX_PATHS_SHOWN])
    more = found - min(len(paths), _MAX_PATHS_SHOWN)
    suffix = f"; and {more:,} more" if more > 0 else ""
    return f"response body does not match the reference ({counted}): {shown}{suffix}"
