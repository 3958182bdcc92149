"""``llama-batch batches list``: one walk of the v2 listing, written page by page.

As ``list``: output is written as the walk goes; if the walk fails part-way,
what was listed stays listed, and stderr says how to resume
(``--resume-from CURSOR``).
"""

from __future__ import annotations

import argparse
import asyncio
import sys

import attrs

from llama_batch_async import LlamaBatchError

from . import EXIT_FAILURE, EXIT_OK
from ._batch_output import BATCH_RECORDS
from ._batches import (
    BATCH_DEMO_HELP,
    add_batch_filters,
    filter_arguments,
    flag_error,
)
from ._connect import api_error, connect
from ._options import (
    FlagError,
    add_connection_options,
    count,
    logging_to_stderr,
)
from ._output import FORMATS, isatty, make_writer, say, stdout
from ._status import Progress, StatusLine

__all__ = ["add_arguments", "run"]

_RESUME_HINT = "give a cursor a failed batches list printed, with the same filters"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare ``batches list``'s filters, walk options, format and connection options."""
    add_batch_filters(parser)
    walk = parser.add_argument_group("walk")
    walk.add_argument(
        "--max-items",
        type=count("--max-items", minimum=0),
        metavar="N",
        help="stop after N batches (default: every batch)",
    )
    walk.add_argument(
        "--windows",
        type=count("--windows", minimum=1),
        default=1,
        metavar="N",
        help="split the --created-after to --created-before (default: now) range into N "
        "windows walked concurrently, newest first, each batch once; needs --created-after "
        "and costs up to one request more per window (default: 1, one sequential walk)",
    )
    walk.add_argument(
        "--resume-from",
        metavar="CURSOR",
        help="continue a walk that failed, from the cursor its error printed (same filters)",
    )
    parser.add_argument(
        "--format",
        choices=FORMATS,
        help="output format (default: table on a terminal, else jsonl)",
    )
    add_connection_options(parser, demo_help=BATCH_DEMO_HELP)


@attrs.define
class _Listed:
    """How far the output got: the cursor after the last page written."""

    cursor: str | None = None


async def _list(args: argparse.Namespace, listed: _Listed) -> int:
    out = stdout()
    writer = make_writer(args.format or ("table" if isatty(out) else "jsonl"), out, BATCH_RECORDS)
    stderr = StatusLine(sys.stderr, enabled=isatty(sys.stderr))
    progress = Progress(stderr, BATCH_RECORDS.nouns, args.max_items)
    if args.windows > 1 and args.created_after is None:
        raise FlagError(
            "--windows",
            "needs --created-after: the range from it to --created-before (or now) is split",
        )
    async with connect(args) as client:
        try:
            pager = client.list_batches(
                **filter_arguments(args),  # type: ignore[arg-type] # checked by argparse
                max_items=args.max_items,
                resume_from=args.resume_from,
                windows=args.windows,
            )
        except ValueError as exc:
            # Each flag was checked as it was parsed; left for the library: the
            # cursor (it must fit the filters) and --windows' range and bounds.
            hint = _RESUME_HINT if "resume_from" in str(exc) else ""
            raise flag_error(exc, default="--resume-from", hint=hint) from None
        try:
            async for page in pager.pages():
                progress.clear()
                writer.write_page(page.items)
                listed.cursor = page.cursor
                progress.update(pager.stats)
        except LlamaBatchError as exc:
            # What was listed stays listed: close the output, then say where to resume.
            progress.clear()
            writer.end()
            api_error(exc, client.base_url)
            if exc.cursor:
                say(f"resume with: --resume-from {exc.cursor}")
            return EXIT_FAILURE
        finally:
            progress.clear()  # also on Ctrl-C: leave no half line behind
        writer.end()
    return EXIT_OK


def run(args: argparse.Namespace) -> int:
    """Run ``batches list`` with the parsed arguments; return the exit code."""
    listed = _Listed()
    with logging_to_stderr(args.verbose):
        try:
            return asyncio.run(_list(args, listed))
        except KeyboardInterrupt:
            # Ctrl-C: what was listed stays listed; say where to go on, as a failed walk does.
            if listed.cursor:
                say(f"resume with: --resume-from {listed.cursor}")
            raise
