"""``llama-batch list``, and the walk ``batches list`` shares: one listing, written page by page.

Output is written as the walk goes; if the walk fails part-way, what was listed
stays listed, and stderr says how to resume (``--resume-from CURSOR``). The
walk, its output and its errors are one body (`run_list`) for both listings; a
`Listing` says what differs: the records, the pager the flags ask for, and
where a good cursor comes from. ``batches list`` is `_batches_list`.

``--output FILE`` (``list`` only) writes to a partial file of the run's own as
the walk goes and renames it to ``FILE`` when the walk completes, so ``FILE``
never holds half a listing: a failed or interrupted walk leaves ``FILE`` as it
was, the jobs listed so far in the partial file, and the resume cursor on
stderr; a resumed run continues that partial file, or is refused (`_export`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

import attrs

from llama_batch_async import (
    BatchClient,
    BatchJob,
    CheckpointStore,
    FileCheckpointStore,
    JobPager,
    LlamaBatchError,
    WalkStats,
    checkpointed_pages,
    load_checkpoint,
)

from . import EXIT_FAILURE, EXIT_OK
from ._job_output import JOB_RECORDS
from ._options import (
    DEFAULT_PREFETCH,
    JOB_FLAGS,
    MAX_PREFETCH,
    FlagError,
    add_connection_options,
    add_filter_arguments,
    count,
    fields,
    flag_error,
    logging_to_stderr,
    text,
)
from ._output import (
    FORMATS,
    Output,
    OutputError,
    Records,
    Writer,
    error,
    isatty,
    make_writer,
    say,
    stdout,
)
from ._status import Progress, StatusLine

if TYPE_CHECKING:
    from ._export import Export

__all__ = ["JOBS", "Listing", "add_arguments", "run", "run_list"]

R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)

CHECKPOINT_DIR_ENV = "LLAMA_BATCH_CHECKPOINT_DIR"
_SUFFIX_FORMATS = {".csv": "csv", ".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl"}


class Page(Protocol[R_co]):
    """A page of a walk, as the output reads it (`JobPage`, `BatchPage`)."""

    @property
    def items(self) -> Sequence[R_co]: ...

    @property
    def cursor(self) -> str: ...


class Pager(Protocol[R_co]):
    """A walk, as the output reads it (`JobPager`, `BatchPager`)."""

    @property
    def stats(self) -> WalkStats: ...

    def pages(self) -> AsyncIterator[Page[R_co]]: ...


def _no_check(args: argparse.Namespace) -> None:
    del args


@attrs.frozen
class Listing(Generic[R]):
    """What ``list`` and ``batches list`` differ in.

    Attributes:
        records: The records listed, and how each format writes them.
        pager: The walk the parsed flags ask for (nothing is sent yet). A
            `ValueError` from it is a value only the library can check (the
            cursor), reported as the flag.
        flags: The library's parameter names, and the flags that set them.
        resume_hint: Where a good ``--resume-from`` cursor comes from.
        check: What the flags need of each other, checked before the demo
            cloud starts or the key is looked up.
    """

    records: Records[R]
    pager: Callable[[BatchClient, argparse.Namespace], Pager[R]]
    flags: Mapping[str, str]
    resume_hint: str
    check: Callable[[argparse.Namespace], object] = _no_check


def _walk(args: argparse.Namespace) -> dict[str, Any]:
    """``list``'s filters and walk options as `BatchClient.list_jobs` keywords."""
    return {
        "status": args.status,
        "job_type": args.job_type,
        "directory_id": args.directory_id,
        "project_id": args.project_id,
        "organization_id": args.organization_id,
        "page_size": args.page_size,
        "max_items": args.max_items,
        # None: the library's default, so the CLI never disagrees with it
        **({} if args.prefetch is None else {"prefetch": args.prefetch}),
    }


def _job_pager(client: BatchClient, args: argparse.Namespace) -> JobPager:
    return client.list_jobs(offset=args.offset, resume_from=args.resume_from, **_walk(args))


JOBS: Listing[BatchJob] = Listing(
    records=JOB_RECORDS,
    pager=_job_pager,
    flags=JOB_FLAGS,
    resume_hint=(
        "give a cursor a failed list printed, with the same --directory-id, --job-type, "
        "--status, --project-id and --organization-id"
    ),
)
"""``list``: v1 jobs, `BatchClient.list_jobs`."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare ``list``'s filters, walk options, format and connection options."""
    add_filter_arguments(parser)
    walk = parser.add_argument_group("walk")
    walk.add_argument(
        "--max-items",
        type=count("--max-items", minimum=0),
        metavar="N",
        help="stop after N jobs (default: every job)",
    )
    start = walk.add_mutually_exclusive_group()
    start.add_argument(
        "--offset",
        type=count("--offset", minimum=0),
        default=0,
        metavar="N",
        help="skip the first N jobs (default: 0)",
    )
    start.add_argument(
        "--resume-from",
        metavar="CURSOR",
        help="continue a walk that failed, from the cursor its error printed (same filters)",
    )
    start.add_argument(
        "--checkpoint",
        type=text("--checkpoint"),
        metavar="NAME",
        help="resume from the checkpoint NAME, save it after each page written, and delete "
        "it when the walk completes (kept in Redis with --redis-url, else in --checkpoint-dir)",
    )
    walk.add_argument(
        "--checkpoint-dir",
        metavar="DIR",
        default=os.environ.get(CHECKPOINT_DIR_ENV)
        or str(Path("~/.cache/llama-batch").expanduser()),
        help=f"where --checkpoint files live (default: ${CHECKPOINT_DIR_ENV}, else "
        "~/.cache/llama-batch)",
    )
    walk.add_argument(
        "--prefetch",
        type=count("--prefetch", minimum=0, maximum=MAX_PREFETCH),
        default=None,
        metavar="N",
        help=(
            f"page requests to keep in flight ahead of the output, 0-{MAX_PREFETCH} "
            f"(default: {DEFAULT_PREFETCH})"
        ),
    )
    output = parser.add_argument_group("output")
    output.add_argument(
        "--format",
        choices=FORMATS,
        metavar="FORMAT",
        help=f"output format: {', '.join(FORMATS)} (default: from --output's suffix "
        ".csv/.json/.jsonl, else table on a terminal, else jsonl)",
    )
    output.add_argument(
        "--fields",
        type=fields,
        metavar="NAME,...",
        help="only these job fields, in this order (every format), e.g. id,status,error_message",
    )
    output.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="write to FILE instead of stdout: through a partial file of this run's beside it, "
        "renamed to FILE when the walk completes (a failed walk leaves FILE as it was and the "
        "jobs so far in the partial file, which --resume-from or --checkpoint continue)",
    )
    add_connection_options(parser)


@attrs.define
class _Listed:
    """How far the output got: the cursor after the last page written; the partial file."""

    cursor: str | None = None
    partial: Path | None = None


@attrs.define
class _Continued:
    """The output stream of a continued export: what the writer writes on creation is dropped.

    A continued ``-o`` file already has the CSV header its first run wrote.
    """

    stream: Output
    muted: bool = True

    @property
    def encoding(self) -> str:
        return self.stream.encoding

    def write(self, text: str, /) -> int:
        return len(text) if self.muted else self.stream.write(text)

    def flush(self) -> None:
        self.stream.flush()

    def isatty(self) -> bool:
        return False


async def _list(args: argparse.Namespace, listing: Listing[R], listed: _Listed) -> int:
    # Imported to run, not to declare the flags: ``list --help`` loads no client.
    from ._connect import connect  # noqa: PLC0415
    from ._export import check_target, open_export  # noqa: PLC0415

    listing.check(args)
    if args.output is not None:
        check_target(args.output)  # before the demo cloud starts or the key is looked up
    async with connect(args) as client, contextlib.AsyncExitStack() as stack:
        store = _checkpoint_store(args, stack) if args.checkpoint else None
        resume = args.resume_from
        if store is not None:
            resume = await _checkpoint_cursor(args, client, store)
        if args.output is None:
            return await _list_to(
                args, listing, listed, client, store=store, out=stdout(), export=None
            )
        if args.resume_from is not None:
            _pager(args, listing, client)  # a cursor of other filters is named as such first
        output_format = _default_format(args, None)
        export = open_export(
            args.output, output_format=output_format, fields=args.fields, resume=resume
        )
        listed.partial = export.partial
        try:
            out = Output(export.file)
            code = await _list_to(
                args, listing, listed, client, store=store, out=out, export=export
            )
            if code != EXIT_OK:
                raise _WalkFailedError(code)
            try:
                # Renamed while still locked: no resumed run can claim it meanwhile.
                export.commit()
            except OSError as exc:
                raise OutputError(f"cannot write {export.target}: {exc.strerror or exc}") from None
        finally:
            export.keep()  # an error or Ctrl-C keeps the partial file and its state
        listed.partial = None
        # The one line that says where the output went (stdout holds nothing).
        say(f"wrote {export.target}")
    return code


class _WalkFailedError(Exception):
    """The walk failed after its output was closed: keep the partial file."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def _default_format(args: argparse.Namespace, out: Output | None) -> str:
    if args.format:
        return str(args.format)
    if args.output is not None:
        return _SUFFIX_FORMATS.get(Path(args.output).suffix.lower(), "jsonl")
    return "table" if out is not None and isatty(out) else "jsonl"


async def _list_to(
    args: argparse.Namespace,
    listing: Listing[R],
    listed: _Listed,
    client: BatchClient,
    *,
    store: CheckpointStore | None,
    out: Output,
    export: Export | None,
) -> int:
    from ._connect import api_error  # noqa: PLC0415 - as in _list

    output_format = _default_format(args, out)
    constant = [name for name in ("status", "job_type") if getattr(args, name, None)]
    if export is not None and export.continued:
        stream = _Continued(out)
        writer: Writer[Any] = make_writer(
            output_format, stream, listing.records, args.fields, constant=constant
        )
        stream.muted = False
    else:
        writer = make_writer(output_format, out, listing.records, args.fields, constant=constant)
    stderr = StatusLine(sys.stderr, enabled=isatty(sys.stderr))
    progress = Progress(stderr, listing.records.nouns, args.max_items)
    if store is not None:
        return await _list_checkpointed(
            args,
            client,
            store=store,
            writer=writer,
            progress=progress,
            listed=listed,
            export=export,
        )
    pager = _pager(args, listing, client)
    try:
        async for page in pager.pages():
            progress.clear()
            writer.write_page(page.items)
            listed.cursor = page.cursor
            if export is not None:
                export.page_written(page.cursor)
            progress.update(pager.stats)
    except LlamaBatchError as exc:
        # What was listed stays listed: close the output, then say where to resume.
        progress.clear()
        writer.end(complete=False)
        api_error(exc, client.base_url)
        if exc.cursor:
            say(f"resume with: --resume-from {exc.cursor}")
        return EXIT_FAILURE
    except (asyncio.CancelledError, KeyboardInterrupt):
        # Ctrl-C: close the output too (a JSON array's `]`, the record it held back).
        progress.clear()
        writer.end(complete=False)
        raise
    finally:
        progress.clear()  # also on Ctrl-C: leave no half line behind
    writer.end()
    return EXIT_OK


def _checkpoint_store(
    args: argparse.Namespace, stack: contextlib.AsyncExitStack
) -> CheckpointStore:
    """The store ``--checkpoint`` keeps its cursor in: Redis with ``--redis-url``, else files.

    A folder that cannot hold checkpoint files is refused here, before any request.
    """
    from ._connect import redis_module, with_redis_url  # noqa: PLC0415 - as in _list

    if args.redis_url:
        shared = with_redis_url(redis_module().RedisCheckpointStore, args.redis_url)
        stack.push_async_callback(shared.aclose)
        return shared  # type: ignore[no-any-return]
    folder = Path(args.checkpoint_dir)
    if folder.exists() and not folder.is_dir():
        raise FlagError("--checkpoint-dir", f"{folder} is not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FlagError("--checkpoint-dir", f"cannot create {folder}: {_reason(exc)}") from None
    if not os.access(folder, os.R_OK | os.W_OK | os.X_OK):
        raise FlagError("--checkpoint-dir", f"{folder} is not a folder this user can write")
    return FileCheckpointStore(folder)


def _reason(exc: OSError) -> str:
    reason = exc.strerror or str(exc)
    return reason[:1].lower() + reason[1:]


def _clear_hint(args: argparse.Namespace, store: CheckpointStore) -> str:
    """How to clear ``--checkpoint NAME`` by hand, to start its walk over."""
    if isinstance(store, FileCheckpointStore):
        return f"to start over, delete {store.directory / (args.checkpoint + '.cursor')}"
    return f"to start over, delete the Redis key llama_batch_async:checkpoint:{args.checkpoint}"


class _CheckpointFailedError(Exception):
    """The checkpoint could not be read or saved: one error line, exit 1."""


def _pager(args: argparse.Namespace, listing: Listing[R], client: BatchClient) -> Pager[R]:
    """The walk the flags ask for (nothing sent), a value only the library checks as its flag."""
    try:
        return listing.pager(client, args)
    except ValueError as exc:
        # Every other flag was checked as it was parsed: the cursor (it must
        # fit the filters) and --windows' range are left for the library.
        hint = listing.resume_hint if "resume_from" in str(exc) else ""
        raise flag_error(exc, listing.flags, default="--resume-from", hint=hint) from None


async def _checkpoint_cursor(
    args: argparse.Namespace, client: BatchClient, store: CheckpointStore
) -> str | None:
    """The cursor ``--checkpoint NAME`` resumes from (None: from the start), checked.

    Everything `checkpointed_pages` would refuse is refused here, before any
    request: the name, a checkpoint of another base URL or key, a cursor that is
    not one or was made under other filters (named as a bad resume point, with
    how to clear it).
    """
    try:
        cursor = await load_checkpoint(client, store, args.checkpoint)
    except ValueError as exc:
        message = str(exc)
        if message.startswith("checkpoint name "):
            raise FlagError("--checkpoint", message.removeprefix("checkpoint name ")) from None
        raise FlagError(
            "--checkpoint",
            f"{args.checkpoint} is a bad resume point: {message}; {_clear_hint(args, store)}",
        ) from None
    except OSError as exc:
        raise FlagError(
            "--checkpoint",
            f"{args.checkpoint} cannot be read: {_reason(exc)}; {_clear_hint(args, store)}",
        ) from None
    except _redis_errors(args) as exc:
        raise _CheckpointFailedError(_store_failure(args, exc)) from None
    if cursor is not None:
        try:
            client.list_jobs(resume_from=cursor, **_walk(args))  # checked, nothing sent
        except ValueError as exc:
            raise FlagError(
                "--checkpoint",
                f"{args.checkpoint} is a bad resume point: {exc}; {_clear_hint(args, store)}",
            ) from None
    return cursor


def _redis_errors(args: argparse.Namespace) -> tuple[type[Exception], ...]:
    """Redis's errors with ``--redis-url``, else none (the extra is imported on demand only)."""
    from ._connect import redis_module  # noqa: PLC0415 - as in _list

    return (redis_module().RedisError,) if args.redis_url else ()


def _store_failure(args: argparse.Namespace, exc: Exception) -> str:
    """A Redis checkpoint store's failure as one line, the URL's password never in it."""
    from ._connect import redis_reason  # noqa: PLC0415 - as in _list

    return (
        f"cannot use Redis for --checkpoint {args.checkpoint}: {redis_reason(exc, args.redis_url)}"
    )


async def _list_checkpointed(
    args: argparse.Namespace,
    client: BatchClient,
    *,
    store: CheckpointStore,
    writer: Writer[Any],  # `list` alone has --checkpoint: its records are jobs
    progress: Progress,
    listed: _Listed,
    export: Export | None,
) -> int:
    """``list --checkpoint NAME``: the walk `checkpointed_pages` makes, written page by page."""
    from ._connect import api_error  # noqa: PLC0415 - as in _list

    items = 0
    try:
        async for page in checkpointed_pages(client, store, args.checkpoint, **_walk(args)):
            progress.clear()
            writer.write_page(page.items)
            listed.cursor = page.cursor
            if export is not None:
                export.page_written(page.cursor)
            items += len(page.items)
            progress.update(WalkStats(items=items, total_size=page.total_size))
    except ValueError as exc:
        # Checked before the walk (_checkpoint_cursor); unless the store changed meanwhile.
        raise FlagError("--checkpoint", str(exc)) from None
    except LlamaBatchError as exc:
        progress.clear()
        writer.end(complete=False)
        api_error(exc, client.base_url)
        say(f"the checkpoint {args.checkpoint} keeps the last page written: run it again")
        return EXIT_FAILURE
    except OSError as exc:
        # The checkpoint could not be saved: the walk stops where the output is whole.
        progress.clear()
        writer.end(complete=False)
        error(f"cannot save the checkpoint {args.checkpoint}: {_reason(exc)}")
        return EXIT_FAILURE
    except _redis_errors(args) as exc:
        message = _store_failure(args, exc)
        progress.clear()
        writer.end(complete=False)
        error(message)
        return EXIT_FAILURE
    except (asyncio.CancelledError, KeyboardInterrupt):
        # Ctrl-C: close the output too (a JSON array's `]`, the record it held back).
        progress.clear()
        writer.end(complete=False)
        raise
    finally:
        progress.clear()
    writer.end()
    return EXIT_OK


def run_list(args: argparse.Namespace, listing: Listing[R]) -> int:
    """Walk ``listing`` as the parsed flags say; return the exit code."""
    listed = _Listed()
    with logging_to_stderr(args.verbose):
        try:
            return asyncio.run(_list(args, listing, listed))
        except _WalkFailedError as exc:
            _kept(listed, listing)
            return exc.code
        except KeyboardInterrupt:
            # Ctrl-C: what was listed stays listed; say where to go on, as a failed walk does.
            _kept(listed, listing)
            if getattr(args, "checkpoint", None):  # --checkpoint refuses --resume-from
                say(f"the checkpoint {args.checkpoint} keeps the last page written: run it again")
            elif listed.cursor:
                say(f"resume with: --resume-from {listed.cursor}")
            raise
        except _CheckpointFailedError as exc:
            error(str(exc))
            return EXIT_FAILURE
        except OutputError as exc:
            if listed.partial is None:  # stdout failed: main reports it
                raise
            error(str(exc))
            _kept(listed, listing)
            return EXIT_FAILURE


def _kept(listed: _Listed, listing: Listing[R]) -> None:
    if listed.partial is not None:
        say(f"the {listing.records.nouns} listed so far are in {listed.partial}")


def run(args: argparse.Namespace) -> int:
    """Run ``list`` with the parsed arguments; return the exit code."""
    return run_list(args, JOBS)
