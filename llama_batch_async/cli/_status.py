r"""Status lines on a terminal's stderr: ``list``'s progress, ``wait``'s live line.

Each is one line redrawn in place (``\r``) and wiped when done; when stderr is
not a terminal nothing is written, so piped stderr carries errors only.
"""

from __future__ import annotations

import os
import shutil
from typing import TextIO

import attrs

from llama_batch_async import WalkStats

__all__ = ["Progress", "StatusLine"]


@attrs.define
class StatusLine:
    r"""One line on a terminal's stderr, redrawn in place and wiped at the end; else nothing.

    The text is cut to the terminal's width less one column: a line that wrapped
    would leave its first row behind at every redraw (``\r`` returns to the start
    of the last row only). Whoever writes records on the same terminal wipes the
    line first (`clear`) and ends every write with a newline, so a record never
    shares a row with it.
    """

    stream: TextIO
    enabled: bool
    shown: int = 0

    def show(self, text: str) -> None:
        if not self.enabled:
            return
        width = _columns(self.stream) - 1
        if len(text) > width:
            text = text[: max(width - 1, 0)] + "…"
        self.stream.write("\r" + text.ljust(self.shown))
        self.stream.flush()
        self.shown = len(text)

    def clear(self) -> None:
        if self.enabled and self.shown:
            # Two columns more: a Ctrl-C the terminal echoed as ``^C`` after the text.
            wipe = min(self.shown + 2, _columns(self.stream) - 1)
            self.stream.write("\r" + " " * wipe + "\r")
            self.stream.flush()
            self.shown = 0


def _columns(stream: TextIO) -> int:
    try:
        return os.get_terminal_size(stream.fileno()).columns or 80
    except (AttributeError, OSError, ValueError):
        return shutil.get_terminal_size().columns


@attrs.define
class Progress:
    """``1200 of ~5000 jobs · 13 requests`` on a terminal's stderr while a walk runs.

    The total is the server's ``total_size``, or ``max_items`` when that is smaller.
    What the walk cost the server follows (issue 22): requests sent, and when any,
    those whose answers went unused and those refused with 429.
    """

    line: StatusLine
    nouns: str
    max_items: int | None = None

    def update(self, stats: WalkStats) -> None:
        total = stats.total_size
        if self.max_items is not None and (total is None or total > self.max_items):
            total = self.max_items
        counted = f"{stats.items}" if total is None else f"{stats.items} of ~{total}"
        cost = f"{stats.requests} requests"
        if stats.wasted:
            cost += f", {stats.wasted} unused"
        if stats.throttled:
            cost += f", {stats.throttled} refused (429)"
        self.line.show(f"{counted} {self.nouns} · {cost}")

    def clear(self) -> None:
        self.line.clear()
