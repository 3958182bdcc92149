"""``llama-batch batches list|wait|watch``: the v2 batches listing (``/api/v2/batches``).

A command of sub-commands: each is a module of its own (``_batches_list``,
``_batches_wait``, ``_batches_watch``), imported only when it runs, as the
top-level commands are, each the body of its v1 twin (``_list``, ``_wait``,
``_watch``) given the v2 listing. This module holds what the three share: the
filters, the ``--created-after`` / ``--created-before`` type, the ids, the
demo's help, the library's parameter names as flags, and the line for ids
that are not found.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Final

from llama_batch_async import BatchNotFoundError, BatchStatus, LlamaBatchError

from . import EXIT_USAGE, Command, CommandParser
from ._options import (
    DEFAULT_PAGE_SIZE,
    DEMO_BATCHES,
    DEMO_PROGRESS_SECONDS,
    DEMO_SEED,
    FlagError,
    count,
    text,
)

__all__ = [
    "BATCH_DEMO_HELP",
    "BATCH_FLAGS",
    "MOVING_BATCH_DEMO_HELP",
    "SUBCOMMANDS",
    "add_arguments",
    "add_batch_filters",
    "add_batch_ids",
    "batches_not_found",
    "created_bound",
    "filter_arguments",
    "run",
]

SUBCOMMANDS: Final[tuple[Command, ...]] = (
    Command(
        name="list",
        module="_batches_list",
        help="list v2 batches",
        description=(
            "List v2 batches, page by page, as a table, JSON, JSON Lines or CSV. Output is "
            "written as the walk goes; if it fails part-way, what was listed stays, and "
            "stderr says how to resume."
        ),
    ),
    Command(
        name="wait",
        module="_batches_wait",
        help="wait for batches to finish, printing each as it does",
        description=(
            "Poll each BATCH_ID until it is COMPLETED, FAILED or CANCELLED, printing each "
            "batch the moment it finishes. Exit 0 if all completed, 1 if any failed or was "
            "cancelled (or an id is not found), 124 on --timeout."
        ),
    ),
    Command(
        name="watch",
        module="_batches_watch",
        help="print batches as they are first seen and as they change",
        description=(
            "Poll batches and print one line per change: added (first seen) or changed "
            "(with the previous status). Without BATCH_ID, watches the unfinished batches "
            "the listing shows at the start (filters apply). Ends when every watched batch "
            "has finished, or at Ctrl-C, --max-events or --duration."
        ),
    ),
)

BATCH_DEMO_HELP: Final = (
    f"run against a fake cloud started in this process ({DEMO_BATCHES} batches, "
    f"seed {DEMO_SEED}): no key, no network"
)
MOVING_BATCH_DEMO_HELP: Final = (
    f"run against a fake cloud started in this process ({DEMO_BATCHES} batches, seed "
    f"{DEMO_SEED}) whose unfinished batches run and finish within "
    f"{DEMO_PROGRESS_SECONDS:g} s: no key, no network"
)

BATCH_FLAGS: Final = {
    "created_after": "--created-after",
    "created_before": "--created-before",
    "resume_from": "--resume-from",
    "source_directory_id": "--source-directory-id",
    "project_id": "--project-id",
    "organization_id": "--organization-id",
    "batch_ids": "BATCH_ID",
    "poll_interval": "--poll-interval",
    "timeout": "--timeout",
    "windows": "--windows",
}
"""The v2 library's parameter names, and the flags that set them (`_options.flag_error`)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the sub-commands; each one's arguments load when it is parsed."""
    subparsers = parser.add_subparsers(
        dest="batches_command", metavar="COMMAND", required=True, parser_class=CommandParser
    )
    for command in SUBCOMMANDS:
        subparsers.add_parser(
            command.name, help=command.help, description=command.description, module=command.module
        )


def run(args: argparse.Namespace) -> int:  # pragma: no cover - a sub-command's run replaces it
    """Never reached: argparse requires a sub-command, whose ``run`` is set instead."""
    del args
    return EXIT_USAGE


def created_bound(flag: str) -> Callable[[str], datetime]:
    """An argparse type for ``flag``: an ISO 8601 date or time; one without an offset is UTC."""

    def parse(value: str) -> datetime:
        try:
            # Python 3.10's fromisoformat does not take a "Z".
            moment = datetime.fromisoformat(value.strip().removesuffix("Z").removesuffix("z"))
        except ValueError:
            raise FlagError(
                flag,
                f"must be an ISO 8601 date or time such as 2026-11-01T10:00:00Z, got {value!r}",
            ) from None
        if moment.tzinfo is None or value.strip()[-1:] in {"Z", "z"}:
            moment = moment.replace(tzinfo=timezone.utc)
        return moment

    parse.__name__ = flag
    return parse


def add_batch_filters(parser: argparse.ArgumentParser, title: str = "filters") -> None:
    """The v2 listing's filters (``batches list`` and ``batches watch``), under ``title``."""
    filters = parser.add_argument_group(title)
    filters.add_argument(
        "--status",
        type=str.upper,  # `failed` as `list --status failed` has it, or the v2 `FAILED`
        choices=[status.value for status in BatchStatus],
        metavar="STATUS",
        help=f"only batches in this status: {', '.join(s.value for s in BatchStatus)} "
        "(either case)",
    )
    for flag, what in (
        ("--source-directory-id", "source directory"),
        ("--project-id", "project"),
        ("--organization-id", "organization"),
    ):
        filters.add_argument(
            flag, type=text(flag), metavar="ID", help=f"only batches of this {what}"
        )
    filters.add_argument(
        "--created-after",
        type=created_bound("--created-after"),
        metavar="TIME",
        help="only batches created at or after this ISO 8601 time (no offset: UTC)",
    )
    filters.add_argument(
        "--created-before",
        type=created_bound("--created-before"),
        metavar="TIME",
        help="only batches created at or before this ISO 8601 time (no offset: UTC)",
    )
    parser.add_argument(
        "--page-size",
        type=count("--page-size", minimum=1),
        default=DEFAULT_PAGE_SIZE,
        metavar="N",
        help=f"batches per request; the server may cap it (default: {DEFAULT_PAGE_SIZE})",
    )


def _stamp(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def filter_arguments(args: argparse.Namespace) -> dict[str, object]:
    """The parsed filters as `BatchClient.list_batches` keywords.

    Raises:
        FlagError: ``--created-before`` is earlier than ``--created-after``.
    """
    after, before = args.created_after, args.created_before
    if after is not None and before is not None and before < after:
        raise FlagError(
            "--created-before",
            f"must be at or after --created-after ({_stamp(after)}), got {_stamp(before)}",
        )
    return {
        "status": args.status,
        "source_directory_id": args.source_directory_id,
        "project_id": args.project_id,
        "organization_id": args.organization_id,
        "created_after": args.created_after,
        "created_before": args.created_before,
        "page_size": args.page_size,
    }


def add_batch_ids(parser: argparse.ArgumentParser, what: str) -> None:
    """The ``BATCH_ID`` arguments and ``--expand-results`` (``batches wait`` and ``watch``)."""
    parser.add_argument("ids", nargs="*", metavar="BATCH_ID", help=what)
    parser.add_argument(
        "--expand-results",
        action="store_true",
        help="fetch each batch with its per-file results (expand=results)",
    )


def batches_not_found(
    exc: LlamaBatchError, ids: tuple[str, ...], args: argparse.Namespace
) -> str | None:
    """The error line for batches the library gave up looking for; None for another error."""
    del args  # a batch is polled by id: no filter could hide it
    if not isinstance(exc, BatchNotFoundError):
        return None
    return (
        f"{len(exc.missing)} of {len(ids)} batches not found: "
        f"{' '.join(exc.missing)} (check the ids, and that the API key can see them)"
    )
