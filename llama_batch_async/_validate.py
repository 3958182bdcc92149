"""Every argument check of the library, and the one wording of its `ValueError`s.

Each message reads ``<name> must be <rule>, got <value>``, named as the caller
typed the parameter, so a program (the CLI) can map the name to its own
spelling without rewording the rest:

    page_size must be an int >= 1, got 1.5
    page_size must be >= 1, got 0          (an int: only the range is at fault)
    timeout must be a finite number of seconds > 0, got inf
    status must be one of pending, running, ..., got 'complete'
    project_id must be a non-empty id string, got '  '

Nothing here does I/O; every check returns the value it accepted, normalised.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from datetime import datetime

__all__ = [
    "check_aware_datetime",
    "check_checkpoint_name",
    "check_choice",
    "check_count",
    "check_flag",
    "check_id",
    "check_ids",
    "check_query_id",
    "check_seconds",
    "must_be",
]


def must_be(name: str, rule: str, value: object) -> ValueError:
    """Build the library's one `ValueError` form: ``<name> must be <rule>, got <value>``.

    Args:
        name: The parameter, as the caller spelled it.
        rule: What a valid value is (``"an int >= 1"``).
        value: What was given; shown with ``repr``.
    """
    return ValueError(f"{name} must be {rule}, got {value!r}")


def check_seconds(
    name: str,
    value: object,
    *,
    allow_zero: bool = False,
    finite: bool = True,
    optional: bool = False,
) -> float:
    """A duration in seconds, as a float.

    Args:
        name: The parameter's name.
        value: An int or float (not a bool, not NaN).
        allow_zero: Accept 0 (the bound is ``>= 0``, else ``> 0``).
        finite: Refuse infinity (aiohttp turns an infinite timeout into a raw
            ``OverflowError`` at the first request).
        optional: Mention in the rule that None is accepted (the caller
            handles None before calling).

    Raises:
        ValueError: Not such a number.
    """
    bound = ">= 0" if allow_zero else "> 0"
    rule = f"{'a finite' if finite else 'a'} number of seconds {bound}"
    if optional:
        rule = f"None or {rule}"
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or math.isnan(value)
        or (finite and math.isinf(value))
        or value < 0
        or (value == 0 and not allow_zero)
    ):
        raise must_be(name, rule, value)
    return float(value)


def check_count(name: str, value: object, *, minimum: int, maximum: int | None = None) -> int:
    """A whole number within bounds (a bool is not one).

    Args:
        name: The parameter's name.
        value: The number given.
        minimum: The smallest valid value.
        maximum: The largest valid value, if any.

    Raises:
        ValueError: Not an int, or out of range; an int out of range is told
            only the range.
    """
    bounds = f"from {minimum} to {maximum}" if maximum is not None else f">= {minimum}"
    if type(value) is not int:
        raise must_be(name, f"an int {bounds}", value)
    if value < minimum or (maximum is not None and value > maximum):
        raise must_be(name, f"an int {bounds}" if maximum is not None else bounds, value)
    return value


def check_choice(name: str, value: object, choices: Iterable[str]) -> str:
    """One of a fixed set of strings.

    Args:
        name: The parameter's name.
        value: The value given.
        choices: Every valid value, in the order the message lists them.

    Raises:
        ValueError: Not one of ``choices``; the message lists them all.
    """
    allowed = tuple(choices)
    if isinstance(value, str) and value in allowed:
        return value
    raise must_be(name, f"one of {', '.join(allowed)}", value)


def check_flag(name: str, value: object) -> bool:
    """True or False, nothing else.

    Raises:
        ValueError: Not a bool.
    """
    if not isinstance(value, bool):
        raise must_be(name, "True or False", value)
    return value


# What an id may not hold: it is sent as one path segment ("/api/v2/batches/<id>") or
# one query value, so no separator ("/", "?", "#"), no escape ("%", which "%2F" would
# turn into a separator), no whitespace or control character (CR, LF, NUL).
_ID_UNSAFE = re.compile(r"[/?#%\\\s\x00-\x1f\x7f]")


def check_id(name: str, value: object) -> str:
    """An id: one non-empty path segment (not ``.`` or ``..``; no ``/ ? # %``, space or control).

    Raises:
        ValueError: Not a string, empty, a dot segment, or holding a character
            that would take a request to another path.
    """
    if not isinstance(value, str) or not value or value in {".", ".."} or _ID_UNSAFE.search(value):
        raise must_be(
            name,
            "a non-empty id string of one path segment (not '.' or '..', without '/', '?', "
            "'#', '%', whitespace or control characters)",
            value,
        )
    return value


def check_query_id(name: str, value: object) -> str:
    """An id sent as a query value (a filter): a string with something besides whitespace.

    Looser than `check_id`: the value is encoded as a query value, not joined into
    the path, and is sent as given.

    Raises:
        ValueError: Not a string, or blank.
    """
    if not isinstance(value, str) or not value.strip():
        raise must_be(name, "a non-empty id string", value)
    return value


def check_ids(name: str, value: object) -> tuple[str, ...]:
    """At least one id, deduplicated in order (a lone string is refused, not split).

    Raises:
        ValueError: Not an iterable of ids, empty, or holding a blank or non-string.
    """
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise must_be(name, "a list (or other iterable) of job id strings", value)
    ids = tuple(dict.fromkeys(check_id(name, item) for item in value))
    if not ids:
        raise must_be(name, "at least one job id", [])
    return ids


def check_aware_datetime(name: str, value: object) -> datetime:
    """A timezone-aware `datetime` (a naive one names no instant: refused).

    Raises:
        ValueError: Not a datetime, or one without a UTC offset.
    """
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise must_be(name, "a timezone-aware datetime (e.g. tzinfo=timezone.utc)", value)
    return value


# One path segment of safe characters: a file name (``<name>.cursor``) and a Redis key part.
_CHECKPOINT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


def check_checkpoint_name(name: str, value: object) -> str:
    """A checkpoint's name: 1-100 letters, digits, ``_``, ``.`` or ``-``, starting with neither.

    The one check the file store, the Redis store and the CLI's ``--checkpoint``
    share: the whole string must match (a trailing newline is not let through),
    so a name is one file name and one key segment, never ``.`` or ``..``.

    Raises:
        ValueError: Any other string, or not a string.
    """
    if not isinstance(value, str) or not _CHECKPOINT_NAME.fullmatch(value):
        raise must_be(
            name, "1-100 letters, digits, '_', '.' or '-', starting with a letter or digit", value
        )
    return value
