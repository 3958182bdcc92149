"""``llama-batch get JOB_ID...``: each job's record from its status endpoint (``get_job``).

One request per id, wherever the job is listed; the record is the one ``list``
writes, in the same formats. An unknown id is said on stderr (exit 1).
"""

from __future__ import annotations

import argparse

from llama_batch_async import BatchClient, BatchJob

from ._job_output import JOB_RECORDS
from ._options import JOB_FLAGS, add_connection_options, fields
from ._records import Calls, add_format, run_calls

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare ``get``'s ids, format and connection options."""
    parser.add_argument("ids", nargs="+", metavar="JOB_ID", help="the jobs to show")
    parser.add_argument("--project-id", metavar="ID", help="sent as project_id")
    add_format(parser, fields)
    add_connection_options(parser)


def run(args: argparse.Namespace) -> int:
    """Run ``get``; return the exit code."""

    async def get(client: BatchClient, job_id: str) -> BatchJob:
        return (await client.get_job(job_id, project_id=args.project_id)).job

    flags = {**JOB_FLAGS, "job_id": "JOB_ID"}
    return run_calls(args, args.ids, Calls(JOB_RECORDS, get, flags))
