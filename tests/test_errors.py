"""The error tree and the status -> class table, without I/O."""

from __future__ import annotations

import pytest

from llama_batch_async._errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    LlamaBatchError,
    NotFoundError,
    PaginationError,
    PermissionDeniedError,
    RateLimitError,
    ResponseValidationError,
    ServerError,
    UnprocessableEntityError,
    error_for_status,
    redact,
)


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        pytest.param(400, BadRequestError, id="400-bad-request"),
        pytest.param(401, AuthenticationError, id="401-authentication"),
        pytest.param(403, PermissionDeniedError, id="403-permission-denied"),
        pytest.param(404, NotFoundError, id="404-not-found"),
        pytest.param(422, UnprocessableEntityError, id="422-unprocessable"),
        pytest.param(429, RateLimitError, id="429-rate-limit"),
        pytest.param(500, ServerError, id="500-server"),
        pytest.param(502, ServerError, id="502-server"),
        pytest.param(503, ServerError, id="503-server"),
        pytest.param(504, ServerError, id="504-server"),
        pytest.param(599, ServerError, id="599-server"),
        pytest.param(408, APIStatusError, id="408-plain"),
        pytest.param(409, APIStatusError, id="409-plain"),
        pytest.param(418, APIStatusError, id="418-plain"),
    ],
)
def test_error_for_status_picks_the_class(status: int, cls: type[APIStatusError]) -> None:
    """Each status maps to exactly its class; statuses without one are plain APIStatusError."""
    error = error_for_status(status)

    assert type(error) is cls
    assert error.status_code == status


def test_error_for_status_carries_its_data() -> None:
    """status_code, request_id, body and retry_after are kept as given."""
    error = error_for_status(429, request_id="req-123", body="slow down", retry_after=2.5)

    assert error.status_code == 429
    assert error.request_id == "req-123"
    assert error.body == "slow down"
    assert error.retry_after == 2.5


def test_error_for_status_defaults() -> None:
    """Without extras the error has no request id, an empty body and no retry_after."""
    error = error_for_status(500)

    assert error.request_id is None
    assert error.body == ""
    assert error.retry_after is None
    assert str(error) == "HTTP 500"


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        pytest.param({"status_code": 401}, "HTTP 401: the API key was refused", id="401-reason"),
        pytest.param(
            {"status_code": 403}, "HTTP 403: the API key may not list these jobs", id="403-reason"
        ),
        pytest.param({"status_code": 429}, "HTTP 429: rate limited", id="429-reason"),
        pytest.param({"status_code": 404}, "HTTP 404", id="404-bare"),
        pytest.param(
            {"status_code": 429, "retry_after": 2.5},
            "HTTP 429: rate limited (retry after 2.5 s)",
            id="retry-after",
        ),
        pytest.param(
            {"status_code": 503, "request_id": "req-9"}, "HTTP 503 [request id req-9]", id="req-id"
        ),
        pytest.param(
            {"status_code": 400, "body": '{"detail":"bad limit"}'},
            'HTTP 400: {"detail":"bad limit"}',
            id="body",
        ),
        pytest.param(
            {"status_code": 429, "request_id": "r1", "body": "busy", "retry_after": 3.0},
            "HTTP 429: rate limited (retry after 3 s) [request id r1]: busy",
            id="everything",
        ),
    ],
)
def test_error_message(kwargs: dict[str, object], expected: str) -> None:
    """The message reads status, reason, retry-after, request id, then the body excerpt."""
    error = error_for_status(**kwargs)  # type: ignore[arg-type]

    assert str(error) == expected


@pytest.mark.parametrize(
    ("sub", "base"),
    [
        pytest.param(APIStatusError, LlamaBatchError, id="status<base"),
        pytest.param(BadRequestError, APIStatusError, id="400<status"),
        pytest.param(AuthenticationError, APIStatusError, id="401<status"),
        pytest.param(PermissionDeniedError, APIStatusError, id="403<status"),
        pytest.param(NotFoundError, APIStatusError, id="404<status"),
        pytest.param(UnprocessableEntityError, APIStatusError, id="422<status"),
        pytest.param(RateLimitError, APIStatusError, id="429<status"),
        pytest.param(ServerError, APIStatusError, id="5xx<status"),
        pytest.param(APIConnectionError, LlamaBatchError, id="connection<base"),
        pytest.param(APITimeoutError, APIConnectionError, id="timeout<connection"),
        pytest.param(APITimeoutError, LlamaBatchError, id="timeout<base"),
        pytest.param(ResponseValidationError, LlamaBatchError, id="validation<base"),
        pytest.param(PaginationError, LlamaBatchError, id="pagination<base"),
        pytest.param(LlamaBatchError, Exception, id="base<Exception"),
    ],
)
def test_class_tree(sub: type[BaseException], base: type[BaseException]) -> None:
    """The error tree is the one the module docstring draws."""
    assert issubclass(sub, base)


@pytest.mark.parametrize(
    ("cls", "not_base"),
    [
        pytest.param(APITimeoutError, APIStatusError, id="timeout-not-status"),
        pytest.param(APIConnectionError, APIStatusError, id="connection-not-status"),
        pytest.param(ResponseValidationError, APIStatusError, id="validation-not-status"),
        pytest.param(PaginationError, APIConnectionError, id="pagination-not-connection"),
        pytest.param(RateLimitError, ServerError, id="429-not-5xx"),
        pytest.param(LlamaBatchError, ValueError, id="base-not-ValueError"),
    ],
)
def test_class_tree_branches_stay_apart(
    cls: type[BaseException], not_base: type[BaseException]
) -> None:
    """Sibling branches of the tree do not inherit from one another."""
    assert not issubclass(cls, not_base)


@pytest.mark.parametrize(
    "error",
    [
        pytest.param(LlamaBatchError("x"), id="base"),
        pytest.param(error_for_status(503), id="status"),
        pytest.param(APIConnectionError("reset"), id="connection"),
        pytest.param(APITimeoutError("slow"), id="timeout"),
        pytest.param(ResponseValidationError("bad"), id="validation"),
        pytest.param(PaginationError("stuck"), id="pagination"),
    ],
)
def test_cursor_defaults_to_none(error: LlamaBatchError) -> None:
    """An error that has not ended a walk has no cursor to resume from."""
    assert error.cursor is None


def test_connection_error_is_retryable_by_default() -> None:
    """APIConnectionError (and the timeout) are retryable unless told otherwise."""
    assert APIConnectionError("reset").retryable is True
    assert APITimeoutError("slow").retryable is True
    assert APIConnectionError("bad certificate", retryable=False).retryable is False


def test_validation_error_paths_default_empty() -> None:
    """ResponseValidationError carries its paths, empty by default."""
    assert ResponseValidationError("bad").paths == ()
    assert ResponseValidationError("bad", paths=("$.items",)).paths == ("$.items",)


@pytest.mark.parametrize(
    ("text", "secret", "expected"),
    [
        ("Too Many Requests", "any", "Too Many Requests"),  # inside a word: kept
        ("key any refused", "any", "key *** refused"),  # standing alone: masked
        ("Bearer any", "any", "Bearer ***"),
        ("sk-0123456789 in Xsk-0123456789X", "sk-0123456789", "*** in X***X"),  # long: anywhere
    ],
)
def test_redact_masks_short_secrets_as_whole_words_only(
    text: str, secret: str, expected: str
) -> None:
    """A key shorter than 8 characters is masked where it stands alone, not inside words."""
    assert redact(text, [secret]) == expected
