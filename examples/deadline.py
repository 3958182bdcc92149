"""A service call: await the failed parse jobs of a project, under a deadline.

LLAMA_CLOUD_API_KEY=... python examples/deadline.py proj-... --deadline 5
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from llama_batch_async import BatchClient, BatchJob, LlamaBatchError


async def failed_parse_jobs(
    client: BatchClient, project_id: str, deadline: float
) -> list[BatchJob]:
    """The project's failed parse jobs (at most 500), or TimeoutError past the deadline.

    The deadline covers the whole walk, retries included; when it passes, the
    request in flight is cancelled and nothing more is sent.
    """
    pager = client.list_jobs(
        project_id=project_id, status="failed", job_type="parse", max_items=500
    )
    return await asyncio.wait_for(pager.collect(), timeout=deadline)


async def main(project_id: str, deadline: float) -> int:
    """Print the failed jobs; exit 1 on an API error, 124 past the deadline."""
    async with BatchClient() as client:
        try:
            jobs = await failed_parse_jobs(client, project_id, deadline)
        except asyncio.TimeoutError:
            print(f"no answer within {deadline} s", file=sys.stderr)
            return 124
        except LlamaBatchError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    for job in jobs:
        print(job.id, job.error_message or "")
    print(f"{len(jobs)} failed parse jobs")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("project_id")
    parser.add_argument("--deadline", type=float, default=10.0)
    arguments = parser.parse_args()
    sys.exit(asyncio.run(main(arguments.project_id, arguments.deadline)))
