"""Helpers several test modules share. Import as ``from helpers import ...``.

``conftest.py`` puts this folder on ``sys.path``: under nox the suite runs from
a temporary folder against the installed wheel, so ``tests`` is not a package
that can be imported, and the checkout's root must stay off the path.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import io
import logging
import math
import os
import runpy
import signal
import subprocess
import sys
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any, NamedTuple

import pytest

from llama_batch_async import BatchJob, JobStatus, JobType
from llama_batch_async._config import (
    DEFAULT_MAX_RETRIES,
    DEFAULT_PAGE_SIZE,
    DEFAULT_RETRY_AFTER_CAP,
    DEFAULT_TIMEOUT,
    Config,
    make_config,
)
from llama_batch_async._paging._query import JobQuery, make_query
from llama_batch_async.testing import FakeLlamaCloud

API_KEY = "llx-CONFIGKEY-0123456789"


def ids(jobs: Iterable[BatchJob]) -> list[str]:
    """The ids of ``jobs``, in order."""
    return [job.id for job in jobs]


def all_ids(cloud: FakeLlamaCloud) -> list[str]:
    """The ids of every job the fake lists, in listing order."""
    return [job["id"] for job in cloud.jobs]


def job(job_id: str, status: str = "running", *, total_items: int = 1, **fields: Any) -> BatchJob:
    """A valid `BatchJob` of type parse in ``proj-1``."""
    return BatchJob(
        id=job_id,
        job_type=JobType.PARSE,
        project_id="proj-1",
        status=JobStatus(status),
        total_items=total_items,
        **fields,
    )


def config(**changes: Any) -> Config:
    """``make_config`` with the client's defaults, an empty environment and ``changes``."""
    arguments: dict[str, Any] = {
        "api_key": API_KEY,
        "base_url": None,
        "session_cookie": None,
        "timeout": DEFAULT_TIMEOUT,
        "max_retries": DEFAULT_MAX_RETRIES,
        "retry_after_cap": DEFAULT_RETRY_AFTER_CAP,
        "trust_env": False,
        "environ": {},
    }
    arguments.update(changes)
    return make_config(**arguments)


def query(**changes: Any) -> JobQuery:
    """``make_query`` with list_jobs' defaults and ``changes`` applied."""
    arguments: dict[str, Any] = {
        "directory_id": None,
        "job_type": None,
        "status": None,
        "project_id": None,
        "organization_id": None,
        "page_size": DEFAULT_PAGE_SIZE,
        "offset": 0,
        "max_items": None,
    }
    arguments.update(changes)
    return make_query(**arguments)


# ------------------------------------------------------------------ running programs

TIMEOUT = 60.0
"""Seconds a program the tests run may take: the suite's own pytest-timeout."""
# The tests folder: it cannot import the checkout, so a program run there imports the
# installed package (under nox, the wheel).
TESTS = Path(__file__).resolve().parent


class Result(NamedTuple):
    """What one run of a program left behind: its exit code and its output as text."""

    returncode: int
    stdout: str
    stderr: str


def cli_env(**extra: str) -> dict[str, str]:
    """This process's environment without ``LLAMA_CLOUD_*``, with ``extra`` set."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("LLAMA_CLOUD_")}
    env.update(extra)
    return env


def run_process(
    command: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | str | None = TESTS,
    stdout: int | IO[Any] | None = subprocess.PIPE,
    timeout: float = TIMEOUT,
) -> subprocess.CompletedProcess[str]:
    """Run ``command`` to its end: text output, stderr captured, never ``check``.

    ``env`` is the whole environment (default: this process's, see `cli_env`); the
    working folder defaults to this tests folder, which cannot import the checkout.
    """
    return subprocess.run(  # noqa: S603 - the tests' own interpreter, scripts and commands
        list(command),
        stdout=stdout,
        stderr=subprocess.PIPE,
        env=None if env is None else dict(env),
        cwd=cwd,
        timeout=timeout,
        check=False,
        text=True,
    )


def run_python(*args: str, **options: Any) -> subprocess.CompletedProcess[str]:
    """`run_process` of this interpreter with ``args`` (``-c CODE``, a script, ``-m ...``)."""
    return run_process([sys.executable, *args], **options)


def on_pty(
    command: Sequence[str],
    *,
    columns: int = 80,
    env: Mapping[str, str] | None = None,
    cwd: Path | str | None = TESTS,
    seconds: float = TIMEOUT,
    interrupt_when: Path | Callable[[], bool] | None = None,
) -> Result:
    r"""Run ``command`` to its end with stdout and stderr on a pseudo-terminal ``columns`` wide.

    ``env`` is the whole environment (default: `cli_env`), with ``COLUMNS`` set to
    ``columns``. With ``interrupt_when``, SIGINT (Ctrl-C) is sent once that file has
    some bytes in it (or, a function, once it returns True). The result's ``stdout`` is
    all the terminal showed, stderr included, with ``\r\n`` as ``\n``; a traceback in it
    fails the test. POSIX only.
    """
    import fcntl  # noqa: PLC0415 - POSIX only
    import pty  # noqa: PLC0415 - POSIX only
    import select  # noqa: PLC0415 - POSIX only
    import struct  # noqa: PLC0415 - POSIX only
    import termios  # noqa: PLC0415 - POSIX only

    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    proc = subprocess.Popen(  # noqa: S603 - the tests' own interpreter and commands
        list(command),
        stdout=follower,
        stderr=follower,
        env={**(cli_env() if env is None else env), "COLUMNS": str(columns)},
        cwd=cwd,
    )
    os.close(follower)
    chunks: list[bytes] = []
    deadline = time.monotonic() + seconds
    interrupted = False
    try:
        while time.monotonic() < deadline:
            if interrupt_when is not None and not interrupted and _due(interrupt_when):
                proc.send_signal(signal.SIGINT)
                interrupted = True
            ready, _, _ = select.select([leader], [], [], 0.05)
            if ready:
                try:
                    chunk = os.read(leader, 65536)
                except OSError:  # EIO: every writer closed the terminal
                    break
                if not chunk:
                    break
                chunks.append(chunk)
            elif proc.poll() is not None:
                break
        proc.wait(timeout=seconds)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(leader)
    text = b"".join(chunks).decode().replace("\r\n", "\n")
    assert "Traceback" not in text, text
    return Result(proc.returncode, text, "")


def _due(when: Path | Callable[[], bool]) -> bool:
    if isinstance(when, Path):
        return when.exists() and when.stat().st_size > 0
    return when()


@contextlib.contextmanager
def environment(**changes: str) -> Iterator[None]:
    """Within the block: no ``LLAMA_CLOUD_*`` variable, and ``changes`` set; then as before."""
    saved = dict(os.environ)
    try:
        for name in [name for name in os.environ if name.startswith("LLAMA_CLOUD_")]:
            del os.environ[name]
        os.environ.update(changes)
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _pipe(encoding: str) -> io.TextIOWrapper:
    # What Python makes of a pipe: a TextIOWrapper, strict errors, not a terminal.
    return io.TextIOWrapper(io.BytesIO(), encoding=encoding, errors="strict", write_through=True)


def _read(stream: io.TextIOWrapper) -> str:
    stream.flush()
    raw = stream.buffer
    assert isinstance(raw, io.BytesIO)
    # The bytes as written, decoded: a CR stays (CSV's line ends, a terminal's redraws).
    return raw.getvalue().decode("utf-8")


def run_main(*args: str, env: Mapping[str, str] | None = None, encoding: str = "utf-8") -> Result:
    """Run ``llama-batch ARGS`` in this process: `cli.main` with stdout and stderr as pipes.

    The streams are what Python gives a command whose output is piped (``encoding``
    stands in for ``PYTHONIOENCODING``); ``env`` is set on top of this process's
    environment without ``LLAMA_CLOUD_*``, as `cli_env` does for a subprocess. A
    traceback is an exception here, so it fails the test as it is. Not for what
    needs a real descriptor, a terminal or a signal: run the installed command.
    """
    from llama_batch_async.cli import main  # noqa: PLC0415 - only the CLI tests need it

    out, err = _pipe(encoding), _pipe("utf-8")
    with (
        environment(**(env or {})),
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
    ):
        code = main(list(args))
    return Result(code, _read(out), _read(err))


async def arun_main(
    *args: str, env: Mapping[str, str] | None = None, encoding: str = "utf-8"
) -> Result:
    """`run_main` on its own thread, so this loop keeps serving a fake cloud meanwhile.

    Bounded by `TIMEOUT`. The thread is a daemon: a command that hangs fails the test
    and cannot hold up the loop's shutdown (the default executor would wait for it).
    """
    loop = asyncio.get_running_loop()
    done: asyncio.Future[Result] = loop.create_future()

    def settle(outcome: Result | BaseException) -> None:
        if done.done():  # the test gave up waiting
            return
        if isinstance(outcome, BaseException):
            done.set_exception(outcome)
        else:
            done.set_result(outcome)

    def target() -> None:
        outcome: Result | BaseException
        try:
            outcome = run_main(*args, env=env, encoding=encoding)
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiting test, as raised
            outcome = exc
        with contextlib.suppress(RuntimeError):  # the loop closed: nobody is waiting
            loop.call_soon_threadsafe(settle, outcome)

    threading.Thread(target=target, name="llama-batch", daemon=True).start()
    return await asyncio.wait_for(done, TIMEOUT)


def run_script(script: Path, *args: str, cwd: Path | None = None) -> Result:
    """``cd CWD && python -W error SCRIPT ARGS`` in this process (default: the script's folder).

    The script runs as ``__main__`` in a fresh namespace (`runpy`) with stdout and
    stderr captured; afterwards the working folder, ``sys.path``, ``sys.argv``, the
    environment, logging's configuration and the modules are as before (the script's
    own modules, such as a page's ``app.py``, are forgotten). An uncaught exception is
    printed to the captured stderr with exit 1, as Python does, and what the
    interpreter's exit would finalise (an unclosed session) is collected first.
    """
    out, err = io.StringIO(), io.StringIO()
    folder = script.parent
    modules = set(sys.modules)
    cwd = folder if cwd is None else cwd
    # aiohttp reports an unclosed session to the loop's handler, which logs to "asyncio".
    report = logging.StreamHandler(err)
    asyncio_log = logging.getLogger("asyncio")
    code = 0
    with contextlib.ExitStack() as stack:
        patch = stack.enter_context(pytest.MonkeyPatch.context())
        patch.chdir(cwd)
        patch.syspath_prepend(str(folder))  # as `python script` puts its folder first
        patch.setattr(sys, "argv", [str(script), *args])
        stack.callback(_restore_environ, dict(os.environ))  # a script may set variables
        stack.enter_context(_logging_restored())
        stack.enter_context(warnings.catch_warnings())
        warnings.simplefilter("error")
        stack.enter_context(contextlib.redirect_stdout(out))
        stack.enter_context(contextlib.redirect_stderr(err))
        asyncio_log.addHandler(report)
        stack.callback(asyncio_log.removeHandler, report)
        try:
            runpy.run_path(str(script), run_name="__main__")
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except Exception:  # noqa: BLE001 - reported as the interpreter would, exit 1
            traceback.print_exc()
            code = 1
        gc.collect()
    for name in set(sys.modules) - modules:
        if folder in Path(getattr(sys.modules[name], "__file__", None) or "/").parents:
            del sys.modules[name]
    return Result(code, out.getvalue(), err.getvalue())


def _restore_environ(saved: dict[str, str]) -> None:
    os.environ.clear()
    os.environ.update(saved)


@contextlib.contextmanager
def _logging_restored() -> Iterator[None]:
    """Undo a script's ``logging.basicConfig`` and its logger levels."""
    root = logging.getLogger()
    ours = logging.getLogger("llama_batch_async")
    saved = (list(root.handlers), root.level, list(ours.handlers), ours.level)
    try:
        yield
    finally:
        root.handlers[:], root.level = saved[0], saved[1]
        ours.handlers[:], ours.level = saved[2], saved[3]


async def admit(limiter: Any, sleep: Any, *, cap: float = math.inf) -> None:
    """One request's turn at a limiter: ``acquire``, then ``release`` as a finished request.

    Every ``acquire`` is matched by a ``release`` (the limiter counts requests in
    flight); tests that only want the admission use this.
    """
    await limiter.acquire(sleep, cap=cap)
    limiter.release(limiter.epoch, ok=True)
