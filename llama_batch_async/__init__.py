"""An asyncio client for listing LlamaCloud batch jobs.

Typed records, exactly-once pagination by offset or page token, resumable
walks, retries that respect rate limits:

    async with BatchClient() as client:
        async for job in client.list_jobs(status="failed"):
            print(job.id, job.error_message)
"""

from typing import TYPE_CHECKING

from ._checkpoint import (
    CheckpointStore,
    FileCheckpointStore,
    checkpointed_pages,
    load_checkpoint,
)
from ._client import BatchClient
from ._errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    BatchNotFoundError,
    JobNotFoundError,
    LlamaBatchError,
    NotFoundError,
    PaginationError,
    PermissionDeniedError,
    RateLimitError,
    ResponseTooLargeError,
    ResponseValidationError,
    ServerError,
    UnprocessableEntityError,
    WaitTimeoutError,
)
from ._http._limiter import Limiter, LocalLimiter
from ._http._transport import Transport
from ._http._wire import Request, Response
from ._models import (
    Batch,
    BatchConfig,
    BatchJob,
    BatchJobConfig,
    BatchJobReference,
    BatchJobType,
    BatchPage,
    BatchResult,
    BatchStatus,
    JobPage,
    JobStatus,
    JobType,
)
from ._paging._pager import BatchPager, JobPager, WalkStats
from ._polling._batches import BatchEvent
from ._polling._jobs import JobEvent

__all__ = [
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

if TYPE_CHECKING:
    __version__: str


def __getattr__(name: str) -> str:
    if name == "__version__":
        from importlib.metadata import version  # noqa: PLC0415 - read once, on demand

        return version("llama-batch-async")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
