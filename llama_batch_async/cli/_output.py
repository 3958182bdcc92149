"""What the commands write: records, escaping, the stdout wrapper and the writers.

Server text printed for a person goes through `printable` (control characters
as visible escapes); stdout is written through `Output`, which turns a failed
write into `OutputError` (one error line and exit 1). Each format is a writer
with ``write_page`` and ``end``, flushing page by page: `make_writer` gives the
one a ``--format`` name asks for, for one kind of record (`Records`: v1 jobs,
`_job_output.JOB_RECORDS`, or v2 batches, `_batch_output.BATCH_RECORDS`). JSON,
JSON Lines and CSV are here; the tables, which fit the terminal, are in `_table`
and `_batch_output`. This module imports no other module of the CLI.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import sys
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from typing import Final, Generic, Protocol, TextIO, TypeVar

import attrs

from llama_batch_async import BatchJob

__all__ = [
    "FORMATS",
    "JOB_FIELDS",
    "Output",
    "OutputError",
    "Record",
    "Records",
    "Stream",
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
    "wire_status",
]

R = TypeVar("R")
R_contra = TypeVar("R_contra", contravariant=True)

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


class Record(Protocol):
    """What a command reads of a record besides its formats: a v1 job or a v2 batch."""

    @property
    def id(self) -> str: ...

    @property
    def status(self) -> object: ...

    @property
    def is_terminal(self) -> bool: ...


def wire_status(record: Record) -> str:
    """The status as the server sent it (``"failed"``, ``"FAILED"``, or a newer value).

    A status is an open string enum, whose ``str()`` is the value as sent.
    """
    return str(record.status)


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


class Writer(Protocol[R_contra]):
    """Writes a walk's records in one format, page by page, flushing each page.

    ``end`` closes the output (a JSON array's ``]``). ``complete=False`` says the
    walk failed: a table then says nothing of an empty result ("no jobs match"
    is said only of a walk that completed with nothing).
    """

    def write_page(self, records: Sequence[R_contra], /) -> None: ...

    def end(self, *, complete: bool = True) -> None: ...


TableMaker = Callable[
    [Stream, Sequence[str] | None, Sequence[str] | None, Collection[str]], Writer[R]
]
"""Makes a kind's table writer: ``(stream, fields, ids, constant)``, as `make_writer` says."""


@attrs.frozen
class Records(Generic[R]):
    """One kind of record the commands write, v1 jobs or v2 batches: what each format makes of it.

    Attributes:
        noun: One record, as a message or a key says it (``"job"``; a watch
            event's JSON key).
        nouns: More than one, as a count says it (``"jobs"``).
        to_dict: The wire record: JSON and JSON Lines write it as it is.
        csv_columns: The CSV header.
        csv_row: A record's CSV cells, in the header's order.
        table: Makes the table writer (`TableMaker`).
        flat: The record as ``--fields`` names its fields (the CSV columns'
            names: a batch's ``config.job.type``); None: `to_dict`.
    """

    noun: str
    nouns: str
    to_dict: Callable[[R], Mapping[str, object]]
    csv_columns: tuple[str, ...]
    csv_row: Callable[[R], Sequence[object]]
    table: TableMaker[R]
    flat: Callable[[R], Mapping[str, object]] | None = None

    @property
    def id_name(self) -> str:
        """How the command line names an id of this kind: ``JOB_ID``."""
        return f"{self.noun.upper()}_ID"

    def only(self, fields: Sequence[str]) -> Records[R]:
        """These records cut to ``fields`` (keys of `to_dict`), in that order: ``--fields``."""
        flat = self.flat or self.to_dict

        def to_dict(record: R) -> dict[str, object]:
            whole = flat(record)
            return {name: whole[name] for name in fields}

        def csv_row(record: R) -> list[object]:
            whole = flat(record)
            return ["" if whole[name] is None else whole[name] for name in fields]

        return attrs.evolve(self, to_dict=to_dict, csv_columns=tuple(fields), csv_row=csv_row)


@attrs.define
class _JsonLinesWriter(Generic[R]):
    stream: Stream
    to_dict: Callable[[R], Mapping[str, object]]

    def write_page(self, records: Sequence[R]) -> None:
        for record in records:
            self.stream.write(json.dumps(self.to_dict(record)) + "\n")
        self.stream.flush()

    def end(self, *, complete: bool = True) -> None:
        self.stream.flush()


@attrs.define
class _JsonWriter(Generic[R]):
    """One JSON array, one record per line, written as the walk goes.

    Every write ends a line: a record waits for the next one (or the end) to
    know whether a comma follows it. A status line on the same terminal (stderr)
    then always starts on a line of its own, and cannot overwrite a record.
    """

    stream: Stream
    to_dict: Callable[[R], Mapping[str, object]]
    held: str | None = None

    def write_page(self, records: Sequence[R]) -> None:
        for record in records:
            line = json.dumps(self.to_dict(record))
            self.stream.write("[\n" if self.held is None else f"  {self.held},\n")
            self.held = line
        self.stream.flush()

    def end(self, *, complete: bool = True) -> None:
        self.stream.write("[]\n" if self.held is None else f"  {self.held}\n]\n")
        self.stream.flush()


class _CsvWriter(Generic[R]):
    r"""A header row, then a row per record.

    Values are exact, quoted as RFC 4180 says (a newline or CR inside a quoted
    field): CSV is data for a program, so it is not escaped for a terminal.
    Rows end in ``\n``.
    """

    def __init__(
        self, stream: Stream, columns: Sequence[str], row: Callable[[R], Sequence[object]]
    ) -> None:
        self.stream = stream
        self.row = row
        self.buffer = io.StringIO()
        # With "\r\n" as its terminator the csv module quotes a field holding a
        # lone "\r" too; with "\n" it would not, and a reader would split the row.
        self.writer = csv.writer(self.buffer, lineterminator="\r\n")
        self._write_row(columns)

    def _write_row(self, row: Sequence[object]) -> None:
        self.buffer.seek(0)
        self.buffer.truncate()
        self.writer.writerow(row)
        self.stream.write(self.buffer.getvalue()[:-2] + "\n")

    def write_page(self, records: Sequence[R]) -> None:
        for record in records:
            self._write_row(self.row(record))
        self.stream.flush()

    def end(self, *, complete: bool = True) -> None:
        self.stream.flush()


def make_writer(
    name: str,
    stream: Stream,
    records: Records[R],
    fields: Sequence[str] | None = None,
    *,
    ids: Sequence[str] | None = None,
    constant: Collection[str] = (),
) -> Writer[R]:
    """The writer of format ``name`` on ``stream`` for ``records``.

    Args:
        name: A ``--format`` name (`FORMATS`).
        stream: Where to write.
        records: The kind of record written.
        fields: Only these fields, in this order (``--fields``); a table of
            them has one column each.
        ids: The ids whose records will come one at a time (``wait``): a
            table sizes its columns for any of them, and writes nothing if
            none came.
        constant: Fields the query pins to one value (``--status failed``):
            a table leaves out their column, which would repeat the filter.
    """
    if name == "table":
        return records.table(stream, fields, ids, constant)
    if fields is not None:
        records = records.only(fields)
    if name == "csv":
        return _CsvWriter(stream, records.csv_columns, records.csv_row)
    if name == "json":
        return _JsonWriter(stream, records.to_dict)
    return _JsonLinesWriter(stream, records.to_dict)
