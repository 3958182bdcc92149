"""``llama-batch serve-fake``: run the package's fake LlamaCloud until Ctrl-C.

It serves v1 jobs (``/api/v1/beta/batch-processing``) and v2 batches
(``/api/v2/batches``) side by side, with the same latency, caps and progress.

The base URL is printed on the first line of stdout, flushed; point
``--base-url`` at it.
"""

from __future__ import annotations

import argparse
from typing import TextIO, cast

from . import EXIT_FAILURE, EXIT_OK
from ._options import count, delay_seconds
from ._output import error, stdout

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the fake cloud's address, jobs, batches and behaviour."""
    parser.add_argument(
        "--host", default="127.0.0.1", help="the address to listen on (default: 127.0.0.1)"
    )
    parser.add_argument(
        "--port",
        type=count("--port", minimum=0, maximum=65535),
        default=0,
        help="the port to listen on; 0 picks a free one (default: 0)",
    )
    parser.add_argument(
        "--jobs",
        type=count("--jobs", minimum=0),
        default=250,
        metavar="N",
        help="synthetic jobs to serve (default: 250)",
    )
    parser.add_argument(
        "--batches",
        type=count("--batches", minimum=0),
        default=250,
        metavar="N",
        help="synthetic v2 batches to serve at /api/v2/batches (default: 250)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        metavar="N",
        help="seed of the synthetic jobs and batches (default: 0)",
    )
    from llama_batch_async.testing import PAGING_KINDS  # noqa: PLC0415 - serve-fake only

    parser.add_argument(
        "--paging",
        choices=PAGING_KINDS,
        help="how the fake pages: offset (no tokens; the default), both (tokens and "
        "offset honoured), token-ignored (tokens sent, page_token ignored), token "
        "(offset ignored)",
    )
    parser.add_argument("--page-tokens", action="store_true", help="the same as --paging both")
    parser.add_argument(
        "--no-total-size", action="store_true", help="leave total_size out of responses"
    )
    parser.add_argument(
        "--max-limit",
        type=count("--max-limit", minimum=1),
        metavar="N",
        help="silently cap each page at N jobs",
    )
    parser.add_argument(
        "--latency",
        type=delay_seconds,
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


def run(args: argparse.Namespace) -> int:
    """Serve until SIGINT or SIGTERM; return the exit code."""
    from llama_batch_async.testing import run_fake_server  # noqa: PLC0415 - aiohttp.web on demand

    # The URL line goes through Output too: a closed or full stdout is an output
    # error, not "cannot serve". run_fake_server only writes and flushes it.
    out = cast("TextIO", stdout())
    try:
        run_fake_server(
            args.host,
            args.port,
            args.jobs,
            batches=args.batches,
            seed=args.seed,
            api_key=args.require_key,
            page_tokens=args.page_tokens,
            paging=args.paging,
            total_size=not args.no_total_size,
            max_limit=args.max_limit,
            latency=args.latency,
            progress=args.progress,
            stream=out,
        )
    except BrokenPipeError:
        raise
    except OSError as exc:
        error(f"cannot serve on {args.host}:{args.port}: {exc.strerror or exc}")
        return EXIT_FAILURE
    return EXIT_OK
