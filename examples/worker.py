"""A background worker that walks every batch job and checkpoints where it is.

Each page's cursor is written to a checkpoint file once the page is handled, so
a worker that stops (deploy, crash, Ctrl-C) resumes right after the last page it
finished, in a new process, with nothing lost. A crash after a page's jobs were
appended but before its checkpoint was written appends that one page again: make
the handling idempotent (or see examples/failures.py, which skips handled ids). When the
walk completes, the checkpoint is deleted and the next run walks every job again:
a cursor resumes an interrupted walk, it does not find jobs created since (see
"New jobs since the last run" in docs/tutorial.md for that).

    LLAMA_CLOUD_API_KEY=... python examples/worker.py --checkpoint walk.cursor

Set LLAMA_CLOUD_BASE_URL to point it elsewhere (e.g. `llama-batch serve-fake`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
from pathlib import Path

from llama_batch_async import BatchClient, BatchJob, RateLimitError

logger = logging.getLogger("worker")


def handle_page(jobs: tuple[BatchJob, ...], out: Path, checkpoint: Path, cursor: str) -> None:
    """The worker's real work (here: append the jobs to a JSON-lines file), then the
    checkpoint, written atomically so a crash never leaves half of one."""
    with out.open("a") as stream:
        stream.writelines(json.dumps(job.to_dict()) + "\n" for job in jobs)
    partial = checkpoint.with_suffix(".tmp")
    partial.write_text(cursor)
    os.replace(partial, checkpoint)


async def run(resume_from: str | None, out: Path, checkpoint: Path, stop_after: int | None) -> int:
    """Walk from ``resume_from`` (or the start); return how many jobs were handled."""
    handled = pages_done = 0
    async with BatchClient() as client:
        pages = client.list_jobs(page_size=100, resume_from=resume_from).pages()
        try:
            async with contextlib.aclosing(pages):  # an early return stops the walk at once
                async for page in pages:
                    # File I/O off the event loop, so other tasks keep running.
                    await asyncio.to_thread(handle_page, page.items, out, checkpoint, page.cursor)
                    handled += len(page.items)
                    pages_done += 1
                    if stop_after is not None and pages_done >= stop_after:
                        return handled  # stopped early: the checkpoint stays for the next run
        except RateLimitError as exc:
            # A long Retry-After: stop at the checkpoint; the scheduler runs us again later.
            logger.warning("rate limited for %s s; stopping at the checkpoint", exc.retry_after)
            return handled
    # The walk completed: a checkpoint left behind would point at the end of the
    # listing, and every later run would resume there and handle nothing.
    await asyncio.to_thread(checkpoint.unlink, missing_ok=True)
    return handled


def main() -> None:
    """Parse the arguments and run the worker."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, default=Path("walk.cursor"))
    parser.add_argument("--out", type=Path, default=Path("jobs.jsonl"))
    parser.add_argument("--stop-after-pages", type=int, default=None, help="simulate a stop")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    resume_from = args.checkpoint.read_text() if args.checkpoint.exists() else None
    handled = asyncio.run(run(resume_from, args.out, args.checkpoint, args.stop_after_pages))
    print(f"handled {handled} jobs")


if __name__ == "__main__":
    main()
