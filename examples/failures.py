"""React once to each newly failed batch job: a worker that walks every few minutes.

Each walk lists the failed jobs page by page through `checkpointed_pages`, so a
worker killed mid-walk (even with ``kill -9``) resumes after the last page it
finished instead of starting over; and it keeps the ids it has reacted to in
``handled.txt``, so a job handled in an earlier walk, or on the page a crash
redelivers, is skipped. What a ``kill -9`` can repeat is the one reaction that ran
while its id was not yet written down: make the reaction idempotent for that job
(an alert keyed by the job id, a ticket looked up before it is opened).

    LLAMA_CLOUD_API_KEY=... python examples/failures.py --every 300 --state ./state

Set LLAMA_CLOUD_BASE_URL to point it elsewhere (e.g. `llama-batch serve-fake`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from pathlib import Path
from typing import TextIO

from llama_batch_async import BatchClient, BatchJob, FileCheckpointStore, checkpointed_pages


def append_line(stream: TextIO, line: str) -> None:
    """Write one line and make it durable before going on (a crash keeps it whole)."""
    stream.write(line + "\n")
    stream.flush()
    os.fsync(stream.fileno())


async def react(job: BatchJob, alerts: TextIO, seconds: float) -> None:
    """The reaction to a new failure (here: an alert line); ``seconds`` stands for its cost."""
    await asyncio.sleep(seconds)
    alert = {"id": job.id, "error": job.error_message}
    append_line(alerts, json.dumps(alert))
    print(f"new failure: {job.id}: {job.error_message}")


async def walk(client: BatchClient, state: Path, page_size: int, seconds: float) -> int:
    """One walk of the failed jobs; return how many were new."""
    store = FileCheckpointStore(state)  # <state>/failed.cursor while a walk is under way
    handled_path = state / "handled.txt"
    handled = set(handled_path.read_text().split()) if handled_path.exists() else set()
    new = 0
    with handled_path.open("a") as ids, (state / "alerts.jsonl").open("a") as alerts:
        pages = checkpointed_pages(client, store, "failed", status="failed", page_size=page_size)
        async for page in pages:
            for job in page.items:
                if job.id in handled:
                    continue
                await react(job, alerts, seconds)
                append_line(ids, job.id)  # after the reaction: a crash between repeats it
                handled.add(job.id)
                new += 1
            # The next iteration saves this page's cursor: the page is done.
    return new


async def main(args: argparse.Namespace) -> None:
    """Walk now, then every ``--every`` seconds (once with ``--once``)."""
    args.state.mkdir(parents=True, exist_ok=True)
    async with BatchClient() as client:
        while True:
            new = await walk(client, args.state, args.page_size, args.react_seconds)
            print(f"{new} new failures", flush=True)
            if args.once:
                return
            await asyncio.sleep(args.every)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--state", type=Path, default=Path("failures-state"))
    parser.add_argument("--every", type=float, default=300.0, help="seconds between walks")
    parser.add_argument("--once", action="store_true", help="one walk, then exit")
    parser.add_argument("--page-size", type=int, default=100)
    parser.add_argument("--react-seconds", type=float, default=0.0, help="simulate slow work")
    asyncio.run(main(parser.parse_args()))
