r"""Status lines on a terminal's stderr: ``list``'s progress, ``wait``'s live line.

Each is one line redrawn in place (``\r``) and wiped when done; when stderr is
not a terminal nothing is written, so piped stderr carries errors only.
"""

from __future__ import annotations

from typing import TextIO

import attrs

from llama_batch_async import WalkStats

__all__ = ["Progress", "StatusLine"]


@attrs.define
class StatusLine:
    """One line on a terminal's stderr, redrawn in place and wiped at the end; else nothing."""

    stream: TextIO
    enabled: bool
    shown: int = 0

    def show(self, text: str) -> None:
        if not self.enabled:
            return
        self.stream.write("\r" + text.ljust(self.shown))
        self.stream.flush()
        self.shown = len(text)

    def clear(self) -> None:
        if self.enabled and self.shown:
            self.stream.write("\r" + " " * self.shown + "\r")
            self.stream.flush()
            self.shown = 0


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
