"""``llama-batch batches list``: one walk of the v2 listing, written page by page.

The walk, its output and its errors are ``list``'s (`_list.run_list`): output
is written as the walk goes; if the walk fails part-way, what was listed stays
listed, and stderr says how to resume (``--resume-from CURSOR``).
"""

from __future__ import annotations

import argparse

from llama_batch_async import Batch, BatchClient, BatchPager

from ._batch_output import BATCH_CSV_COLUMNS, BATCH_RECORDS
from ._batches import BATCH_DEMO_HELP, BATCH_FLAGS, add_batch_filters, filter_arguments
from ._list import Listing, run_list
from ._options import FlagError, add_connection_options, count, fields
from ._output import FORMATS

__all__ = ["BATCHES", "add_arguments", "run"]


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
    output = parser.add_argument_group("output")
    output.add_argument(
        "--format",
        choices=FORMATS,
        metavar="FORMAT",
        help=f"output format: {', '.join(FORMATS)} (default: from --output's suffix "
        ".csv/.json/.jsonl, else table on a terminal, else jsonl)",
    )
    output.add_argument(
        "--fields",
        type=_batch_fields,
        metavar="NAME,...",
        help="only these batch fields, in this order (every format), e.g. id,status,"
        "config.job.type",
    )
    output.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="write to FILE instead of stdout, as `list -o` does: through FILE.partial, renamed "
        "to FILE when the walk completes",
    )
    add_connection_options(parser, demo_help=BATCH_DEMO_HELP)
    # `list`'s flag that batches do not have (yet), as `run_list` reads it.
    parser.set_defaults(checkpoint=None)


def _batch_fields(text: str) -> tuple[str, ...]:
    return fields(text, BATCH_CSV_COLUMNS, "batch")


def _check_windows(args: argparse.Namespace) -> None:
    if args.windows > 1 and args.created_after is None:
        raise FlagError(
            "--windows",
            "needs --created-after: the range from it to --created-before (or now) is split",
        )


def _batch_pager(client: BatchClient, args: argparse.Namespace) -> BatchPager:
    return client.list_batches(
        **filter_arguments(args),  # type: ignore[arg-type] # checked by argparse
        max_items=args.max_items,
        resume_from=args.resume_from,
        windows=args.windows,
    )


BATCHES: Listing[Batch] = Listing(
    records=BATCH_RECORDS,
    pager=_batch_pager,
    flags=BATCH_FLAGS,
    resume_hint="give a cursor a failed batches list printed, with the same filters",
    check=_check_windows,
)
"""``batches list``: v2 batches, `BatchClient.list_batches`."""


def run(args: argparse.Namespace) -> int:
    """Run ``batches list`` with the parsed arguments; return the exit code."""
    return run_list(args, BATCHES)
