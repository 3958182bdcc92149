"""The public door: exported names are pinned, the version has one source."""

from __future__ import annotations

from importlib.metadata import version

import pytest

import llama_batch_async
import llama_batch_async.testing

PUBLIC = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "BatchClient",
    "BatchJob",
    "CheckpointStore",
    "FileCheckpointStore",
    "JobEvent",
    "JobNotFoundError",
    "JobPage",
    "JobPager",
    "JobStatus",
    "JobType",
    "Limiter",
    "LlamaBatchError",
    "LocalLimiter",
    "NotFoundError",
    "PaginationError",
    "PermissionDeniedError",
    "RateLimitError",
    "ResponseTooLargeError",
    "ResponseValidationError",
    "ServerError",
    "UnprocessableEntityError",
    "WaitTimeoutError",
    "WalkStats",
    "checkpointed_pages",
]


def test_all_is_pinned_and_sorted() -> None:
    """__all__ lists exactly the public names, sorted; each one exists."""
    assert llama_batch_async.__all__ == PUBLIC
    assert all(hasattr(llama_batch_async, name) for name in PUBLIC)


def test_testing_all_is_sorted_and_importable() -> None:
    """The testing kit's __all__ is sorted and every name exists."""
    names = llama_batch_async.testing.__all__
    assert names == sorted(names, key=lambda name: (not name.isupper(), name))
    assert all(hasattr(llama_batch_async.testing, name) for name in names)


def test_version_comes_from_package_metadata() -> None:
    """__version__ is read from the installed distribution's metadata."""
    assert llama_batch_async.__version__ == version("llama-batch-async")


def test_unknown_attribute_is_an_attribute_error() -> None:
    """The lazy module attribute hook answers only __version__."""
    with pytest.raises(AttributeError, match="no_such_name"):
        _ = llama_batch_async.no_such_name


def test_every_error_is_a_llama_batch_error() -> None:
    """Every public exception class derives from LlamaBatchError."""
    errors = [
        getattr(llama_batch_async, name)
        for name in PUBLIC
        if name.endswith("Error") and name != "LlamaBatchError"
    ]
    assert errors
    assert all(issubclass(error, llama_batch_async.LlamaBatchError) for error in errors)
