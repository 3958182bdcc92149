"""Checkpoints that outlive the process: a walk that resumes where the last run stopped.

`checkpointed_pages` wraps `BatchClient.list_jobs` with a `CheckpointStore`:

- it starts from the stored cursor when there is one (a cursor stored under other
  filters is refused with `ValueError`, as ``resume_from`` refuses it);
- it saves a page's cursor when the consumer asks for the next page, that is after
  it has finished with that page;
- it clears the checkpoint when the walk completes, so the next run walks everything.

A crash while the consumer handles a page redelivers that whole page, and only it, on
the next run (at-least-once for that page, exactly once for every other).

A checkpoint is tied to the walk that saved it: beside the cursor the store keeps
the client's ``base_url`` and a digest of its API key (`Config.credential_digest`,
never the key), and a checkpoint saved by a client of another URL or key is refused
with `ValueError` rather than resumed (resuming would start another account's walk
at this one's offset and skip its first jobs) or silently restarted (it may be
another walk's live checkpoint). A checkpoint saved before checkpoints were tied
(a bare cursor) is resumed, with a WARNING.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import tempfile
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ._models import JobPage
from ._validate import check_checkpoint_name

if TYPE_CHECKING:
    from ._client import BatchClient

__all__ = ["CheckpointStore", "FileCheckpointStore", "checkpointed_pages", "load_checkpoint"]

logger = logging.getLogger(__name__)

_FORMAT_VERSION = 1


def check_name(name: str) -> str:
    """``name`` when it is a safe checkpoint name (`check_checkpoint_name`), else ValueError."""
    return check_checkpoint_name("checkpoint name", name)


def _scope(client: BatchClient) -> tuple[str, str]:
    """The client's base URL and key digest: what a checkpoint is tied to."""
    # The lead folds _context into _client: reach the config where the client keeps it.
    config = client._context.config
    return config.base_url, config.credential_digest


def _pack(client: BatchClient, cursor: str) -> str:
    base_url, key = _scope(client)
    record = {"v": _FORMAT_VERSION, "base_url": base_url, "key": key, "cursor": cursor}
    return json.dumps(record, separators=(",", ":"))


def _unpack(client: BatchClient, name: str, stored: str) -> str:
    """The cursor in ``stored``, when the checkpoint was saved by a client like ``client``."""
    if not stored.startswith("{"):
        logger.warning(
            "checkpoint %s was saved by an older version, tied to no base URL or API key: "
            "resuming it as this client's",
            name,
        )
        return stored
    try:
        record = json.loads(stored)
    except ValueError:
        record = None
    if (
        not isinstance(record, dict)
        or record.get("v") != _FORMAT_VERSION
        or not all(isinstance(record.get(field), str) for field in ("base_url", "key", "cursor"))
    ):
        raise ValueError(f"checkpoint {name} holds no cursor this library saved")
    base_url, key = _scope(client)
    if record["base_url"] != base_url:
        raise ValueError(
            f"checkpoint {name} was saved by a walk of {record['base_url']}, not {base_url}: "
            "not resumed (clear it, or use another name for this walk)"
        )
    if record["key"] != key:
        raise ValueError(
            f"checkpoint {name} was saved by a walk with another API key: "
            "not resumed (clear it, or use another name for this walk)"
        )
    cursor: str = record["cursor"]
    return cursor


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


async def load_checkpoint(client: BatchClient, store: CheckpointStore, name: str) -> str | None:
    """The cursor ``checkpointed_pages`` would resume from: None to start from the beginning.

    Args:
        client: The client that will walk; the checkpoint must have been saved by
            a client of the same base URL and API key.
        store: Where the cursor is kept.
        name: The checkpoint's name.

    Raises:
        ValueError: A bad name, or a checkpoint saved for another base URL or API
            key, or not by this library.
    """
    check_name(name)
    stored = await store.load(name)
    return None if stored is None else _unpack(client, name, stored)


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
        ValueError: A bad name or argument, a stored cursor made under other
            filters, or a checkpoint saved for another base URL or API key; before
            any request.
    """
    check_name(name)
    if "resume_from" in filters:
        raise ValueError("checkpointed_pages starts from its checkpoint: drop resume_from")
    cursor = await load_checkpoint(client, store, name)
    pager = client.list_jobs(resume_from=cursor, **filters)
    async with contextlib.aclosing(pager.pages()) as pages:
        async for page in pages:
            yield page
            # Reached only when the consumer asks for the next page: it is done with
            # this one. A crash before here redelivers this page on the next run.
            await store.save(name, _pack(client, page.cursor))
    await store.clear(name)
