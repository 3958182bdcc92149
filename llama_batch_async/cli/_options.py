"""Options the commands share, and the argparse types that check them.

Every flag's value is checked by its argparse ``type=`` when the command line
is parsed, and the message names the flag as the user typed it:

- seconds (``--timeout``, ``--poll-interval``, ``--duration``, ...) raise
  `argparse.ArgumentTypeError`, so argparse reports
  ``argument --timeout: must be ...`` with the usage line;
- counts and the base URL (``--page-size``, ``--max-items``, ``--offset``,
  ``--prefetch``, ``--max-retries``, ``--base-url``) raise `FlagError`, which
  argparse lets through and `main` prints as ``error: --page-size must be ...``:
  the wording the library uses for the same rule, with the flag for the name.

What only the library can check (a cursor fits the filters) it refuses with a
`ValueError` naming its parameter; `flag_error` names the flag instead.

A flag with two spellings is declared twice (one action each), so argparse
names the spelling that was typed. What the connection options open, and how
a failed call is reported, is `_connect`.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import math
import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Final

from llama_batch_async import (
    BatchClient,
    JobStatus,
    JobType,
)
from llama_batch_async.settings import (
    API_KEY_ENV,
    BASE_URL_ENV,
    DEFAULT_BASE_URL,
    DEFAULT_MAX_RETRIES,
    DEFAULT_PAGE_SIZE,
    DEFAULT_POLL_INTERVAL,
    DEFAULT_PREFETCH,
    DEFAULT_TIMEOUT,
    MAX_PAGE_SIZE,
    MAX_PREFETCH,
    REDIS_URL_ENV,
)

from ._output import JOB_FIELDS, printable

__all__ = [
    "API_KEY_ENV",
    "BASE_URL_ENV",
    "DEFAULT_PAGE_SIZE",
    "DEFAULT_PREFETCH",
    "DEMO_BATCHES",
    "DEMO_JOBS",
    "DEMO_PROGRESS_SECONDS",
    "DEMO_SEED",
    "JOB_FLAGS",
    "MAX_PREFETCH",
    "MOVING_DEMO_HELP",
    "REDIS_URL_ENV",
    "FlagError",
    "UsageError",
    "add_connection_options",
    "add_filter_arguments",
    "add_poll_interval",
    "count",
    "delay_seconds",
    "fields",
    "flag_error",
    "limit_seconds",
    "logging_to_stderr",
    "poll_interval",
    "seconds",
    "text",
]

DEMO_JOBS: Final = 137
DEMO_SEED: Final = 7
DEMO_BATCHES: Final = 60
"""v2 batches the demo cloud serves beside its jobs (``batches`` commands)."""
DEMO_PROGRESS_SECONDS: Final = 5.0
"""``wait`` and ``watch`` demos: every in-flight demo job settles within this long."""

POLL_INTERVAL: Final = DEFAULT_POLL_INTERVAL
DEMO_POLL_INTERVAL: Final = 1.0

DEMO_HELP: Final = (
    f"run against a fake cloud started in this process ({DEMO_JOBS} jobs, "
    f"seed {DEMO_SEED}): no key, no network"
)
MOVING_DEMO_HELP: Final = (
    f"run against a fake cloud started in this process ({DEMO_JOBS} jobs, seed {DEMO_SEED}) "
    f"whose in-flight jobs run and finish within {DEMO_PROGRESS_SECONDS:g} s: no key, no network"
)


class UsageError(Exception):
    """Bad usage found after parsing: reported as one line, exit 2."""


class FlagError(UsageError):
    """A flag's value is refused: ``error: --flag <why>``, exit 2.

    Raised by the argparse types below; argparse passes it through unchanged
    (it wraps only `ArgumentTypeError`, `TypeError` and `ValueError`).
    """

    def __init__(self, flag: str, why: str) -> None:
        super().__init__(f"{flag} {why}")
        self.flag = flag


JOB_FLAGS: Final = {
    "resume_from": "--resume-from",
    "directory_id": "--directory-id",
    "job_type": "--job-type",
    "project_id": "--project-id",
    "organization_id": "--organization-id",
    "page_size": "--page-size",
    "max_items": "--max-items",
    "job_ids": "JOB_ID",
    "poll_interval": "--poll-interval",
    "timeout": "--timeout",
}
"""The v1 library's parameter names, and the flags that set them (`flag_error`)."""


def flag_error(
    exc: ValueError, flags: Mapping[str, str], *, default: str, hint: str = ""
) -> FlagError:
    """The library's refusal as ``error: --flag <why>``, its parameter names made flags.

    Args:
        exc: The library's `ValueError`; its message starts with the parameter.
        flags: The library's parameter names and the flags that set them.
        default: The flag to name when the message names no known parameter.
        hint: Appended in brackets (what to do about it).
    """
    message = str(exc).split(";")[0]
    flag = default
    for name, typed in flags.items():
        if message.startswith(name):
            flag, message = typed, message.removeprefix(name)
            break
    for name, typed in flags.items():
        if "_" in name:  # a parameter's name; "windows" may be a plain word
            message = message.replace(name, typed)
    why = message.strip() + (f" ({hint})" if hint else "")
    return FlagError(flag, why)


# --------------------------------------------------------------------- types


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.nan


def seconds(text: str) -> float:
    """An argparse type: a finite number of seconds > 0."""
    value = _number(text)
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a number of seconds > 0, got {text!r}")
    return value


def attempt_seconds(text: str) -> float:
    """An argparse type: one attempt's timeout, finite seconds > 0.

    Infinity is refused as the library refuses it (aiohttp cannot time an
    attempt with it); only ``wait --timeout``, the whole wait, takes ``inf``.
    """
    value = _number(text)
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a finite number of seconds > 0, got {text!r}")
    return value


def delay_seconds(text: str) -> float:
    """An argparse type: a finite number of seconds >= 0."""
    value = _number(text)
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a finite number of seconds >= 0, got {text!r}")
    return value


def limit_seconds(text: str) -> float:
    """An argparse type: a number of seconds >= 0 (``inf``: no limit)."""
    value = _number(text)
    if math.isnan(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a number of seconds >= 0, got {text!r}")
    return value


def count(flag: str, *, minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    """An argparse type for ``flag``: a whole number in range, else `FlagError` naming it."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise FlagError(flag, f"must be a whole number, got {text!r}") from None
        if maximum is not None and not minimum <= value <= maximum:
            raise FlagError(flag, f"must be from {minimum} to {maximum}, got {value}")
        if value < minimum:
            raise FlagError(flag, f"must be >= {minimum}, got {value}")
        return value

    parse.__name__ = flag  # argparse shows a type's name in some messages
    return parse


def _page_size(text: str) -> int:
    """``--page-size``: a whole number from 1 to `MAX_PAGE_SIZE` (the API's bound on ``limit``)."""
    value = count("--page-size", minimum=1)(text)
    if value > MAX_PAGE_SIZE:
        raise FlagError("--page-size", f"must be from 1 to {MAX_PAGE_SIZE}, got {value}")
    return value


def text(flag: str) -> Callable[[str], str]:
    """An argparse type for ``flag``: a non-blank string (an id, a key), else `FlagError`."""

    def parse(value: str) -> str:
        if not value.strip():
            raise FlagError(flag, f"must not be blank, got {value!r}")
        return value

    parse.__name__ = flag
    return parse


def fields(text: str, known: Sequence[str] = JOB_FIELDS, noun: str = "job") -> tuple[str, ...]:
    """An argparse type for ``--fields``: a comma list of job field names, repeats dropped."""
    names = tuple(dict.fromkeys(name.strip() for name in text.split(",") if name.strip()))
    unknown = [name for name in names if name not in known]
    if unknown:
        raise FlagError(
            "--fields",
            f"names an unknown {noun} field: {', '.join(map(repr, unknown))}; "
            f"the {noun} fields are {', '.join(known)}",
        )
    if not names:
        raise FlagError(
            "--fields", f"must be a comma list of {noun} fields ({', '.join(known)}), got {text!r}"
        )
    return names


def base_url(text: str) -> str:
    """An argparse type: a base URL the client accepts (https, or http to loopback)."""
    try:
        # The client checks the URL when it is made, before any I/O.
        BatchClient("llama-batch-check", base_url=text)
    except ValueError as exc:
        # Every refusal of the client's starts with its parameter's name.
        raise FlagError("--base-url", str(exc).removeprefix("base_url").lstrip()) from None
    return text


# --------------------------------------------------------------------- options


def add_connection_options(
    parser: argparse.ArgumentParser,
    *,
    request_timeout_flags: tuple[str, ...] = ("--request-timeout", "--timeout"),
    demo_help: str = DEMO_HELP,
) -> None:
    """Options of every command that talks to the API (``list``, ``wait``, ``watch``).

    Args:
        parser: The subcommand's parser.
        request_timeout_flags: The spellings of the per-request timeout, the
            first one shown in the help: ``wait`` keeps ``--timeout`` for the
            whole wait, so it has ``--request-timeout`` only.
        demo_help: What ``--demo`` does for this command.
    """
    group = parser.add_argument_group("connection")
    group.add_argument(
        "--api-key",
        type=text("--api-key"),
        metavar="KEY",
        help=f"the LlamaCloud API key (default: ${API_KEY_ENV}); never printed",
    )
    group.add_argument(
        "--base-url",
        type=base_url,
        metavar="URL",
        help=f"the API base URL (default: ${BASE_URL_ENV}, else {DEFAULT_BASE_URL})",
    )
    for index, flag in enumerate(request_timeout_flags):
        group.add_argument(
            flag,
            dest="request_timeout",
            type=attempt_seconds,
            default=DEFAULT_TIMEOUT,
            metavar="SECONDS",
            # One action per spelling, so a message names the one typed.
            help=(
                f"seconds one attempt of one page request may take (default: {DEFAULT_TIMEOUT:g})"
                if index == 0
                else argparse.SUPPRESS
            ),
        )
    group.add_argument(
        "--max-retries",
        type=count("--max-retries", minimum=0),
        default=DEFAULT_MAX_RETRIES,
        metavar="N",
        help=(
            "retries of each failed page request; 0 disables retrying "
            f"(default: {DEFAULT_MAX_RETRIES})"
        ),
    )
    group.add_argument(
        "--redis-url",
        metavar="URL",
        default=os.environ.get(REDIS_URL_ENV) or None,
        help=(
            "share the 429 pause with every process using this Redis "
            f"(redis://, rediss://, unix://; default: ${REDIS_URL_ENV}); needs the redis extra"
        ),
    )
    group.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="show retries on stderr (-vv: every request too)",
    )
    group.add_argument("--demo", action="store_true", help=demo_help)


def add_filter_arguments(parser: argparse.ArgumentParser) -> None:
    """The listing's filters and page size (``list`` and ``watch``)."""
    filters = parser.add_argument_group("filters")
    filters.add_argument(
        "--status",
        choices=[status.value for status in JobStatus],
        metavar="STATUS",
        help=f"only jobs in this status: {', '.join(status.value for status in JobStatus)}",
    )
    filters.add_argument(
        "--job-type",
        choices=[kind.value for kind in JobType],
        metavar="TYPE",
        help=f"only jobs of this type: {', '.join(kind.value for kind in JobType)}",
    )
    for flag, what in (
        ("--directory-id", "directory"),
        ("--project-id", "project"),
        ("--organization-id", "organization"),
    ):
        filters.add_argument(flag, type=text(flag), metavar="ID", help=f"only jobs of this {what}")
    parser.add_argument(
        "--page-size",
        type=_page_size,
        default=DEFAULT_PAGE_SIZE,
        metavar="N",
        help=f"jobs per request, 1-{MAX_PAGE_SIZE}; the server may cap it "
        f"(default: {DEFAULT_PAGE_SIZE})",
    )


def add_poll_interval(add_argument: Callable[..., object]) -> None:
    """``--poll-interval``, for ``wait`` and ``watch``."""
    add_argument(
        "--poll-interval",
        type=seconds,
        metavar="SECONDS",
        help=(
            f"seconds between polls while jobs change; up to 4x that while nothing does "
            f"(default: {POLL_INTERVAL:g}, with --demo {DEMO_POLL_INTERVAL:g})"
        ),
    )


def poll_interval(args: argparse.Namespace) -> float:
    """The poll interval asked for, else the default (shorter with ``--demo``)."""
    if args.poll_interval is not None:
        return float(args.poll_interval)
    return DEMO_POLL_INTERVAL if args.demo else POLL_INTERVAL


class _PrintableFormatter(logging.Formatter):
    """Log lines quote server text (a reason, a request id): escape it for the terminal."""

    def format(self, record: logging.LogRecord) -> str:
        return printable(super().format(record))


@contextlib.contextmanager
def logging_to_stderr(verbosity: int) -> Iterator[None]:
    """Retries are WARNING log records: shown with -v only, so stderr stays for errors.

    The handler is removed afterwards, so `main` can be called again in one process.
    """
    logger = logging.getLogger("llama_batch_async")
    handler: logging.Handler
    level = logger.level
    if verbosity <= 0:
        # Without a handler, Python's last-resort handler would print warnings.
        handler = logging.NullHandler()
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(_PrintableFormatter("%(levelname)s: %(message)s"))
        logger.setLevel(logging.DEBUG if verbosity > 1 else logging.INFO)
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
