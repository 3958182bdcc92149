"""The fake's scripted and random misbehaviour: `Fault`, the fault queue, chaos.

`FaultScript` holds the queue that `FakeLlamaCloud` consumes one fault per
list request; it does no I/O, so what a script or a seeded chaos rate yields
is tested without a server.
"""

from __future__ import annotations

import json
import random
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Final, Literal

__all__ = ["DEFAULT_CHAOS_KINDS", "Fault", "FaultKind", "FaultScript"]

DEFAULT_CHAOS_KINDS: Final[tuple[str, ...]] = ("503", "502", "429", "reset", "truncate")
"""The fault kinds `FakeLlamaCloud.fault_rate` draws from by default."""

FaultKind = Literal["status", "respond", "reset", "truncate", "delay", "redirect"]
"""What a `Fault` does to the request it is applied to."""

_BAD_GATEWAY_PAGE: Final = (
    b"<html><head><title>502 Bad Gateway</title></head>"
    b"<body><center><h1>502 Bad Gateway</h1></center></body></html>"
)


@dataclass(frozen=True)
class Fault:
    """One scripted misbehaviour, applied to one request of the list endpoint.

    Args:
        kind: ``"status"`` (an error response), ``"respond"`` (an arbitrary raw
            response), ``"redirect"``, ``"reset"`` (drop the connection without
            answering), ``"truncate"`` (a 200 whose body stops half way) or
            ``"delay"`` (wait ``seconds``, then answer normally).
        status: The response status, for ``status``, ``respond`` and ``redirect``.
        body: The response body, for ``status`` and ``respond``.
        content_type: The ``Content-Type`` of ``body``.
        headers: Extra response headers, as (name, value) pairs.
        seconds: How long a ``delay`` fault waits.
        location: Where a ``redirect`` fault points (absolute or relative URL).
    """

    kind: FaultKind
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()
    seconds: float = 0.0
    location: str | None = None


def _encode_body(body: bytes | str | object | None, default: object) -> tuple[bytes, bool]:
    """Return the body's bytes and whether it was serialised as JSON."""
    if body is None:
        body = default
    if isinstance(body, bytes):
        return body, False
    if isinstance(body, str):
        return body.encode(), False
    return json.dumps(body, separators=(",", ":")).encode(), True


class FaultScript:
    """The queue of scripted faults and the seeded random ones.

    Attributes:
        faults: The queued faults, consumed one per list-endpoint request.
    """

    def __init__(self) -> None:
        self.faults: deque[Fault] = deque()
        self._chaos_rate = 0.0
        self._chaos_kinds: tuple[str, ...] = ()
        self._chaos_rng = random.Random(0)  # noqa: S311 - test data

    def _queue(self, fault: Fault, times: int) -> None:
        if times < 1:
            msg = f"times must be >= 1, got {times}"
            raise ValueError(msg)
        self.faults.extend([fault] * times)

    def fail_next(
        self,
        status: int = 503,
        *,
        times: int = 1,
        retry_after: str | float | None = None,
        body: bytes | str | object | None = None,
        headers: Mapping[str, str] | None = None,
        content_type: str | None = None,
    ) -> Fault:
        """Make the next ``times`` requests fail with ``status``.

        Args:
            status: The HTTP status to answer with (400-599 make sense).
            times: How many consecutive requests fail.
            retry_after: A ``Retry-After`` header value: seconds, an HTTP date,
                or garbage, sent as given.
            body: Bytes or text sent as is, any other object as JSON; default
                ``{"detail": "<reason phrase>"}``.
            headers: Extra response headers.
            content_type: The body's content type; default JSON for the default
                or object bodies, ``text/plain`` for bytes and text.

        Returns:
            The queued fault.

        Raises:
            ValueError: ``status`` or ``times`` is out of range.
        """
        if not 100 <= status <= 599:
            msg = f"status must be an HTTP status code, got {status}"
            raise ValueError(msg)
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = "Error"
        data, is_json = _encode_body(body, {"detail": phrase})
        extra = dict(headers or {})
        if retry_after is not None:
            extra["Retry-After"] = str(retry_after)
        fault = Fault(
            "status",
            status=status,
            body=data,
            content_type=content_type or ("application/json" if is_json else "text/plain"),
            headers=tuple(extra.items()),
        )
        self._queue(fault, times)
        return fault

    def respond_next(
        self,
        status: int = 200,
        body: bytes | str | object = b"",
        content_type: str = "application/json",
        headers: Mapping[str, str] | None = None,
        *,
        times: int = 1,
    ) -> Fault:
        """Answer the next ``times`` requests with an arbitrary raw response.

        Args:
            status: The HTTP status.
            body: Bytes or text sent as is, any other object as JSON.
            content_type: The ``Content-Type`` header.
            headers: Extra response headers.
            times: How many consecutive requests get this response.

        Returns:
            The queued fault.
        """
        data, _ = _encode_body(body, b"")
        fault = Fault(
            "respond",
            status=status,
            body=data,
            content_type=content_type,
            headers=tuple((headers or {}).items()),
        )
        self._queue(fault, times)
        return fault

    def redirect_next(
        self,
        location: str,
        status: int = 307,
        *,
        times: int = 1,
        headers: Mapping[str, str] | None = None,
    ) -> Fault:
        """Redirect the next ``times`` requests to ``location``.

        Args:
            location: The ``Location`` header: an absolute URL (maybe another
                host, such as a second fake on ``127.0.0.2``) or a relative one.
            status: The redirect status (301, 302, 303, 307 or 308).
            times: How many consecutive requests are redirected.
            headers: Extra response headers.

        Returns:
            The queued fault.
        """
        fault = Fault(
            "redirect",
            status=status,
            content_type="text/plain",
            headers=tuple((headers or {}).items()),
            location=location,
        )
        self._queue(fault, times)
        return fault

    def reset_next(self, times: int = 1) -> Fault:
        """Drop the connection of the next ``times`` requests without answering.

        The socket is closed with ``SO_LINGER`` 0, so the client sees a TCP
        reset (aiohttp reports a ``ClientOSError`` or ``ServerDisconnectedError``).
        Note that recent aiohttp clients resend an idempotent request once,
        silently, after such a failure: use ``times=2`` for one ``GET`` to fail.

        Args:
            times: How many consecutive requests are dropped.

        Returns:
            The queued fault.
        """
        fault = Fault("reset")
        self._queue(fault, times)
        return fault

    def truncate_next(self, times: int = 1) -> Fault:
        """Send the next ``times`` responses only half way, then close the connection.

        The response is the normal 200 page with its full ``Content-Length``
        but only about half of its body (the client sees a payload error).

        Args:
            times: How many consecutive responses are cut short.

        Returns:
            The queued fault.
        """
        fault = Fault("truncate")
        self._queue(fault, times)
        return fault

    def delay_next(self, seconds: float, times: int = 1) -> Fault:
        """Wait ``seconds`` before answering the next ``times`` requests normally.

        Args:
            seconds: How long to wait (on top of ``latency``).
            times: How many consecutive requests are delayed.

        Returns:
            The queued fault.

        Raises:
            ValueError: ``seconds`` is negative.
        """
        if seconds < 0:
            msg = f"seconds must be >= 0, got {seconds}"
            raise ValueError(msg)
        fault = Fault("delay", seconds=seconds)
        self._queue(fault, times)
        return fault

    def clear_faults(self) -> None:
        """Forget queued faults and turn random faults off."""
        self.faults.clear()
        self._chaos_rate = 0.0

    def fault_rate(
        self, rate: float, *, seed: int = 0, kinds: Iterable[str] = DEFAULT_CHAOS_KINDS
    ) -> None:
        """Fail a seeded random share of requests (when no fault is queued).

        Args:
            rate: The probability, 0 to 1, that a request gets a fault (0 stops).
            seed: The seed of the random draws.
            kinds: What the faults are: a status code as text (``"503"``;
                ``"429"`` comes with ``Retry-After: 0.01``, ``"502"`` with an HTML
                page), ``"reset"`` or ``"truncate"``.

        Raises:
            ValueError: ``rate`` is not within 0 to 1, or a kind is unknown.
        """
        chosen = tuple(kinds)
        if not 0.0 <= rate <= 1.0:
            msg = f"rate must be within 0 and 1, got {rate}"
            raise ValueError(msg)
        for kind in chosen:
            if kind not in {"reset", "truncate"} and not (kind.isdigit() and len(kind) == 3):
                msg = f"unknown fault kind {kind!r}: use a status code, 'reset' or 'truncate'"
                raise ValueError(msg)
        if rate > 0 and not chosen:
            msg = "kinds must not be empty"
            raise ValueError(msg)
        self._chaos_rate = rate
        self._chaos_kinds = chosen
        self._chaos_rng = random.Random(seed)  # noqa: S311 - test data

    def _chaos_fault(self) -> Fault | None:
        if self._chaos_rate <= 0 or self._chaos_rng.random() >= self._chaos_rate:
            return None
        kind = self._chaos_rng.choice(self._chaos_kinds)
        if kind == "reset":
            return Fault("reset")
        if kind == "truncate":
            return Fault("truncate")
        status = int(kind)
        if status == 502:
            return Fault("status", status=502, body=_BAD_GATEWAY_PAGE, content_type="text/html")
        # A 429's "Retry-After: 0" means "back off by your own schedule" to the client
        # (issue 22); a hundredth of a second keeps chaos fast and still says when.
        headers = (("Retry-After", "0.01"),) if status == 429 else ()
        body, _ = _encode_body(None, {"detail": f"Injected fault {status}"})
        return Fault("status", status=status, body=body, headers=headers)

    def _next_fault(self) -> Fault | None:
        if self.faults:
            return self.faults.popleft()
        return self._chaos_fault()
