"""One call per id, its record written: ``get``, ``cancel``, ``create``, ``batches get|cancel``.

Each command is a short script over one `BatchClient` method: `run_calls` opens
the client the connection options describe, calls it for each id in order,
writes each record in the chosen format (a table on a terminal, else JSON
Lines), and reports a failed call on stderr as one line, going on with the
next id. Exit 0 when every call succeeded, 1 when any failed, 2 for a bad id
or flag (refused before any request).
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Final, TypeVar

import attrs

from llama_batch_async import BatchClient, JobCancellation, LlamaBatchError

from . import EXIT_FAILURE, EXIT_OK
from ._options import flag_error, logging_to_stderr
from ._output import FORMATS, Records, Stream, Writer, isatty, make_writer, stdout

__all__ = ["CANCEL_FIELDS", "CANCEL_RECORDS", "add_format", "field_records", "run_calls"]

R = TypeVar("R")

CANCEL_FIELDS: Final = ("job_id", "status", "processed_items", "message")


def field_records(
    noun: str,
    nouns: str,
    names: Sequence[str],
    to_dict: Callable[[Any], Mapping[str, object]],
    table_names: Sequence[str] | None = None,
) -> Records[Any]:
    """Records written field by field: their table is one column per field.

    ``table_names`` are the table's columns without ``--fields`` (default: ``names``).
    """

    def table(
        stream: Stream,
        fields: Sequence[str] | None,
        ids: Sequence[str] | None,
        constant: Any,  # noqa: ANN401 - a table of named fields keeps every column
    ) -> Writer[Any]:
        del ids, constant
        from ._table import FieldTableWriter, field_cell  # noqa: PLC0415 - tables on demand

        return FieldTableWriter(stream, tuple(fields or table_names or names), cell=field_cell)

    return Records(
        noun=noun,
        nouns=nouns,
        to_dict=to_dict,
        csv_columns=tuple(names),
        csv_row=lambda record: [
            "" if value is None else value for value in to_dict(record).values()
        ],
        table=table,
    )


CANCEL_RECORDS: Final[Records[JobCancellation]] = field_records(
    "cancellation", "cancellations", CANCEL_FIELDS, lambda record: record.to_dict()
)
"""What ``cancel`` writes: the server's answer per job."""


def add_format(parser: argparse.ArgumentParser, fields: Callable[[str], object] | None) -> None:
    """``--format`` (and ``--fields`` when the records have a field list)."""
    output = parser.add_argument_group("output")
    output.add_argument(
        "--format",
        choices=FORMATS,
        metavar="FORMAT",
        help=f"output format: {', '.join(FORMATS)} (default: table on a terminal, else jsonl)",
    )
    if fields is not None:
        output.add_argument(
            "--fields",
            type=fields,
            metavar="NAME,...",
            help="only these fields, in this order (every format)",
        )


@attrs.frozen
class Calls:
    """What a command calls per id, and how its records and errors are said."""

    records: Records[Any]
    call: Callable[[BatchClient, str], Awaitable[Any]]
    flags: Mapping[str, str]
    moving: bool = False


async def _run(args: argparse.Namespace, ids: Sequence[str], calls: Calls) -> int:
    from ._connect import api_error, connect  # noqa: PLC0415 - only to run

    out = stdout()
    name = args.format or ("table" if isatty(out) else "jsonl")
    writer = make_writer(name, out, calls.records, getattr(args, "fields", None), ids=ids)
    code = EXIT_OK
    async with connect(args, moving=calls.moving) as client:
        for record_id in ids:
            try:
                record = await calls.call(client, record_id)
            except ValueError as exc:
                writer.end(complete=False)
                raise flag_error(exc, calls.flags, default=calls.records.id_name) from None
            except LlamaBatchError as exc:
                api_error(exc, client.base_url)
                code = EXIT_FAILURE
                continue
            except (asyncio.CancelledError, KeyboardInterrupt):
                writer.end(complete=False)
                raise
            writer.write_page([record])
    writer.end()
    return code


def run_calls(args: argparse.Namespace, ids: Sequence[str], calls: Calls) -> int:
    """Call ``calls.call`` for each id in order, writing each record; return the exit code."""
    with logging_to_stderr(args.verbose):
        return asyncio.run(_run(args, ids, calls))
