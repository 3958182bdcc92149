"""``llama-batch items JOB_ID [--status failed]``: one job's items, walked as ``list`` walks jobs.

The walk, its output (formats, ``--fields``, ``-o FILE``) and its errors are
``list``'s (`_list.run_list`): output is written as the walk goes; if the walk
fails part-way, what was listed stays, and stderr says how to resume.
"""

from __future__ import annotations

import argparse
from typing import Final

from llama_batch_async import BatchClient, BatchItem, ItemPager, ItemStatus

from ._list import Listing, run_list
from ._options import DEFAULT_PAGE_SIZE, JOB_FLAGS, add_connection_options, count, fields
from ._output import FORMATS
from ._records import field_records

__all__ = ["ITEMS", "ITEM_FIELDS", "add_arguments", "run"]

ITEM_FIELDS: Final = (
    "item_id",
    "item_name",
    "status",
    "job_id",
    "job_record_id",
    "error_message",
    "skip_reason",
    "started_at",
    "completed_at",
    "effective_at",
)
"""An item's fields, in the reference's order: every format writes them."""

_TABLE_FIELDS: Final = ("item_id", "item_name", "status", "completed_at", "error_message")

ITEM_RECORDS = field_records(
    "item", "items", ITEM_FIELDS, lambda item: item.to_dict(), table_names=_TABLE_FIELDS
)


def _item_fields(value: str) -> tuple[str, ...]:
    return fields(value, ITEM_FIELDS, "item")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare ``items``' job id, filter, walk options, format and connection options."""
    parser.add_argument("job_id", metavar="JOB_ID", help="the job whose items to list")
    parser.add_argument(
        "--status",
        choices=[status.value for status in ItemStatus],
        metavar="STATUS",
        help=f"only items in this status: {', '.join(s.value for s in ItemStatus)}",
    )
    walk = parser.add_argument_group("walk")
    walk.add_argument(
        "--page-size",
        type=count("--page-size", minimum=1, maximum=1000),
        default=DEFAULT_PAGE_SIZE,
        metavar="N",
        help=f"items per request, 1-1000; the server may cap it (default: {DEFAULT_PAGE_SIZE})",
    )
    walk.add_argument(
        "--max-items",
        type=count("--max-items", minimum=0),
        metavar="N",
        help="stop after N items (default: every item)",
    )
    walk.add_argument(
        "--resume-from",
        metavar="CURSOR",
        help="continue a walk that failed, from the cursor its error printed (same job, status)",
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
        type=_item_fields,
        metavar="NAME,...",
        help="only these item fields, in this order (every format), e.g. item_name,error_message",
    )
    output.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="write to FILE instead of stdout, as `list -o` does: through FILE.partial, renamed "
        "to FILE when the walk completes",
    )
    add_connection_options(parser)
    parser.set_defaults(checkpoint=None)  # `list`'s flag, as `run_list` reads it


def _item_pager(client: BatchClient, args: argparse.Namespace) -> ItemPager:
    return client.list_job_items(
        args.job_id,
        status=args.status,
        page_size=args.page_size,
        max_items=args.max_items,
        resume_from=args.resume_from,
    )


ITEMS: Listing[BatchItem] = Listing(
    records=ITEM_RECORDS,
    pager=_item_pager,
    flags={**JOB_FLAGS, "job_id": "JOB_ID", "status": "--status"},
    resume_hint="give a cursor a failed items printed, with the same JOB_ID and --status",
)
"""``items``: one job's items, `BatchClient.list_job_items`."""


def run(args: argparse.Namespace) -> int:
    """Run ``items`` with the parsed arguments; return the exit code."""
    return run_list(args, ITEMS)
