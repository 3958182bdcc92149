"""``llama-batch serve-fake``: run the package's fake LlamaCloud until Ctrl-C.

It serves v1 jobs (``/api/v1/beta/batch-processing``) and v2 batches
(``/api/v2/batches``) side by side, with the same latency, caps and progress.

The base URL is printed on the first line of stdout, flushed; point
``--base-url`` at it. stderr then says which key works and how to export both.
"""

from __future__ import annotations

import argparse
from typing import TextIO, cast

import attrs

from llama_batch_async.settings import API_KEY_ENV, BASE_URL_ENV

from . import EXIT_FAILURE, EXIT_OK
from ._options import DEMO_BATCHES, DEMO_JOBS, DEMO_SEED, count, delay_seconds
from ._output import Output, error, say, stdout

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
        default=DEMO_JOBS,
        metavar="N",
        help=f"synthetic jobs to serve (default: {DEMO_JOBS}, the --demo jobs)",
    )
    parser.add_argument(
        "--batches",
        type=count("--batches", minimum=0),
        default=DEMO_BATCHES,
        metavar="N",
        help=f"synthetic v2 batches to serve at /api/v2/batches (default: {DEMO_BATCHES})",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=DEMO_SEED,
        metavar="N",
        help=f"seed of the synthetic jobs and batches (default: {DEMO_SEED}, as --demo)",
    )
    from llama_batch_async.testing import PAGING_KINDS  # noqa: PLC0415 - serve-fake only

    parser.add_argument(
        "--paging",
        choices=PAGING_KINDS,
        metavar="KIND",
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
    parser.add_argument(
        "--rate-limit",
        type=count("--rate-limit", minimum=1),
        metavar="N",
        help="answer 429 (with a whole-second Retry-After) past N requests in any sliding "
        "second, as a rate-limited API does: to try a fleet sharing a limit through Redis",
    )


@attrs.define
class _Announce:
    """stdout for the fake: after the URL line, stderr says how to point a client at it."""

    out: Output
    require_key: bool
    line: str = ""
    said: bool = False

    def write(self, text: str) -> int:
        written = self.out.write(text)
        self.line += text if not self.said else ""
        if not self.said and self.line.endswith("\n"):
            self.said = True
            self.out.flush()  # the URL first, as scripts read it
            url = self.line.strip()
            # Never echo --require-key's value: it may be a real key's stand-in.
            key = "<the --require-key value>" if self.require_key else "anything"
            which = "only the --require-key key" if self.require_key else "any API key"
            say(f"serving the fake LlamaCloud at {url} ({which} works); in another shell:")
            say(f"  export {BASE_URL_ENV}={url} {API_KEY_ENV}={key}")
        return written

    def flush(self) -> None:
        self.out.flush()


def run(args: argparse.Namespace) -> int:
    """Serve until SIGINT or SIGTERM; return the exit code."""
    from llama_batch_async.testing import run_fake_server  # noqa: PLC0415 - aiohttp.web on demand

    # The URL line goes through Output too: a closed or full stdout is an output
    # error, not "cannot serve". run_fake_server only writes and flushes it.
    out = cast("TextIO", _Announce(stdout(), args.require_key is not None))
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
            rate_limit=args.rate_limit,
            stream=out,
        )
    except BrokenPipeError:
        raise
    except OSError as exc:
        error(f"cannot serve on {args.host}:{args.port}: {exc.strerror or exc}")
        return EXIT_FAILURE
    return EXIT_OK
