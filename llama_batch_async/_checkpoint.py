"""Checkpoints that outlive the process: a walk that resumes where the last run stopped.

`checkpointed_pages` wraps `BatchClient.list_jobs` with a `CheckpointStore`:

- it starts from the stored cursor when there is one (a cursor stored under other
  filters is refused with `ValueError`, as ``resume_from`` refuses it);
- it saves a page's cursor when the consumer asks for the next page, that is after
  it has finished with that page;
- it clears the checkpoint when the walk completes, so the next run walks everything.

A crash while the consumer handles a page redelivers that whole page, and only it, on
the next run (at-least-once for that page, exactly once for every other).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import tempfile
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ._models import JobPage

if TYPE_CHECKING:
    from ._client import BatchClient

__all__ = ["CheckpointStore", "FileCheckpointStore", "checkpointed_pages"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


def check_name(name: str) -> str:
    """``name`` when it is a safe checkpoint name (letters, digits, ``_.-``), else ValueError."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(
            f"checkpoint name must be 1-100 letters, digits, '_', '.' or '-', got {name!r}"
        )
    return name


class CheckpointStore(Protocol):
    """Where a walk's resume cursor is kept between runs, by name."""

    async def load(self, name: str) -> str | None:
        """The cursor saved under ``name``, or None."""
        ...

    async def save(self, name: str, cursor: str) -> None:
        """Keep ``cursor`` under ``name``, replacing the previous one."""
        ...

    async def clear(self, name: str) -> None:
        """Forget ``name`` (no error when there is nothing to forget)."""
        ...


class FileCheckpointStore:
    """Cursors in files of one folder (``<name>.cursor``), replaced atomically.

    Args:
        directory: The folder; created when missing.
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)

    def __repr__(self) -> str:
        return f"<FileCheckpointStore directory={str(self.directory)!r}>"

    def _path(self, name: str) -> Path:
        return self.directory / f"{check_name(name)}.cursor"

    async def load(self, name: str) -> str | None:
        """The cursor saved under ``name``, or None."""
        return await asyncio.to_thread(self._read, self._path(name))

    async def save(self, name: str, cursor: str) -> None:
        """Write ``cursor`` to a temporary file, then rename it over the old one."""
        await asyncio.to_thread(self._write, self._path(name), cursor)

    async def clear(self, name: str) -> None:
        """Delete ``name``'s file, if any."""
        await asyncio.to_thread(self._path(name).unlink, missing_ok=True)

    @staticmethod
    def _read(path: Path) -> str | None:
        try:
            text = path.read_text(encoding="ascii").strip()
        except FileNotFoundError:
            return None
        return text or None

    @staticmethod
    def _write(path: Path, cursor: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
        done = False
        try:
            with os.fdopen(fd, "w", encoding="ascii") as file:
                file.write(cursor)
                file.flush()
                os.fsync(file.fileno())
            Path(temp).replace(path)  # atomic: a reader sees the old cursor or the new
            done = True
        finally:
            if not done:
                with contextlib.suppress(OSError):
                    Path(temp).unlink()


async def checkpointed_pages(
    client: BatchClient,
    store: CheckpointStore,
    name: str,
    **filters: Any,  # noqa: ANN401 - list_jobs' keyword arguments, checked there
) -> AsyncGenerator[JobPage, None]:
    """Walk ``client.list_jobs(**filters)`` page by page, resuming from ``store``.

    Args:
        client: The client to walk with.
        store: Where the cursor is kept between runs.
        name: The checkpoint's name (letters, digits, ``_.-``).
        **filters: `BatchClient.list_jobs` arguments (not ``resume_from`` or
            ``offset``: the checkpoint decides where to start).

    Raises:
        ValueError: A bad name or argument, or a stored cursor made under other
            filters; before any request.
    """
    check_name(name)
    if "resume_from" in filters:
        raise ValueError("checkpointed_pages starts from its checkpoint: drop resume_from")
    cursor = await store.load(name)
    pager = client.list_jobs(resume_from=cursor, **filters)
    async with contextlib.aclosing(pager.pages()) as pages:
        async for page in pages:
            yield page
            # Reached only when the consumer asks for the next page: it is done with
            # this one. A crash before here redelivers this page on the next run.
            await store.save(name, page.cursor)
    await store.clear(name)
