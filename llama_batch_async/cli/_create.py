"""``llama-batch create --config FILE.json (--directory-id ID | --item-ids ID,...)``: start a job.

The configuration file holds the vendor's ``job_config`` object, sent as it is.
Writes the new job's record, as ``list`` does. A create is sent once: a
connection that broke after sending is said on stderr with where to look for
the job (exit 1), never sent again.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from llama_batch_async import BatchClient, BatchJob

from ._job_output import JOB_RECORDS
from ._options import JOB_FLAGS, FlagError, add_connection_options, fields, text
from ._records import Calls, add_format, run_calls

__all__ = ["add_arguments", "run"]


def _config(value: str) -> dict[str, Any]:
    try:
        document = json.loads(Path(value).read_text(encoding="utf-8"))
    except OSError as exc:
        raise FlagError("--config", f"cannot be read: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise FlagError("--config", f"is not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise FlagError("--config", "must hold a JSON object (the job configuration)")
    return document


def _ids(value: str) -> list[str]:
    ids = [part.strip() for part in value.split(",") if part.strip()]
    if not ids:
        raise FlagError("--item-ids", f"must be a comma list of item ids, got {value!r}")
    return ids


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare ``create``'s configuration, source, format and connection options."""
    parser.add_argument(
        "--config",
        type=_config,
        required=True,
        metavar="FILE",
        help="a JSON file holding the job configuration (job_config), sent as it is",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--directory-id", type=text("--directory-id"), metavar="ID", help="every file of it"
    )
    source.add_argument("--item-ids", type=_ids, metavar="ID,...", help="these items")
    add_format(parser, fields)
    add_connection_options(parser)


def run(args: argparse.Namespace) -> int:
    """Run ``create``; return the exit code."""

    async def create(client: BatchClient, _: str) -> BatchJob:
        return await client.create_job(
            job_config=args.config, directory_id=args.directory_id, item_ids=args.item_ids
        )

    flags = {
        **JOB_FLAGS,
        "job_config": "--config",
        "directory_id": "--directory-id",
        "item_ids": "--item-ids",
    }
    return run_calls(args, ["new"], Calls(JOB_RECORDS, create, flags))
