"""What the ``batches`` commands write: v2 batch records in the four formats.

The same formats as the v1 commands (`_output`): JSON and JSON Lines carry the
wire record exactly (`Batch.to_dict`); CSV flattens ``config.job`` into two
columns and keeps ``results`` as JSON text; the table fits the terminal and
never cuts an id. Everything goes through `_output.Output` (a failed write is
one error line, exit 1) and server text through `printable`. The table is
measured and fitted with the helpers of the job tables (`_table`).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Sequence
from typing import Any, Final, Protocol

import attrs

from llama_batch_async import Batch, BatchJobType, BatchStatus

from ._output import Stream, printable
from ._table import (
    TIME_WIDTH,
    column_widths,
    give_up_until,
    short_time,
    terminal_columns,
    time_cell,
)

__all__ = [
    "BATCH_CSV_COLUMNS",
    "BATCH_WRITERS",
    "BatchTableWriter",
    "BatchWriter",
    "batch_csv_row",
    "batch_table_floor",
    "batch_table_row",
    "wire_batch_status",
]

BATCH_CSV_COLUMNS: Final = (
    "id",
    "project_id",
    "source_directory_id",
    "status",
    "config.job.type",
    "config.job.configuration_id",
    "created_at",
    "updated_at",
    "results",
)
"""The CSV header: the record's fields, ``config.job`` flattened, ``results`` as JSON."""


def wire_batch_status(batch: Batch) -> str:
    """The batch's status as the server sent it (``"FAILED"``, or a newer value)."""
    return str(batch.status)


def batch_csv_row(batch: Batch) -> list[str]:
    """One CSV row: wire values, None as empty, ``results`` as compact JSON (empty when null)."""
    record: dict[str, Any] = batch.to_dict()
    job = record["config"]["job"]
    results = record["results"]
    return [
        record["id"],
        record["project_id"],
        record["source_directory_id"],
        record["status"],
        job["type"],
        job["configuration_id"],
        record["created_at"] or "",
        record["updated_at"] or "",
        "" if results is None else json.dumps(results, separators=(",", ":")),
    ]


# --------------------------------------------------------------------- json, jsonl, csv


class BatchWriter(Protocol):
    """Writes a walk's batches in one format, page by page, flushing each page."""

    def write_page(self, batches: Sequence[Batch]) -> None: ...

    def end(self) -> None: ...


@attrs.define
class _JsonLinesWriter:
    stream: Stream

    def write_page(self, batches: Sequence[Batch]) -> None:
        for batch in batches:
            self.stream.write(json.dumps(batch.to_dict()) + "\n")
        self.stream.flush()

    def end(self) -> None:
        self.stream.flush()


@attrs.define
class _JsonWriter:
    """One JSON array, one batch per line, written as the walk goes."""

    stream: Stream
    count: int = 0

    def write_page(self, batches: Sequence[Batch]) -> None:
        for batch in batches:
            self.stream.write(
                ("[\n  " if self.count == 0 else ",\n  ") + json.dumps(batch.to_dict())
            )
            self.count += 1
        self.stream.flush()

    def end(self) -> None:
        self.stream.write("[]\n" if self.count == 0 else "\n]\n")
        self.stream.flush()


class _CsvWriter:
    r"""A header row, then one row per batch; exact values, RFC 4180 quoting, rows end in ``\n``."""

    def __init__(self, stream: Stream) -> None:
        self.stream = stream
        self.buffer = io.StringIO()
        # "\r\n" makes the csv module quote a lone "\r" too (see _output._CsvWriter).
        self.writer = csv.writer(self.buffer, lineterminator="\r\n")
        self._write_row(BATCH_CSV_COLUMNS)

    def _write_row(self, row: Sequence[str]) -> None:
        self.buffer.seek(0)
        self.buffer.truncate()
        self.writer.writerow(row)
        self.stream.write(self.buffer.getvalue()[:-2] + "\n")

    def write_page(self, batches: Sequence[Batch]) -> None:
        for batch in batches:
            self._write_row(batch_csv_row(batch))
        self.stream.flush()

    def end(self) -> None:
        self.stream.flush()


# --------------------------------------------------------------------- table

_HEADER: Final = (
    "ID",
    "STATUS",
    "JOB TYPE",
    "CREATED (UTC)",
    "UPDATED (UTC)",
    "SOURCE DIRECTORY",
)
_ID, _STATUS, _JOB, _CREATED, _UPDATED, _DIRECTORY = range(6)
_SHORT_TIME_WIDTH: Final = len("11-01 10:00")
_EMPTY: Final = "no batches match"


def batch_table_row(batch: Batch) -> tuple[str, ...]:
    """A batch's table cells, escaped: id, status, job type, created, updated, directory."""
    return (
        printable(batch.id),
        printable(wire_batch_status(batch)),
        printable(str(batch.config.job.type)),
        time_cell(batch.created_at),
        time_cell(batch.updated_at),
        printable(batch.source_directory_id),
    )


def batch_table_floor(batch_ids: Sequence[str]) -> tuple[int, ...]:
    """Column widths fit for any batch, so rows printed one at a time still line up."""
    return (
        max(len(printable(batch_id)) for batch_id in batch_ids),
        max(len(status.value) for status in BatchStatus),
        max(len(kind.value) for kind in BatchJobType),
        TIME_WIDTH,
        TIME_WIDTH,
    )


@attrs.define
class _Layout:
    """Which columns a table shows, decided once, at its first page.

    On a terminal narrower than the full table the layout gives up, in this
    order and only as far as needed: UPDATED, SOURCE DIRECTORY, the seconds
    and year of CREATED, JOB TYPE. The ids are never cut (they are what a
    reader copies into ``batches wait``), so a table of ``bat-<uuid>`` ids
    fits 80 columns. Piped, every column is shown.
    """

    widths: dict[int, int]
    short_created: bool = False

    def width(self) -> int:
        return sum(self.widths.values()) + 2 * (len(self.widths) - 1)

    @classmethod
    def fit(cls, widths: Sequence[int], columns: int | None) -> _Layout:
        layout = cls(dict(enumerate(widths)))
        if columns is None:
            return layout
        steps: tuple[Callable[[], object], ...] = (
            lambda: layout.widths.pop(_UPDATED),
            lambda: layout.widths.pop(_DIRECTORY),
            layout._shorten_created,
            lambda: layout.widths.pop(_JOB),
        )
        # One column spare: a line as wide as the terminal wraps on some.
        give_up_until(lambda: layout.width() < columns, steps)
        return layout

    def _shorten_created(self) -> None:
        self.short_created = True
        self.widths[_CREATED] = _SHORT_TIME_WIDTH

    def line(self, cells: Sequence[str], *, header: bool = False) -> str:
        parts = []
        for index, width in self.widths.items():
            cell = cells[index]
            if index == _CREATED and self.short_created:
                cell = "CREATED" if header else short_time(cell)
            parts.append(cell.ljust(width))
        return "  ".join(parts).rstrip() + "\n"


@attrs.define
class BatchTableWriter:
    """Aligned columns for people; the layout comes from the header and the first page.

    ``floor`` holds minimum widths, for output whose first page is one batch
    (``batches wait`` prints each batch as it finishes). Output with no batches
    says ``empty`` instead of printing a bare header.
    """

    stream: Stream
    layout: _Layout | None = None
    floor: Sequence[int] = ()
    empty: str = _EMPTY

    def write_page(self, batches: Sequence[Batch]) -> None:
        rows = [batch_table_row(batch) for batch in batches]
        if self.layout is None:
            if not rows:
                return  # an empty first page: wait for one with batches, or the end
            widths = column_widths((_HEADER, *rows), self.floor)
            self.layout = _Layout.fit(widths, terminal_columns(self.stream))
            self.stream.write(self.layout.line(_HEADER, header=True))
        for row in rows:
            self.stream.write(self.layout.line(row))
        self.stream.flush()

    def end(self) -> None:
        if self.layout is None and self.empty:
            self.stream.write(self.empty + "\n")
        self.stream.flush()


BATCH_WRITERS: Final[dict[str, Callable[[Stream], BatchWriter]]] = {
    "table": BatchTableWriter,
    "json": _JsonWriter,
    "jsonl": _JsonLinesWriter,
    "csv": _CsvWriter,
}
"""The ``--format`` names and their writers (the same names as `_output.WRITERS`)."""
