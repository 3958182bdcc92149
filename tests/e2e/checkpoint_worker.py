"""A checkpointed walk in its own process, for tests/e2e/test_checkpoint.py (not collected).

Usage: ``python checkpoint_worker.py BASE_URL FOLDER HANG_ON_PAGE``. Prints each job id
as its page is handled, and ``hanging`` (then sleeps) while handling page HANG_ON_PAGE
(0: never), so the test can SIGKILL it mid-page.
"""

from __future__ import annotations

import asyncio
import sys

from llama_batch_async import BatchClient, FileCheckpointStore, checkpointed_pages


async def main(base_url: str, folder: str, hang_on_page: int) -> None:
    """Walk with a file checkpoint named "nightly"; print what is handled."""
    store = FileCheckpointStore(folder)
    async with BatchClient("checkpoint-key", base_url=base_url) as client:
        number = 0
        async for page in checkpointed_pages(client, store, "nightly", page_size=10, prefetch=0):
            number += 1
            for job in page.items:
                sys.stdout.write(job.id + "\n")
            sys.stdout.flush()
            if number == hang_on_page:
                sys.stdout.write("hanging\n")
                sys.stdout.flush()
                await asyncio.sleep(60)
    sys.stdout.write("done\n")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
