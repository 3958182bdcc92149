"""JSON bytes to records: the package's one cattrs converter and its hooks.

The converter is private and configured in `_make_converter` only. Every hook
does the least it can per field, because a worker structures millions of
records. Hooks raise `_InvalidValueError` with a fixed reason; `structure_page` turns a
cattrs error group into one `ResponseValidationError` whose message lists JSON
paths, never the payload.
"""

from __future__ import annotations

import json
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

_T = TypeVar("_T")
_E = TypeVar("_E", JobStatus, JobType)
_MAX_PATHS_SHOWN = 3


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
    return parsed


def _structure_opt_datetime(value: object, _: object) -> datetime | None:
    if value is None:
        return None
    if type(value) is not str:
        raise _InvalidValueError("expected an ISO 8601 timestamp")
    return _parse_datetime(value)


_STATUSES: dict[object, JobStatus] = {member.value: member for member in JobStatus}
_TYPES: dict[object, JobType] = {member.value: member for member in JobType}


def _fast_job(o: dict[str, Any]) -> BatchJob:
    """Build a record that matches the reference with the fewest calls.

    The good-weather path: anything unexpected raises, and `structure_page` then
    asks the converter, which says precisely what is wrong.
    """
    get = o.get
    job_id, project_id, total = o["id"], o["project_id"], o["total_items"]
    if type(job_id) is not str or type(project_id) is not str or type(total) is not int:
        raise _InvalidValueError("retry on the converter")
    job_type, status = o["job_type"], o["status"]
    return make_job_fast(
        _BatchJobFields(
            job_id,
            _TYPES.get(job_type) or _structure_str(job_type, None),
            project_id,
            _STATUSES.get(status) or _structure_str(status, None),
            total,
            _structure_opt_datetime(get("completed_at"), None),
            _structure_opt_datetime(get("created_at"), None),
            _structure_opt_str(get("directory_id"), None),
            _structure_opt_datetime(get("effective_at"), None),
            _structure_opt_str(get("error_message"), None),
            _structure_opt_int(get("failed_items"), None),
            _structure_opt_str(get("job_record_id"), None),
            _structure_opt_int(get("processed_items"), None),
            _structure_opt_int(get("skipped_items"), None),
            _structure_opt_datetime(get("started_at"), None),
            _structure_opt_datetime(get("updated_at"), None),
            _structure_opt_str(get("workflow_id"), None),
        )
    )


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

    converter.register_structure_hook(BatchJob, structure_job)
    converter.register_structure_hook_func(
        lambda t: t is RawPage,
        cattrs.gen.make_dict_structure_fn(
            RawPage,
            converter,
            total_size=cattrs.gen.override(struct_hook=_structure_total_size),
        ),
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
        return json.loads(body)
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
    try:
        return _converter.structure(payload, RawPage)
    except (cattrs.BaseValidationError, ValueError, TypeError, KeyError) as exc:
        paths = tuple(transform_error(exc, path="$", format_exception=_reason))
        shown = "; ".join(paths[:_MAX_PATHS_SHOWN])
        more = len(paths) - _MAX_PATHS_SHOWN
        suffix = f"; and {more} more" if more > 0 else ""
        problems = "problem" if len(paths) == 1 else "problems"
        raise ResponseValidationError(
            f"response body does not match the reference ({len(paths)} {problems}): "
            f"{shown}{suffix}",
            paths=paths,
        ) from None
