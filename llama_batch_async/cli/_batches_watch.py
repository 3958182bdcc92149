"""``llama-batch batches watch``: print `BatchClient.watch_batches` events as they come.

One line per change (added when first seen, changed with the previous status)
as text on a terminal, else JSON Lines, as ``watch`` prints them. The library
watches batches by id (a batch is cheap to poll by id); without ``BATCH_ID``
the command watches the unfinished batches the listing shows at the start.
Ends when every watched batch has finished, or at Ctrl-C, ``--max-events`` or
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

from llama_batch_async import BatchClient, BatchEvent, BatchNotFoundError, LlamaBatchError

from . import EXIT_FAILURE, EXIT_OK
from ._batch_output import batch_table_row
from ._batches import MOVING_BATCH_DEMO_HELP, add_batch_filters, filter_arguments, flag_error
from ._batches_wait import add_batch_ids
from ._connect import api_error, connect
from ._options import (
    add_connection_options,
    add_poll_interval,
    count,
    logging_to_stderr,
    poll_interval,
    seconds,
)
from ._output import Stream, error, isatty, printable, say, stdout, wire_status

__all__ = ["add_arguments", "batch_event_line", "batch_event_record", "run"]

WATCH_FORMATS: Final = ("text", "jsonl")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare ``batches watch``'s ids, filters, polling, stop conditions, format, connection."""
    add_batch_ids(
        parser,
        "the batches to watch (default: the unfinished batches the listing shows, filters applied)",
    )
    add_batch_filters(parser, "filters (without BATCH_ID: which unfinished batches to watch)")
    polling = parser.add_argument_group("polling")
    add_poll_interval(polling.add_argument)
    polling.add_argument(
        "--no-initial",
        action="store_true",
        help="report only changes after the first poll, not the batches as first seen",
    )
    stop = parser.add_argument_group("stopping (default: when every batch has finished)")
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
        parser, request_timeout_flags=("--request-timeout",), demo_help=MOVING_BATCH_DEMO_HELP
    )


def _utc_stamp(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def batch_event_record(event: BatchEvent, moment: datetime) -> dict[str, object]:
    """An event as one JSON object: what happened, when it was seen, and the batch."""
    return {
        "event": event.kind,
        "at": _utc_stamp(moment),
        "previous_status": None if event.previous is None else wire_status(event.previous),
        "batch": event.batch.to_dict(),
    }


def _arrow(stream: Stream) -> str:
    try:
        "→".encode(stream.encoding or "ascii")
    except (LookupError, UnicodeEncodeError):
        return "->"
    return "→"


def batch_event_line(event: BatchEvent, moment: datetime, arrow: str = "→") -> str:
    """An event as one line: ``12:00:01 changed bat-... RUNNING → COMPLETED parse_v2``."""
    batch_id, status, kind, *_ = batch_table_row(event.batch)
    if event.previous is not None:
        before = printable(wire_status(event.previous))
        if before != status:
            status = f"{before} {arrow} {status}"
    return " ".join((moment.strftime("%H:%M:%S"), f"{event.kind:<7}", batch_id, status, kind))


@attrs.define
class _EventPrinter:
    """Writes each event at once, as JSON Lines or as a line of text."""

    stream: Stream
    text: bool
    arrow: str = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self.arrow = _arrow(self.stream)

    def write(self, event: BatchEvent) -> None:
        moment = datetime.now().astimezone()
        if self.text:
            line = batch_event_line(event, moment, self.arrow)
        else:
            line = json.dumps(batch_event_record(event, moment))
        self.stream.write(line + "\n")
        self.stream.flush()


async def _print_events(
    events: AsyncGenerator[BatchEvent, None],
    printer: _EventPrinter,
    *,
    max_events: int | None,
    initial: bool,
) -> None:
    printed = 0
    async with contextlib.aclosing(events):
        async for event in events:
            if event.kind == "added" and not initial:
                continue
            printer.write(event)
            printed += 1
            if printed == max_events:
                return


async def _watched_ids(args: argparse.Namespace, client: BatchClient) -> tuple[str, ...]:
    """The ids given, else the unfinished batches of the listing under the filters."""
    if args.batch_ids:
        return tuple(dict.fromkeys(args.batch_ids))
    try:
        listed = client.list_batches(**filter_arguments(args))  # type: ignore[arg-type]
    except ValueError as exc:
        raise flag_error(exc, default="--status") from None
    return tuple([batch.id async for batch in listed if not batch.is_terminal])


async def _watch(args: argparse.Namespace) -> int:
    out = stdout()
    printer = _EventPrinter(
        out, text=(args.format or ("text" if isatty(out) else "jsonl")) == "text"
    )
    filter_arguments(args)  # the bounds' order, before anything is sent
    async with connect(args, moving=True) as client:
        try:
            batch_ids = await _watched_ids(args, client)
            if not batch_ids:
                say("no unfinished batch to watch (name a BATCH_ID, or change the filters)")
                return EXIT_OK
            try:
                events = client.watch_batches(
                    batch_ids,
                    poll_interval=poll_interval(args),
                    expand_results=args.expand_results,
                )
            except ValueError as exc:
                raise flag_error(exc, default="BATCH_ID") from None
            await asyncio.wait_for(
                _print_events(
                    events, printer, max_events=args.max_events, initial=not args.no_initial
                ),
                args.duration,
            )
        except BatchNotFoundError as exc:
            error(
                f"{len(exc.missing)} of {len(batch_ids)} batches not found: "
                f"{' '.join(exc.missing)} (check the ids, and that the API key can see them)"
            )
            return EXIT_FAILURE
        except LlamaBatchError as exc:  # before TimeoutError: APITimeoutError may be both
            api_error(exc, client.base_url)
            return EXIT_FAILURE
        except asyncio.TimeoutError:
            pass  # --duration is over: the watch was asked to stop, not a failure
    return EXIT_OK


def run(args: argparse.Namespace) -> int:
    """Run ``batches watch`` with the parsed arguments; return the exit code."""
    with logging_to_stderr(args.verbose):
        return asyncio.run(_watch(args))
