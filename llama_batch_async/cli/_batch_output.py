"""What the ``batches`` commands write: v2 batch records in the four formats (`BATCH_RECORDS`).

The same formats as the v1 commands, written by `_output`'s writers: JSON and
JSON Lines carry the wire record exactly (`Batch.to_dict`); CSV flattens
``config.job`` into two columns and keeps ``results`` as JSON text; the table
fits the terminal and never cuts an id. Everything goes through
`_output.Output` (a failed write is one error line, exit 1) and server text
through `printable`. The table is measured and fitted with the helpers of the
job tables (`_table`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Sequence
from typing import Any, Final

import attrs

from llama_batch_async import Batch, BatchJobType, BatchStatus

from ._output import Records, Stream, Writer, printable, wire_status
from ._table import (
    TIME_WIDTH,
    FieldTableWriter,
    column_widths,
    field_cell,
    give_up_until,
    short_time,
    terminal_columns,
    time_cell,
)

__all__ = [
    "BATCH_CSV_COLUMNS",
    "BATCH_RECORDS",
    "BatchTableWriter",
    "batch_csv_row",
    "batch_table",
    "batch_table_row",
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


def batch_flat(batch: Batch) -> dict[str, object]:
    """A batch as ``--fields`` names its fields (`BATCH_CSV_COLUMNS`): wire values, flattened."""
    record: dict[str, Any] = batch.to_dict()
    job = record["config"]["job"]
    return {
        "id": record["id"],
        "project_id": record["project_id"],
        "source_directory_id": record["source_directory_id"],
        "status": record["status"],
        "config.job.type": job["type"],
        "config.job.configuration_id": job["configuration_id"],
        "created_at": record["created_at"],
        "updated_at": record["updated_at"],
        "results": record["results"],
    }


def batch_cell(batch: Batch, name: str) -> str:
    """One ``--fields`` field of a batch as a table cell (as `_table.field_cell` for a job)."""
    if name == "config.job.type":
        return printable(str(batch.config.job.type))
    if name == "config.job.configuration_id":
        return printable(str(batch.config.job.configuration_id or "-"))
    if name == "results":
        results = batch.to_dict()["results"]
        return "-" if results is None else printable(json.dumps(results, separators=(",", ":")))
    return field_cell(batch, name)


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
        printable(wire_status(batch)),
        printable(str(batch.config.job.type)),
        time_cell(batch.created_at),
        time_cell(batch.updated_at),
        printable(batch.source_directory_id),
    )


def _table_floor(batch_ids: Sequence[str]) -> tuple[int, ...]:
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

    def end(self, *, complete: bool = True) -> None:
        if self.layout is None and self.empty and complete:
            self.stream.write(self.empty + "\n")
        self.stream.flush()


def batch_table(
    stream: Stream,
    fields: Sequence[str] | None = None,
    ids: Sequence[str] | None = None,
    constant: Collection[str] = (),
) -> Writer[Batch]:
    """The batch table; with ``ids`` the batches come one at a time (as `_table.job_table`)."""
    del constant  # `batches` tables keep every column
    if fields is not None:
        return FieldTableWriter(stream, fields, cell=batch_cell)
    if ids is None:
        return BatchTableWriter(stream)
    return BatchTableWriter(stream, floor=_table_floor(ids), empty="")


BATCH_RECORDS: Final[Records[Batch]] = Records(
    noun="batch",
    nouns="batches",
    to_dict=Batch.to_dict,
    csv_columns=BATCH_CSV_COLUMNS,
    csv_row=batch_csv_row,
    table=batch_table,
    flat=batch_flat,
)
"""v2 batches: the wire record in JSON, ``config.job`` flattened in CSV."""
