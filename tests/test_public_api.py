"""The public door: exported names are pinned, the version has one source."""

from __future__ import annotations

import ast
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

import llama_batch_async
import llama_batch_async.testing

PUBLIC = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "Batch",
    "BatchClient",
    "BatchConfig",
    "BatchEvent",
    "BatchJob",
    "BatchJobConfig",
    "BatchJobReference",
    "BatchJobType",
    "BatchNotFoundError",
    "BatchPage",
    "BatchPager",
    "BatchResult",
    "BatchStatus",
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
    "Request",
    "Response",
    "ResponseTooLargeError",
    "ResponseValidationError",
    "ServerError",
    "Transport",
    "UnprocessableEntityError",
    "WaitTimeoutError",
    "WalkStats",
    "checkpointed_pages",
    "load_checkpoint",
]


TESTING = [
    "BATCHES_PATH",
    "BATCH_FIELDS",
    "BATCH_JOB_TYPES",
    "BATCH_STATUSES",
    "DEFAULT_CHAOS_KINDS",
    "DIRECTORY_IDS",
    "ECHO_PATH",
    "ENDPOINT_PATH",
    "JOB_FIELDS",
    "JOB_STATUSES",
    "JOB_TYPES",
    "NEWEST_CREATED_AT",
    "ORGANIZATION_IDS",
    "PAGING_KINDS",
    "PROJECT_IDS",
    "PROJECT_ORGANIZATIONS",
    "FakeLlamaCloud",
    "Fault",
    "FaultKind",
    "Listing",
    "ListingTransport",
    "MockTransport",
    "PagingKind",
    "RecordedRequest",
    "Request",
    "Response",
    "complete_batch",
    "complete_job",
    "format_timestamp",
    "make_batch",
    "make_batches",
    "make_job",
    "make_jobs",
    "parse_timestamp",
    "run_fake_server",
    "serve_in_thread",
]


def test_all_is_pinned_and_sorted() -> None:
    """__all__ lists exactly the public names, sorted; each one exists."""
    assert llama_batch_async.__all__ == PUBLIC
    assert all(hasattr(llama_batch_async, name) for name in PUBLIC)


def test_testing_all_is_sorted_and_importable() -> None:
    """The testing kit's __all__ is sorted and every name exists."""
    names = llama_batch_async.testing.__all__
    assert names == TESTING
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


def test_transport_imports_neither_cattrs_nor_the_walk() -> None:
    """Importing the transport loads the wire and the leaf types only: no converter, no walk."""
    script = """
import importlib.util, sys, types
spec = importlib.util.find_spec("llama_batch_async")
package = types.ModuleType("llama_batch_async")
package.__path__ = list(spec.submodule_search_locations)  # the package, without its __init__
sys.modules["llama_batch_async"] = package
import llama_batch_async._http._transport
loaded = sorted(name for name in sys.modules if name.startswith(("llama_batch_async.", "cattrs")))
print(" ".join(loaded))
"""
    done = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    loaded = set(done.stdout.split())
    assert "llama_batch_async._http._transport" in loaded
    assert not {name for name in loaded if name.startswith("cattrs")}
    walk = {
        "llama_batch_async._paging._walk",
        "llama_batch_async._convert",
        "llama_batch_async._paging._pager",
    }
    assert not loaded & walk


def test_only_the_transport_imports_aiohttp_at_run_time() -> None:
    """Outside ``_transport`` (and the fake's aiohttp app), aiohttp is imported for types only."""
    package = Path(llama_batch_async.__file__).parent
    allowed = {package / "_http" / "_transport.py", package / "testing" / "_server.py"}
    runtime: list[str] = []
    for path in sorted(package.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        typing_only = {
            id(inner)
            for node in ast.walk(tree)
            if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"
            for inner in ast.walk(node)
        }
        for node in ast.walk(tree):
            if id(node) in typing_only or not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                names = [node.module or ""]
            if any(name.split(".")[0] == "aiohttp" for name in names) and path not in allowed:
                runtime.append(f"{path.relative_to(package)}:{node.lineno}")
    assert runtime == []
