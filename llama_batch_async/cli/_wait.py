"""``llama-batch wait``, and the wait ``batches wait`` shares: print each record as it finishes.

Exit 0 if every job (batch) completed, 1 if one failed or was cancelled (or an
id is not found), 124 when ``--timeout`` runs out. The wait, its output, its
live line and its errors are one body (`run_wait`) for both listings; a
`Waiting` says what differs: the records, the client's iterator of finished
records, the listing ``--demo`` waits on, and the line for ids not found.
``batches wait`` is `_batches_wait`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import sys
import time
from collections.abc import AsyncGenerator, AsyncIterable, Callable, Mapping
from typing import Generic, TypeVar

import attrs

from llama_batch_async import (
    BatchClient,
    BatchJob,
    JobNotFoundError,
    JobStatus,
    LlamaBatchError,
    WaitTimeoutError,
)

from . import EXIT_FAILURE, EXIT_OK, EXIT_TIMEOUT
from ._job_output import JOB_RECORDS
from ._options import (
    JOB_FLAGS,
    MOVING_DEMO_HELP,
    UsageError,
    add_connection_options,
    add_poll_interval,
    flag_error,
    limit_seconds,
    logging_to_stderr,
    poll_interval,
    text,
)
from ._output import (
    FORMATS,
    Record,
    Records,
    error,
    isatty,
    make_writer,
    stdout,
    wire_status,
)
from ._status import StatusLine

__all__ = [
    "JOBS",
    "Waiting",
    "add_arguments",
    "report_failure",
    "run",
    "run_wait",
    "unfinished_ids",
]

R = TypeVar("R", bound=Record)

Finished = Callable[
    [BatchClient, tuple[str, ...], argparse.Namespace, float | None, Callable[[R], object] | None],
    AsyncGenerator[R, None],
]
"""``(client, ids, args, timeout, on_seen)``: each record the moment it finishes."""
NotFound = Callable[[LlamaBatchError, tuple[str, ...], argparse.Namespace], str | None]
"""``(error, ids, args)``: the line for ids the library gave up on; None for another error."""


def _any_ids(ids: tuple[str, ...]) -> None:
    del ids


@attrs.frozen
class Waiting(Generic[R]):
    """What ``wait`` and ``batches wait`` differ in.

    Attributes:
        records: The records waited for, and how each format writes them.
        finished: The client's iterator of each record as it finishes
            (`Finished`); ``on_seen``, where the client takes it, is told every
            record a poll shows. A `ValueError` from it names a flag.
        unfinished: The listing whose unfinished records ``--demo`` waits for
            when no id is given.
        not_found: The error line for ids not found (`NotFound`).
        flags: The library's parameter names, and the flags that set them.
        completed: The status of success.
        running: The status the live line counts as running; None when the
            client tells nothing before a record finishes (no counts shown).
        check_ids: Refuses ids before anything is started.
    """

    records: Records[R]
    finished: Finished[R]
    unfinished: Callable[[BatchClient, argparse.Namespace], AsyncIterable[R]]
    not_found: NotFound
    flags: Mapping[str, str]
    completed: str
    running: str | None = None
    check_ids: Callable[[tuple[str, ...]], None] = _any_ids


def _finished_jobs(
    client: BatchClient,
    ids: tuple[str, ...],
    args: argparse.Namespace,
    timeout: float | None,
    on_seen: Callable[[BatchJob], object] | None,
) -> AsyncGenerator[BatchJob, None]:
    return client.finished_jobs(
        ids,
        project_id=args.project_id,
        directory_id=args.directory_id,
        poll_interval=poll_interval(args),
        timeout=timeout,
        on_seen=on_seen,
    )


def _jobs_not_found(
    exc: LlamaBatchError, ids: tuple[str, ...], args: argparse.Namespace
) -> str | None:
    if not isinstance(exc, JobNotFoundError):
        return None
    filters = " and the --project-id / --directory-id filters"
    return (
        f"{len(exc.missing)} of {len(ids)} jobs not found in the listing: "
        f"{' '.join(exc.missing)} (check the ids"
        f"{filters if args.project_id or args.directory_id else ''})"
    )


def _no_blank_ids(ids: tuple[str, ...]) -> None:
    if any(not job_id.strip() for job_id in ids):
        raise UsageError("a JOB_ID is empty")


JOBS: Waiting[BatchJob] = Waiting(
    records=JOB_RECORDS,
    finished=_finished_jobs,
    unfinished=lambda client, args: client.list_jobs(
        project_id=args.project_id, directory_id=args.directory_id
    ),
    not_found=_jobs_not_found,
    flags=JOB_FLAGS,
    completed=JobStatus.COMPLETED.value,
    running=JobStatus.RUNNING.value,
    check_ids=_no_blank_ids,
)
"""``wait``: v1 jobs, `BatchClient.finished_jobs` (a walk of the listing per poll)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare ``wait``'s ids, filters, polling, format and connection options."""
    parser.add_argument(
        "ids",
        nargs="*",
        metavar="JOB_ID",
        help="the jobs to wait for (with --demo and none given: every unfinished demo job)",
    )
    filters = parser.add_argument_group("filters (fewer pages per poll)")
    filters.add_argument(
        "--project-id", type=text("--project-id"), metavar="ID", help="the jobs' project"
    )
    filters.add_argument(
        "--directory-id", type=text("--directory-id"), metavar="ID", help="the jobs' directory"
    )
    add_wait_options(parser, "jobs", MOVING_DEMO_HELP)


def add_wait_options(parser: argparse.ArgumentParser, nouns: str, demo_help: str) -> None:
    """``--poll-interval``, ``--timeout``, ``--format`` and the connection options of a wait."""
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
        metavar="FORMAT",
        help=f"output format of the finished {nouns}: {', '.join(FORMATS)} (default: table on "
        "a terminal, else jsonl)",
    )
    add_connection_options(
        parser, request_timeout_flags=("--request-timeout",), demo_help=demo_help
    )


@attrs.define
class _WaitLine:
    """``waiting for 9 of 12 jobs (3 finished), 0:42; 3 running, 6 pending`` on a terminal.

    Redrawn every second on stderr. With a ``running`` status, "running" counts
    the unfinished records whose last record seen has it, "pending" the other
    unfinished ones (not seen yet, pending, dispatched, or a status newer than
    the library); without, the line ends at the time.
    """

    line: StatusLine
    nouns: str
    total: int
    running: str | None
    started: float = attrs.field(factory=time.monotonic)
    statuses: dict[str, str] = attrs.field(factory=dict)
    finished: set[str] = attrs.field(factory=set)

    @property
    def enabled(self) -> bool:
        """Whether stderr is a terminal, so the line is shown."""
        return self.line.enabled

    def seen(self, record: Record) -> None:
        """Note the status of a record a poll showed (the client's ``on_seen``)."""
        self.statuses[record.id] = wire_status(record)

    def finish(self, record: Record) -> None:
        self.finished.add(record.id)

    def redraw(self) -> None:
        elapsed = int(time.monotonic() - self.started)
        done = len(self.finished)
        text = (
            f"waiting for {self.total - done} of {self.total} {self.nouns} ({done} finished), "
            f"{elapsed // 60}:{elapsed % 60:02d}"
        )
        if self.running is not None:
            running = sum(
                1
                for record_id, status in self.statuses.items()
                if status == self.running and record_id not in self.finished
            )
            text += f"; {running} running, {self.total - done - running} pending"
        self.line.show(text)

    async def tick(self) -> None:
        while True:
            self.redraw()
            await asyncio.sleep(1.0)

    def clear(self) -> None:
        self.line.clear()


async def unfinished_ids(records: AsyncIterable[Record]) -> tuple[str, ...]:
    """The ids of the records a listing shows unfinished, in its order."""
    return tuple([record.id async for record in records if not record.is_terminal])


def _ids(args: argparse.Namespace, waiting: Waiting[R]) -> tuple[str, ...]:
    ids = tuple(dict.fromkeys(args.ids))
    if not ids and not args.demo:
        raise UsageError(f"name at least one {waiting.records.id_name} to wait for (or try --demo)")
    waiting.check_ids(ids)
    return ids


async def _wait(args: argparse.Namespace, waiting: Waiting[R]) -> int:
    # Imported to run, not to declare the flags: ``--help`` loads no client.
    from ._connect import connect  # noqa: PLC0415

    ids = _ids(args, waiting)
    timeout = None if args.timeout is None or math.isinf(args.timeout) else args.timeout
    out = stdout()
    async with connect(args, moving=True) as client:
        if not ids:  # --demo: wait for what the demo cloud has in flight
            ids = await unfinished_ids(waiting.unfinished(client, args))
            if not ids:
                return EXIT_OK
        live = _WaitLine(
            StatusLine(sys.stderr, enabled=isatty(sys.stderr)),
            waiting.records.nouns,
            len(ids),
            waiting.running,
        )
        try:
            records = waiting.finished(
                client, ids, args, timeout, live.seen if live.enabled else None
            )
        except ValueError as exc:
            raise flag_error(exc, waiting.flags, default=waiting.records.id_name) from None
        format_name = args.format or ("table" if isatty(out) else "jsonl")
        writer = make_writer(format_name, out, waiting.records, ids=ids)
        final: dict[str, R] = {}
        ticker = asyncio.ensure_future(live.tick()) if live.enabled else None
        try:
            async with contextlib.aclosing(records):
                async for record in records:  # spec: issue 7 - print each job as it finishes
                    live.clear()  # stdout and stderr may share the terminal
                    writer.write_page((record,))
                    final[record.id] = record
                    live.finish(record)
                    live.redraw()
        except LlamaBatchError as exc:
            live.clear()
            writer.end(complete=False)
            missing = waiting.not_found(exc, ids, args)
            return report_failure(exc, ids, waiting.records.nouns, missing, client.base_url)
        except (asyncio.CancelledError, KeyboardInterrupt):
            live.clear()  # Ctrl-C: close the output (a JSON array's `]`), then stop
            writer.end(complete=False)
            raise
        finally:
            if ticker is not None:
                ticker.cancel()
            live.clear()
        writer.end()
    unsuccessful = [final[i] for i in ids if wire_status(final[i]) != waiting.completed]
    if unsuccessful:
        error(
            f"{len(unsuccessful)} of {len(final)} {waiting.records.nouns} did not complete: "
            + ", ".join(f"{record.id} {wire_status(record)}" for record in unsuccessful)
        )
        return EXIT_FAILURE
    return EXIT_OK


def report_failure(
    exc: LlamaBatchError, ids: tuple[str, ...], nouns: str, not_found: str | None, base_url: str
) -> int:
    """Report why a wait (or a watch) of ``ids`` ended early; return the exit code.

    Args:
        exc: Why it ended.
        ids: The ids waited for.
        nouns: What they are, as a count says it (``"jobs"``).
        not_found: The line for ids not found, if ``exc`` says that (`NotFound`).
        base_url: The API the client talked to.
    """
    from ._connect import api_error  # noqa: PLC0415 - as in _wait

    if isinstance(exc, WaitTimeoutError):
        error(
            f"timed out after {exc.timeout:g} s; {len(exc.pending)} of {len(ids)} "
            f"{nouns} unfinished: {' '.join(exc.pending)}"
        )
        return EXIT_TIMEOUT
    if not_found is not None:
        error(not_found)
        return EXIT_FAILURE
    api_error(exc, base_url)
    return EXIT_FAILURE


def run_wait(args: argparse.Namespace, waiting: Waiting[R]) -> int:
    """Wait as the parsed flags say; return the exit code."""
    with logging_to_stderr(args.verbose):
        return asyncio.run(_wait(args, waiting))


def run(args: argparse.Namespace) -> int:
    """Run ``wait`` with the parsed arguments; return the exit code."""
    return run_wait(args, JOBS)
