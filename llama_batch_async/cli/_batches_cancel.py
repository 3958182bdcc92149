"""``llama-batch batches cancel BATCH_ID...``: cancel v2 batches (``cancel_batch``).

Writes each batch as the server returns it; a batch already COMPLETED, FAILED or
CANCELLED cannot be cancelled (409), said on stderr, and the others go on (exit 1).
"""

from __future__ import annotations

import argparse

from llama_batch_async import Batch, BatchClient

from ._batch_output import BATCH_CSV_COLUMNS, BATCH_RECORDS
from ._batches import BATCH_DEMO_HELP, BATCH_FLAGS
from ._options import add_connection_options, fields
from ._records import Calls, add_format, run_calls

__all__ = ["add_arguments", "run"]


def _batch_fields(value: str) -> tuple[str, ...]:
    return fields(value, BATCH_CSV_COLUMNS, "batch")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare ``batches cancel``'s ids, format and connection options."""
    parser.add_argument("ids", nargs="+", metavar="BATCH_ID", help="the batches to cancel")
    add_format(parser, _batch_fields)
    add_connection_options(parser, demo_help=BATCH_DEMO_HELP)


def run(args: argparse.Namespace) -> int:
    """Run ``batches cancel``; return the exit code."""

    async def cancel(client: BatchClient, batch_id: str) -> Batch:
        return await client.cancel_batch(batch_id)

    flags = {**BATCH_FLAGS, "batch_id": "BATCH_ID"}
    return run_calls(args, args.ids, Calls(BATCH_RECORDS, cancel, flags))
