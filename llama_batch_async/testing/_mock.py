"""Transports for `BatchClient(transport=...)` that need no socket.

httpx's ``MockTransport(handler)`` is the model: the client builds each
request as usual and hands it to ``send``; a handler decides the answer.
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from llama_batch_async._http._wire import Request, Response

from ._server import BATCHES_PATH, ENDPOINT_PATH

if TYPE_CHECKING:
    from ._listing import Listing

__all__ = ["ListingTransport", "MockTransport"]

Handler = Callable[[Request], "Response | Awaitable[Response]"]


class MockTransport:
    """A transport that answers every request with ``handler(request)``.

    The handler may be a plain function or a coroutine function; an exception
    it raises reaches the client as if the network had raised it (raise an
    `APIConnectionError` to simulate a dropped connection).

        def handler(request: Request) -> Response:
            return Response(status=200, headers={}, body=b'{"items": []}')

        async with BatchClient("key", transport=MockTransport(handler)) as client:
            ...

    Args:
        handler: Called with each `Request`; returns its `Response`.

    Attributes:
        requests: Every request sent, in order.
        closed: True once `aclose` has been called.
    """

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[Request] = []
        self.closed = False

    async def send(self, request: Request) -> Response:
        """Record ``request`` and return the handler's answer."""
        self.requests.append(request)
        answer = self.handler(request)
        if inspect.isawaitable(answer):
            return await answer
        return answer

    async def aclose(self) -> None:
        """Mark the transport closed (it owns no connections)."""
        self.closed = True


# The ids (and action) in a single-record path, as the server's routes name them.
_RECORD_PATH = re.compile(
    re.escape(ENDPOINT_PATH) + r"/(?P<job_id>[^/]+)(?:/(?P<action>items|cancel))?$"
    "|" + re.escape(BATCHES_PATH) + r"/(?P<batch_id>[^/]+)(?:/(?P<cancel>cancel))?$"
)


class ListingTransport:
    """A transport that serves a `FakeLlamaCloud`'s listing without a socket.

    The answers are the fake's own (filters, paging kinds, tokens, 422 details,
    progress), decided by its pure listing; faults, latency and the API-key
    check are the server's, so they do not apply here.

        cloud = FakeLlamaCloud(jobs=250, paging="token")
        client = BatchClient("key", transport=ListingTransport(cloud))

    Args:
        listing: A `FakeLlamaCloud` (running or not).

    Attributes:
        requests: Every request sent, in order.
    """

    def __init__(self, listing: Listing) -> None:
        self.listing = listing
        self.requests: list[Request] = []

    async def send(self, request: Request) -> Response:
        """Answer ``request`` from the listing: a page, a record, a cancel, a create, an error."""
        self.requests.append(request)
        path = urlsplit(request.url).path
        query = dict(request.params)
        match = _RECORD_PATH.search(path)
        ids = {k: unquote(v) for k, v in match.groupdict().items() if v} if match else {}
        if ids.pop("cancel", None):
            ids["action"] = "cancel"
        body = json.loads(request.body) if request.body else None
        status, payload = self.listing.answer_route(request.method, path, query, ids, body)
        return Response(
            status=status,
            headers={"content-type": "application/json"},
            body=json.dumps(payload, separators=(",", ":"), default=str).encode(),
            secrets=request.secrets,
        )

    async def aclose(self) -> None:
        """Nothing to release."""
