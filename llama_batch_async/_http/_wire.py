"""Pure HTTP: build a request, classify a response, decide a redirect, parse ``Retry-After``.

Plain values in, plain values out: no event loop, no aiohttp. The transport
sends what `build_request` makes and hands back a `Response`; `check_status`
turns a non-2xx one into the typed error.
"""

from __future__ import annotations

import email.utils
import functools
import math
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from urllib.parse import quote

import attrs
from yarl import URL

from llama_batch_async._config import Config, is_loopback
from llama_batch_async._errors import APIConnectionError, APIStatusError, error_for_status, redact

__all__ = [
    "REDIRECT_STATUSES",
    "Redirect",
    "Request",
    "Response",
    "body_excerpt",
    "build_batch_request",
    "build_request",
    "check_status",
    "decide_redirect",
    "parse_retry_after",
]

_EXCERPT_CHARS = 500
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_HTTP_SCHEMES = frozenset({"http", "https"})


@attrs.frozen(slots=True)
class Request:
    """One request to send. ``headers`` may hold the key, so it stays out of the repr.

    ``secrets`` are the credential values in ``headers`` (API key, session
    cookie): what `redact` masks in any text built from the answer. ``timeout``
    is the seconds this attempt may take (the sending client's setting; None:
    the transport's own). ``method`` is ``GET`` unless a write (``POST``) sets
    it; ``body`` is its JSON body. ``idempotent`` is False for a request the
    server may act on twice if it is sent twice (a create): the retry policy
    then retries it only when the server certainly did not act on it.
    """

    url: str
    params: tuple[tuple[str, str], ...]
    headers: Mapping[str, str] = attrs.field(repr=False)
    secrets: tuple[str, ...] = attrs.field(default=(), repr=False)
    timeout: float | None = None
    method: str = "GET"
    body: bytes | None = attrs.field(default=None, repr=False)
    idempotent: bool = True


@attrs.frozen(slots=True)
class Response:
    """A whole response, body read and connection released.

    ``headers`` keys are lower-case. ``secrets`` are the request's credential
    values, masked in every text `check_status` builds from this response.
    """

    status: int
    headers: Mapping[str, str]
    body: bytes
    secrets: tuple[str, ...] = attrs.field(default=(), repr=False)


@functools.cache
def _user_agent() -> str:
    # Read on the first request, not at import: package metadata is file I/O
    # that `import llama_batch_async` (and every CLI start) need not pay for.
    from importlib.metadata import PackageNotFoundError, version  # noqa: PLC0415 - once

    try:
        return f"llama-batch-async/{version('llama-batch-async')}"
    except PackageNotFoundError:  # pragma: no cover - only from a bare source tree
        return "llama-batch-async"


def build_batch_request(
    config: Config, batch_id: str, params: tuple[tuple[str, str], ...] = ()
) -> Request:
    """The GET for one v2 batch: ``/api/v2/batches/{batch_id}`` (the id quoted).

    Args:
        config: The client's configuration.
        batch_id: The batch's id, already validated.
        params: Query parameters (``expand``, ``project_id``, ...).
    """
    url = f"{config.batches_endpoint}/{quote(batch_id, safe='')}"
    return build_request(config, url, params)


def build_request(
    config: Config,
    url: str,
    params: tuple[tuple[str, str], ...],
    *,
    method: str = "GET",
    body: bytes | None = None,
    idempotent: bool = True,
) -> Request:
    """A request of ``url`` with ``params``: the client's headers and credentials added.

    Args:
        config: The client's configuration (key, session cookie, timeout).
        url: The full URL (one of the config's endpoints, or one under it).
        params: The query parameters, in the order they are sent.
        method: ``GET``, or ``POST`` for a write.
        body: The JSON body of a write (sent with ``Content-Type: application/json``).
        idempotent: False for a create (see `Request`).
    """
    headers = {"Accept": "application/json", "User-Agent": _user_agent()}
    if body is not None:
        headers["Content-Type"] = "application/json"
    secrets: list[str] = []
    if config.api_key is not None:
        headers["Authorization"] = f"Bearer {config.api_key}"
        secrets.append(config.api_key)
    if config.session_cookie is not None:
        # spec: security - only the configured `session` cookie is ever sent
        headers["Cookie"] = f"session={config.session_cookie}"
        secrets.append(config.session_cookie)
    return Request(
        url=url,
        params=params,
        headers=headers,
        secrets=tuple(secrets),
        timeout=config.timeout,
        method=method,
        body=body,
        idempotent=idempotent,
    )


@attrs.frozen(slots=True)
class Redirect:
    """Where a redirect leads, and whether the credentials may follow it."""

    url: URL
    keep_credentials: bool


def decide_redirect(
    current: URL, status: int, location: str | None, *, origin: URL
) -> Redirect | None:
    """The redirect decision: follow ``location``, take the response as final, or refuse.

    Args:
        current: The URL that answered.
        status: Its status code.
        location: Its ``Location`` header, if any.
        origin: The origin of the first request of this attempt.

    Returns:
        None when the response is final (not a redirect status, or no
        ``Location``); else where to go next.

    Raises:
        APIConnectionError: (``retryable=False``) the target is not an
            ``http(s)`` URL with a host: no later attempt can follow it.
    """
    if status not in REDIRECT_STATUSES or not location:
        return None
    try:
        target = current.join(URL(location))
    except ValueError:
        target = None
    if target is None or target.scheme not in _HTTP_SCHEMES or not target.host:
        # spec: security - only http(s) is ever followed; anything else is final
        # here, before aiohttp sees it, so it is not mistaken for a flaky network.
        scheme = f"{target.scheme}:" if target is not None and target.scheme else "?"
        raise APIConnectionError(
            f"HTTP {status} redirect from {current.host} to a non-HTTP URL ({scheme}) refused",
            retryable=False,
        )
    # spec: security - no credentials on a redirect to another host, or to plain http
    keep = target.origin() == origin.origin() and (
        target.scheme == "https" or is_loopback(target.host)
    )
    return Redirect(url=target, keep_credentials=keep)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header, or None if absent or unreadable.

    Args:
        value: The header's value: delta-seconds or an HTTP date.
        now: The current time, for dates (default: the system clock).
    """
    if value is None:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        # A negative, infinite or NaN delay is not a delay: fall back to backoff.
        return seconds if math.isfinite(seconds) and seconds >= 0 else None
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    current = now if now is not None else datetime.now(timezone.utc)
    return max(0.0, (when - current).total_seconds())


def body_excerpt(body: bytes, *, secret: str | None = None, secrets: Sequence[str] = ()) -> str:
    """The start of a body as one short line, for error messages, credentials masked.

    Args:
        body: The raw body.
        secret: Text to mask should the server echo it (the API key).
        secrets: More such texts (the API key, the session cookie).
    """
    masked = [s for s in (secret, *secrets) if s]
    # Decode a little past the excerpt, so a secret across its end is masked
    # whole before the cut (a cut through it would leave a piece of it).
    reach = _EXCERPT_CHARS * 4 + 4 * max((len(s) for s in masked), default=0)
    text = redact(body[:reach].decode("utf-8", "replace"), masked)
    text = " ".join(text.split())
    if len(text) > _EXCERPT_CHARS:
        text = text[: _EXCERPT_CHARS - 3] + "..."
    return text


def check_status(response: Response, *, secret: str | None = None) -> APIStatusError | None:
    """The typed error for a non-2xx response, or None for a success.

    Every text taken from the response (request id, body excerpt) is masked
    with `redact`: a gateway may echo the credentials into either.

    Args:
        response: The response; its ``secrets`` are masked.
        secret: The API key, masked too.
    """
    if 200 <= response.status < 300:
        return None
    secrets = (*response.secrets, *((secret,) if secret else ()))
    request_id = response.headers.get("x-request-id")
    return error_for_status(
        response.status,
        request_id=redact(request_id, secrets) if request_id is not None else None,
        body=body_excerpt(response.body, secrets=secrets),
        retry_after=parse_retry_after(response.headers.get("retry-after")),
    )
