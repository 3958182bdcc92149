"""``llama-batch batches wait``: print each batch the moment it finishes, over `finished_batches`.

The wait, its output, its live line and its errors are ``wait``'s
(`_wait.run_wait`): exit 0 if every batch completed, 1 if one failed or was
cancelled (or an id is not found), 124 when ``--timeout`` runs out.
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncGenerator, Callable

from llama_batch_async import Batch, BatchClient, BatchStatus

from ._batch_output import BATCH_RECORDS
from ._batches import BATCH_FLAGS, MOVING_BATCH_DEMO_HELP, add_batch_ids, batches_not_found
from ._options import poll_interval
from ._wait import Waiting, add_wait_options, run_wait

__all__ = ["BATCHES", "add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare ``batches wait``'s ids, polling, format and connection options."""
    add_batch_ids(
        parser,
        "the batches to wait for (with --demo and none given: every unfinished demo batch)",
    )
    add_wait_options(parser, "batches", MOVING_BATCH_DEMO_HELP)


def _finished_batches(
    client: BatchClient,
    ids: tuple[str, ...],
    args: argparse.Namespace,
    timeout: float | None,
    on_seen: Callable[[Batch], object] | None,
) -> AsyncGenerator[Batch, None]:
    del on_seen  # finished_batches tells nothing of a batch before it finishes
    return client.finished_batches(
        ids, poll_interval=poll_interval(args), timeout=timeout, expand_results=args.expand_results
    )


BATCHES: Waiting[Batch] = Waiting(
    records=BATCH_RECORDS,
    finished=_finished_batches,
    unfinished=lambda client, args: client.list_batches(),
    not_found=batches_not_found,
    flags=BATCH_FLAGS,
    completed=BatchStatus.COMPLETED.value,
)
"""``batches wait``: v2 batches, `BatchClient.finished_batches` (each batch polled by id)."""


def run(args: argparse.Namespace) -> int:
    """Run ``batches wait`` with the parsed arguments; return the exit code."""
    return run_wait(args, BATCHES)
