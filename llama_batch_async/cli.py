"""``llama-batch``: list LlamaCloud batch jobs from the shell, or run the fake cloud.

Subcommands:

    llama-batch list [filters] [--format table|json|jsonl|csv] [--demo]
    llama-batch wait JOB_ID... [--timeout S] [--poll-interval S] [--demo]
    llama-batch watch [filters] [--poll-interval S] [--no-initial] [--demo]
    llama-batch serve-fake [--port N] [--jobs N] ...

Server text printed for a person goes through `_printable` (control characters
as visible escapes); stdout is written through `_Output`, which turns a failed
write into one error line and exit 1.

Each subcommand is one `_Command`: a function that declares its arguments and a
function that runs it and returns the exit code. Commands that talk to the API
share one set of connection options (`_add_connection_options`) and one way to
open a client (`_connect`, which also starts the ``--demo`` cloud).

``wait`` runs the library's wait loop (`_watch.poll_until_terminal`, the loop
behind `BatchClient.wait_for_jobs`) over walks it observes, so each job is
printed the moment a walk shows it finished while timeouts, missing ids and
back-off stay the library's. ``watch`` prints `BatchClient.watch_jobs` events.

Exit codes: 0 success (also when the reader of a pipe stops early), 1 the API or
the walk failed (``wait``: a job failed or was cancelled, or an id is not
listed) or stdout cannot take the output, 2 bad usage or a bad value, 124
``wait --timeout`` ran out, 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import io
import json
import logging
import math
import os
import re
import shutil
import sys
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Final, Protocol, TextIO, cast

import attrs

from ._client import BatchClient
from ._errors import AuthenticationError, JobNotFoundError, LlamaBatchError, WaitTimeoutError
from ._models import BatchJob, JobPage, JobStatus, JobType
from ._watch import JobEvent, poll_until_terminal

if TYPE_CHECKING:
    from ._pager import WalkStats

__all__ = ["JOB_FIELDS", "job_to_dict", "main"]

EXIT_OK: Final = 0
EXIT_FAILURE: Final = 1
EXIT_USAGE: Final = 2
EXIT_TIMEOUT: Final = 124
"""``wait --timeout`` ran out: the code of coreutils ``timeout``."""
EXIT_INTERRUPTED: Final = 130

API_KEY_ENV: Final = "LLAMA_CLOUD_API_KEY"
BASE_URL_ENV: Final = "LLAMA_CLOUD_BASE_URL"

JOB_FIELDS: Final[tuple[str, ...]] = tuple(field.name for field in attrs.fields(BatchJob))
"""The reference's 17 job fields, in reference order: the keys and CSV columns."""

FORMATS: Final = ("table", "json", "jsonl", "csv")

DEMO_JOBS: Final = 137
DEMO_SEED: Final = 7
DEMO_PROGRESS_SECONDS: Final = 5.0
"""``wait`` and ``watch`` demos: every in-flight demo job settles within this long."""

POLL_INTERVAL: Final = 5.0
DEMO_POLL_INTERVAL: Final = 1.0
WATCH_FORMATS: Final = ("text", "jsonl")
# The demo cloud runs in this process and checks this key; it is no secret.
_DEMO_KEY: Final = "llama-batch-demo-key"

_NO_KEY: Final = f"no API key: set {API_KEY_ENV} or pass --api-key (or try --demo)"
_KEY_REFUSED: Final = "the API key was refused (HTTP 401)"

# Library messages name Python parameters; the command line names its flags.
_PARAMETER = re.compile(
    r"\b(page_size|max_items|resume_from|directory_id|job_type|project_id|organization_id"
    r"|max_retries|base_url|poll_interval)\b"
)

JsonValue = str | int | None


class _UsageError(Exception):
    """Bad usage found after parsing: reported as one line, exit 2."""


# --------------------------------------------------------------------- records


def job_to_dict(job: BatchJob) -> dict[str, JsonValue]:
    """Turn a job into the reference's record: its 17 field names and wire values.

    Enum fields become the value the server sent (``"parse"``; an unknown value
    stays the string it was), timestamps ISO 8601 in UTC with a ``Z``
    (``2026-11-01T10:00:00.123Z``; microseconds only when present), missing
    values None. Every output format is built from this (`BatchJob.to_dict`).

    Args:
        job: The job to convert.
    """
    return job.to_dict()


# --------------------------------------------------------------------- output


def _escape_table() -> dict[int, str]:
    named = {0x09: "\\t", 0x0A: "\\n", 0x0D: "\\r"}
    table = {code: named.get(code, f"\\x{code:02x}") for code in range(0x20)}
    table.update({code: f"\\x{code:02x}" for code in range(0x7F, 0xA0)})  # DEL and C1
    # Bidi controls and line separators reorder or break what a terminal shows.
    bidi = (0x061C, 0x200E, 0x200F, 0x2028, 0x2029, *range(0x202A, 0x202F), *range(0x2066, 0x206A))
    table.update({code: f"\\u{code:04x}" for code in bidi})
    return table


_ESCAPES: Final = _escape_table()


def _printable(text: str) -> str:
    r"""Server text made safe for a terminal: control characters as visible escapes.

    ESC, BEL, CR, a newline, DEL, C1 controls and bidi overrides become ``\x1b``,
    ``\x07``, ``\r``, ``\n``, ... so an id or message cannot move the cursor,
    recolour the screen or forge a row. Everything printed for a person goes
    through it; JSON output is exact JSON (it escapes these itself).
    """
    return text.translate(_ESCAPES)


class _OutputError(Exception):
    """stdout cannot take the output (a full disk, a closed descriptor): exit 1."""


class _Stream(Protocol):
    """What the writers need of stdout."""

    @property
    def encoding(self) -> str: ...

    def write(self, text: str, /) -> int: ...

    def flush(self) -> None: ...

    def isatty(self) -> bool: ...


@attrs.define
class _Output:
    """stdout for the writers: a write that fails is an `_OutputError`, not a traceback.

    A closed reader (`BrokenPipeError`) passes through: `main` treats it as the
    reader's choice, not a failure.
    """

    stream: TextIO

    @property
    def encoding(self) -> str:
        return getattr(self.stream, "encoding", None) or "utf-8"

    def write(self, text: str, /) -> int:
        try:
            return self.stream.write(text)
        except BrokenPipeError:
            raise
        except (OSError, ValueError) as exc:
            raise _OutputError(_output_failure(exc, self.encoding)) from exc

    def flush(self) -> None:
        try:
            self.stream.flush()
        except BrokenPipeError:
            raise
        except (OSError, ValueError) as exc:
            raise _OutputError(_output_failure(exc, self.encoding)) from exc

    def isatty(self) -> bool:
        return _isatty(self.stream)


def _output_failure(exc: OSError | ValueError, encoding: str) -> str:
    if isinstance(exc, UnicodeEncodeError):
        return f"cannot write the output: stdout's encoding ({encoding}) cannot show it"
    if isinstance(exc, OSError):
        return f"cannot write the output: {exc.strerror or exc}"
    return f"cannot write the output: {exc}"


def _stdout() -> _Output:
    """The output stream, or `_OutputError` at once if stdout is closed (``>&-``)."""
    if sys.stdout is None:  # Python found no file descriptor 1 at startup
        raise _OutputError("cannot write the output: stdout is closed")
    return _Output(sys.stdout)


@contextlib.contextmanager
def _lenient_stdout() -> Iterator[None]:
    r"""Write what stdout's encoding cannot show as ``\u4e2d`` escapes, not an error.

    A cp1252 console and a CJK error message must still give the listing. JSON
    is ASCII and unaffected. The previous setting comes back afterwards, so
    `main` can run again in one process.
    """
    stream = sys.stdout
    if not isinstance(stream, io.TextIOWrapper):
        yield
        return
    errors = stream.errors
    with contextlib.suppress(OSError, ValueError):
        stream.reconfigure(errors="backslashreplace")
    try:
        yield
    finally:
        with contextlib.suppress(OSError, ValueError):
            stream.reconfigure(errors=errors)


class _Writer(Protocol):
    """Writes a walk's jobs in one format, page by page, flushing each page."""

    def write_page(self, jobs: Sequence[BatchJob]) -> None: ...

    def end(self) -> None: ...


@attrs.define
class _JsonLinesWriter:
    stream: _Stream

    def write_page(self, jobs: Sequence[BatchJob]) -> None:
        for job in jobs:
            self.stream.write(json.dumps(job_to_dict(job)) + "\n")
        self.stream.flush()

    def end(self) -> None:
        self.stream.flush()


@attrs.define
class _JsonWriter:
    """One JSON array, one job per line, written as the walk goes."""

    stream: _Stream
    count: int = 0

    def write_page(self, jobs: Sequence[BatchJob]) -> None:
        for job in jobs:
            self.stream.write(
                ("[\n  " if self.count == 0 else ",\n  ") + json.dumps(job_to_dict(job))
            )
            self.count += 1
        self.stream.flush()

    def end(self) -> None:
        self.stream.write("[]\n" if self.count == 0 else "\n]\n")
        self.stream.flush()


class _CsvWriter:
    r"""A header row of the 17 field names, then one row per job; None is empty.

    Values are exact, quoted as RFC 4180 says (a newline or CR inside a quoted
    field): CSV is data for a program, so it is not escaped for a terminal.
    Rows end in ``\n``.
    """

    def __init__(self, stream: _Stream) -> None:
        self.stream = stream
        self.buffer = io.StringIO()
        # With "\r\n" as its terminator the csv module quotes a field holding a
        # lone "\r" too; with "\n" it would not, and a reader would split the row.
        self.writer = csv.writer(self.buffer, lineterminator="\r\n")
        self._write_row(JOB_FIELDS)

    def _write_row(self, row: Sequence[object]) -> None:
        self.buffer.seek(0)
        self.buffer.truncate()
        self.writer.writerow(row)
        self.stream.write(self.buffer.getvalue()[:-2] + "\n")

    def write_page(self, jobs: Sequence[BatchJob]) -> None:
        for job in jobs:
            record = job_to_dict(job)
            self._write_row(["" if record[name] is None else record[name] for name in JOB_FIELDS])
        self.stream.flush()

    def end(self) -> None:
        self.stream.flush()


_TABLE_HEADER: Final = ("ID", "TYPE", "STATUS", "PROGRESS", "FAILED", "CREATED (UTC)", "ERROR")
_RIGHT_ALIGNED: Final = frozenset({3, 4})
_MIN_ERROR_WIDTH: Final = 24
_PIPED_ERROR_WIDTH: Final = 60


def _table_row(job: BatchJob) -> tuple[str, ...]:
    record = job_to_dict(job)
    processed = "-" if job.processed_items is None else str(job.processed_items)
    failed = "-" if job.failed_items is None else str(job.failed_items)
    created = "-"
    if job.created_at is not None:
        created = job.created_at.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    error = " ".join((job.error_message or "").split())  # one line per job
    return (
        _printable(job.id),
        _printable(str(record["job_type"])),
        _printable(str(record["status"])),
        f"{processed}/{job.total_items}",
        failed,
        created,
        _printable(error),
    )


def _truncate(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


@attrs.define
class _TableWriter:
    """Aligned columns; widths come from the header and the first page.

    ``floor`` holds minimum widths, for output whose first page is one job
    (``wait`` prints each job as it finishes).
    """

    stream: _Stream
    widths: list[int] | None = None
    floor: Sequence[int] = ()
    fit: bool = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self.fit = _isatty(self.stream)  # on a terminal, the error column fits its width

    def _line(self, cells: Sequence[str]) -> str:
        assert self.widths is not None  # noqa: S101 - set before the first line
        parts = [
            cell.rjust(width) if index in _RIGHT_ALIGNED else cell.ljust(width)
            for index, (cell, width) in enumerate(zip(cells[:-1], self.widths, strict=True))
        ]
        room = _PIPED_ERROR_WIDTH
        if self.fit:
            columns = shutil.get_terminal_size().columns
            room = max(_MIN_ERROR_WIDTH, columns - sum(self.widths) - 2 * len(self.widths) - 1)
        parts.append(_truncate(cells[-1], room))
        return "  ".join(parts).rstrip() + "\n"

    def write_page(self, jobs: Sequence[BatchJob]) -> None:
        rows = [_table_row(job) for job in jobs]
        if self.widths is None:
            self.widths = [
                max(len(cell) for cell in column)
                for column in zip(*(_TABLE_HEADER[:-1], *(row[:-1] for row in rows)), strict=True)
            ]
            for index, width in enumerate(self.floor[: len(self.widths)]):
                self.widths[index] = max(self.widths[index], width)
            self.stream.write(self._line(_TABLE_HEADER))
        for row in rows:
            self.stream.write(self._line(row))
        self.stream.flush()

    def end(self) -> None:
        if self.widths is None:  # no page arrived: still show what the columns are
            self.write_page(())
        self.stream.flush()


_WRITERS: Final[dict[str, Callable[[_Stream], _Writer]]] = {
    "table": _TableWriter,
    "json": _JsonWriter,
    "jsonl": _JsonLinesWriter,
    "csv": _CsvWriter,
}


@attrs.define
class _Progress:
    """``1200 of ~5000 jobs`` on a terminal's stderr, redrawn in place; else nothing."""

    stream: TextIO
    enabled: bool
    shown: int = 0

    def update(self, stats: WalkStats) -> None:
        if not self.enabled:
            return
        text = f"{stats.items} jobs"
        if stats.total_size is not None:
            text = f"{stats.items} of ~{stats.total_size} jobs"
        self.stream.write("\r" + text.ljust(self.shown))
        self.stream.flush()
        self.shown = len(text)

    def clear(self) -> None:
        if self.enabled and self.shown:
            self.stream.write("\r" + " " * self.shown + "\r")
            self.stream.flush()
            self.shown = 0


def _isatty(stream: TextIO | _Stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a replaced, closed or missing stream
        return False


def _error(message: str) -> None:
    # Escaped first, so a newline in server text shows as "\\n" rather than a space.
    _say("error: " + " ".join(_printable(message).split()))


def _say(line: str) -> None:
    """Write one line to stderr, at once, its control characters escaped."""
    sys.stderr.write(_printable(line) + "\n")
    sys.stderr.flush()


def _flag_names(message: str) -> str:
    return _PARAMETER.sub(lambda match: "--" + match.group(1).replace("_", "-"), message)


# --------------------------------------------------------------------- commands


@attrs.frozen
class _Command:
    """One subcommand: its name, help, arguments and runner."""

    name: str
    help: str
    description: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


def _seconds(text: str) -> float:
    """An argparse type: a finite number of seconds > 0."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a number of seconds > 0, got {text!r}")
    return value


class _AttemptSeconds(argparse.Action):
    """``--timeout`` / ``--request-timeout``: finite seconds > 0, the flag named as typed.

    Infinity is refused as the library refuses it (aiohttp cannot time an attempt
    with it); only ``wait --timeout``, the whole wait, takes ``inf``.
    """

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[object] | None,
        option_string: str | None = None,
    ) -> None:
        text = str(values)
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value <= 0:
            parser.error(
                f"argument {option_string}: must be a finite number of seconds > 0, got {text!r}"
            )
        setattr(namespace, self.dest, value)


def _delay_seconds(text: str) -> float:
    """An argparse type: a finite number of seconds >= 0."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a finite number of seconds >= 0, got {text!r}")
    return value


def _limit_seconds(text: str) -> float:
    """An argparse type: a number of seconds >= 0 (``inf``: no limit)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if math.isnan(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a number of seconds >= 0, got {text!r}")
    return value


def _count(text: str) -> int:
    """An argparse type: an int >= 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {text!r}")
    return value


def _add_connection_options(
    parser: argparse.ArgumentParser,
    *,
    timeout_flags: Sequence[str] = ("--timeout", "--request-timeout"),
    demo_help: str = (
        f"run against a fake cloud started in this process ({DEMO_JOBS} jobs, "
        f"seed {DEMO_SEED}): no key, no network"
    ),
) -> None:
    """Options of every command that talks to the API (``list``, ``wait``, ``watch``).

    Args:
        parser: The subcommand's parser.
        timeout_flags: The flags of the per-request timeout: ``wait`` keeps
            ``--timeout`` for the whole wait, so it has ``--request-timeout`` only.
        demo_help: What ``--demo`` does for this command.
    """
    group = parser.add_argument_group("connection")
    group.add_argument(
        "--api-key",
        metavar="KEY",
        help=f"the LlamaCloud API key (default: ${API_KEY_ENV}); never printed",
    )
    group.add_argument(
        "--base-url",
        metavar="URL",
        help=f"the API base URL (default: ${BASE_URL_ENV}, else https://api.cloud.llamaindex.ai)",
    )
    group.add_argument(
        *timeout_flags,
        dest="request_timeout",
        action=_AttemptSeconds,
        default=60.0,
        metavar="SECONDS",
        help="seconds one attempt of one page request may take (default: 60)",
    )
    group.add_argument(
        "--max-retries",
        type=int,
        default=4,
        metavar="N",
        help="retries of each failed page request; 0 disables retrying (default: 4)",
    )
    group.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="show retries on stderr (-vv: every request too)",
    )
    group.add_argument("--demo", action="store_true", help=demo_help)


_MOVING_DEMO_HELP: Final = (
    f"run against a fake cloud started in this process ({DEMO_JOBS} jobs, seed {DEMO_SEED}) "
    f"whose in-flight jobs run and finish within {DEMO_PROGRESS_SECONDS:g} s: no key, no network"
)


def _add_filter_arguments(parser: argparse.ArgumentParser) -> None:
    """The listing's filters and page size (``list`` and ``watch``)."""
    filters = parser.add_argument_group("filters")
    filters.add_argument(
        "--status", choices=[status.value for status in JobStatus], help="only jobs in this status"
    )
    filters.add_argument(
        "--job-type", choices=[kind.value for kind in JobType], help="only jobs of this type"
    )
    filters.add_argument("--directory-id", metavar="ID", help="only jobs of this directory")
    filters.add_argument("--project-id", metavar="ID", help="only jobs of this project")
    filters.add_argument("--organization-id", metavar="ID", help="only jobs of this organization")
    parser.add_argument(
        "--page-size",
        type=int,
        default=100,
        metavar="N",
        help="jobs per request; the server may cap it (default: 100)",
    )


def _add_poll_interval(add_argument: Callable[..., object]) -> None:
    add_argument(
        "--poll-interval",
        type=_seconds,
        metavar="SECONDS",
        help=(
            f"seconds between polls while jobs change; up to 4x that while nothing does "
            f"(default: {POLL_INTERVAL:g}, with --demo {DEMO_POLL_INTERVAL:g})"
        ),
    )


def _poll_interval(args: argparse.Namespace) -> float:
    if args.poll_interval is not None:
        return float(args.poll_interval)
    return DEMO_POLL_INTERVAL if args.demo else POLL_INTERVAL


def _add_list_arguments(parser: argparse.ArgumentParser) -> None:
    _add_filter_arguments(parser)
    walk = parser.add_argument_group("walk")
    walk.add_argument(
        "--max-items", type=int, metavar="N", help="stop after N jobs (default: every job)"
    )
    walk.add_argument(
        "--offset", type=int, default=0, metavar="N", help="skip the first N jobs (default: 0)"
    )
    walk.add_argument(
        "--resume-from",
        metavar="CURSOR",
        help="continue a walk that failed, from the cursor its error printed (same filters)",
    )
    walk.add_argument(
        "--prefetch",
        type=int,
        default=None,
        metavar="N",
        help="page requests to keep in flight ahead of the output, 0-32 (default: 8)",
    )
    parser.add_argument(
        "--format",
        choices=FORMATS,
        help="output format (default: table on a terminal, else jsonl)",
    )
    _add_connection_options(parser)


def _credentials(args: argparse.Namespace) -> tuple[str, str | None]:
    """The API key and base URL from the flags, else the environment."""
    key: str | None = args.api_key or os.environ.get(API_KEY_ENV) or None
    if key is None:
        raise _UsageError(_NO_KEY)
    base_url: str | None = args.base_url
    return key, base_url


@contextlib.asynccontextmanager
async def _connect(args: argparse.Namespace, *, moving: bool = False) -> AsyncIterator[BatchClient]:
    """Open the client the connection options describe; with ``--demo``, start its cloud.

    Args:
        args: The parsed connection options.
        moving: Let the demo cloud move its in-flight jobs along to a final
            status within `DEMO_PROGRESS_SECONDS` (``wait`` and ``watch``).
    """
    if args.demo and (args.api_key or args.base_url):
        raise _UsageError("--demo serves its own jobs: drop --api-key and --base-url")
    key: str
    base_url: str | None
    async with contextlib.AsyncExitStack() as stack:
        if args.demo:
            from .testing import FakeLlamaCloud  # noqa: PLC0415 - only the demo needs the server

            cloud = FakeLlamaCloud(
                DEMO_JOBS,
                seed=DEMO_SEED,
                api_key=_DEMO_KEY,
                progress=moving,
                progress_seconds=DEMO_PROGRESS_SECONDS,
            )
            await stack.enter_async_context(cloud)
            key, base_url = _DEMO_KEY, cloud.url
        else:
            key, base_url = _credentials(args)
        client = BatchClient(
            key, base_url=base_url, timeout=args.request_timeout, max_retries=args.max_retries
        )
        stack.push_async_callback(client.aclose)
        yield client


def _api_error(exc: LlamaBatchError) -> None:
    _error(_KEY_REFUSED if isinstance(exc, AuthenticationError) else str(exc))


async def _list(args: argparse.Namespace) -> int:
    out = _stdout()
    output_format: str = args.format or ("table" if _isatty(out) else "jsonl")
    async with _connect(args) as client:
        pager = client.list_jobs(
            status=args.status,
            job_type=args.job_type,
            directory_id=args.directory_id,
            project_id=args.project_id,
            organization_id=args.organization_id,
            page_size=args.page_size,
            max_items=args.max_items,
            offset=args.offset,
            resume_from=args.resume_from,
            # None: the library's default, so the CLI never disagrees with it
            **({} if args.prefetch is None else {"prefetch": args.prefetch}),
        )
        writer = _WRITERS[output_format](out)
        progress = _Progress(sys.stderr, enabled=_isatty(sys.stderr))
        try:
            async for page in pager.pages():
                progress.clear()
                writer.write_page(page.items)
                progress.update(pager.stats)
        except LlamaBatchError as exc:
            # What was listed stays listed: close the output, then say where to resume.
            progress.clear()
            writer.end()
            _api_error(exc)
            if exc.cursor:
                _say(f"resume with: --resume-from {exc.cursor}")
            return EXIT_FAILURE
        finally:
            progress.clear()  # also on Ctrl-C: leave no half line behind
        writer.end()
    return EXIT_OK


class _PrintableFormatter(logging.Formatter):
    """Log lines quote server text (a reason, a request id): escape it for the terminal."""

    def format(self, record: logging.LogRecord) -> str:
        return _printable(super().format(record))


@contextlib.contextmanager
def _logging_to_stderr(verbosity: int) -> Iterator[None]:
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


def _run_list(args: argparse.Namespace) -> int:
    with _logging_to_stderr(args.verbose):
        return asyncio.run(_list(args))


# --------------------------------------------------------------------- wait


def _add_wait_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "job_ids",
        nargs="*",
        metavar="JOB_ID",
        help="the jobs to wait for (with --demo and none given: every unfinished demo job)",
    )
    filters = parser.add_argument_group("filters (fewer pages per poll)")
    filters.add_argument("--project-id", metavar="ID", help="the jobs' project")
    filters.add_argument("--directory-id", metavar="ID", help="the jobs' directory")
    polling = parser.add_argument_group("polling")
    _add_poll_interval(polling.add_argument)
    polling.add_argument(
        "--timeout",
        type=_limit_seconds,
        metavar="SECONDS",
        help="give up after this many seconds, exit 124 (default: wait as long as it takes)",
    )
    parser.add_argument(
        "--format",
        choices=FORMATS,
        help="output format of the finished jobs (default: table on a terminal, else jsonl)",
    )
    _add_connection_options(
        parser, timeout_flags=("--request-timeout",), demo_help=_MOVING_DEMO_HELP
    )


_Walk = Callable[[], AsyncGenerator[JobPage, None]]
"""Starts one walk: `JobPager.pages`, or a walk wrapped around it."""


@attrs.define
class _Finishing:
    """Prints each awaited job once, the first time a walk shows it finished."""

    writer: _Writer
    unprinted: set[str]
    printed: dict[str, BatchJob] = attrs.field(factory=dict)

    def see(self, job: BatchJob) -> None:
        if job.id in self.unprinted and job.is_terminal:
            self.unprinted.discard(job.id)
            self.printed[job.id] = job
            self.writer.write_page((job,))

    def observe(self, pages: _Walk) -> _Walk:
        """The walk `poll_until_terminal` makes, with every job shown to `see` on the way."""

        async def walk() -> AsyncGenerator[JobPage, None]:
            async with contextlib.aclosing(pages()) as inner:
                async for page in inner:
                    for job in page.items:
                        self.see(job)
                    yield page

        return walk


def _wait_table_floor(job_ids: Sequence[str]) -> tuple[int, ...]:
    """Column widths fit for any job, so rows printed one at a time still line up."""
    return (
        max(len(_printable(job_id)) for job_id in job_ids),
        max(len(kind.value) for kind in JobType),
        max(len(status.value) for status in JobStatus),
        len("99999/99999"),
        len("FAILED"),
        len("2026-11-01 10:00:00"),
    )


def _wire_status(job: BatchJob) -> str:
    return str(job.to_dict()["status"])


async def _wait(args: argparse.Namespace) -> int:
    job_ids = tuple(dict.fromkeys(args.job_ids))
    if not job_ids and not args.demo:
        raise _UsageError("name at least one JOB_ID to wait for (or try --demo)")
    if any(not job_id.strip() for job_id in job_ids):
        raise _UsageError("a JOB_ID is empty")
    timeout: float | None = args.timeout
    if timeout is not None and math.isinf(timeout):
        timeout = None
    interval = _poll_interval(args)
    out = _stdout()
    output_format: str = args.format or ("table" if _isatty(out) else "jsonl")
    async with _connect(args, moving=True) as client:
        if not job_ids:  # --demo: wait for what the demo cloud has in flight
            listed = client.list_jobs(project_id=args.project_id, directory_id=args.directory_id)
            job_ids = tuple([job.id async for job in listed if not job.is_terminal])
            if not job_ids:
                return EXIT_OK
        writer = _WRITERS[output_format](out)
        if isinstance(writer, _TableWriter):
            writer.floor = _wait_table_floor(job_ids)
        finishing = _Finishing(writer, set(job_ids))
        pager = client.list_jobs(project_id=args.project_id, directory_id=args.directory_id)
        try:
            # spec: issue 7 - print as each job finishes, so run the loop behind
            # wait_for_jobs over observed walks rather than waiting for its result.
            final = await poll_until_terminal(
                finishing.observe(pager.pages),
                job_ids,
                poll_interval=interval,
                timeout=timeout,
            )
        except WaitTimeoutError as exc:
            writer.end()
            # A walk the deadline cut short may have shown (and printed) the last jobs.
            pending = [job_id for job_id in exc.pending if job_id in finishing.unprinted]
            if pending:
                _error(
                    f"timed out after {exc.timeout:g} s; {len(pending)} of {len(job_ids)} "
                    f"jobs unfinished: {' '.join(pending)}"
                )
                return EXIT_TIMEOUT
            final = {job_id: finishing.printed[job_id] for job_id in job_ids}
        except JobNotFoundError as exc:
            writer.end()
            filters = " and the --project-id / --directory-id filters"
            _error(
                f"{len(exc.missing)} of {len(job_ids)} jobs not found in the listing: "
                f"{' '.join(exc.missing)} (check the ids"
                f"{filters if args.project_id or args.directory_id else ''})"
            )
            return EXIT_FAILURE
        except LlamaBatchError as exc:
            writer.end()
            _api_error(exc)
            return EXIT_FAILURE
        else:
            writer.end()
    unsuccessful = [job for job in final.values() if job.status != JobStatus.COMPLETED]
    if unsuccessful:
        _error(
            f"{len(unsuccessful)} of {len(final)} jobs did not complete: "
            + ", ".join(f"{job.id} {_wire_status(job)}" for job in unsuccessful)
        )
        return EXIT_FAILURE
    return EXIT_OK


def _run_wait(args: argparse.Namespace) -> int:
    with _logging_to_stderr(args.verbose):
        return asyncio.run(_wait(args))


# --------------------------------------------------------------------- watch


def _add_watch_arguments(parser: argparse.ArgumentParser) -> None:
    _add_filter_arguments(parser)
    polling = parser.add_argument_group("polling")
    _add_poll_interval(polling.add_argument)
    polling.add_argument(
        "--no-initial",
        action="store_true",
        help="report only changes after the first poll, not the jobs already there",
    )
    stop = parser.add_argument_group("stopping (default: run until Ctrl-C)")
    stop.add_argument(
        "--max-events", type=_count, metavar="N", help="exit 0 after printing N events"
    )
    stop.add_argument(
        "--duration", type=_seconds, metavar="SECONDS", help="exit 0 after this many seconds"
    )
    parser.add_argument(
        "--format",
        choices=WATCH_FORMATS,
        help="output format (default: text on a terminal, else jsonl)",
    )
    _add_connection_options(
        parser, timeout_flags=("--request-timeout",), demo_help=_MOVING_DEMO_HELP
    )


def _utc_stamp(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _event_record(event: JobEvent, moment: datetime) -> dict[str, object]:
    """An event as one JSON object: what happened, when it was seen, and the job."""
    return {
        "event": event.kind,
        "at": _utc_stamp(moment),
        "previous_status": None if event.previous is None else _wire_status(event.previous),
        "job": event.job.to_dict(),
    }


def _arrow(stream: _Stream) -> str:
    try:
        "→".encode(stream.encoding or "ascii")
    except (LookupError, UnicodeEncodeError):
        return "->"
    return "→"


def _event_line(event: JobEvent, moment: datetime, arrow: str = "→") -> str:
    """An event as one line for people: ``12:00:01 changed  bjb-... running → completed 40/40``."""
    job_id, kind, status, progress, failed, _, error = _table_row(event.job)
    if event.previous is not None and _printable(_wire_status(event.previous)) != status:
        status = f"{_printable(_wire_status(event.previous))} {arrow} {status}"
    parts = [moment.strftime("%H:%M:%S"), f"{event.kind:<7}", job_id, f"{kind:<8}", status]
    parts.append(progress)
    if failed not in {"-", "0"}:
        parts.append(f"({failed} failed)")
    if error:
        parts.append(_truncate(error, _PIPED_ERROR_WIDTH))
    return " ".join(parts)


@attrs.define
class _EventPrinter:
    """Writes each event at once, as JSON Lines or as a line of text."""

    stream: _Stream
    text: bool
    arrow: str = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self.arrow = _arrow(self.stream)

    def write(self, event: JobEvent) -> None:
        moment = datetime.now().astimezone()
        if self.text:
            line = _event_line(event, moment, self.arrow)
        else:
            line = json.dumps(_event_record(event, moment))
        self.stream.write(line + "\n")
        self.stream.flush()


async def _print_events(
    events: AsyncGenerator[JobEvent, None], printer: _EventPrinter, max_events: int | None
) -> None:
    printed = 0
    async with contextlib.aclosing(events):
        async for event in events:
            printer.write(event)
            printed += 1
            if printed == max_events:
                return


async def _watch_events(args: argparse.Namespace) -> int:
    out = _stdout()
    output_format: str = args.format or ("text" if _isatty(out) else "jsonl")
    printer = _EventPrinter(out, text=output_format == "text")
    async with _connect(args, moving=True) as client:
        events = client.watch_jobs(
            directory_id=args.directory_id,
            job_type=args.job_type,
            status=args.status,
            project_id=args.project_id,
            organization_id=args.organization_id,
            page_size=args.page_size,
            poll_interval=_poll_interval(args),
            initial=not args.no_initial,
        )
        try:
            await asyncio.wait_for(_print_events(events, printer, args.max_events), args.duration)
        except LlamaBatchError as exc:  # before TimeoutError: APITimeoutError may be both
            _api_error(exc)
            return EXIT_FAILURE
        except asyncio.TimeoutError:
            pass  # --duration is over: the watch was asked to stop, not a failure
    return EXIT_OK


def _run_watch(args: argparse.Namespace) -> int:
    with _logging_to_stderr(args.verbose):
        return asyncio.run(_watch_events(args))


def _add_serve_fake_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--host", default="127.0.0.1", help="the address to listen on (default: 127.0.0.1)"
    )
    parser.add_argument(
        "--port", type=int, default=0, help="the port to listen on; 0 picks a free one (default: 0)"
    )
    parser.add_argument(
        "--jobs", type=int, default=250, metavar="N", help="synthetic jobs to serve (default: 250)"
    )
    parser.add_argument(
        "--seed", type=int, default=0, metavar="N", help="seed of the synthetic jobs (default: 0)"
    )
    parser.add_argument(
        "--page-tokens", action="store_true", help="send next_page_token while more jobs remain"
    )
    parser.add_argument(
        "--no-total-size", action="store_true", help="leave total_size out of responses"
    )
    parser.add_argument(
        "--max-limit", type=int, metavar="N", help="silently cap each page at N jobs"
    )
    parser.add_argument(
        "--latency",
        type=_delay_seconds,
        default=0.0,
        metavar="SECONDS",
        help="delay before every response (default: 0)",
    )
    parser.add_argument(
        "--require-key",
        metavar="KEY",
        help="answer 401 unless requests carry this bearer key (default: any key)",
    )
    parser.add_argument(
        "--progress",
        action="store_true",
        help="move pending and running jobs along to completion over a few seconds",
    )


def _run_serve_fake(args: argparse.Namespace) -> int:
    from .testing import run_fake_server  # noqa: PLC0415 - aiohttp.web only when serving

    # The URL line goes through _Output too: a closed or full stdout is an output
    # error, not "cannot serve". run_fake_server only writes and flushes it.
    out = cast("TextIO", _stdout())
    try:
        # Prints the URL on one line, flushed, then serves until SIGINT or SIGTERM.
        run_fake_server(
            args.host,
            args.port,
            args.jobs,
            seed=args.seed,
            api_key=args.require_key,
            page_tokens=args.page_tokens,
            total_size=not args.no_total_size,
            max_limit=args.max_limit,
            latency=args.latency,
            progress=args.progress,
            stream=out,
        )
    except BrokenPipeError:
        raise
    except OSError as exc:
        _error(f"cannot serve on {args.host}:{args.port}: {exc.strerror or exc}")
        return EXIT_FAILURE
    return EXIT_OK


COMMANDS: Final[tuple[_Command, ...]] = (
    _Command(
        name="list",
        help="list batch jobs",
        description=(
            "List batch jobs, page by page, as a table, JSON, JSON Lines or CSV. "
            "Output is written as the walk goes; if it fails part-way, what was "
            "listed stays, and stderr says how to resume."
        ),
        add_arguments=_add_list_arguments,
        run=_run_list,
    ),
    _Command(
        name="wait",
        help="wait for jobs to finish, printing each as it does",
        description=(
            "Poll the listing until every JOB_ID is completed, failed or cancelled, "
            "printing each job the moment it finishes. Exit 0 if all completed, 1 if "
            "any failed or was cancelled (or an id is not listed), 124 on --timeout."
        ),
        add_arguments=_add_wait_arguments,
        run=_run_wait,
    ),
    _Command(
        name="watch",
        help="print jobs as they are added, change or leave the listing",
        description=(
            "Poll the listing and print one line per change: added, changed (with "
            "the previous status) or removed. Runs until Ctrl-C, --max-events or "
            "--duration."
        ),
        add_arguments=_add_watch_arguments,
        run=_run_watch,
    ),
    _Command(
        name="serve-fake",
        help="run a fake LlamaCloud on this machine until Ctrl-C",
        description=(
            "Serve the batch-processing list endpoint with synthetic jobs. The base "
            "URL is printed on the first line of stdout; point --base-url at it."
        ),
        add_arguments=_add_serve_fake_arguments,
        run=_run_serve_fake,
    ),
)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version  # noqa: PLC0415 - on demand

    try:
        return version("llama-batch-async")
    except PackageNotFoundError:  # pragma: no cover - running from an uninstalled tree
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    """Build the ``llama-batch`` argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="llama-batch",
        description=(
            "List LlamaCloud batch jobs, wait for them to finish or watch them change, "
            "or run a fake LlamaCloud to try it on."
        ),
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in COMMANDS:
        sub = subparsers.add_parser(
            command.name, help=command.help, description=command.description
        )
        command.add_arguments(sub)
        sub.set_defaults(run=command.run)
    return parser


def _exit_code(exc: SystemExit) -> int:
    if exc.code is None:
        return EXIT_OK
    if isinstance(exc.code, int):
        return exc.code
    _say(str(exc.code))
    return EXIT_USAGE


def _silence_stdout() -> None:
    """Point stdout at devnull so the interpreter's last flush cannot fail again."""
    # https://docs.python.org/3/library/signal.html#note-on-sigpipe
    if sys.stdout is None:  # closed from the start: fd 1 may be a socket of ours by now
        return
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``llama-batch`` and return its exit code.

    Args:
        argv: The arguments after the program name; default ``sys.argv[1:]``.

    Returns:
        0 on success (also when a pipe's reader stops early), 1 when the API or
        the walk failed or stdout cannot take the output, 2 on bad usage or a
        bad value, 130 on Ctrl-C.
    """
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # argparse: --help, or a usage error already printed
        return _exit_code(exc)
    return _run(args)


def _run(args: argparse.Namespace) -> int:
    """Run the parsed command; every failure it reports becomes its exit code."""
    run: Callable[[argparse.Namespace], int] = args.run
    try:
        with _lenient_stdout():
            return run(args)
    except _OutputError as exc:
        # A full disk, a closed stdout: one line, not a traceback, and no second
        # failure when the interpreter flushes stdout on the way out.
        _error(str(exc))
        _silence_stdout()
        return EXIT_FAILURE
    except _UsageError as exc:
        _error(str(exc))
        return EXIT_USAGE
    except ValueError as exc:  # the library refused an argument before sending anything
        _error(_flag_names(str(exc)))
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader stopped (`llama-batch list | head -1`): that is its choice, not a failure.
        _silence_stdout()
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
