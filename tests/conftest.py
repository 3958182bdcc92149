"""Shared fixtures; and a guard that the suite tests the installed wheel when asked to."""

from __future__ import annotations

import os
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
