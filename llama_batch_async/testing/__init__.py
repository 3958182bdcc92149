"""Test helpers: ``FakeLlamaCloud``, a real local server for the batch-processing endpoint.

Depends on the standard library and aiohttp only:

    from llama_batch_async.testing import FakeLlamaCloud

    async with FakeLlamaCloud(jobs=250, page_tokens=True) as cloud:
        cloud.fail_next(503, retry_after="1")
        ...  # point a client at cloud.url
        assert cloud.requests[0].query["limit"] == "100"
"""

from ._jobs import (
    DIRECTORY_IDS,
    JOB_FIELDS,
    JOB_STATUSES,
    JOB_TYPES,
    NEWEST_CREATED_AT,
    ORGANIZATION_IDS,
    PROJECT_IDS,
    PROJECT_ORGANIZATIONS,
    complete_job,
    format_timestamp,
    make_job,
    make_jobs,
    parse_timestamp,
)
from ._server import (
    DEFAULT_CHAOS_KINDS,
    ECHO_PATH,
    ENDPOINT_PATH,
    PAGING_KINDS,
    FakeLlamaCloud,
    Fault,
    FaultKind,
    PagingKind,
    RecordedRequest,
    run_fake_server,
    serve_in_thread,
)

__all__ = [
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
    "PagingKind",
    "RecordedRequest",
    "complete_job",
    "format_timestamp",
    "make_job",
    "make_jobs",
    "parse_timestamp",
    "run_fake_server",
    "serve_in_thread",
]
