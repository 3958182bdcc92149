"""Test helpers: ``FakeLlamaCloud``, a real local server for the v1 jobs and v2 batches endpoints.

The fake server depends on the standard library and aiohttp only. Its parts:
``_listing`` (what the endpoint answers, no I/O), ``_faults`` (scripted and
random faults), ``_server`` (the aiohttp app), ``_run`` (a thread or a
process), ``_mock`` (transports for ``BatchClient(transport=...)``).

    from llama_batch_async.testing import FakeLlamaCloud

    async with FakeLlamaCloud(jobs=250, page_tokens=True) as cloud:
        cloud.fail_next(503, retry_after="1")
        ...  # point a client at cloud.url
        assert cloud.requests[0].query["limit"] == "100"

Without a socket, ``BatchClient(transport=MockTransport(handler))`` or
``BatchClient(transport=ListingTransport(cloud))``.
"""

from llama_batch_async import Request, Response

from ._batches import (
    BATCH_FIELDS,
    BATCH_JOB_TYPES,
    BATCH_STATUSES,
    complete_batch,
    make_batch,
    make_batches,
)
from ._faults import DEFAULT_CHAOS_KINDS, Fault, FaultKind
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
from ._listing import PAGING_KINDS, Listing, PagingKind
from ._mock import ListingTransport, MockTransport
from ._run import run_fake_server, serve_in_thread
from ._server import BATCHES_PATH, ECHO_PATH, ENDPOINT_PATH, FakeLlamaCloud, RecordedRequest

__all__ = [
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
