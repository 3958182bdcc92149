"""Shared fixtures; and a guard that the suite tests the installed wheel when asked to."""

from __future__ import annotations

import contextlib
import inspect
import os
import re
import signal
import sys
from pathlib import Path

import pytest
from hypothesis import settings

# Fewer Hypothesis examples on the Pythons where coverage is not measured: the noxfile
# sets LLAMA_BATCH_HYPOTHESIS=quick for those, and the coverage Python runs the full count.
settings.register_profile("quick", max_examples=25)
settings.load_profile(os.environ.get("LLAMA_BATCH_HYPOTHESIS", "default"))

# `from helpers import ...`: the tests' shared helpers (tests/helpers.py), and the CLI
# tests' `from cli_helpers import ...` (tests/cli/cli_helpers.py). Only these folders go
# on the path, never the checkout's root, so the wheel stays what is tested. (No
# conftest.py in tests/cli: mypy would see two top-level modules named `conftest`.)
_TESTS = Path(__file__).resolve().parent
for _folder in (str(_TESTS / "cli"), str(_TESTS)):
    if _folder not in sys.path:
        sys.path.insert(0, _folder)


def pytest_configure(config: pytest.Config) -> None:
    """Let the Ctrl-C tests' commands see SIGINT, even where the suite was started with ``&``.

    A shell without job control starts a background command (``bash .ci/run &``) with
    SIGINT ignored, and an ignored signal stays ignored across fork and exec, so the CLI
    under test would never see the SIGINT those tests send (seen: exit 0 instead of
    130). Python's own handler here is reset to the default in every child.
    """
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_sessionstart(session: pytest.Session) -> None:
    """Under nox, refuse to run against the source tree instead of the wheel."""
    if os.environ.get("LLAMA_BATCH_EXPECT_INSTALLED"):
        import llama_batch_async  # noqa: PLC0415 - after pytest set up sys.path

        location = Path(llama_batch_async.__file__).resolve()
        if "site-packages" not in location.parts:
            raise pytest.UsageError(f"tests imported the source tree, not the wheel: {location}")


# What starts another Python process: the installed command, a pseudo-terminal, a
# script, a worker, a fresh venv, pytest in a subprocess.
_SPAWNS = re.compile(
    r"\b(run_installed|spawn_installed|on_pty|run_process|run_python|run_script|serve_fake"
    r"|runpytest_subprocess|create_subprocess_exec|subprocess\.(run|Popen)|Popen"
    r"|multiprocessing|fleet_worker|WORKER|venv\.create)\b"
)


def _spawning_names(module: object) -> frozenset[str]:
    """The module's own functions that start a process, directly or through each other."""
    sources = {}
    for name, member in vars(module).items():
        function = getattr(member, "__wrapped__", member)  # a fixture's own function too
        if inspect.isfunction(function) and function.__module__ == getattr(module, "__name__", ""):
            with contextlib.suppress(OSError, TypeError):
                sources[name] = inspect.getsource(function)
    spawning = {name for name, source in sources.items() if _SPAWNS.search(source)}
    while True:  # a helper that calls a spawning helper spawns too
        calls = (
            re.compile(r"\b(" + "|".join(map(re.escape, spawning)) + r")\b") if spawning else None
        )
        more = {
            name
            for name, source in sources.items()
            if name not in spawning and calls is not None and calls.search(source)
        }
        if not more:
            return frozenset(spawning)
        spawning |= more


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark ``processes`` the tests that start other Python processes (read from their code).

    A test is marked when its code, a helper of its module that it calls, or one of its
    module's fixtures it uses starts a process. Two thirds of the suite's CPU is spent
    in such processes, so the noxfile runs them on two of the four Pythons
    (``PROCESS_PYTHONS`` there) and every other test on all four.
    """
    by_module: dict[str, frozenset[str]] = {}
    for item in items:
        function = getattr(item, "function", None)
        module = getattr(item, "module", None)
        if function is None or module is None:
            continue
        if module.__name__ not in by_module:
            by_module[module.__name__] = _spawning_names(module)
        spawning = by_module[module.__name__]
        try:
            source = inspect.getsource(function)
        except (OSError, TypeError):
            continue
        uses = set(getattr(item, "fixturenames", ())) & spawning
        calls = any(re.search(rf"\b{re.escape(name)}\b", source) for name in spawning)
        if uses or calls or _SPAWNS.search(source):
            item.add_marker(pytest.mark.processes)
