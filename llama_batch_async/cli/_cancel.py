"""``llama-batch cancel JOB_ID... [--reason TEXT]``: cancel jobs (``cancel_job``).

Writes the server's answer per job (``job_id``, ``status``, ``processed_items``,
``message``). A job that already finished (409) or is unknown (404) is said on
stderr and the others go on (exit 1).
"""

from __future__ import annotations

import argparse

from llama_batch_async import BatchClient, JobCancellation

from ._options import JOB_FLAGS, add_connection_options, fields, text
from ._records import CANCEL_FIELDS, CANCEL_RECORDS, Calls, add_format, run_calls

__all__ = ["add_arguments", "run"]


def _cancel_fields(value: str) -> tuple[str, ...]:
    return fields(value, CANCEL_FIELDS, "cancellation")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare ``cancel``'s ids, reason, format and connection options."""
    parser.add_argument("ids", nargs="+", metavar="JOB_ID", help="the jobs to cancel")
    parser.add_argument("--reason", type=text("--reason"), metavar="TEXT", help="why (recorded)")
    add_format(parser, _cancel_fields)
    add_connection_options(parser)


def run(args: argparse.Namespace) -> int:
    """Run ``cancel``; return the exit code."""

    async def cancel(client: BatchClient, job_id: str) -> JobCancellation:
        return await client.cancel_job(job_id, reason=args.reason)

    flags = {**JOB_FLAGS, "job_id": "JOB_ID", "reason": "--reason"}
    return run_calls(args, args.ids, Calls(CANCEL_RECORDS, cancel, flags))
