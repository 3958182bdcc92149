"""``llama-batch wait``: print each job the moment it finishes, over `finished_jobs`.

Exit 0 if every job completed, 1 if one failed or was cancelled (or an id is
not listed), 124 when ``--timeout`` runs out.
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
    BatchJob,
    JobNotFoundError,
    JobStatus,
    LlamaBatchError,
    WaitTimeoutError,
)

from . import EXIT_FAILURE, EXIT_OK, EXIT_TIMEOUT
from ._connect import api_error, connect
from ._options import (
    MOVING_DEMO_HELP,
    UsageError,
    add_connection_options,
    add_poll_interval,
    limit_seconds,
    logging_to_stderr,
    poll_interval,
    text,
)
from ._output import FORMATS, JOB_RECORDS, error, isatty, make_writer, stdout, wire_status
from ._status import StatusLine

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare ``wait``'s ids, filters, polling, format and connection options."""
    parser.add_argument(
        "job_ids",
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
        help="output format of the finished jobs (default: table on a terminal, else jsonl)",
    )
    add_connection_options(
        parser, request_timeout_flags=("--request-timeout",), demo_help=MOVING_DEMO_HELP
    )


@attrs.define
class _Waiting:
    """``waiting for 9 of 12 jobs (3 finished), 0:42; 3 running, 6 pending`` on a terminal.

    Redrawn every second on stderr. "running" counts the unfinished jobs whose
    last record seen says ``running``; "pending" the other unfinished ones (not
    seen yet, pending, dispatched, or a status newer than the library).
    """

    line: StatusLine
    total: int
    done: int = 0
    started: float = attrs.field(factory=time.monotonic)
    statuses: dict[str, str] = attrs.field(factory=dict)
    finished: set[str] = attrs.field(factory=set)

    def seen(self, job: BatchJob) -> None:
        """Note the status of a job a poll showed (`finished_jobs`' ``on_seen``)."""
        self.statuses[job.id] = wire_status(job)

    def finish(self, job: BatchJob) -> None:
        self.finished.add(job.id)
        self.done = len(self.finished)

    def redraw(self) -> None:
        elapsed = int(time.monotonic() - self.started)
        running = sum(
            1
            for job_id, status in self.statuses.items()
            if status == JobStatus.RUNNING.value and job_id not in self.finished
        )
        pending = self.total - self.done - running
        self.line.show(
            f"waiting for {self.total - self.done} of {self.total} jobs ({self.done} finished), "
            f"{elapsed // 60}:{elapsed % 60:02d}; {running} running, {pending} pending"
        )

    async def tick(self) -> None:
        while True:
            self.redraw()
            await asyncio.sleep(1.0)


def _job_ids(args: argparse.Namespace) -> tuple[str, ...]:
    job_ids = tuple(dict.fromkeys(args.job_ids))
    if not job_ids and not args.demo:
        raise UsageError("name at least one JOB_ID to wait for (or try --demo)")
    if any(not job_id.strip() for job_id in job_ids):
        raise UsageError("a JOB_ID is empty")
    return job_ids


async def _wait(args: argparse.Namespace) -> int:
    job_ids = _job_ids(args)
    timeout = None if args.timeout is None or math.isinf(args.timeout) else args.timeout
    out = stdout()
    async with connect(args, moving=True) as client:
        if not job_ids:  # --demo: wait for what the demo cloud has in flight
            listed = client.list_jobs(project_id=args.project_id, directory_id=args.directory_id)
            job_ids = tuple([job.id async for job in listed if not job.is_terminal])
            if not job_ids:
                return EXIT_OK
        format_name = args.format or ("table" if isatty(out) else "jsonl")
        writer = make_writer(format_name, out, JOB_RECORDS, ids=job_ids)
        final: dict[str, BatchJob] = {}
        waiting = _Waiting(StatusLine(sys.stderr, enabled=isatty(sys.stderr)), len(job_ids))
        jobs = client.finished_jobs(
            job_ids,
            project_id=args.project_id,
            directory_id=args.directory_id,
            poll_interval=poll_interval(args),
            timeout=timeout,
            on_seen=waiting.seen if waiting.line.enabled else None,
        )
        ticker = asyncio.ensure_future(waiting.tick()) if waiting.line.enabled else None
        try:
            async with contextlib.aclosing(jobs):
                async for job in jobs:  # spec: issue 7 - print each job as it finishes
                    waiting.line.clear()  # stdout and stderr may share the terminal
                    writer.write_page((job,))
                    final[job.id] = job
                    waiting.finish(job)
                    waiting.redraw()
        except LlamaBatchError as exc:
            writer.end()
            waiting.line.clear()
            return _failed(exc, job_ids, args, client.base_url)
        finally:
            if ticker is not None:
                ticker.cancel()
            waiting.line.clear()
        writer.end()
    unsuccessful = [
        final[job_id] for job_id in job_ids if final[job_id].status != JobStatus.COMPLETED
    ]
    if unsuccessful:
        error(
            f"{len(unsuccessful)} of {len(final)} jobs did not complete: "
            + ", ".join(f"{job.id} {wire_status(job)}" for job in unsuccessful)
        )
        return EXIT_FAILURE
    return EXIT_OK


def _failed(
    exc: LlamaBatchError, job_ids: tuple[str, ...], args: argparse.Namespace, base_url: str
) -> int:
    """Report why the wait ended early; return the exit code."""
    if isinstance(exc, WaitTimeoutError):
        error(
            f"timed out after {exc.timeout:g} s; {len(exc.pending)} of {len(job_ids)} "
            f"jobs unfinished: {' '.join(exc.pending)}"
        )
        return EXIT_TIMEOUT
    if isinstance(exc, JobNotFoundError):
        filters = " and the --project-id / --directory-id filters"
        error(
            f"{len(exc.missing)} of {len(job_ids)} jobs not found in the listing: "
            f"{' '.join(exc.missing)} (check the ids"
            f"{filters if args.project_id or args.directory_id else ''})"
        )
        return EXIT_FAILURE
    api_error(exc, base_url)
    return EXIT_FAILURE


def run(args: argparse.Namespace) -> int:
    """Run ``wait`` with the parsed arguments; return the exit code."""
    with logging_to_stderr(args.verbose):
        return asyncio.run(_wait(args))
