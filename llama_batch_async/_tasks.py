"""Tasks a walk or a wait starts on its own: cancelled, and let go of, in one place.

The prefetcher's guesses, the ``created_at`` windows and a poll's per-id requests
each run as tasks; when the walk or the wait ends (done, failed, closed or itself
cancelled) they are cancelled and awaited, so none outlives it and none is left
un-awaited (a warning, an error under ``filterwarnings = error``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

__all__ = ["cancel_all"]


async def cancel_all(tasks: Iterable[asyncio.Future[Any]]) -> None:
    """Cancel ``tasks`` and wait until each has finished; their outcomes are dropped."""
    pending = list(tasks)
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.gather(*pending, return_exceptions=True)
