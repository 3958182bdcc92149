"""``llama-batch batches watch``: print `BatchClient.watch_batches` events as they come.

The printing, the stop conditions and the errors are ``watch``'s
(`_watch.run_watch`): one line per change (added when first seen, changed with
the previous status) as text on a terminal, else JSON Lines. The library
watches batches by id (a batch is cheap to poll by id); without ``BATCH_ID``
the command watches the unfinished batches the listing shows at the start.
Ends when every watched batch has finished, or at Ctrl-C, ``--max-events`` or
``--duration``.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import AsyncGenerator

from llama_batch_async import Batch, BatchClient, BatchEvent

from ._batch_output import BATCH_RECORDS, batch_table_row
from ._batches import (
    BATCH_FLAGS,
    MOVING_BATCH_DEMO_HELP,
    add_batch_filters,
    add_batch_ids,
    batches_not_found,
    filter_arguments,
)
from ._options import poll_interval
from ._output import say
from ._wait import unfinished_ids
from ._watch import Watched, Watching, add_watch_options, run_watch

__all__ = ["BATCHES", "add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare ``batches watch``'s ids, filters, polling, stop conditions, format, connection."""
    add_batch_ids(
        parser,
        "the batches to watch (default: the unfinished batches the listing shows, filters applied)",
    )
    add_batch_filters(parser, "filters (without BATCH_ID: which unfinished batches to watch)")
    add_watch_options(
        parser,
        initial="report only changes after the first poll, not the batches as first seen",
        stops="when every batch has finished",
        demo_help=MOVING_BATCH_DEMO_HELP,
    )


async def _changes(events: AsyncGenerator[BatchEvent, None]) -> AsyncGenerator[BatchEvent, None]:
    """``--no-initial``: the events after each batch's first sight (no `watch_batches` option)."""
    async with contextlib.aclosing(events):
        async for event in events:
            if event.kind != "added":
                yield event


async def _batch_events(
    client: BatchClient, args: argparse.Namespace
) -> Watched[BatchEvent] | None:
    """The ids given, else the unfinished batches the listing shows under the filters."""
    ids = tuple(dict.fromkeys(args.ids))
    if not ids:
        ids = await unfinished_ids(client.list_batches(**filter_arguments(args)))  # type: ignore[arg-type]
        if not ids:
            say("no unfinished batch to watch (name a BATCH_ID, or change the filters)")
            return None
    events = client.watch_batches(
        ids, poll_interval=poll_interval(args), expand_results=args.expand_results
    )
    return ids, _changes(events) if args.no_initial else events


def _batch_cells(batch: Batch, status: str) -> list[str]:
    """``bat-... RUNNING → COMPLETED parse_v2``."""
    batch_id, _, kind, *_ = batch_table_row(batch)
    return [batch_id, status, kind]


BATCHES: Watching[Batch, BatchEvent] = Watching(
    records=BATCH_RECORDS,
    events=_batch_events,
    record_of=lambda event: event.batch,
    cells=_batch_cells,
    flags=BATCH_FLAGS,
    not_found=batches_not_found,
    check=filter_arguments,  # the bounds' order, before anything is sent
    narrow_drop=2,
)
"""``batches watch``: v2 batches, `BatchClient.watch_batches` (each batch polled by id)."""


def run(args: argparse.Namespace) -> int:
    """Run ``batches watch`` with the parsed arguments; return the exit code."""
    return run_watch(args, BATCHES)
