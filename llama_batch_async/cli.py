"""``llama-batch``: list LlamaCloud batch jobs from the shell, or run the fake cloud.

Subcommands:

    llama-batch list [filters] [--format table|json|jsonl|csv] [--demo]
    llama-batch serve-fake [--port N] [--jobs N] ...

Each subcommand is one `_Command`: a function that declares its arguments and a
function that runs it and returns the exit code. Commands that talk to the API
share one set of connection options (`_add_connection_options`), so ``wait`` and
``watch`` slot in beside ``list`` the same way.

Exit codes: 0 success (also when the reader of a pipe stops early), 1 the API or
the walk failed, 2 bad usage or a bad value, 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import json
import logging
import os
import re
import shutil
import sys
from collections.abc import Callable, Iterator, Sequence
from datetime import timezone
from typing import TYPE_CHECKING, Final, Protocol, TextIO

import attrs

from ._client import BatchClient
from ._errors import AuthenticationError, LlamaBatchError
from ._models import BatchJob, JobStatus, JobType

if TYPE_CHECKING:
    from ._pager import WalkStats

__all__ = ["JOB_FIELDS", "job_to_dict", "main"]

EXIT_OK: Final = 0
EXIT_FAILURE: Final = 1
EXIT_USAGE: Final = 2
EXIT_INTERRUPTED: Final = 130

API_KEY_ENV: Final = "LLAMA_CLOUD_API_KEY"
BASE_URL_ENV: Final = "LLAMA_CLOUD_BASE_URL"

JOB_FIELDS: Final[tuple[str, ...]] = tuple(field.name for field in attrs.fields(BatchJob))
"""The reference's 17 job fields, in reference order: the keys and CSV columns."""

FORMATS: Final = ("table", "json", "jsonl", "csv")

DEMO_JOBS: Final = 137
DEMO_SEED: Final = 7
# The demo cloud runs in this process and checks this key; it is no secret.
_DEMO_KEY: Final = "llama-batch-demo-key"

_NO_KEY: Final = f"no API key: set {API_KEY_ENV} or pass --api-key (or try --demo)"
_KEY_REFUSED: Final = "the API key was refused (HTTP 401)"

# Library messages name Python parameters; the command line names its flags.
_PARAMETER = re.compile(
    r"\b(page_size|max_items|resume_from|directory_id|job_type|project_id|organization_id"
    r"|max_retries|base_url)\b"
)

JsonValue = str | int | None


class _UsageError(Exception):
    """Bad usage found after parsing: reported as one line, exit 2."""


# --------------------------------------------------------------------- records


def job_to_dict(job: BatchJob) -> dict[str, JsonValue]:
    """Turn a job into the reference's record: its 17 field names and wire values.

    Enum fields become the value the server sent (``"parse"``; an unknown value
    stays the string it was), timestamps ISO 8601 in UTC with a ``Z``
    (``2026-11-01T10:00:00.123Z``; microseconds only when present), missing
    values None. Every output format is built from this (`BatchJob.to_dict`).

    Args:
        job: The job to convert.
    """
    return job.to_dict()


# --------------------------------------------------------------------- output


class _Writer(Protocol):
    """Writes a walk's jobs in one format, page by page, flushing each page."""

    def write_page(self, jobs: Sequence[BatchJob]) -> None: ...

    def end(self) -> None: ...


@attrs.define
class _JsonLinesWriter:
    stream: TextIO

    def write_page(self, jobs: Sequence[BatchJob]) -> None:
        for job in jobs:
            self.stream.write(json.dumps(job_to_dict(job)) + "\n")
        self.stream.flush()

    def end(self) -> None:
        self.stream.flush()


@attrs.define
class _JsonWriter:
    """One JSON array, one job per line, written as the walk goes."""

    stream: TextIO
    count: int = 0

    def write_page(self, jobs: Sequence[BatchJob]) -> None:
        for job in jobs:
            self.stream.write(
                ("[\n  " if self.count == 0 else ",\n  ") + json.dumps(job_to_dict(job))
            )
            self.count += 1
        self.stream.flush()

    def end(self) -> None:
        self.stream.write("[]\n" if self.count == 0 else "\n]\n")
        self.stream.flush()


class _CsvWriter:
    """A header row of the 17 field names, then one row per job; None is empty."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.writer = csv.writer(stream, lineterminator="\n")
        self.writer.writerow(JOB_FIELDS)

    def write_page(self, jobs: Sequence[BatchJob]) -> None:
        for job in jobs:
            record = job_to_dict(job)
            self.writer.writerow(
                ["" if record[name] is None else record[name] for name in JOB_FIELDS]
            )
        self.stream.flush()

    def end(self) -> None:
        self.stream.flush()


_TABLE_HEADER: Final = ("ID", "TYPE", "STATUS", "PROGRESS", "FAILED", "CREATED (UTC)", "ERROR")
_RIGHT_ALIGNED: Final = frozenset({3, 4})
_MIN_ERROR_WIDTH: Final = 24
_PIPED_ERROR_WIDTH: Final = 60


def _table_row(job: BatchJob) -> tuple[str, ...]:
    record = job_to_dict(job)
    processed = "-" if job.processed_items is None else str(job.processed_items)
    failed = "-" if job.failed_items is None else str(job.failed_items)
    created = "-"
    if job.created_at is not None:
        created = job.created_at.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    error = " ".join((job.error_message or "").split())  # one line per job
    return (
        job.id,
        str(record["job_type"]),
        str(record["status"]),
        f"{processed}/{job.total_items}",
        failed,
        created,
        error,
    )


def _truncate(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


@attrs.define
class _TableWriter:
    """Aligned columns; widths come from the header and the first page."""

    stream: TextIO
    widths: list[int] | None = None
    fit: bool = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self.fit = _isatty(self.stream)  # on a terminal, the error column fits its width

    def _line(self, cells: Sequence[str]) -> str:
        assert self.widths is not None  # noqa: S101 - set before the first line
        parts = [
            cell.rjust(width) if index in _RIGHT_ALIGNED else cell.ljust(width)
            for index, (cell, width) in enumerate(zip(cells[:-1], self.widths, strict=True))
        ]
        room = _PIPED_ERROR_WIDTH
        if self.fit:
            columns = shutil.get_terminal_size().columns
            room = max(_MIN_ERROR_WIDTH, columns - sum(self.widths) - 2 * len(self.widths) - 1)
        parts.append(_truncate(cells[-1], room))
        return "  ".join(parts).rstrip() + "\n"

    def write_page(self, jobs: Sequence[BatchJob]) -> None:
        rows = [_table_row(job) for job in jobs]
        if self.widths is None:
            self.widths = [
                max(len(cell) for cell in column)
                for column in zip(*(_TABLE_HEADER[:-1], *(row[:-1] for row in rows)), strict=True)
            ]
            self.stream.write(self._line(_TABLE_HEADER))
        for row in rows:
            self.stream.write(self._line(row))
        self.stream.flush()

    def end(self) -> None:
        if self.widths is None:  # no page arrived: still show what the columns are
            self.write_page(())
        self.stream.flush()


_WRITERS: Final[dict[str, Callable[[TextIO], _Writer]]] = {
    "table": _TableWriter,
    "json": _JsonWriter,
    "jsonl": _JsonLinesWriter,
    "csv": _CsvWriter,
}


@attrs.define
class _Progress:
    """``1200 of ~5000 jobs`` on a terminal's stderr, redrawn in place; else nothing."""

    stream: TextIO
    enabled: bool
    shown: int = 0

    def update(self, stats: WalkStats) -> None:
        if not self.enabled:
            return
        text = f"{stats.items} jobs"
        if stats.total_size is not None:
            text = f"{stats.items} of ~{stats.total_size} jobs"
        self.stream.write("\r" + text.ljust(self.shown))
        self.stream.flush()
        self.shown = len(text)

    def clear(self) -> None:
        if self.enabled and self.shown:
            self.stream.write("\r" + " " * self.shown + "\r")
            self.stream.flush()
            self.shown = 0


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a replaced or closed stream
        return False


def _error(message: str) -> None:
    _say("error: " + " ".join(message.split()))


def _say(line: str) -> None:
    """Write one line to stderr, at once."""
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def _flag_names(message: str) -> str:
    return _PARAMETER.sub(lambda match: "--" + match.group(1).replace("_", "-"), message)


# --------------------------------------------------------------------- commands


@attrs.frozen
class _Command:
    """One subcommand: its name, help, arguments and runner."""

    name: str
    help: str
    description: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


def _add_connection_options(parser: argparse.ArgumentParser) -> None:
    """Options of every command that talks to the API (``list``; later ``wait``, ``watch``)."""
    group = parser.add_argument_group("connection")
    group.add_argument(
        "--api-key",
        metavar="KEY",
        help=f"the LlamaCloud API key (default: ${API_KEY_ENV}); never printed",
    )
    group.add_argument(
        "--base-url",
        metavar="URL",
        help=f"the API base URL (default: ${BASE_URL_ENV}, else https://api.cloud.llamaindex.ai)",
    )
    group.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="seconds one attempt of one page request may take (default: 60)",
    )
    group.add_argument(
        "--max-retries",
        type=int,
        default=4,
        metavar="N",
        help="retries of each failed page request; 0 disables retrying (default: 4)",
    )
    group.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="show retries on stderr (-vv: every request too)",
    )
    group.add_argument(
        "--demo",
        action="store_true",
        help=(
            f"run against a fake cloud started in this process ({DEMO_JOBS} jobs, "
            f"seed {DEMO_SEED}): no key, no network"
        ),
    )


def _add_list_arguments(parser: argparse.ArgumentParser) -> None:
    filters = parser.add_argument_group("filters")
    filters.add_argument(
        "--status", choices=[status.value for status in JobStatus], help="only jobs in this status"
    )
    filters.add_argument(
        "--job-type", choices=[kind.value for kind in JobType], help="only jobs of this type"
    )
    filters.add_argument("--directory-id", metavar="ID", help="only jobs of this directory")
    filters.add_argument("--project-id", metavar="ID", help="only jobs of this project")
    filters.add_argument("--organization-id", metavar="ID", help="only jobs of this organization")
    walk = parser.add_argument_group("walk")
    walk.add_argument(
        "--page-size",
        type=int,
        default=100,
        metavar="N",
        help="jobs per request; the server may cap it (default: 100)",
    )
    walk.add_argument(
        "--max-items", type=int, metavar="N", help="stop after N jobs (default: every job)"
    )
    walk.add_argument(
        "--offset", type=int, default=0, metavar="N", help="skip the first N jobs (default: 0)"
    )
    walk.add_argument(
        "--resume-from",
        metavar="CURSOR",
        help="continue a walk that failed, from the cursor its error printed (same filters)",
    )
    walk.add_argument(
        "--prefetch",
        type=int,
        default=0,
        metavar="N",
        help="page requests to keep in flight ahead of the output, 0-32 (default: 0)",
    )
    parser.add_argument(
        "--format",
        choices=FORMATS,
        help="output format (default: table on a terminal, else jsonl)",
    )
    _add_connection_options(parser)


def _credentials(args: argparse.Namespace) -> tuple[str, str | None]:
    """The API key and base URL from the flags, else the environment."""
    key: str | None = args.api_key or os.environ.get(API_KEY_ENV) or None
    if key is None:
        raise _UsageError(_NO_KEY)
    base_url: str | None = args.base_url
    return key, base_url


async def _list(args: argparse.Namespace) -> int:
    if args.demo and (args.api_key or args.base_url):
        raise _UsageError("--demo serves its own jobs: drop --api-key and --base-url")
    output_format: str = args.format or ("table" if _isatty(sys.stdout) else "jsonl")
    key: str
    base_url: str | None
    async with contextlib.AsyncExitStack() as stack:
        if args.demo:
            from .testing import FakeLlamaCloud  # noqa: PLC0415 - only the demo needs the server

            cloud = FakeLlamaCloud(DEMO_JOBS, seed=DEMO_SEED, api_key=_DEMO_KEY)
            await stack.enter_async_context(cloud)
            key, base_url = _DEMO_KEY, cloud.url
        else:
            key, base_url = _credentials(args)
        client = BatchClient(
            key, base_url=base_url, timeout=args.timeout, max_retries=args.max_retries
        )
        stack.push_async_callback(client.aclose)
        pager = client.list_jobs(
            status=args.status,
            job_type=args.job_type,
            directory_id=args.directory_id,
            project_id=args.project_id,
            organization_id=args.organization_id,
            page_size=args.page_size,
            max_items=args.max_items,
            offset=args.offset,
            resume_from=args.resume_from,
            prefetch=args.prefetch,
        )
        writer = _WRITERS[output_format](sys.stdout)
        progress = _Progress(sys.stderr, enabled=_isatty(sys.stderr))
        try:
            async for page in pager.pages():
                progress.clear()
                writer.write_page(page.items)
                progress.update(pager.stats)
        except LlamaBatchError as exc:
            # What was listed stays listed: close the output, then say where to resume.
            progress.clear()
            writer.end()
            _error(_KEY_REFUSED if isinstance(exc, AuthenticationError) else str(exc))
            if exc.cursor:
                _say(f"resume with: --resume-from {exc.cursor}")
            return EXIT_FAILURE
        finally:
            progress.clear()  # also on Ctrl-C: leave no half line behind
        writer.end()
    return EXIT_OK


@contextlib.contextmanager
def _logging_to_stderr(verbosity: int) -> Iterator[None]:
    """Retries are WARNING log records: shown with -v only, so stderr stays for errors.

    The handler is removed afterwards, so `main` can be called again in one process.
    """
    logger = logging.getLogger("llama_batch_async")
    handler: logging.Handler
    level = logger.level
    if verbosity <= 0:
        # Without a handler, Python's last-resort handler would print warnings.
        handler = logging.NullHandler()
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
        logger.setLevel(logging.DEBUG if verbosity > 1 else logging.INFO)
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def _run_list(args: argparse.Namespace) -> int:
    with _logging_to_stderr(args.verbose):
        return asyncio.run(_list(args))


def _add_serve_fake_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--host", default="127.0.0.1", help="the address to listen on (default: 127.0.0.1)"
    )
    parser.add_argument(
        "--port", type=int, default=0, help="the port to listen on; 0 picks a free one (default: 0)"
    )
    parser.add_argument(
        "--jobs", type=int, default=250, metavar="N", help="synthetic jobs to serve (default: 250)"
    )
    parser.add_argument(
        "--seed", type=int, default=0, metavar="N", help="seed of the synthetic jobs (default: 0)"
    )
    parser.add_argument(
        "--page-tokens", action="store_true", help="send next_page_token while more jobs remain"
    )
    parser.add_argument(
        "--no-total-size", action="store_true", help="leave total_size out of responses"
    )
    parser.add_argument(
        "--max-limit", type=int, metavar="N", help="silently cap each page at N jobs"
    )
    parser.add_argument(
        "--latency",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="delay before every response (default: 0)",
    )
    parser.add_argument(
        "--require-key",
        metavar="KEY",
        help="answer 401 unless requests carry this bearer key (default: any key)",
    )
    parser.add_argument(
        "--progress",
        action="store_true",
        help="move pending and running jobs along to completion over a few seconds",
    )


def _run_serve_fake(args: argparse.Namespace) -> int:
    from .testing import run_fake_server  # noqa: PLC0415 - aiohttp.web only when serving

    try:
        # Prints the URL on one line, flushed, then serves until SIGINT or SIGTERM.
        run_fake_server(
            args.host,
            args.port,
            args.jobs,
            seed=args.seed,
            api_key=args.require_key,
            page_tokens=args.page_tokens,
            total_size=not args.no_total_size,
            max_limit=args.max_limit,
            latency=args.latency,
            progress=args.progress,
        )
    except BrokenPipeError:
        raise
    except OSError as exc:
        _error(f"cannot serve on {args.host}:{args.port}: {exc.strerror or exc}")
        return EXIT_FAILURE
    return EXIT_OK


COMMANDS: Final[tuple[_Command, ...]] = (
    _Command(
        name="list",
        help="list batch jobs",
        description=(
            "List batch jobs, page by page, as a table, JSON, JSON Lines or CSV. "
            "Output is written as the walk goes; if it fails part-way, what was "
            "listed stays, and stderr says how to resume."
        ),
        add_arguments=_add_list_arguments,
        run=_run_list,
    ),
    _Command(
        name="serve-fake",
        help="run a fake LlamaCloud on this machine until Ctrl-C",
        description=(
            "Serve the batch-processing list endpoint with synthetic jobs. The base "
            "URL is printed on the first line of stdout; point --base-url at it."
        ),
        add_arguments=_add_serve_fake_arguments,
        run=_run_serve_fake,
    ),
)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version  # noqa: PLC0415 - on demand

    try:
        return version("llama-batch-async")
    except PackageNotFoundError:  # pragma: no cover - running from an uninstalled tree
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    """Build the ``llama-batch`` argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="llama-batch",
        description="List LlamaCloud batch jobs, or run a fake LlamaCloud to try it on.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in COMMANDS:
        sub = subparsers.add_parser(
            command.name, help=command.help, description=command.description
        )
        command.add_arguments(sub)
        sub.set_defaults(run=command.run)
    return parser


def _exit_code(exc: SystemExit) -> int:
    if exc.code is None:
        return EXIT_OK
    if isinstance(exc.code, int):
        return exc.code
    _say(str(exc.code))
    return EXIT_USAGE


def _silence_stdout() -> None:
    """Point stdout at devnull so the interpreter's last flush cannot fail again."""
    # https://docs.python.org/3/library/signal.html#note-on-sigpipe
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``llama-batch`` and return its exit code.

    Args:
        argv: The arguments after the program name; default ``sys.argv[1:]``.

    Returns:
        0 on success (also when a pipe's reader stops early), 1 when the API or
        the walk failed, 2 on bad usage or a bad value, 130 on Ctrl-C.
    """
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # argparse: --help, or a usage error already printed
        return _exit_code(exc)
    run: Callable[[argparse.Namespace], int] = args.run
    try:
        return run(args)
    except _UsageError as exc:
        _error(str(exc))
        return EXIT_USAGE
    except ValueError as exc:  # the library refused an argument before sending anything
        _error(_flag_names(str(exc)))
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader stopped (`llama-batch list | head -1`): that is its choice, not a failure.
        _silence_stdout()
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
