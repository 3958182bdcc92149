"""What the commands write: records, escaping, the stdout wrapper and the writers.

Server text printed for a person goes through `printable` (control characters
as visible escapes); stdout is written through `Output`, which turns a failed
write into `OutputError` (one error line and exit 1). Each format is a writer
with ``write_page`` and ``end``, flushing page by page: `WRITERS` maps the
``--format`` names to them.
"""

from __future__ import annotations

import contextlib
import csv
import enum
import io
import json
import os
import shutil
import sys
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timezone
from typing import Final, Protocol, TextIO

import attrs

from llama_batch_async import BatchJob, JobStatus, JobType

__all__ = [
    "FORMATS",
    "JOB_FIELDS",
    "PIPED_ERROR_WIDTH",
    "WRITERS",
    "FieldTableWriter",
    "Output",
    "OutputError",
    "Stream",
    "TableWriter",
    "Writer",
    "error",
    "isatty",
    "job_to_dict",
    "lenient_stdout",
    "make_writer",
    "printable",
    "say",
    "silence_stdout",
    "stdout",
    "table_floor",
    "table_row",
    "truncate",
    "wire_status",
]

JOB_FIELDS: Final[tuple[str, ...]] = tuple(field.name for field in attrs.fields(BatchJob))
"""The reference's 17 job fields, in reference order: the keys and CSV columns."""

FORMATS: Final = ("table", "json", "jsonl", "csv")

JsonValue = str | int | None


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


def wire_status(job: BatchJob) -> str:
    """The job's status as the server sent it (``"failed"``, or a newer value)."""
    return str(job.to_dict()["status"])


# --------------------------------------------------------------------- escaping


def _escape_table() -> dict[int, str]:
    named = {0x09: "\\t", 0x0A: "\\n", 0x0D: "\\r"}
    table = {code: named.get(code, f"\\x{code:02x}") for code in range(0x20)}
    table.update({code: f"\\x{code:02x}" for code in range(0x7F, 0xA0)})  # DEL and C1
    # Bidi controls and line separators reorder or break what a terminal shows.
    bidi = (0x061C, 0x200E, 0x200F, 0x2028, 0x2029, *range(0x202A, 0x202F), *range(0x2066, 0x206A))
    table.update({code: f"\\u{code:04x}" for code in bidi})
    return table


_ESCAPES: Final = _escape_table()


def printable(text: str) -> str:
    r"""Server text made safe for a terminal: control characters as visible escapes.

    ESC, BEL, CR, a newline, DEL, C1 controls and bidi overrides become ``\x1b``,
    ``\x07``, ``\r``, ``\n``, ... so an id or message cannot move the cursor,
    recolour the screen or forge a row. Everything printed for a person goes
    through it; JSON output is exact JSON (it escapes these itself).
    """
    return text.translate(_ESCAPES)


def error(message: str) -> None:
    """Write ``error: message`` to stderr as one line."""
    # Escaped first, so a newline in server text shows as "\\n" rather than a space.
    say("error: " + " ".join(printable(message).split()))


def say(line: str) -> None:
    """Write one line to stderr, at once, its control characters escaped."""
    sys.stderr.write(printable(line) + "\n")
    sys.stderr.flush()


# --------------------------------------------------------------------- stdout


class OutputError(Exception):
    """stdout cannot take the output (a full disk, a closed descriptor): exit 1."""


class Stream(Protocol):
    """What the writers need of stdout."""

    @property
    def encoding(self) -> str: ...

    def write(self, text: str, /) -> int: ...

    def flush(self) -> None: ...

    def isatty(self) -> bool: ...


def isatty(stream: TextIO | Stream) -> bool:
    """Whether the stream is a terminal; False for a replaced, closed or missing one."""
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


@attrs.define
class Output:
    """stdout for the writers: a write that fails is an `OutputError`, not a traceback.

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
            raise OutputError(_output_failure(exc, self.encoding)) from exc

    def flush(self) -> None:
        try:
            self.stream.flush()
        except BrokenPipeError:
            raise
        except (OSError, ValueError) as exc:
            raise OutputError(_output_failure(exc, self.encoding)) from exc

    def isatty(self) -> bool:
        return isatty(self.stream)


def _output_failure(exc: OSError | ValueError, encoding: str) -> str:
    if isinstance(exc, UnicodeEncodeError):
        return f"cannot write the output: stdout's encoding ({encoding}) cannot show it"
    if isinstance(exc, OSError):
        return f"cannot write the output: {exc.strerror or exc}"
    return f"cannot write the output: {exc}"


def stdout() -> Output:
    """The output stream, or `OutputError` at once if stdout is closed (``>&-``)."""
    if sys.stdout is None:  # Python found no file descriptor 1 at startup
        raise OutputError("cannot write the output: stdout is closed")
    return Output(sys.stdout)


@contextlib.contextmanager
def lenient_stdout() -> Iterator[None]:
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


def silence_stdout() -> None:
    """Point stdout at devnull so the interpreter's last flush cannot fail again."""
    # https://docs.python.org/3/library/signal.html#note-on-sigpipe
    if sys.stdout is None:  # closed from the start: fd 1 may be a socket of ours by now
        return
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


# --------------------------------------------------------------------- writers


class Writer(Protocol):
    """Writes a walk's jobs in one format, page by page, flushing each page."""

    def write_page(self, jobs: Sequence[BatchJob]) -> None: ...

    def end(self) -> None: ...


def _selected(job: BatchJob, fields: Sequence[str] | None) -> dict[str, JsonValue]:
    record = job_to_dict(job)
    return record if fields is None else {name: record[name] for name in fields}


@attrs.define
class _JsonLinesWriter:
    stream: Stream
    fields: Sequence[str] | None = None

    def write_page(self, jobs: Sequence[BatchJob]) -> None:
        for job in jobs:
            self.stream.write(json.dumps(_selected(job, self.fields)) + "\n")
        self.stream.flush()

    def end(self) -> None:
        self.stream.flush()


@attrs.define
class _JsonWriter:
    """One JSON array, one job per line, written as the walk goes."""

    stream: Stream
    fields: Sequence[str] | None = None
    count: int = 0

    def write_page(self, jobs: Sequence[BatchJob]) -> None:
        for job in jobs:
            self.stream.write(
                ("[\n  " if self.count == 0 else ",\n  ") + json.dumps(_selected(job, self.fields))
            )
            self.count += 1
        self.stream.flush()

    def end(self) -> None:
        self.stream.write("[]\n" if self.count == 0 else "\n]\n")
        self.stream.flush()


class _CsvWriter:
    r"""A header row of the field names (all 17, or ``fields``), then a row per job.

    Values are exact, quoted as RFC 4180 says (a newline or CR inside a quoted
    field): CSV is data for a program, so it is not escaped for a terminal.
    Rows end in ``\n``.
    """

    def __init__(self, stream: Stream, fields: Sequence[str] | None = None) -> None:
        self.stream = stream
        self.fields = JOB_FIELDS if fields is None else tuple(fields)
        self.buffer = io.StringIO()
        # With "\r\n" as its terminator the csv module quotes a field holding a
        # lone "\r" too; with "\n" it would not, and a reader would split the row.
        self.writer = csv.writer(self.buffer, lineterminator="\r\n")
        self._write_row(self.fields)

    def _write_row(self, row: Sequence[object]) -> None:
        self.buffer.seek(0)
        self.buffer.truncate()
        self.writer.writerow(row)
        self.stream.write(self.buffer.getvalue()[:-2] + "\n")

    def write_page(self, jobs: Sequence[BatchJob]) -> None:
        for job in jobs:
            record = job_to_dict(job)
            self._write_row(["" if record[name] is None else record[name] for name in self.fields])
        self.stream.flush()

    def end(self) -> None:
        self.stream.flush()


_TABLE_HEADER: Final = ("ID", "TYPE", "STATUS", "PROGRESS", "FAILED", "CREATED (UTC)", "ERROR")
_RIGHT_ALIGNED: Final = frozenset({3, 4})
_MIN_ERROR_WIDTH: Final = 24
PIPED_ERROR_WIDTH: Final = 60


def table_row(job: BatchJob) -> tuple[str, ...]:
    """A job's table cells, escaped: id, type, status, progress, failed, created, error."""
    record = job_to_dict(job)
    processed = "-" if job.processed_items is None else str(job.processed_items)
    failed = "-" if job.failed_items is None else str(job.failed_items)
    created = "-"
    if job.created_at is not None:
        created = job.created_at.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    message = " ".join((job.error_message or "").split())  # one line per job
    return (
        printable(job.id),
        printable(str(record["job_type"])),
        printable(str(record["status"])),
        f"{processed}/{job.total_items}",
        failed,
        created,
        printable(message),
    )


def truncate(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters, ending in ``...`` when cut."""
    return text if len(text) <= width else text[: width - 3] + "..."


def table_floor(job_ids: Sequence[str]) -> tuple[int, ...]:
    """Column widths fit for any job, so rows printed one at a time still line up."""
    return (
        max(len(printable(job_id)) for job_id in job_ids),
        max(len(kind.value) for kind in JobType),
        max(len(status.value) for status in JobStatus),
        len("99999/99999"),
        len("FAILED"),
        len("2026-11-01 10:00:00"),
    )


_ID, _TYPE, _STATUS, _PROGRESS, _FAILED, _CREATED, _ERROR = range(7)
_SHORT_CREATED_HEADER: Final = "CREATED"
_MIN_FIT_ERROR_WIDTH: Final = 12
_EMPTY: Final = "no jobs match"


def _short_created(cell: str) -> str:
    """``2026-11-01 10:00:00`` as ``11-01 10:00``: the table's narrow form of a time."""
    return cell[5:16] if len(cell) == len("2026-11-01 10:00:00") else cell


@attrs.define
class _Layout:
    """The columns a table shows, and how wide: decided once, at its first page.

    On a terminal narrower than the full table, the layout gives up, in this order
    and only as far as needed: the ERROR column's width down to 24, the FAILED
    column, the seconds and year of CREATED, the TYPE column, the CREATED column,
    and finally ERROR's width down to 12. The ids are never cut (they are what a
    reader copies into ``wait``), so a table fits any terminal of 80 columns.
    """

    widths: dict[int, int]
    short_created: bool = False
    error_width: int = PIPED_ERROR_WIDTH

    def fixed(self) -> int:
        """Characters taken by every column but ERROR, with the gaps and a spare last one."""
        return sum(self.widths.values()) + 2 * len(self.widths) + 1

    @classmethod
    def fit(cls, widths: Sequence[int], columns: int | None) -> _Layout:
        layout = cls(dict(enumerate(widths)))
        if columns is None:  # not a terminal: every column, the error cut at 60
            return layout
        steps: tuple[Callable[[], object], ...] = (
            lambda: layout.widths.pop(_FAILED),
            layout._shorten_created,
            lambda: layout.widths.pop(_TYPE),
            lambda: layout.widths.pop(_CREATED),
        )
        for step in steps:
            if columns - layout.fixed() >= _MIN_ERROR_WIDTH:
                break
            step()
        layout.error_width = max(_MIN_FIT_ERROR_WIDTH, columns - layout.fixed())
        return layout

    def _shorten_created(self) -> None:
        self.short_created = True
        self.widths[_CREATED] = len(_short_created("2026-11-01 10:00:00"))

    def line(self, cells: Sequence[str]) -> str:
        parts = []
        for index, width in self.widths.items():
            cell = cells[index]
            if index == _CREATED and self.short_created:
                cell = (
                    _SHORT_CREATED_HEADER
                    if cell == _TABLE_HEADER[_CREATED]
                    else _short_created(cell)
                )
            parts.append(cell.rjust(width) if index in _RIGHT_ALIGNED else cell.ljust(width))
        parts.append(truncate(cells[_ERROR], self.error_width))
        return "  ".join(parts).rstrip() + "\n"


@attrs.define
class TableWriter:
    """Aligned columns for people; the layout comes from the header and the first page.

    On a terminal the table fits its width (`_Layout.fit`); piped, the ERROR
    column is cut at 60 characters. ``floor`` holds minimum widths, for output
    whose first page is one job (``wait`` prints each job as it finishes). Output
    with no jobs says ``empty`` instead of printing a bare header.
    """

    stream: Stream
    layout: _Layout | None = None
    floor: Sequence[int] = ()
    empty: str = _EMPTY
    rows: int = 0

    def write_page(self, jobs: Sequence[BatchJob]) -> None:
        rows = [table_row(job) for job in jobs]
        if self.layout is None:
            if not rows:
                return  # an empty first page: wait for one with jobs, or the end
            widths = [
                max(len(cell) for cell in column)
                for column in zip(*(_TABLE_HEADER[:-1], *(row[:-1] for row in rows)), strict=True)
            ]
            for index, width in enumerate(self.floor[: len(widths)]):
                widths[index] = max(widths[index], width)
            columns = shutil.get_terminal_size().columns if isatty(self.stream) else None
            self.layout = _Layout.fit(widths, columns)
            self.stream.write(self.layout.line(_TABLE_HEADER))
        for row in rows:
            self.stream.write(self.layout.line(row))
        self.rows += len(rows)
        self.stream.flush()

    def end(self) -> None:
        if self.layout is None and self.empty:  # no job arrived
            self.stream.write(self.empty + "\n")
        self.stream.flush()


def _field_cell(job: BatchJob, name: str) -> str:
    """One field of a job as a table cell: ``-`` for None, times as ``2026-11-01 10:00:00``."""
    value = getattr(job, name)
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, enum.Enum):
        value = value.value
    return printable(" ".join(str(value).split()))  # one line per job


_MIN_FIELD_WIDTH: Final = 8


@attrs.define
class FieldTableWriter:
    """``--fields`` as a table: one column per field, in the order given, headed in capitals.

    On a terminal the table fits its width: the last column takes what is left
    (at least 12 characters, cut with ``...``), and while the others are still
    too wide the widest of them, never ``id``, is cut, down to 8 characters.
    Piped, no column is cut but the last, at 60.
    """

    stream: Stream
    fields: Sequence[str]
    widths: list[int] | None = None
    last_width: int = PIPED_ERROR_WIDTH
    rows: int = 0

    def _fit(self, widths: list[int], columns: int | None) -> None:
        if columns is not None:
            # The last column's minimum, the gaps, a spare last character.
            budget = columns - _MIN_FIT_ERROR_WIDTH - 2 * len(widths) - 1
            cuttable = [i for i, name in enumerate(self.fields[:-1]) if name != "id"]
            while sum(widths) > budget and cuttable:
                widest = max(cuttable, key=lambda i: widths[i])
                if widths[widest] <= _MIN_FIELD_WIDTH:
                    break
                widths[widest] -= 1
            self.last_width = max(_MIN_FIT_ERROR_WIDTH, columns - sum(widths) - 2 * len(widths) - 1)
        self.widths = widths

    def _line(self, cells: Sequence[str]) -> str:
        assert self.widths is not None  # noqa: S101 - set by the first page
        parts = [
            truncate(cell, width).ljust(width)
            for cell, width in zip(cells, self.widths, strict=False)
        ]
        last = cells[-1] if self.fields[-1] == "id" else truncate(cells[-1], self.last_width)
        parts.append(last)  # ids are never cut: they are what a reader copies
        return "  ".join(parts).rstrip() + "\n"

    def write_page(self, jobs: Sequence[BatchJob]) -> None:
        rows = [[_field_cell(job, name) for name in self.fields] for job in jobs]
        if self.widths is None:
            if not rows:
                return
            header = [name.upper() for name in self.fields]
            widths = [
                max(len(row[index]) for row in (header, *rows))
                for index in range(len(self.fields) - 1)
            ]
            columns = shutil.get_terminal_size().columns if isatty(self.stream) else None
            self._fit(widths, columns)
            self.stream.write(self._line(header))
        for row in rows:
            self.stream.write(self._line(row))
        self.rows += len(rows)
        self.stream.flush()

    def end(self) -> None:
        if self.widths is None:
            self.stream.write(_EMPTY + "\n")
        self.stream.flush()


def make_writer(name: str, stream: Stream, fields: Sequence[str] | None = None) -> Writer:
    """The writer of format ``name`` on ``stream``, showing only ``fields`` if given.

    Without ``fields`` the table is the standard one (`TableWriter`); with
    them, one column per field (`FieldTableWriter`).
    """
    if fields is None:
        return WRITERS[name](stream)
    if name == "table":
        return FieldTableWriter(stream, fields)
    if name == "csv":
        return _CsvWriter(stream, fields)
    if name == "json":
        return _JsonWriter(stream, fields)
    return _JsonLinesWriter(stream, fields)


WRITERS: Final[dict[str, Callable[[Stream], Writer]]] = {
    "table": TableWriter,
    "json": _JsonWriter,
    "jsonl": _JsonLinesWriter,
    "csv": _CsvWriter,
}
