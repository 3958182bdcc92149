"""``llama-batch``: list LlamaCloud batch jobs from the shell, or run the fake cloud.

Subcommands:

    llama-batch list [filters] [--format table|json|jsonl|csv] [--fields F,...] [-o FILE] [--demo]
    llama-batch wait JOB_ID... [--timeout S] [--poll-interval S] [--demo]
    llama-batch watch [filters] [--poll-interval S] [--no-initial] [--demo]
    llama-batch batches list|wait|watch ...   (v2: /api/v2/batches)
    llama-batch serve-fake [--port N] [--jobs N] [--batches N] ...

The package is a registry of commands (`COMMANDS`), each a module imported only
when its command runs (``list`` never loads the fake server, ``--help`` loads
no command at all), and each a short script over the public API:

    __init__    main, the parser, the registry, exit codes
    _options    shared options, the argparse types that check every flag, and
                `flag_error` (a library `ValueError` said with the flag)
    _connect    connect (the client the options describe, --demo's cloud), api_error
    _output     records (`Records`: what each format makes of a job or a batch),
                escaping, the stdout wrapper, the json/jsonl/csv writers
    _table      tables that fit the terminal: the fitting helpers, the job tables
    _status     status lines on a terminal's stderr (list's progress, wait's live line)
    _list, _wait, _watch
                one body per verb for both listings (`run_list`, `run_wait`,
                `run_watch`, given what the listing differs in: a `Listing`,
                `Waiting`, `Watching`), and the v1 command: add_arguments(parser),
                run(args) -> exit code
    _batches    the ``batches`` command: its sub-commands' registry and shared flags;
                _batches_list, _batches_wait, _batches_watch one sub-command each
                (its flags, and the v2 listing given to the verb's body),
                _batch_output the v2 records (`BATCH_RECORDS`, its table fitted
                with _table's helpers)
    _serve      ``serve-fake``

``--help`` loads only _options and _output, ``list --help`` list's module and
_status besides (a test pins which modules load when); every command imports
_connect where it runs, so no ``--help`` loads the client.

Nothing here imports a private module of the library (a test pins it).

Exit codes: 0 success (also when the reader of a pipe stops early), 1 the API or
the walk failed (``wait``: a job failed or was cancelled, or an id is not
listed) or stdout cannot take the output, 2 bad usage or a bad value, 124
``wait --timeout`` ran out, 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import sys
from collections.abc import Callable, Sequence
from typing import Any, Final, NoReturn

import attrs

__all__ = [
    "COMMANDS",
    "EXIT_FAILURE",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_TIMEOUT",
    "EXIT_USAGE",
    "JOB_FIELDS",
    "build_parser",
    "job_to_dict",
    "main",
]

EXIT_OK: Final = 0
EXIT_FAILURE: Final = 1
EXIT_USAGE: Final = 2
EXIT_TIMEOUT: Final = 124
"""``wait --timeout`` ran out: the code of coreutils ``timeout``."""
EXIT_INTERRUPTED: Final = 130

# Below the exit codes: the command modules import them from here.
from ._options import UsageError  # noqa: E402
from ._output import (  # noqa: E402
    JOB_FIELDS,
    OutputError,
    error,
    job_to_dict,
    lenient_stdout,
    say,
    silence_stdout,
)


@attrs.frozen
class Command:
    """One subcommand: its name, its help, and the module that declares and runs it.

    The module (``llama_batch_async.cli.<module>``) has ``add_arguments(parser)``
    and ``run(args) -> int``; it is imported when the command is parsed.
    """

    name: str
    module: str
    help: str
    description: str


COMMANDS: Final[tuple[Command, ...]] = (
    Command(
        name="list",
        module="_list",
        help="list batch jobs",
        description=(
            "List batch jobs, page by page, as a table, JSON, JSON Lines or CSV. "
            "Output is written as the walk goes; if it fails part-way, what was "
            "listed stays, and stderr says how to resume."
        ),
    ),
    Command(
        name="wait",
        module="_wait",
        help="wait for jobs to finish, printing each as it does",
        description=(
            "Poll the listing until every JOB_ID is completed, failed or cancelled, "
            "printing each job the moment it finishes. Exit 0 if all completed, 1 if "
            "any failed or was cancelled (or an id is not listed), 124 on --timeout."
        ),
    ),
    Command(
        name="watch",
        module="_watch",
        help="print jobs as they are added, change or leave the listing",
        description=(
            "Poll the listing and print one line per change: added, changed (with "
            "the previous status) or removed. Runs until Ctrl-C, --max-events or "
            "--duration."
        ),
    ),
    Command(
        name="batches",
        module="_batches",
        help="list, wait for or watch v2 batches (/api/v2/batches)",
        description=(
            "The v2 batches listing: `batches list`, `batches wait BATCH_ID...` and "
            "`batches watch`, with the formats, --demo, exit codes and errors of the "
            "v1 commands."
        ),
    ),
    Command(
        name="serve-fake",
        module="_serve",
        help="run a fake LlamaCloud on this machine until Ctrl-C",
        description=(
            "Serve the batch-processing list endpoint with synthetic jobs, and the v2 "
            "batches endpoints with synthetic batches. The base URL is printed on the "
            "first line of stdout; point --base-url at it."
        ),
    ),
)


class CommandParser(argparse.ArgumentParser):
    """A subcommand's parser: its module is imported, and its arguments declared, on first use."""

    def __init__(self, *, module: str = "", **kwargs: Any) -> None:  # noqa: ANN401 - argparse's own keywords, passed through
        super().__init__(**kwargs)
        self._module = module
        self._loaded = not module

    def load(self) -> None:
        """Import the command's module and declare its arguments (once)."""
        if self._loaded:
            return
        self._loaded = True
        commands = importlib.import_module(f"{__name__}.{self._module}")
        commands.add_arguments(self)
        self.set_defaults(run=commands.run)

    def parse_known_args(  # type: ignore[override] # typeshed overloads on namespace
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        self.load()
        parsed, extras = super().parse_known_args(args, namespace)
        if extras:  # said here, with this command's usage, not the top level's
            self.error(self._unrecognized(extras))
        return parsed, extras

    def format_help(self) -> str:
        self.load()
        return super().format_help()

    def _unrecognized(self, extras: Sequence[str]) -> str:
        """``unrecognized arguments: --statuss failed (did you mean --status?)``."""
        message = f"unrecognized arguments: {' '.join(extras)}"
        flags = [text.partition("=")[0] for text in extras if text.startswith("-")]
        known = [flag for flag in self._option_string_actions if flag.startswith("--")]
        guesses = [difflib.get_close_matches(flag, known, n=1, cutoff=0.7) for flag in flags]
        suggested = [guess[0] for guess in guesses if guess]
        if suggested:
            message += f" (did you mean {' or '.join(dict.fromkeys(suggested))}?)"
        return message

    def error(self, message: str) -> NoReturn:
        """The command's one-line usage and the error: the full usage is in ``--help``."""
        self.exit(
            EXIT_USAGE,
            f"usage: {self.prog} [options] (--help lists them)\n{self.prog}: error: {message}\n",
        )


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version  # noqa: PLC0415 - on demand

    try:
        return version("llama-batch-async")
    except PackageNotFoundError:  # pragma: no cover - running from an uninstalled tree
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    """Build the ``llama-batch`` argument parser; each command's arguments load on use."""
    parser = argparse.ArgumentParser(
        prog="llama-batch",
        description=(
            "List LlamaCloud batch jobs, wait for them to finish or watch them change, "
            "or run a fake LlamaCloud to try it on."
        ),
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    subparsers = parser.add_subparsers(
        dest="command", metavar="COMMAND", required=True, parser_class=CommandParser
    )
    for command in COMMANDS:
        subparsers.add_parser(
            command.name, help=command.help, description=command.description, module=command.module
        )
    return parser


def _exit_code(exc: SystemExit) -> int:
    if exc.code is None:
        return EXIT_OK
    if isinstance(exc.code, int):
        return exc.code
    say(str(exc.code))
    return EXIT_USAGE


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``llama-batch`` and return its exit code.

    Args:
        argv: The arguments after the program name; default ``sys.argv[1:]``.

    Returns:
        0 on success (also when a pipe's reader stops early), 1 when the API or
        the walk failed or stdout cannot take the output, 2 on bad usage or a
        bad value, 124 when ``wait --timeout`` ran out, 130 on Ctrl-C.
    """
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # argparse: --help, or a usage error already printed
        return _exit_code(exc)
    except UsageError as exc:  # a flag's type refused its value, naming the flag
        error(str(exc))
        return EXIT_USAGE
    return _run(args)


def _run(args: argparse.Namespace) -> int:
    """Run the parsed command; every failure it reports becomes its exit code."""
    run: Callable[[argparse.Namespace], int] = args.run
    try:
        with lenient_stdout():
            return run(args)
    except OutputError as exc:
        # A full disk, a closed stdout: one line, not a traceback, and no second
        # failure when the interpreter flushes stdout on the way out.
        error(str(exc))
        silence_stdout()
        return EXIT_FAILURE
    except UsageError as exc:
        error(str(exc))
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader stopped (`llama-batch list | head -1`): that is its choice, not a failure.
        silence_stdout()
        return EXIT_OK


if __name__ == "__main__":  # pragma: no cover - `python -m` runs __main__.py
    sys.exit(main())
