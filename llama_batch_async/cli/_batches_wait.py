"""``llama-batch batches wait``: print each batch the moment it finishes, over `finished_batches`.

Exit 0 if every batch completed, 1 if one failed or was cancelled (or an id is
not found), 124 when ``--timeout`` runs out: the codes of ``wait``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import sys
import time

import attrs

from llama_batch_async import (
    Batch,
    BatchClient,
    BatchNotFoundError,
    BatchStatus,
    LlamaBatchError,
    WaitTimeoutError,
)

from . import EXIT_FAILURE, EXIT_OK, EXIT_TIMEOUT
from ._batch_output import BATCH_RECORDS
from ._batches import MOVING_BATCH_DEMO_HELP, flag_error
from ._connect import api_error, connect
from ._options import (
    UsageError,
    add_connection_options,
    add_poll_interval,
    limit_seconds,
    logging_to_stderr,
    poll_interval,
)
from ._output import FORMATS, error, isatty, make_writer, stdout, wire_status
from ._status import StatusLine

__all__ = ["add_arguments", "add_batch_ids", "demo_batch_ids", "run"]


def add_batch_ids(parser: argparse.ArgumentParser, what: str) -> None:
    """The ``BATCH_ID`` arguments and ``--expand-results`` (``batches wait`` and ``watch``)."""
    parser.add_argument("batch_ids", nargs="*", metavar="BATCH_ID", help=what)
    parser.add_argument(
        "--expand-results",
        action="store_true",
        help="fetch each batch with its per-file results (expand=results)",
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare ``batches wait``'s ids, polling, format and connection options."""
    add_batch_ids(
        parser,
        "the batches to wait for (with --demo and none given: every unfinished demo batch)",
    )
    polling = parser.add_argument_group("polling")
    add_poll_interval(polling.add_argument)
    polling.add_argument(
        "--timeout",
        type=limit_seconds,
        metavar="SECONDS",
        help="give up after this many seconds, exit 124 (default: wait as long as it takes)",
    )
    parser.add_argument(
        "--format",
        choices=FORMATS,
        help="output format of the finished batches (default: table on a terminal, else jsonl)",
    )
    add_connection_options(
        parser, request_timeout_flags=("--request-timeout",), demo_help=MOVING_BATCH_DEMO_HELP
    )


@attrs.define
class _Waiting:
    """``waiting for 9 of 12 batches (3 finished), 0:42`` on a terminal's stderr, every second."""

    line: StatusLine
    total: int
    done: int = 0
    started: float = attrs.field(factory=time.monotonic)

    def redraw(self) -> None:
        elapsed = int(time.monotonic() - self.started)
        self.line.show(
            f"waiting for {self.total - self.done} of {self.total} batches "
            f"({self.done} finished), {elapsed // 60}:{elapsed % 60:02d}"
        )

    async def tick(self) -> None:
        while True:
            self.redraw()
            await asyncio.sleep(1.0)


async def demo_batch_ids(client: BatchClient) -> tuple[str, ...]:
    """The ids of the batches the listing shows unfinished (``--demo`` without ids)."""
    return tuple([batch.id async for batch in client.list_batches() if not batch.is_terminal])


def _batch_ids(args: argparse.Namespace) -> tuple[str, ...]:
    batch_ids = tuple(dict.fromkeys(args.batch_ids))
    if not batch_ids and not args.demo:
        raise UsageError("name at least one BATCH_ID to wait for (or try --demo)")
    return batch_ids  # a blank one: the library refuses it, in its words


async def _wait(args: argparse.Namespace) -> int:
    batch_ids = _batch_ids(args)
    timeout = None if args.timeout is None or math.isinf(args.timeout) else args.timeout
    out = stdout()
    async with connect(args, moving=True) as client:
        if not batch_ids:  # --demo: wait for what the demo cloud has in flight
            batch_ids = await demo_batch_ids(client)
            if not batch_ids:
                return EXIT_OK
        try:
            batches = client.finished_batches(
                batch_ids,
                poll_interval=poll_interval(args),
                timeout=timeout,
                expand_results=args.expand_results,
            )
        except ValueError as exc:
            raise flag_error(exc, default="BATCH_ID") from None
        format_name = args.format or ("table" if isatty(out) else "jsonl")
        writer = make_writer(format_name, out, BATCH_RECORDS, ids=batch_ids)
        final: dict[str, Batch] = {}
        waiting = _Waiting(StatusLine(sys.stderr, enabled=isatty(sys.stderr)), len(batch_ids))
        ticker = asyncio.ensure_future(waiting.tick()) if waiting.line.enabled else None
        try:
            async with contextlib.aclosing(batches):
                async for batch in batches:  # print each batch as it finishes
                    waiting.line.clear()  # stdout and stderr may share the terminal
                    writer.write_page((batch,))
                    final[batch.id] = batch
                    waiting.done += 1
                    waiting.redraw()
        except LlamaBatchError as exc:
            writer.end()
            waiting.line.clear()
            return _failed(exc, batch_ids, client.base_url)
        finally:
            if ticker is not None:
                ticker.cancel()
            waiting.line.clear()
        writer.end()
    unsuccessful = [
        final[batch_id] for batch_id in batch_ids if final[batch_id].status != BatchStatus.COMPLETED
    ]
    if unsuccessful:
        error(
            f"{len(unsuccessful)} of {len(final)} batches did not complete: "
            + ", ".join(f"{batch.id} {wire_status(batch)}" for batch in unsuccessful)
        )
        return EXIT_FAILURE
    return EXIT_OK


def _failed(exc: LlamaBatchError, batch_ids: tuple[str, ...], base_url: str) -> int:
    """Report why the wait ended early; return the exit code."""
    if isinstance(exc, WaitTimeoutError):
        error(
            f"timed out after {exc.timeout:g} s; {len(exc.pending)} of {len(batch_ids)} "
            f"batches unfinished: {' '.join(exc.pending)}"
        )
        return EXIT_TIMEOUT
    if isinstance(exc, BatchNotFoundError):
        error(
            f"{len(exc.missing)} of {len(batch_ids)} batches not found: "
            f"{' '.join(exc.missing)} (check the ids, and that the API key can see them)"
        )
        return EXIT_FAILURE
    api_error(exc, base_url)
    return EXIT_FAILURE


def run(args: argparse.Namespace) -> int:
    """Run ``batches wait`` with the parsed arguments; return the exit code."""
    with logging_to_stderr(args.verbose):
        return asyncio.run(_wait(args))
