"""The error family: every exception a user of this package can see.

The tree, drawn:

    LlamaBatchError                      .cursor: where to resume the walk it ended
    ├── APIStatusError                   .status_code .request_id .body .retry_after
    │   ├── BadRequestError              400
    │   ├── AuthenticationError          401
    │   ├── PermissionDeniedError        403
    │   ├── NotFoundError                404
    │   │   ├── JobNotFoundError         get_job / cancel_job / wait_for_jobs: no such job
    │   │   └── BatchNotFoundError       get_batch / wait_for_batches: no such batch
    │   ├── ConflictError                409 (cancel_job / cancel_batch: already finished)
    │   ├── UnprocessableEntityError     422
    │   ├── RateLimitError               429
    │   └── ServerError                  5xx
    ├── APIConnectionError               no usable response (reset, TLS, truncated body)
    │   ├── APITimeoutError              one attempt took longer than ``timeout``
    │   ├── ResponseTooLargeError        the body passed ``max_response_bytes`` (not retried)
    │   └── CreateUncertainError         a create may have reached the server: not resent
    ├── ResponseValidationError          the body is not what the reference says
    ├── PaginationError                  the server's paging is inconsistent
    └── WaitTimeoutError                 wait_for_jobs: time ran out (also a TimeoutError)

Statuses without a class of their own (408, other 4xx) are plain
`APIStatusError`. Every text built from server data (request id, body excerpt,
a wrapped aiohttp message) goes through `redact` first, so a server that echoes
the API key or the session cookie cannot put it into a message or a log.

Bad arguments are `ValueError` and use after close is `RuntimeError`, as the
standard library does; neither is a `LlamaBatchError`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._models import Batch, BatchJob

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "BatchNotFoundError",
    "ConflictError",
    "CreateUncertainError",
    "JobNotFoundError",
    "LlamaBatchError",
    "NotFoundError",
    "PaginationError",
    "PermissionDeniedError",
    "RateLimitError",
    "ResponseTooLargeError",
    "ResponseValidationError",
    "ServerError",
    "UnprocessableEntityError",
    "WaitTimeoutError",
    "error_for_status",
    "record_not_found",
    "redact",
]

MASK = "***"


# Secrets shorter than this are masked only as whole words (no real API key is this short).
_WHOLE_WORD_BELOW = 8


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """``text`` with every occurrence of each secret replaced by ``***``.

    The one place credentials are masked: the transport, the status classifier
    and the body excerpt all call it on text a server may have written.

    Args:
        text: Text built from server data.
        secrets: The API key and the session cookie value (None or empty ones
            are skipped). A ``Bearer <key>`` or ``session=<cookie>`` echo is
            masked through the secret inside it.
    """
    # Longest first, so a secret containing another is masked whole.
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        if len(secret) < _WHOLE_WORD_BELOW:
            # A short secret (a test key such as "any") is masked where it stands
            # alone, not inside words: "Too Many Requests" keeps its letters.
            pattern = rf"(?<![0-9A-Za-z]){re.escape(secret)}(?![0-9A-Za-z])"
            text = re.sub(pattern, MASK, text)
        else:
            text = text.replace(secret, MASK)
    return text


class LlamaBatchError(Exception):
    """Base class of every error this package raises on purpose.

    Attributes:
        cursor: When the error ended a walk, the cursor to resume it from
            (`BatchClient.list_jobs(resume_from=...)`): right after the last page
            that was fully delivered, or the walk's own ``resume_from`` if no page
            was. None when the walk had delivered nothing and can simply be
            started again.
    """

    cursor: str | None = None


class APIStatusError(LlamaBatchError):
    """The server answered with a status that is not a success.

    Attributes:
        status_code: The HTTP status code.
        request_id: The ``x-request-id`` response header, for support tickets.
        body: The start of the response body (at most 500 characters).
        retry_after: Seconds the server asked us to wait (``Retry-After``), if it said.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        request_id: str | None = None,
        body: str = "",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.request_id = request_id
        self.body = body
        self.retry_after = retry_after


class BadRequestError(APIStatusError):
    """400: the server refused the request as malformed."""


class AuthenticationError(APIStatusError):
    """401: the API key (or session cookie) was refused."""


class PermissionDeniedError(APIStatusError):
    """403: the credentials are valid but may not list these jobs."""


class NotFoundError(APIStatusError):
    """404: the endpoint (or the project or organization) does not exist."""


class UnprocessableEntityError(APIStatusError):
    """422: the server rejected a query parameter."""


class ConflictError(APIStatusError):
    """409: the request conflicts with the record's state (cancelling a finished job or batch).

    A GET that meets a 409 is retried (a transient lock); a write is not:
    the state it conflicts with will not change by asking again.
    """


class RateLimitError(APIStatusError):
    """429: too many requests; ``retry_after`` says how long to wait, when sent."""


class ServerError(APIStatusError):
    """5xx: the server failed."""


class APIConnectionError(LlamaBatchError):
    """No usable response: the connection failed, was reset, or the body was cut short.

    Attributes:
        retryable: False for failures that another attempt cannot fix, such as a
            TLS certificate the client does not trust.
        sent: False only when the request certainly never reached the server
            (the connection was refused, the name did not resolve): a create
            is retried then, and only then.
    """

    def __init__(self, message: str, *, retryable: bool = True, sent: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.sent = sent


class CreateUncertainError(APIConnectionError):
    """A create (`create_job`, `create_batch`) may have reached the server, and was not resent.

    The connection failed after the request was sent (a reset, a timeout), so
    the job or batch may exist. A create is never sent twice blindly: list
    the jobs of the directory (``list_jobs(directory_id=...)``) or the batches
    of the source directory (``list_batches(source_directory_id=...)``),
    newest first, to find it before creating again.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=False, sent=True)


class APITimeoutError(APIConnectionError):
    """One attempt took longer than the client's ``timeout``."""


class ResponseTooLargeError(APIConnectionError):
    """The response body grew past the client's ``max_response_bytes``.

    Counted after decompression, so a small compressed "bomb" is caught too.
    Never retried (``retryable`` is False): the same request would bring the
    same body. The connection it came on is closed, not reused.

    Attributes:
        limit: The ``max_response_bytes`` that was passed, in bytes.
    """

    def __init__(self, message: str, *, limit: int) -> None:
        super().__init__(message, retryable=False)
        self.limit = limit


class ResponseValidationError(LlamaBatchError):
    """The response body is not what the reference promises.

    The message names the offending places as JSON paths
    (``$.items[3].total_items``), never the payload itself.

    Attributes:
        paths: The offending paths with their reasons, in body order: at most
            50, from at most the first 10 bad items (the message counts the rest).
    """

    def __init__(self, message: str, *, paths: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.paths = paths


class PaginationError(LlamaBatchError):
    """The server's paging is inconsistent: a repeated token, or pages with nothing new."""


class WaitTimeoutError(LlamaBatchError, TimeoutError):
    """A wait (`wait_for_jobs`, `wait_for_batches`, ...) ran out of time before every id finished.

    Both a `LlamaBatchError` and the builtin `TimeoutError`, so either
    ``except`` catches it.

    Attributes:
        jobs: The latest record of each id seen, in the order the ids were
            given (ids never listed are absent); empty for a batch wait.
        batches: The same for a batch wait (`wait_for_batches`); else empty.
        pending: The ids not yet in a terminal status, in the order given.
        timeout: The ``timeout`` that passed, in seconds.
    """

    def __init__(
        self,
        message: str,
        *,
        jobs: Mapping[str, BatchJob],
        pending: tuple[str, ...],
        timeout: float,
        batches: Mapping[str, Batch] | None = None,
    ) -> None:
        super().__init__(message)
        self.jobs = dict(jobs)
        self.batches = dict(batches or {})
        self.pending = pending
        self.timeout = timeout


class BatchNotFoundError(NotFoundError):
    """A v2 batch does not exist (or is not visible to this key): a 404 for its id.

    Raised by `BatchClient.get_batch`, and by `BatchClient.wait_for_batches` /
    `watch_batches` once an id has been missing from ``1 + MISSING_GRACE_WALKS``
    polls in a row.

    Attributes:
        missing: The ids not found, in the order given.
        batches: The latest record of each id seen before (waits only).
    """

    def __init__(
        self,
        message: str,
        *,
        missing: tuple[str, ...],
        batches: Mapping[str, Batch] | None = None,
        request_id: str | None = None,
        body: str = "",
    ) -> None:
        super().__init__(message, status_code=404, request_id=request_id, body=body)
        self.missing = missing
        self.batches = dict(batches or {})


class JobNotFoundError(NotFoundError):
    """A v1 job does not exist (or is not visible to this key).

    Raised by `BatchClient.get_job`, `list_job_items` and `cancel_job` for an
    HTTP 404 on the job's id (``request_id`` and ``body`` from it), and by
    `BatchClient.wait_for_jobs` / `finished_jobs` once an id has been absent
    from ``1 + MISSING_GRACE_WALKS`` complete polls in a row (a just-created
    job gets that grace to appear): a walk of the listing that did not show
    it, or a status request that answered 404. Check the ids, and that
    ``project_id`` / ``directory_id`` match the jobs.

    Attributes:
        missing: The ids not found, in the order given.
        jobs: The latest record of each id seen before (waits only).
    """

    def __init__(
        self,
        message: str,
        *,
        missing: tuple[str, ...],
        jobs: Mapping[str, BatchJob] | None = None,
        request_id: str | None = None,
        body: str = "",
    ) -> None:
        super().__init__(message, status_code=404, request_id=request_id, body=body)
        self.missing = missing
        self.jobs = dict(jobs or {})


def record_not_found(
    error_class: type[JobNotFoundError | BatchNotFoundError],
    noun: str,
    record_id: str,
    exc: NotFoundError,
) -> NotFoundError:
    """A 404 for ``record_id`` as ``error_class``, naming it (request id and body kept).

    An ``exc`` that already is ``error_class`` is returned as it is.
    """
    if isinstance(exc, error_class):
        return exc
    return error_class(
        f"{noun} {record_id!r} not found (HTTP 404"
        + (f", request id {exc.request_id}" if exc.request_id else "")
        + ")",
        missing=(record_id,),
        request_id=exc.request_id,
        body=exc.body,
    )


_BY_STATUS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}

_REASONS: dict[type[APIStatusError], str] = {
    AuthenticationError: "the API key was refused",
    PermissionDeniedError: "the API key may not list these jobs",
    RateLimitError: "rate limited",
}


def error_for_status(
    status_code: int,
    *,
    request_id: str | None = None,
    body: str = "",
    retry_after: float | None = None,
) -> APIStatusError:
    """Build the typed error for a non-success status.

    Args:
        status_code: The HTTP status code (not 2xx).
        request_id: The ``x-request-id`` header, if any.
        body: A short excerpt of the response body.
        retry_after: Parsed ``Retry-After`` in seconds, if any.
    """
    cls = _BY_STATUS.get(status_code)
    if cls is None:
        cls = ServerError if status_code >= 500 else APIStatusError
    message = f"HTTP {status_code}"
    if reason := _REASONS.get(cls):
        message += f": {reason}"
    if retry_after is not None:
        message += f" (retry after {retry_after:g} s)"
    if request_id:
        message += f" [request id {request_id}]"
    if body:
        message += f": {body}"
    return cls(
        message,
        status_code=status_code,
        request_id=request_id,
        body=body,
        retry_after=retry_after,
    )
