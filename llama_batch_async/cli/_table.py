"""Tables for people: columns that fit the terminal, and the job tables.

A table decides its columns once, at its first page: each column as wide as its
widest cell (`column_widths`), and on a terminal (`terminal_columns`) it gives
columns up in a fixed order until it fits (`give_up_until`). The helpers here
are shared with the batch table (`_batch_output.BatchTableWriter`); the job
tables are `TableWriter` (the standard columns) and `FieldTableWriter`
(``--fields``), made by `job_table`. Cells are escaped with `printable`; a long
cell is cut with `truncate`; an id is never cut.

`_job_output.JOB_RECORDS` imports this module only when a table is written, so
``--help`` does not load it. It imports `_output`, never the other way round.
"""

from __future__ import annotations

import enum
import shutil
from collections.abc import Callable, Collection, Iterable, Sequence
from datetime import datetime, timezone
from typing import Any, Final

import attrs

from llama_batch_async import BatchJob, JobStatus, JobType

from ._output import Stream, Writer, isatty, job_to_dict, printable

__all__ = [
    "PIPED_ERROR_WIDTH",
    "TIME_WIDTH",
    "FieldTableWriter",
    "TableWriter",
    "column_widths",
    "field_cell",
    "give_up_until",
    "job_table",
    "short_time",
    "table_floor",
    "table_row",
    "terminal_columns",
    "time_cell",
    "truncate",
]

TIME_WIDTH: Final = len("2026-11-01 10:00:00")


def time_cell(moment: datetime | None) -> str:
    """A time as a table cell: ``2026-11-01 10:00:00`` in UTC, ``-`` for None."""
    if moment is None:
        return "-"
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def short_time(cell: str) -> str:
    """``2026-11-01 10:00:00`` as ``11-01 10:00``: the table's narrow form of a time."""
    return cell[5:16] if len(cell) == TIME_WIDTH else cell


def truncate(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters, ending in ``...`` when cut."""
    return text if len(text) <= width else text[: width - 3] + "..."


def terminal_columns(stream: Stream) -> int | None:
    """The terminal's width if ``stream`` is one, else None (piped: nothing to fit)."""
    return shutil.get_terminal_size().columns if isatty(stream) else None


def column_widths(lines: Iterable[Sequence[str]], floor: Sequence[int] = ()) -> list[int]:
    """Each column's widest cell in ``lines`` (a header and the first page), at least ``floor``."""
    widths = [max(len(cell) for cell in column) for column in zip(*lines, strict=True)]
    for index, width in enumerate(floor[: len(widths)]):
        widths[index] = max(widths[index], width)
    return widths


def give_up_until(fits: Callable[[], bool], steps: Iterable[Callable[[], object]]) -> None:
    """Take ``steps`` (each gives up a column or some width) in order until ``fits()``."""
    for step in steps:
        if fits():
            return
        step()


# --------------------------------------------------------------------- the job table


_TABLE_HEADER: Final = ("ID", "TYPE", "STATUS", "PROGRESS", "FAILED", "CREATED (UTC)", "ERROR")
_RIGHT_ALIGNED: Final = frozenset({3, 4})
_MIN_ERROR_WIDTH: Final = 24
PIPED_ERROR_WIDTH: Final = 60


def table_row(job: BatchJob) -> tuple[str, ...]:
    """A job's table cells, escaped: id, type, status, progress, failed, created, error."""
    record = job_to_dict(job)
    processed = "-" if job.processed_items is None else str(job.processed_items)
    failed = "-" if job.failed_items is None else str(job.failed_items)
    message = " ".join((job.error_message or "").split())  # one line per job
    return (
        printable(job.id),
        printable(str(record["job_type"])),
        printable(str(record["status"])),
        f"{processed}/{job.total_items}",
        failed,
        time_cell(job.created_at),
        printable(message),
    )


def table_floor(job_ids: Sequence[str]) -> tuple[int, ...]:
    """Column widths fit for any job, so rows printed one at a time still line up."""
    return (
        max(len(printable(job_id)) for job_id in job_ids),
        max(len(kind.value) for kind in JobType),
        max(len(status.value) for status in JobStatus),
        len("99999/99999"),
        len("FAILED"),
        TIME_WIDTH,
    )


_ID, _TYPE, _STATUS, _PROGRESS, _FAILED, _CREATED, _ERROR = range(7)
_SHORT_CREATED_HEADER: Final = "CREATED"
_MIN_FIT_ERROR_WIDTH: Final = 12
_EMPTY: Final = "no jobs match"


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
    def fit(
        cls, widths: Sequence[int], columns: int | None, constant: Collection[str] = ()
    ) -> _Layout:
        layout = cls(dict(enumerate(widths)))
        # A column the filter pins (`--status failed`) would repeat it on every row.
        for name, index in (("status", _STATUS), ("job_type", _TYPE)):
            if name in constant:
                layout.widths.pop(index)
        if columns is None:  # not a terminal: every column, the error cut at 60
            return layout
        steps: tuple[Callable[[], object], ...] = (
            lambda: layout.widths.pop(_FAILED),
            layout._shorten_created,
            lambda: layout.widths.pop(_TYPE, None),
            lambda: layout.widths.pop(_CREATED),
        )
        give_up_until(lambda: columns - layout.fixed() >= _MIN_ERROR_WIDTH, steps)
        layout.error_width = max(_MIN_FIT_ERROR_WIDTH, columns - layout.fixed())
        return layout

    def _shorten_created(self) -> None:
        self.short_created = True
        self.widths[_CREATED] = len(short_time("2026-11-01 10:00:00"))

    def line(self, cells: Sequence[str]) -> str:
        parts = []
        for index, width in self.widths.items():
            cell = cells[index]
            if index == _CREATED and self.short_created:
                cell = (
                    _SHORT_CREATED_HEADER if cell == _TABLE_HEADER[_CREATED] else short_time(cell)
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
    with no jobs says ``empty`` instead of printing a bare header. A column of a
    field in ``constant`` (``status``, ``job_type``: the filter pins it) is left out.
    """

    stream: Stream
    layout: _Layout | None = None
    floor: Sequence[int] = ()
    empty: str = _EMPTY
    rows: int = 0
    constant: Collection[str] = ()

    def write_page(self, jobs: Sequence[BatchJob]) -> None:
        rows = [table_row(job) for job in jobs]
        if self.layout is None:
            if not rows:
                return  # an empty first page: wait for one with jobs, or the end
            widths = column_widths((_TABLE_HEADER[:-1], *(row[:-1] for row in rows)), self.floor)
            self.layout = _Layout.fit(widths, terminal_columns(self.stream), self.constant)
            self.stream.write(self.layout.line(_TABLE_HEADER))
        for row in rows:
            self.stream.write(self.layout.line(row))
        self.rows += len(rows)
        self.stream.flush()

    def end(self, *, complete: bool = True) -> None:
        if self.layout is None and self.empty and complete:  # a whole walk, and no job
            self.stream.write(self.empty + "\n")
        self.stream.flush()


def field_cell(record: object, name: str) -> str:
    """One field of a record as a table cell: ``-`` for None, times as ``2026-11-01 10:00:00``."""
    value = getattr(record, name)
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return time_cell(value)
    if isinstance(value, enum.Enum):
        value = value.value
    return printable(" ".join(str(value).split()))  # one line per job


_COUNT_FIELDS: Final = frozenset(
    {"total_items", "processed_items", "failed_items", "skipped_items"}
)


@attrs.define
class FieldTableWriter:
    """``--fields`` as a table: one column per field, in the order given, headed in capitals.

    On a terminal, when every column but the last fits whole and the last keeps at
    least 24 characters (cut with ``...``), a table; when it cannot, one block per
    record, a ``field: value`` line per field and a blank line between records, so
    no value is cut and no row wraps. Piped, a table with no column cut but the
    last, at 60.
    """

    stream: Stream
    fields: Sequence[str]
    widths: list[int] | None = None
    last_width: int = PIPED_ERROR_WIDTH
    rows: int = 0
    blocks: bool = False
    cell: Callable[[Any, str], str] = field_cell

    def _fit(self, widths: list[int], columns: int | None) -> None:
        self.widths = widths[:-1]
        if columns is None:
            return
        # The gaps and a spare last character; the last column takes what is left.
        left = columns - sum(self.widths) - 2 * len(self.widths) - 1
        if left < min(widths[-1], _MIN_ERROR_WIDTH):
            self.blocks = True
        self.last_width = max(left, _MIN_FIT_ERROR_WIDTH)

    def _line(self, cells: Sequence[str]) -> str:
        assert self.widths is not None  # noqa: S101 - set by the first page
        # Counts align on the right, as the standard table's PROGRESS and FAILED do.
        parts = [
            cell.rjust(width) if name in _COUNT_FIELDS else cell.ljust(width)
            for cell, width, name in zip(cells, self.widths, self.fields, strict=False)
        ]
        last = cells[-1] if self.fields[-1] == "id" else truncate(cells[-1], self.last_width)
        parts.append(last)  # ids are never cut: they are what a reader copies
        return "  ".join(parts).rstrip() + "\n"

    def _block(self, cells: Sequence[str]) -> str:
        width = max(len(name) for name in self.fields) + 1
        lines = [
            f"{name + ':':<{width}} {cell}" for name, cell in zip(self.fields, cells, strict=True)
        ]
        return ("\n" if self.rows else "") + "\n".join(lines) + "\n"

    def write_page(self, records: Sequence[Any]) -> None:
        rows = [[self.cell(record, name) for name in self.fields] for record in records]
        if self.widths is None:
            if not rows:
                return
            header = [name.upper() for name in self.fields]
            self._fit(column_widths((header, *rows)), terminal_columns(self.stream))
            if not self.blocks:
                self.stream.write(self._line(header))
        for row in rows:
            self.stream.write(self._block(row) if self.blocks else self._line(row))
            self.rows += 1
        self.stream.flush()

    def end(self, *, complete: bool = True) -> None:
        if self.widths is None and complete:
            self.stream.write(_EMPTY + "\n")
        self.stream.flush()


def job_table(
    stream: Stream,
    fields: Sequence[str] | None = None,
    ids: Sequence[str] | None = None,
    constant: Collection[str] = (),
) -> Writer[BatchJob]:
    """The job table: `FieldTableWriter` with ``fields``, else `TableWriter`.

    With ``ids`` the jobs come one at a time (``wait``): the columns are wide
    enough for any of them, and a wait that ends with none says nothing (the
    error line says why).
    """
    if fields is not None:
        return FieldTableWriter(stream, fields)
    if ids is None:
        return TableWriter(stream, constant=constant)
    return TableWriter(stream, floor=table_floor(ids), empty="")
