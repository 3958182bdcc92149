"""The walk's loop guards: the bounds that keep a broken server's paging from looping us.

A leaf of `_paging` (pure, no I/O). `Walk` owns one `LoopGuard` and asks it
after each page: a token seen before, a run of pages holding only repeats, a
run of empty pages that keep promising more, each ends the walk with a
`PaginationError`; a position is re-asked (a probe) at most once.
"""

from __future__ import annotations

from llama_batch_async._errors import PaginationError

from ._seen import TokenWindow

__all__ = ["EMPTY_PAGE_LIMIT", "STALL_LIMIT", "LoopGuard"]

# Pages in a row that bring nothing new before the walk is declared stuck. One
# such page happens legitimately when more jobs are created between two requests
# than a page holds (offset drift); a server that ignores `offset` repeats forever.
STALL_LIMIT = 3

# Empty pages in a row that still promise more (a fresh page token each time)
# before the walk is declared stuck. A filtered scan may legitimately answer a
# few empty pages with a continuation token; an endless run is a broken server.
EMPTY_PAGE_LIMIT = 10


class LoopGuard:
    """The counters and memories one walk keeps against endless paging.

    Args:
        token: The page token a resumed walk starts from, when it pages by
            token: remembered, so the server sending it again is a loop.
    """

    def __init__(self, token: str | None = None) -> None:
        self.seen_tokens = TokenWindow()
        if token is not None:
            self.seen_tokens.add(token)
        self.stalls = 0
        self.empty_run = 0
        self.replay = 0  # repeats expected from a re-asked page (token-only probe)
        self.probed_at: int | None = None  # where total_size last made the walk ask again

    def remember_token(self, token: str) -> None:
        """Note ``token`` as followed; `PaginationError` when it was already."""
        if token in self.seen_tokens:
            raise PaginationError(
                "the server sent a page token it had already sent in this walk; "
                "following it would loop"
            )
        self.seen_tokens.add(token)

    def count_repeats(self, count: int, *, repeats_only: bool, offset: int) -> None:
        """Count a page of ``count`` items that brought nothing new (``repeats_only``).

        Raises:
            PaginationError: `STALL_LIMIT` such pages in a row.
        """
        if repeats_only and self.replay >= count:
            # A page re-asked to confirm an end (v2) brings back what the walk has:
            # up to the re-asked page's length of repeats is expected, not a stall.
            self.replay -= count
        elif repeats_only:
            # spec: pagination 6 - a server that ignores offset must not loop us
            self.stalls += 1
            if self.stalls >= STALL_LIMIT:
                raise PaginationError(
                    f"{self.stalls} pages in a row held only jobs already listed "
                    f"(last at offset {offset}): the server ignores offset and "
                    "page_token, or jobs are being created as fast as the walk reads them"
                )
        else:
            self.stalls = 0
            self.replay = 0

    def count_empty_run(self, count: int, token: str | None, *, offset: int) -> None:
        """Count a page of ``count`` items that came with ``token``.

        Raises:
            PaginationError: `EMPTY_PAGE_LIMIT` empty pages with a token in a row.
        """
        if count or token is None:
            self.empty_run = 0
            return
        # spec: pagination 6 - empty pages that keep promising more must end
        self.empty_run += 1
        if self.empty_run >= EMPTY_PAGE_LIMIT:
            raise PaginationError(
                f"{self.empty_run} empty pages in a row each promised more "
                f"(last at offset {offset}): the server's paging is broken"
            )

    def probe(self, offset: int) -> bool:
        """Ask once more where the walk stands, at most once per position."""
        if self.probed_at == offset:
            return False
        self.probed_at = offset
        return True
