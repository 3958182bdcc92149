"""``list -o FILE``: a private partial file per run, renamed to ``FILE`` when the walk completes.

Each run writes to a temporary file of its own in ``FILE``'s folder,
``.FILE.<random>.partial``, made by `tempfile.mkstemp` (``O_CREAT | O_EXCL``,
mode 0600): a symlink or file planted under any name cannot redirect it, and
two runs with the same ``-o FILE`` never share one. A completed walk renames
it over ``FILE`` (`os.replace` replaces a symlinked ``FILE`` itself, never its
target), so ``FILE`` holds the whole listing or what it held before.

A failed walk keeps its partial file and, beside it, ``<partial>.state``: the format
and fields written, and for the last two pages written the cursor after each and the
file's length there (two: a checkpoint is saved only when the next page is asked
for, so a run killed in between resumes one page earlier). A resumed run
(``--resume-from CURSOR``, or ``--checkpoint NAME`` whose stored cursor is that
cursor) looks in the folder for the partial file whose state has a page ending at
exactly the cursor it resumes from, opens it without following links, checks that it
is a regular file of ours, locks it (a second run resuming it is refused), cuts it
back to that length and continues it. Without such a file a resumed export is
refused (exit 2): exit 0 means ``FILE`` holds every job.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import stat
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Final, TextIO

import attrs

from ._options import FlagError

__all__ = ["Export", "check_target", "open_export"]

_STATE_VERSION: Final = 1
_STATE_SUFFIX: Final = ".state"
# The most a state file may hold: a cursor is at most 64 KiB (_cursor.MAX_CURSOR_CHARS).
_MAX_STATE_BYTES: Final = 128 * 1024
# Formats that can be continued by appending: one record per line, nothing after the last.
RESUMABLE_FORMATS: Final = ("jsonl", "csv")


def check_target(path: str) -> Path:
    """``-o FILE``'s target, refused before any request when it cannot be written.

    Raises:
        FlagError: ``FILE`` is a folder, or its folder is missing or not writable.
    """
    target = Path(path)
    if target.is_dir():
        raise FlagError("--output", f"{path} is a folder: name a file")
    folder = target.parent
    if not folder.is_dir():
        raise FlagError("--output", f"cannot write {path}: no folder {folder}")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise FlagError("--output", f"cannot write {path}: the folder {folder} is not writable")
    return target


def _partial_prefix(target: Path) -> str:
    return f".{target.name}."


@attrs.define
class Export:
    """One run's partial file, open for writing, locked; renamed to the target by `commit`.

    Attributes:
        target: ``FILE``.
        partial: This run's partial file.
        file: The partial file, open for writing at its end.
        continued: True when an earlier run's partial file is being continued.
    """

    target: Path
    partial: Path
    file: TextIO
    continued: bool
    format: str
    fields: Sequence[str] | None
    pages: list[tuple[str, int]] = attrs.field(factory=list)
    """The last two pages written: the cursor after each, and the file's length there."""

    @property
    def state_path(self) -> Path:
        """The partial file's state: where its last page ended."""
        return self.partial.with_name(self.partial.name + _STATE_SUFFIX)

    def page_written(self, cursor: str) -> None:
        """Record that the file is whole up to here, and that ``cursor`` resumes after it.

        The page before is kept too: a checkpoint is saved only when the next
        page is asked for, so a run killed in between resumes from that one.
        """
        self.file.flush()
        self.pages = [*self.pages[-1:], (cursor, self.file.tell())]
        state = {
            "version": _STATE_VERSION,
            "format": self.format,
            "fields": None if self.fields is None else list(self.fields),
            "pages": [list(page) for page in self.pages],
        }
        _write_atomically(self.state_path, json.dumps(state))

    def commit(self) -> None:
        """Rename the file over the target, then forget its state and close it (and its lock)."""
        self.file.flush()
        self.partial.replace(self.target)
        with contextlib.suppress(OSError):
            self.state_path.unlink()
        self.file.close()

    def keep(self) -> None:
        """Close the file (and its lock), keeping it and its state for a resumed run."""
        self.file.close()


def _write_atomically(path: Path, text: str) -> None:
    # A new private file renamed over the old: a planted symlink at `path` is
    # replaced, never followed, and a reader sees the old state or the new.
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f"{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(text)
        Path(temp).replace(path)
    except BaseException:
        with contextlib.suppress(OSError):
            Path(temp).unlink()
        raise


def _umask() -> int:
    # The only portable way to read the umask is to set it; the CLI has one thread here.
    mask = os.umask(0o077)
    os.umask(mask)
    return mask


def open_export(
    path: str, *, output_format: str, fields: Sequence[str] | None, resume: str | None
) -> Export:
    """Open the partial file ``-o FILE`` is written through: a new one, or the one to continue.

    Args:
        path: ``FILE``.
        output_format: The ``--format`` written.
        fields: The ``--fields`` written, if any.
        resume: The cursor the walk resumes from (``--resume-from``, or the
            checkpoint's), None for a walk from the start.

    Raises:
        FlagError: ``FILE`` cannot be written, or a resumed walk has no partial
            file of its own to continue (before any request).
    """
    target = check_target(path)
    if resume is not None:
        return _continue(target, output_format, fields, resume)
    try:
        fd, name = tempfile.mkstemp(
            dir=target.parent, prefix=_partial_prefix(target), suffix=".partial"
        )
    except OSError as exc:
        raise FlagError("--output", f"cannot write {path}: {exc.strerror or exc}") from None
    # mkstemp makes the file 0600; FILE gets the mode a plain open would have given it.
    os.fchmod(fd, 0o666 & ~_umask())
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # ours alone: a resumed run must wait
    file = os.fdopen(fd, "w", encoding="utf-8", newline="")
    return Export(target, Path(name), file, False, output_format, fields)  # noqa: FBT003


def _continue(
    target: Path, output_format: str, fields: Sequence[str] | None, resume: str
) -> Export:
    """The earlier run's partial file whose last page ends at ``resume``, locked, cut to it."""
    if output_format not in RESUMABLE_FORMATS:
        raise FlagError(
            "--output",
            f"cannot continue a {output_format} file: a resumed export continues the "
            f"earlier run's partial file as {' or '.join(RESUMABLE_FORMATS)} only "
            f"(or run again from the start)",
        )
    wanted = None if fields is None else list(fields)
    prefix = _partial_prefix(target)
    with os.scandir(target.parent) as entries:
        names = sorted(entry.name for entry in entries)
    for name in names:
        if not (name.startswith(prefix) and name.endswith(".partial")):
            continue
        state = _read_state(target.parent / (name + _STATE_SUFFIX))
        if state is None or state.get("format") != output_format or state.get("fields") != wanted:
            continue
        length = _length_at(state, resume)
        if length is None:
            continue
        export = _claim(target, target.parent / name, (resume, length), output_format, fields)
        if export is not None:
            return export
    raise FlagError(
        "--output",
        f"a resumed export continues the partial file the earlier run left beside {target}, "
        "and none ends at this resume point: run again from the start to list every job "
        "(for --checkpoint, clear the checkpoint first)",
    )


def _length_at(state: dict[str, object], resume: str) -> int | None:
    """The file's length where the page that ``resume`` follows ended, if the state has it."""
    pages = state.get("pages")
    for page in pages if isinstance(pages, list) else ():
        if (
            isinstance(page, list)
            and len(page) == 2
            and page[0] == resume
            and type(page[1]) is int
            and page[1] >= 0
        ):
            return page[1]
    return None


def _read_state(path: Path) -> dict[str, object] | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        if not _ours(os.fstat(fd)):
            return None
        data = os.read(fd, _MAX_STATE_BYTES + 1)
    finally:
        os.close(fd)
    try:
        state = json.loads(data)
    except ValueError:
        return None
    if not isinstance(state, dict) or state.get("version") != _STATE_VERSION:
        return None
    return state


def _ours(info: os.stat_result) -> bool:
    # A regular file of this user's with one name: not a link, a device or another's file.
    return stat.S_ISREG(info.st_mode) and info.st_uid == os.geteuid() and info.st_nlink == 1


def _claim(
    target: Path,
    partial: Path,
    page: tuple[str, int],
    output_format: str,
    fields: Sequence[str] | None,
) -> Export | None:
    """Open ``partial`` (no links followed), lock it, cut it to ``page``'s length.

    None when it is not ours to continue.

    Raises:
        FlagError: Another run holds it.
    """
    try:
        fd = os.open(partial, os.O_RDWR | os.O_NOFOLLOW)
    except OSError:
        return None
    length = page[1]
    try:
        info = os.fstat(fd)
        if not _ours(info) or info.st_size < length:
            os.close(fd)
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise FlagError(  # the descriptor is closed below
                "--output", f"another run is writing {partial}, the partial file to continue"
            ) from None
        # What a killed run wrote after its last recorded page is cut away: that
        # page is fetched again from the cursor.
        os.ftruncate(fd, length)
        os.lseek(fd, 0, os.SEEK_END)
        file = os.fdopen(fd, "w", encoding="utf-8", newline="")
    except BaseException:
        with contextlib.suppress(OSError):
            os.close(fd)
        raise
    return Export(target, partial, file, True, output_format, fields, [page])  # noqa: FBT003
