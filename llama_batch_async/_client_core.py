"""What every `BatchClient` method stands on: the client's `WalkContext` and whether it is closed.

`BatchClient` is assembled from this core and one class of methods per listing,
the way redis-py groups its commands into classes, so each file holds one
concern and the public methods keep their full docstrings:

    _client_core.ClientCore         the context, closing, ``async with``, ``base_url``
    _client_jobs.JobMethods         v1 jobs: list_jobs, finished_jobs,
                                    wait_for_jobs, watch_jobs
    _client_batches.BatchMethods    v2 batches: list_batches, get_batch,
                                    finished_batches, wait_for_batches, watch_batches
    _client.BatchClient             the constructor and with_options

The method classes only read the core (its context, `_check_open`,
`_local_gate`) and never each other; the bodies delegate to `_pager`, `_watch`,
`_batch_get` and `_batch_watch`.
"""

from __future__ import annotations

from types import TracebackType

from ._context import local_gate
from ._http._limiter import LocalLimiter
from ._paging._pager import WalkContext

__all__ = ["ClientCore"]

_CLOSED = "this BatchClient is closed; create a new one"


class ClientCore:
    """The state of a client: its settings and transport (one `WalkContext`), and `closed`."""

    def __init__(self, context: WalkContext, owner: ClientCore | None = None) -> None:
        self._context = context
        self._closed = False
        # A `with_options` copy: closed with its owner, never closes the shared transport.
        self._owner = owner

    @property
    def _local_gate(self) -> LocalLimiter | None:
        return local_gate(self._context)

    def _check_open(self) -> None:
        if self.closed:  # a with_options copy is closed with its original
            raise RuntimeError(_CLOSED)

    def __repr__(self) -> str:
        state = " closed" if self.closed else ""
        return f"<{type(self).__name__} base_url={self.base_url!r}{state}>"

    @property
    def base_url(self) -> str:
        """The API base URL requests go to."""
        return self._context.config.base_url

    @property
    def closed(self) -> bool:
        """True once `aclose` has been called (on a `with_options` copy: on it or its original)."""
        return self._closed or (self._owner is not None and self._owner.closed)

    async def aclose(self) -> None:
        """Close the client's own session (a caller's is left open); idempotent.

        On a `with_options` copy, only the copy closes: the session it shares
        stays open for its original.
        """
        self._closed = True
        if self._owner is None:
            await self._context.transport.aclose()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
