"""JSON values to scalars: the converter's hooks for str, int and timestamps.

A leaf of `_convert` (standard library only). Each hook takes a decoded JSON
value and returns the field's value, or raises `_InvalidValueError` with a fixed
reason (never the value); the hot path shares the timestamp parse (`_fromisoformat`,
`_settle`, `_EDGE_YEARS`). `_convert` registers the hooks on the one converter.
"""

from __future__ import annotations

import math
import re
import sys
from datetime import datetime, timezone

__all__ = [
    "_EDGE_YEARS",
    "_InvalidValueError",
    "_fromisoformat",
    "_settle",
    "_structure_int",
    "_structure_opt_datetime",
    "_structure_opt_int",
    "_structure_opt_str",
    "_structure_str",
    "_structure_total_size",
]


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
