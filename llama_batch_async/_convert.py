"""JSON bytes to records: the package's one cattrs converter and its hooks.

The converter is private and configured in `_make_converter` only. Every hook
does the least it can per field, because a worker structures millions of
records. Hooks raise `_InvalidValueError` with a fixed reason; `structure_page` turns a
cattrs error group into one `ResponseValidationError` whose message lists JSON
paths, never the payload.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Any, TypeVar

import attrs
import cattrs
from cattrs.v import transform_error

from ._errors import ResponseValidationError
from ._models import BatchJob, JobStatus, JobType, _BatchJobFields, make_job_fast

__all__ = ["RawPage", "parse_body", "structure_page"]

try:
    # perf: orjson parses a page of 1000 jobs in about half the time of json
    # (docs/benchmarks.md); json stays the fallback where orjson has no wheel.
    from orjson import loads as _loads
except ImportError:  # pragma: no cover - CPython always has orjson wheels
    from json import loads as _loads  # type: ignore[assignment]

_T = TypeVar("_T")
_E = TypeVar("_E", JobStatus, JobType)
_MAX_PATHS_SHOWN = 3
# A bad page is explained only this far: see `_structure_slowly`.
_MAX_BAD_ITEMS = 10
_MAX_PATHS_KEPT = 50


@attrs.frozen(slots=True)
class RawPage:
    """The response envelope: the reference's three top-level keys, structured."""

    items: list[BatchJob]
    next_page_token: str | None = None
    total_size: int | None = None


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


def _structure_opt_int(value: object, _: object) -> int | None:
    return None if value is None else _as_int(value)


def _structure_total_size(value: object, _: object) -> int | None:
    # The reference calls total_size an estimate "for display purposes only": a
    # value we cannot read must not break a walk, so it becomes "unknown".
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return int(value) if math.isfinite(value) else None
    return None


_FRACTION = re.compile(r"\.(\d+)")
_NEEDS_Z_FIX = sys.version_info < (3, 11)
_EDGE_YEARS = frozenset({datetime.min.year, datetime.max.year})


def _parse_datetime(text: str) -> datetime:
    if _NEEDS_Z_FIX and text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        # Older Pythons accept only 3 or 6 fraction digits; servers send 1 to 9.
        fixed = _FRACTION.sub(lambda m: "." + m.group(1)[:6].ljust(6, "0"), text, count=1)
        if fixed.endswith(("Z", "z")):
            fixed = fixed[:-1] + "+00:00"
        try:
            parsed = datetime.fromisoformat(fixed)
        except ValueError:
            raise _InvalidValueError("expected an ISO 8601 timestamp") from None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=timezone.utc)
    if parsed.year in _EDGE_YEARS:
        # 0001-01-01T00:00+05:00 parses, but has no UTC equivalent, so to_dict()
        # and every CLI format would raise OverflowError later: refuse it now.
        try:
            parsed.astimezone(timezone.utc)
        except OverflowError:
            raise _InvalidValueError("timestamp out of range in UTC") from None
    return parsed


def _structure_opt_datetime(value: object, _: object) -> datetime | None:
    if value is None:
        return None
    if type(value) is not str:
        raise _InvalidValueError("expected an ISO 8601 timestamp")
    return _parse_datetime(value)


_STATUSES: dict[object, JobStatus] = {member.value: member for member in JobStatus}
_TYPES: dict[object, JobType] = {member.value: member for member in JobType}
_STR_OR_NONE = frozenset({str, type(None)})
_INT_OR_NONE = frozenset({int, type(None)})

# perf: a record's timestamps often repeat (updated_at, effective_at and
# completed_at are one instant when a job finishes), and parsing is a third of
# the cost of a record. A bounded memo answers repeats with a dict lookup.
_TIMESTAMPS: dict[str, datetime] = {}
_TIMESTAMPS_KEPT = 4096


def _timestamp(text: str) -> datetime:
    parsed = _TIMESTAMPS.get(text)
    if parsed is None:
        if len(_TIMESTAMPS) >= _TIMESTAMPS_KEPT:
            _TIMESTAMPS.clear()
        parsed = _TIMESTAMPS[text] = _parse_datetime(text)
    return parsed


def _fast_job(o: dict[str, Any]) -> BatchJob:
    """Build a record that matches the reference with the fewest calls.

    The good-weather path: checks are inlined, and anything unexpected raises,
    upon which `structure_page` asks the converter, which says precisely what is
    wrong. So it never returns what the converter would refuse.
    """
    get, memo = o.get, _TIMESTAMPS.get
    job_id, project_id, total = o["id"], o["project_id"], o["total_items"]
    raw_type, raw_status = o["job_type"], o["status"]
    directory_id, error_message = get("directory_id"), get("error_message")
    job_record_id, workflow_id = get("job_record_id"), get("workflow_id")
    failed, processed, skipped = get("failed_items"), get("processed_items"), get("skipped_items")
    if not (
        type(job_id) is str
        and type(project_id) is str
        and type(total) is int
        and type(raw_type) is str
        and type(raw_status) is str
        and type(directory_id) in _STR_OR_NONE
        and type(error_message) in _STR_OR_NONE
        and type(job_record_id) in _STR_OR_NONE
        and type(workflow_id) in _STR_OR_NONE
        and type(failed) in _INT_OR_NONE
        and type(processed) in _INT_OR_NONE
        and type(skipped) in _INT_OR_NONE
    ):
        raise _InvalidValueError("left to the converter")
    completed_at, created_at = get("completed_at"), get("created_at")
    effective_at, started_at, updated_at = get("effective_at"), get("started_at"), get("updated_at")
    job = _BatchJobFields(
        job_id,
        _TYPES.get(raw_type, raw_type),
        project_id,
        _STATUSES.get(raw_status, raw_status),
        total,
        None if completed_at is None else (memo(completed_at) or _timestamp(completed_at)),
        None if created_at is None else (memo(created_at) or _timestamp(created_at)),
        directory_id,
        None if effective_at is None else (memo(effective_at) or _timestamp(effective_at)),
        error_message,
        failed,
        job_record_id,
        processed,
        skipped,
        None if started_at is None else (memo(started_at) or _timestamp(started_at)),
        None if updated_at is None else (memo(updated_at) or _timestamp(updated_at)),
        workflow_id,
    )
    return make_job_fast(job)


def _open_enum(enum_cls: type[_E]) -> Callable[[object, object], _E | str]:
    """A hook keeping known values as members and newer ones as plain strings."""
    members: dict[object, _E] = {member.value: member for member in enum_cls}

    def structure(value: object, _: object) -> _E | str:
        member = members.get(value)
        if member is not None:
            return member
        if type(value) is str:
            return value
        raise _InvalidValueError(f"expected a {enum_cls.__name__} string")

    return structure


def _make_converter() -> cattrs.Converter:
    converter = cattrs.Converter(detailed_validation=True, forbid_extra_keys=False)
    converter.register_structure_hook(str, _structure_str)
    converter.register_structure_hook(str | None, _structure_opt_str)
    converter.register_structure_hook(int, _structure_int)
    converter.register_structure_hook(int | None, _structure_opt_int)
    converter.register_structure_hook(datetime | None, _structure_opt_datetime)
    converter.register_structure_hook(JobStatus | str, _open_enum(JobStatus))
    converter.register_structure_hook(JobType | str, _open_enum(JobType))
    build_fields = cattrs.gen.make_dict_structure_fn(_BatchJobFields, converter)

    def structure_job(value: Mapping[str, object], _: object) -> BatchJob:
        return make_job_fast(build_fields(value, _BatchJobFields))

    # A page is structured item by item (`_structure_slowly`), so RawPage has no hook.
    converter.register_structure_hook(BatchJob, structure_job)
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


def structure_page(payload: object) -> RawPage:
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
        # perf: the hot path; it raises on anything unusual, never returns wrong data
        return RawPage(
            items=[_fast_job(item) for item in payload["items"]],
            next_page_token=_structure_opt_str(token, None),
            total_size=_structure_total_size(payload.get("total_size"), None),
        )
    except Exception:  # noqa: BLE001, S110 - the converter below gives the verdict
        pass
    return _structure_slowly(payload["items"], token, payload.get("total_size"))


def _structure_slowly(items: list[object], token: object, total_size: object) -> RawPage:
    """Structure a page the fast path refused, item by item, and report why.

    The converter builds a path for every problem, so a hostile page (100,000
    ``{}`` items: 500,000 paths, 10 s and 680 MB) would block the event loop.
    The work is bounded instead: each item tries the fast path first, the
    converter explains only the items that fail it, and the walk over the page
    stops after `_MAX_BAD_ITEMS` bad ones.
    """
    jobs: list[BatchJob] = []
    paths: list[str] = []
    bad_items = checked = dropped = 0
    for index, item in enumerate(items):
        checked = index + 1
        try:
            jobs.append(_fast_job(item))  # type: ignore[arg-type]
            continue
        except Exception:  # noqa: BLE001, S110 - the converter below gives the verdict
            pass
        try:
            jobs.append(_converter.structure(item, BatchJob))
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
