"""Shared fixtures; and a guard that the suite tests the installed wheel when asked to."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def pytest_sessionstart(session: pytest.Session) -> None:
    """Under nox, refuse to run against the source tree instead of the wheel."""
    if os.environ.get("LLAMA_BATCH_EXPECT_INSTALLED"):
        import llama_batch_async  # noqa: PLC0415 - after pytest set up sys.path

        location = Path(llama_batch_async.__file__).resolve()
        if "site-packages" not in location.parts:
            raise pytest.UsageError(f"tests imported the source tree, not the wheel: {location}")
