"""``llama-batch list``: one walk of the listing, written page by page.

Output is written as the walk goes; if the walk fails part-way, what was listed
stays listed, and stderr says how to resume (``--resume-from CURSOR``).
"""

from __future__ import annotations

import argparse
import asyncio
import sys

import attrs

from llama_batch_async import LlamaBatchError

from . import EXIT_FAILURE, EXIT_OK
from ._options import (
    MAX_PREFETCH,
    FlagError,
    add_connection_options,
    add_filter_arguments,
    api_error,
    connect,
    count,
    logging_to_stderr,
)
from ._output import FORMATS, WRITERS, isatty, say, stdout
from ._status import Progress, StatusLine

__all__ = ["add_arguments", "run"]

_FILTER_FLAGS = "--directory-id, --job-type, --status, --project-id and --organization-id"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare ``list``'s filters, walk options, format and connection options."""
    add_filter_arguments(parser)
    walk = parser.add_argument_group("walk")
    walk.add_argument(
        "--max-items",
        type=count("--max-items", minimum=0),
        metavar="N",
        help="stop after N jobs (default: every job)",
    )
    start = walk.add_mutually_exclusive_group()
    start.add_argument(
        "--offset",
        type=count("--offset", minimum=0),
        default=0,
        metavar="N",
        help="skip the first N jobs (default: 0)",
    )
    start.add_argument(
        "--resume-from",
        metavar="CURSOR",
        help="continue a walk that failed, from the cursor its error printed (same filters)",
    )
    walk.add_argument(
        "--prefetch",
        type=count("--prefetch", minimum=0, maximum=MAX_PREFETCH),
        default=None,
        metavar="N",
        help=f"page requests to keep in flight ahead of the output, 0-{MAX_PREFETCH} (default: 8)",
    )
    parser.add_argument(
        "--format",
        choices=FORMATS,
        help="output format (default: table on a terminal, else jsonl)",
    )
    add_connection_options(parser)


@attrs.define
class _Listed:
    """How far the output got: the cursor after the last page written."""

    cursor: str | None = None


async def _list(args: argparse.Namespace, listed: _Listed) -> int:
    out = stdout()
    writer = WRITERS[args.format or ("table" if isatty(out) else "jsonl")](out)
    progress = Progress(StatusLine(sys.stderr, enabled=isatty(sys.stderr)), args.max_items)
    async with connect(args) as client:
        try:
            pager = client.list_jobs(
                status=args.status,
                job_type=args.job_type,
                directory_id=args.directory_id,
                project_id=args.project_id,
                organization_id=args.organization_id,
                page_size=args.page_size,
                max_items=args.max_items,
                offset=args.offset,
                resume_from=args.resume_from,
                # None: the library's default, so the CLI never disagrees with it
                **({} if args.prefetch is None else {"prefetch": args.prefetch}),
            )
        except ValueError as exc:
            # Every other flag was checked as it was parsed: only the cursor, which
            # must fit the filters, is left for the library to refuse.
            why = str(exc).split(";")[0].removeprefix("resume_from").strip()
            raise FlagError(
                "--resume-from",
                f"{why} (give a cursor a failed list printed, with the same {_FILTER_FLAGS})",
            ) from None
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
    """Run ``list`` with the parsed arguments; return the exit code."""
    listed = _Listed()
    with logging_to_stderr(args.verbose):
        try:
            return asyncio.run(_list(args, listed))
        except KeyboardInterrupt:
            # Ctrl-C: what was listed stays listed; say where to go on, as a failed walk does.
            if listed.cursor:
                say(f"resume with: --resume-from {listed.cursor}")
            raise
