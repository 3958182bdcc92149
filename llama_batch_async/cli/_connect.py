"""The client the connection options describe, and one line for a failed call.

`connect` opens a `BatchClient` from the parsed connection options
(`_options.add_connection_options`): the key from ``--api-key`` or the
environment, a shared Redis limiter with ``--redis-url``, and with ``--demo``
a fake cloud started in this process. `api_error` reports a failed call on
stderr as one line, the key never shown.

A command needs this only to run, not to build its parser: ``list`` imports it
in its run path, so ``list --help`` does not load it.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import socket
from collections.abc import AsyncIterator, Callable
from types import ModuleType
from typing import Any, Final, TypeVar
from urllib.parse import urlsplit

from llama_batch_async import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    BatchClient,
    LlamaBatchError,
)
from llama_batch_async.settings import API_KEY_ENV, API_KEY_FALLBACK_ENV

from ._options import (
    DEMO_BATCHES,
    DEMO_JOBS,
    DEMO_PROGRESS_SECONDS,
    DEMO_SEED,
    FlagError,
    UsageError,
)
from ._output import error

__all__ = ["api_error", "connect", "redis_module", "redis_reason", "with_redis_url"]

T = TypeVar("T")
logger = logging.getLogger(__name__)

_NO_REDIS: Final = (
    "--redis-url needs the redis extra: "
    "python3 -m pip install '.[redis]' in a checkout of llama-batch-async"
)
# The demo cloud runs in this process and checks this key; it is no secret.
_DEMO_KEY: Final = "llama-batch-demo-key"

_NO_KEY: Final = (
    f"no API key: set {API_KEY_ENV} (or {API_KEY_FALLBACK_ENV}) or pass --api-key (or try --demo)"
)
_KEY_REFUSED: Final = "the API key was refused (HTTP 401)"
# Never the URL itself: it may hold a password.
_BAD_REDIS_URL: Final = (
    "is not a Redis URL: redis://[[user]:password@]host[:port][/db], rediss://... or "
    "unix:///path/to/socket"
)


@contextlib.asynccontextmanager
async def connect(args: argparse.Namespace, *, moving: bool = False) -> AsyncIterator[BatchClient]:
    """Open the client the connection options describe; with ``--demo``, start its cloud.

    Args:
        args: The parsed connection options.
        moving: Let the demo cloud move its in-flight jobs along to a final
            status within `DEMO_PROGRESS_SECONDS` (``wait`` and ``watch``).
    """
    if args.demo and (args.api_key or args.base_url):
        raise UsageError("--demo serves its own jobs: drop --api-key and --base-url")
    async with contextlib.AsyncExitStack() as stack:
        if args.demo:
            from llama_batch_async.testing import FakeLlamaCloud  # noqa: PLC0415 - demo only

            cloud = FakeLlamaCloud(
                DEMO_JOBS,
                batches=DEMO_BATCHES,
                seed=DEMO_SEED,
                api_key=_DEMO_KEY,
                progress=moving,
                progress_seconds=DEMO_PROGRESS_SECONDS,
            )
            await stack.enter_async_context(cloud)
            key, url = _DEMO_KEY, cloud.url
        else:
            key, key_source = _key(args)
            if not key:
                raise UsageError(_NO_KEY)
            url = args.base_url
        limiter = None
        if args.redis_url:
            limiter = with_redis_url(redis_module().RedisLimiter, args.redis_url)
            stack.push_async_callback(limiter.aclose)
        try:
            client = BatchClient(
                key,
                base_url=url,
                timeout=args.request_timeout,
                max_retries=args.max_retries,
                limiter=limiter,
            )
        except ValueError as exc:
            # The flags were checked as parsed; what is left came from the environment
            # (LLAMA_CLOUD_BASE_URL names itself) or is the key, named as it was given.
            message = str(exc)
            if message.startswith("api_key "):
                message = key_source + message.removeprefix("api_key")
            raise UsageError(message) from None
        stack.push_async_callback(client.aclose)
        try:
            yield client
        finally:
            if limiter is not None:
                _report_limiter(limiter)


def _report_limiter(limiter: Any) -> None:  # noqa: ANN401 - the optional extra's RedisLimiter
    """Say (with ``-v``) whether Redis was used: a fallback is a request decided locally."""
    if limiter.fallbacks:
        logger.info(
            "Redis limiter: Redis not used for %d request(s) (decided locally, %d outage(s))",
            limiter.fallbacks,
            limiter.outages,
        )
    else:
        logger.info("Redis limiter: Redis used for every request (0 fallbacks)")


def _key(args: argparse.Namespace) -> tuple[str, str]:
    """The API key and where it came from (the flag, or the variable), as an error names it."""
    for value, source in (
        (args.api_key, "--api-key"),
        (os.environ.get(API_KEY_ENV), API_KEY_ENV),
        (os.environ.get(API_KEY_FALLBACK_ENV), API_KEY_FALLBACK_ENV),
    ):
        if value:
            return value, source
    return "", "--api-key"


def redis_module() -> ModuleType:
    """`llama_batch_async.redis`, or a usage error naming the extra to install."""
    try:
        import llama_batch_async.redis  # noqa: PLC0415 - the optional extra, on demand
    except ImportError:
        raise UsageError(_NO_REDIS) from None
    return llama_batch_async.redis


def with_redis_url(make: Callable[[str], T], url: str) -> T:
    """``make(url)``, a malformed ``--redis-url`` refused as a flag error without the URL in it."""
    try:
        return make(url)
    except ValueError:
        raise FlagError("--redis-url", _BAD_REDIS_URL) from None


def redis_reason(exc: BaseException, url: str) -> str:
    """Why Redis failed, in its client's words, with the URL's password blanked out."""
    reason = str(exc) or type(exc).__name__
    try:
        password = urlsplit(url).password
    except ValueError:
        password = None
    return reason.replace(password, "***") if password else reason


def api_error(exc: LlamaBatchError, base_url: str | None = None) -> None:
    """Report a failed call on stderr: one line, the key never shown.

    A connection that could not be made is said in our words, from the operating
    system's error (``cannot connect to http://127.0.0.1:9: connection refused``),
    not the HTTP library's (which says ``ssl:default`` of a plain http URL).
    """
    if isinstance(exc, AuthenticationError):
        error(_KEY_REFUSED)
    elif base_url and isinstance(exc, APIConnectionError) and not isinstance(exc, APITimeoutError):
        error(f"cannot connect to {base_url}: {_os_reason(exc) or exc}")
    else:
        error(str(exc))


def _os_reason(exc: BaseException) -> str | None:
    """The operating system's reason a connection failed, from the errors chained below.

    The HTTP library's own error keeps the system's error as ``os_error``; the
    client chains that error (``raise ... from``).
    """
    queue: list[BaseException] = [exc]
    seen: set[int] = set()
    while queue:
        cause = queue.pop(0)
        if id(cause) in seen:
            continue
        seen.add(id(cause))
        if isinstance(cause, socket.gaierror):
            return "the host name cannot be resolved"
        inner = getattr(cause, "os_error", None)
        if isinstance(inner, BaseException):
            queue.append(inner)
        if isinstance(cause, OSError) and type(cause) in _SYSTEM_ERRORS and cause.errno:
            reason = os.strerror(cause.errno)
            return reason[:1].lower() + reason[1:]
        queue += [link for link in (cause.__cause__, cause.__context__) if link is not None]
    return None


# The builtin errors a failed connect raises; not the HTTP library's subclasses,
# whose errno may be copied from a resolver error.
_SYSTEM_ERRORS: Final = frozenset(
    {
        OSError,
        ConnectionError,
        ConnectionRefusedError,
        ConnectionResetError,
        ConnectionAbortedError,
        BrokenPipeError,
        TimeoutError,
        PermissionError,
    }
)
