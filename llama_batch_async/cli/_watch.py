"""``llama-batch watch``: print `BatchClient.watch_jobs` events as they come.

One line per change (added, changed with the previous status, removed) as text
on a terminal, else JSON Lines; runs until Ctrl-C, ``--max-events`` or
``--duration``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
from collections.abc import AsyncGenerator
from datetime import datetime, timezone
from typing import Final

import attrs

from llama_batch_async import JobEvent, LlamaBatchError

from . import EXIT_FAILURE, EXIT_OK
from ._connect import api_error, connect
from ._options import (
    MOVING_DEMO_HELP,
    add_connection_options,
    add_filter_arguments,
    add_poll_interval,
    count,
    logging_to_stderr,
    poll_interval,
    seconds,
)
from ._output import Stream, isatty, printable, stdout
from ._output import wire_status as _wire_status
from ._table import PIPED_ERROR_WIDTH, table_row, truncate

__all__ = ["add_arguments", "event_line", "event_record", "run"]

WATCH_FORMATS: Final = ("text", "jsonl")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare ``watch``'s filters, polling, stop conditions, format and connection options."""
    add_filter_arguments(parser)
    polling = parser.add_argument_group("polling")
    add_poll_interval(polling.add_argument)
    polling.add_argument(
        "--no-initial",
        action="store_true",
        help="report only changes after the first poll, not the jobs already there",
    )
    stop = parser.add_argument_group("stopping (default: run until Ctrl-C)")
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
        help="output format (default: text on a terminal, else jsonl)",
    )
    add_connection_options(
        parser, request_timeout_flags=("--request-timeout",), demo_help=MOVING_DEMO_HELP
    )


def _utc_stamp(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def event_record(event: JobEvent, moment: datetime) -> dict[str, object]:
    """An event as one JSON object: what happened, when it was seen, and the job."""
    return {
        "event": event.kind,
        "at": _utc_stamp(moment),
        "previous_status": None if event.previous is None else _wire_status(event.previous),
        "job": event.job.to_dict(),
    }


def _arrow(stream: Stream) -> str:
    try:
        "→".encode(stream.encoding or "ascii")
    except (LookupError, UnicodeEncodeError):
        return "->"
    return "→"


def event_line(event: JobEvent, moment: datetime, arrow: str = "→") -> str:
    """An event as one line for people: ``12:00:01 changed  bjb-... running → completed 40/40``."""
    job_id, kind, status, progress, failed, _, error = table_row(event.job)
    if event.previous is not None and printable(_wire_status(event.previous)) != status:
        status = f"{printable(_wire_status(event.previous))} {arrow} {status}"
    parts = [moment.strftime("%H:%M:%S"), f"{event.kind:<7}", job_id, f"{kind:<8}", status]
    parts.append(progress)
    if failed not in {"-", "0"}:
        parts.append(f"({failed} failed)")
    if error:
        parts.append(truncate(error, PIPED_ERROR_WIDTH))
    return " ".join(parts)


@attrs.define
class _EventPrinter:
    """Writes each event at once, as JSON Lines or as a line of text."""

    stream: Stream
    text: bool
    arrow: str = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self.arrow = _arrow(self.stream)

    def write(self, event: JobEvent) -> None:
        moment = datetime.now().astimezone()
        if self.text:
            line = event_line(event, moment, self.arrow)
        else:
            line = json.dumps(event_record(event, moment))
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


async def _watch(args: argparse.Namespace) -> int:
    out = stdout()
    printer = _EventPrinter(
        out, text=(args.format or ("text" if isatty(out) else "jsonl")) == "text"
    )
    async with connect(args, moving=True) as client:
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
        try:
            await asyncio.wait_for(_print_events(events, printer, args.max_events), args.duration)
        except LlamaBatchError as exc:  # before TimeoutError: APITimeoutError may be both
            api_error(exc, client.base_url)
            return EXIT_FAILURE
        except asyncio.TimeoutError:
            pass  # --duration is over: the watch was asked to stop, not a failure
    return EXIT_OK


def run(args: argparse.Namespace) -> int:
    """Run ``watch`` with the parsed arguments; return the exit code."""
    with logging_to_stderr(args.verbose):
        return asyncio.run(_watch(args))
