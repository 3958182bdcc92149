"""The bounded memories of a walk: recent job ids (offset drift) and recent page tokens.

Both are windows, so memory stays flat however long the walk: a walk of a million
jobs remembers a few thousand ids and tokens.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import TypeVar

from llama_batch_async._models import Batch, BatchJob

from ._cursor import id_digest

_Item = TypeVar("_Item", BatchJob, Batch)

__all__ = ["TOKEN_WINDOW", "WINDOW_IDS", "SeenWindow", "TokenWindow"]

# The fewest recent ids remembered for dropping repeats: drift of up to this many
# jobs created during one walk is absorbed whatever the page size.
WINDOW_IDS = 2048

# The page tokens remembered to detect a cycle. Memory stays bounded on an
# endless walk; a cycle longer than this is caught by the stall rule instead.
TOKEN_WINDOW = 4096


class TokenWindow:
    """The page tokens of the latest pages, bounded: enough to catch a cycle."""

    def __init__(self) -> None:
        self._order: deque[str] = deque()
        self._seen: set[str] = set()

    def __contains__(self, token: str) -> bool:
        return token in self._seen

    def add(self, token: str) -> None:
        """Remember ``token``, forgetting the oldest beyond `TOKEN_WINDOW`."""
        self._order.append(token)
        self._seen.add(token)
        if len(self._order) > TOKEN_WINDOW:
            self._seen.discard(self._order.popleft())


class SeenWindow:
    """The ids of the latest pages, to yield a job repeated across pages once.

    Args:
        page_size: The walk's page size: the window keeps at least two pages.
        tail: Digests of the last ids before a resume (from the cursor), checked
            against the first page after it.
    """

    def __init__(self, page_size: int, tail: Iterable[str] = ()) -> None:
        self._ids: set[str] = set()
        self._pages: deque[list[str]] = deque()
        self._cap = max(2 * page_size, WINDOW_IDS)
        self._tail: frozenset[str] = frozenset(tail)

    def __len__(self) -> int:
        return len(self._ids)

    def drop_repeats(self, items: list[_Item]) -> list[_Item]:
        """The jobs of ``items`` not seen in the window (nor twice in ``items``)."""
        # spec: pagination 7 - items repeated across adjacent pages are yielded once.
        # The window holds the ids of the latest pages, at least WINDOW_IDS of them
        # and at least two pages, so memory stays bounded on any walk; each page
        # records the ids it added, so evicting a page removes exactly those.
        ids = [job.id for job in items]
        window = self._ids
        fresh: list[_Item] | None = None
        if not self._tail:
            # perf: docs/benchmarks.md, "this client / floor" rows and the profile's
            # _drop_repeats - a page that repeats nothing but its head (drift, or the
            # one-job overlap of a prefetched page) costs one set update, no set built.
            head = 0
            while head < len(ids) and ids[head] in window:
                head += 1
            rest = ids[head:] if head else ids
            if window.isdisjoint(rest):
                before = len(window)
                window.update(rest)
                if len(window) - before == len(rest):
                    fresh, new_ids = (items[head:] if head else items), rest
                else:
                    window.difference_update(rest)  # the page repeats an id within itself
        if fresh is None:
            seen = set()
            fresh = []
            for job in items:
                if job.id in window or job.id in seen:
                    continue
                if self._tail and id_digest(job.id) in self._tail:
                    continue
                seen.add(job.id)
                fresh.append(job)
            if items:
                self._tail = frozenset()
            new_ids = [job_id for job_id in dict.fromkeys(ids) if job_id not in window]
            window.update(new_ids)
        self._pages.append(new_ids)
        while len(window) > self._cap and len(self._pages) > 2:
            window.difference_update(self._pages.popleft())
        return fresh
