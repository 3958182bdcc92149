"""``llama-batch watch``, and the watch ``batches watch`` shares: print events as they come.

One line per change (added, changed with the previous status, removed) as text
on a terminal, else JSON Lines; runs until Ctrl-C, ``--max-events`` or
``--duration`` (or until the client's events end). The printing, the stop
conditions and the errors are one body (`run_watch`) for both listings; a
`Watching` says what differs: the records, the client's events, and the cells
of a text line. ``batches watch`` is `_batches_watch`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from datetime import datetime, timezone
from typing import Any, Final, Generic, Protocol, TypeVar

import attrs

from llama_batch_async import BatchClient, BatchJob, JobEvent, LlamaBatchError

from . import EXIT_OK
from ._job_output import JOB_RECORDS
from ._options import (
    JOB_FLAGS,
    MOVING_DEMO_HELP,
    add_connection_options,
    add_filter_arguments,
    add_poll_interval,
    count,
    flag_error,
    logging_to_stderr,
    poll_interval,
    seconds,
)
from ._output import Record, Records, Stream, isatty, printable, stdout, wire_status
from ._table import PIPED_ERROR_WIDTH, table_row, terminal_columns, truncate
from ._wait import NotFound, report_failure

__all__ = ["JOBS", "Watching", "add_arguments", "event_line", "event_record", "run", "run_watch"]

R = TypeVar("R", bound=Record)


class Event(Protocol):
    """A change the client reports (`JobEvent`, `BatchEvent`), as a line reads it."""

    @property
    def kind(self) -> str: ...

    @property
    def previous(self) -> Record | None: ...


E = TypeVar("E", bound=Event)

WATCH_FORMATS: Final = ("text", "jsonl")

Watched = tuple[tuple[str, ...], AsyncGenerator[E, None]]
"""The ids watched (none: the whole listing), and the client's events."""


def _nothing_missing(exc: LlamaBatchError, ids: tuple[str, ...], args: argparse.Namespace) -> None:
    del exc, ids, args


def _no_check(args: argparse.Namespace) -> None:
    del args


@attrs.frozen
class Watching(Generic[R, E]):
    """What ``watch`` and ``batches watch`` differ in.

    Attributes:
        records: The records watched, and how JSON writes them.
        events: The client's events the parsed flags ask for, or None when
            there is nothing to watch (it said why). A `ValueError` from it
            names a flag.
        record_of: An event's record.
        cells: A text line's cells after the time and the kind: ``(record,
            status)``, the status cell already showing any move.
        flags: The library's parameter names, and the flags that set them.
        not_found: The error line for watched ids not found (`_wait.NotFound`).
        check: What the flags need of each other, checked before the demo
            cloud starts or the key is looked up.
        narrow_drop: The index of the cell a line too wide for the terminal
            leaves out first (the job's or batch's type).
    """

    records: Records[R]
    events: Callable[[BatchClient, argparse.Namespace], Awaitable[Watched[E] | None]]
    record_of: Callable[[E], R]
    cells: Callable[[R, str], list[str]]
    flags: Mapping[str, str]
    not_found: NotFound = _nothing_missing
    check: Callable[[argparse.Namespace], object] = _no_check
    narrow_drop: int = 1


async def _job_events(client: BatchClient, args: argparse.Namespace) -> Watched[JobEvent]:
    events = client.watch_jobs(
        directory_id=args.directory_id,
        job_type=args.job_type,
        status=args.status,
        project_id=args.project_id,
        organization_id=args.organization_id,
        page_size=args.page_size,
        poll_interval=poll_interval(args),
        initial=not args.no_initial,
    )
    return (), events


def _job_cells(job: BatchJob, status: str) -> list[str]:
    """``bjb-... parse    running → completed 40/40 (2 failed) <error>``."""
    job_id, kind, _, progress, failed, _, error = table_row(job)
    cells = [job_id, f"{kind:<8}", status, progress]
    if failed not in {"-", "0"}:
        cells.append(f"({failed} failed)")
    if error:
        cells.append(truncate(error, PIPED_ERROR_WIDTH))
    return cells


JOBS: Watching[BatchJob, JobEvent] = Watching(
    records=JOB_RECORDS,
    events=_job_events,
    record_of=lambda event: event.job,
    cells=_job_cells,
    flags=JOB_FLAGS,
)
"""``watch``: v1 jobs, `BatchClient.watch_jobs` (added, changed, removed)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare ``watch``'s filters, polling, stop conditions, format and connection options."""
    add_filter_arguments(parser)
    add_watch_options(
        parser,
        initial="report only changes after the first poll, not the jobs already there",
        stops="run until Ctrl-C",
        demo_help=MOVING_DEMO_HELP,
    )


def add_watch_options(
    parser: argparse.ArgumentParser, *, initial: str, stops: str, demo_help: str
) -> None:
    """Polling, the stop conditions, ``--format`` and the connection options of a watch.

    Args:
        parser: The command's parser.
        initial: ``--no-initial``'s help.
        stops: When the watch stops without a flag (``run until Ctrl-C``).
        demo_help: What ``--demo`` does for this command.
    """
    polling = parser.add_argument_group("polling")
    add_poll_interval(polling.add_argument)
    polling.add_argument("--no-initial", action="store_true", help=initial)
    stop = parser.add_argument_group(f"stopping (default: {stops})")
    stop.add_argument(
        "--max-events",
        type=count("--max-events", minimum=1),
        metavar="N",
        help="exit 0 after printing N events",
    )
    stop.add_argument(
        "--duration", type=seconds, metavar="SECONDS", help="exit 0 after this many seconds"
    )
    parser.add_argument(
        "--format",
        choices=WATCH_FORMATS,
        metavar="FORMAT",
        help=f"output format: {', '.join(WATCH_FORMATS)} (default: text on a terminal, else jsonl)",
    )
    add_connection_options(
        parser, request_timeout_flags=("--request-timeout",), demo_help=demo_help
    )


def _utc_stamp(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def event_record(watching: Watching[R, E], event: E, moment: datetime) -> dict[str, object]:
    """An event as one JSON object: what happened, when it was seen, and the record."""
    records = watching.records
    return {
        "event": event.kind,
        "at": _utc_stamp(moment),
        "previous_status": None if event.previous is None else wire_status(event.previous),
        records.noun: records.to_dict(watching.record_of(event)),
    }


def event_line(
    watching: Watching[R, E],
    event: E,
    moment: datetime,
    arrow: str = "→",
    columns: int | None = None,
) -> str:
    """An event as one line for people: ``12:00:01 changed  bjb-... running → completed ...``.

    A removed record shows the status it was last seen with as ``was running``: it
    left the listing (or the filter), and its status now is not known. With
    ``columns`` (a terminal's width) a line too wide leaves out the type, then is
    cut with ``...``; the id is never cut.
    """
    record = watching.record_of(event)
    status = printable(wire_status(record))
    if event.kind == "removed":
        status = f"was {status}"
    elif event.previous is not None:
        before = printable(wire_status(event.previous))
        if before != status:
            status = f"{before} {arrow} {status}"
    head = [moment.strftime("%H:%M:%S"), f"{event.kind:<7}"]
    cells = watching.cells(record, status)
    line = " ".join([*head, *cells])
    if columns is None or len(line) < columns:
        return line
    del cells[watching.narrow_drop]
    line = " ".join([*head, *cells])
    fixed = len(" ".join([*head, cells[0]]))  # the id is never cut
    return truncate(line, max(columns - 1, fixed)) if len(line) >= columns else line


def _arrow(stream: Stream) -> str:
    try:
        "→".encode(stream.encoding or "ascii")
    except (LookupError, UnicodeEncodeError):
        return "->"
    return "→"


@attrs.define
class _EventPrinter(Generic[R, E]):
    """Writes each event at once, as JSON Lines or as a line of text."""

    stream: Stream
    watching: Watching[R, E]
    text: bool
    arrow: str = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self.arrow = _arrow(self.stream)

    def write(self, event: E) -> None:
        moment = datetime.now().astimezone()
        if self.text:
            columns = terminal_columns(self.stream)
            line = event_line(self.watching, event, moment, self.arrow, columns)
        else:
            line = json.dumps(event_record(self.watching, event, moment))
        self.stream.write(line + "\n")
        self.stream.flush()


async def _print_events(
    events: AsyncGenerator[E, None], printer: _EventPrinter[Any, E], max_events: int | None
) -> None:
    printed = 0
    async with contextlib.aclosing(events):
        async for event in events:
            printer.write(event)
            printed += 1
            if printed == max_events:
                return


async def _watch(args: argparse.Namespace, watching: Watching[R, E]) -> int:
    # Imported to run, not to declare the flags: ``--help`` loads no client.
    from ._connect import connect  # noqa: PLC0415

    out = stdout()
    text = (args.format or ("text" if isatty(out) else "jsonl")) == "text"
    printer = _EventPrinter(out, watching, text=text)
    watching.check(args)
    ids: tuple[str, ...] = ()
    async with connect(args, moving=True) as client:
        try:
            try:
                watched = await watching.events(client, args)
            except ValueError as exc:
                raise flag_error(exc, watching.flags, default=watching.records.id_name) from None
            if watched is None:
                return EXIT_OK
            ids, events = watched
            await asyncio.wait_for(_print_events(events, printer, args.max_events), args.duration)
        except LlamaBatchError as exc:  # before TimeoutError: APITimeoutError may be both
            missing = watching.not_found(exc, ids, args)
            return report_failure(exc, ids, watching.records.nouns, missing, client.base_url)
        except asyncio.TimeoutError:
            pass  # --duration is over: the watch was asked to stop, not a failure
    return EXIT_OK


def run_watch(args: argparse.Namespace, watching: Watching[R, E]) -> int:
    """Watch as the parsed flags say; return the exit code."""
    with logging_to_stderr(args.verbose):
        return asyncio.run(_watch(args, watching))


def run(args: argparse.Namespace) -> int:
    """Run ``watch`` with the parsed arguments; return the exit code."""
    return run_watch(args, JOBS)
