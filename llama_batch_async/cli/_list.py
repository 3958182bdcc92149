"""``llama-batch list``: one walk of the listing, written page by page.

Output is written as the walk goes; if the walk fails part-way, what was listed
stays listed, and stderr says how to resume (``--resume-from CURSOR``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
from pathlib import Path
from typing import Any

import attrs

from llama_batch_async import (
    BatchClient,
    CheckpointStore,
    FileCheckpointStore,
    LlamaBatchError,
    WalkStats,
    checkpointed_pages,
)

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
    redis_module,
    text,
)
from ._output import FORMATS, WRITERS, Writer, isatty, say, stdout
from ._status import Progress, StatusLine

__all__ = ["add_arguments", "run"]

_FILTER_FLAGS = "--directory-id, --job-type, --status, --project-id and --organization-id"
CHECKPOINT_DIR_ENV = "LLAMA_BATCH_CHECKPOINT_DIR"


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
    start.add_argument(
        "--checkpoint",
        type=text("--checkpoint"),
        metavar="NAME",
        help="resume from the checkpoint NAME, save it after each page written, and delete "
        "it when the walk completes (kept in Redis with --redis-url, else in --checkpoint-dir)",
    )
    walk.add_argument(
        "--checkpoint-dir",
        metavar="DIR",
        default=os.environ.get(CHECKPOINT_DIR_ENV)
        or str(Path("~/.cache/llama-batch").expanduser()),
        help=f"where --checkpoint files live (default: ${CHECKPOINT_DIR_ENV}, else "
        "~/.cache/llama-batch)",
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
    walk: dict[str, Any] = {
        "status": args.status,
        "job_type": args.job_type,
        "directory_id": args.directory_id,
        "project_id": args.project_id,
        "organization_id": args.organization_id,
        "page_size": args.page_size,
        "max_items": args.max_items,
        # None: the library's default, so the CLI never disagrees with it
        **({} if args.prefetch is None else {"prefetch": args.prefetch}),
    }
    async with connect(args) as client:
        if args.checkpoint:
            return await _list_checkpointed(
                args, client, walk, writer=writer, progress=progress, listed=listed
            )
        try:
            pager = client.list_jobs(offset=args.offset, resume_from=args.resume_from, **walk)
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


async def _list_checkpointed(
    args: argparse.Namespace,
    client: BatchClient,
    walk: dict[str, Any],
    *,
    writer: Writer,
    progress: Progress,
    listed: _Listed,
) -> int:
    """``list --checkpoint NAME``: the walk `checkpointed_pages` makes, written page by page."""
    async with contextlib.AsyncExitStack() as stack:
        store: CheckpointStore = FileCheckpointStore(args.checkpoint_dir)
        if args.redis_url:
            shared = redis_module().RedisCheckpointStore(args.redis_url)
            stack.push_async_callback(shared.aclose)
            store = shared
        items = 0
        try:
            async for page in checkpointed_pages(client, store, args.checkpoint, **walk):
                progress.clear()
                writer.write_page(page.items)
                listed.cursor = page.cursor
                items += len(page.items)
                progress.update(WalkStats(items=items, total_size=page.total_size))
        except ValueError as exc:
            # The stored cursor was made under other filters (or the name is unusable).
            raise FlagError("--checkpoint", str(exc)) from None
        except LlamaBatchError as exc:
            progress.clear()
            writer.end()
            api_error(exc, client.base_url)
            say(f"the checkpoint {args.checkpoint} keeps the last page written: run it again")
            return EXIT_FAILURE
        finally:
            progress.clear()
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
