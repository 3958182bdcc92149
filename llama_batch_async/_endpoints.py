"""One value per listing: what the walk, the pager, the cursor and the request need to know.

Jobs (v1), a job's items (v1) and batches (v2) differ in their path, the name
of their limit parameter, their paging mode, their record and their not-found
error, not in machinery. Each is described here as data (as botocore describes
its paginators), so that a new listing is a new `Endpoint` value, not a new
set of branches in the walk.

A leaf: it imports records and errors only (the converter structures a page
of ``record`` s: `_convert.structure_listing`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal
from urllib.parse import quote

import attrs

from ._config import MAX_PAGE_SIZE
from ._errors import BatchNotFoundError, JobNotFoundError
from ._models import Batch, BatchItem, BatchJob

__all__ = [
    "BATCHES",
    "BATCH_CANCEL_PATH",
    "BATCH_PATH",
    "ITEMS",
    "JOBS",
    "JOB_CANCEL_PATH",
    "JOB_PATH",
    "V1_MAX_PAGE_SIZE",
    "Endpoint",
    "Paging",
    "resource_url",
]

Paging = Literal["offset", "token"]
"""How a listing pages: by ``offset`` (v1; a token signals more) or by token only (v2)."""

V1_MAX_PAGE_SIZE = MAX_PAGE_SIZE
"""The largest ``limit`` the v1 listings accept (the vendor's schema: 1-1000)."""


@attrs.frozen(slots=True)
class Endpoint:
    """One listing, described as data.

    Attributes:
        name: The listing's name, part of its cursors' fingerprint (``jobs``
            keeps the digest cursors had before there were other listings).
        path: The path under the base URL; ``{job_id}`` and the like are
            filled from the query's path parameters, each quoted as one segment.
        limit_param: The page-size parameter: ``limit`` (v1) or ``page_size`` (v2).
        paging: ``offset`` or ``token``: a token-only walk never sends an offset.
        mark: The cursor's listing mark (``"k"``); None for jobs, whose cursors
            carry none (they predate the mark).
        method: The `BatchClient` method that walks it and takes its cursors.
        page: The page class whose ``cursor`` a good ``resume_from`` comes from.
        filter_names: The filters a cursor is bound to, for the refusal message.
        record: The record class of its items (what the converter structures).
        not_found: The error a 404 becomes when the path names a record (the
            items listing's job); None: a 404 stays `NotFoundError` (the
            listing itself, or its project, does not exist).
        max_page_size: The largest page size the server accepts, if it says.
    """

    name: str
    path: str
    limit_param: str
    paging: Paging
    mark: str | None
    method: str
    page: str
    filter_names: str
    record: type[BatchJob | BatchItem | Batch]
    not_found: type[JobNotFoundError] | type[BatchNotFoundError] | None = None
    max_page_size: int | None = None

    @property
    def token_only(self) -> bool:
        """True when the listing pages by token only (no offset is ever sent)."""
        return self.paging == "token"

    def url(self, base_url: str, path_params: Mapping[str, str] | None = None) -> str:
        """The listing's full URL, its path parameters quoted as one segment each."""
        quoted = {key: quote(value, safe="") for key, value in (path_params or {}).items()}
        return base_url + self.path.format(**quoted)


JOBS = Endpoint(
    name="jobs",
    path="/api/v1/beta/batch-processing",
    limit_param="limit",
    paging="offset",
    mark=None,
    method="list_jobs",
    page="JobPage",
    filter_names="directory_id, job_type, status, project_id and organization_id",
    record=BatchJob,
    max_page_size=V1_MAX_PAGE_SIZE,
)
"""``GET /api/v1/beta/batch-processing``: the job listing (`list_jobs`)."""

ITEMS = Endpoint(
    name="items",
    path="/api/v1/beta/batch-processing/{job_id}/items",
    limit_param="limit",
    paging="offset",
    mark="i",
    method="list_job_items",
    page="ItemPage",
    filter_names="job_id, status, project_id and organization_id",
    record=BatchItem,
    not_found=JobNotFoundError,
    max_page_size=V1_MAX_PAGE_SIZE,
)
"""``GET /api/v1/beta/batch-processing/{job_id}/items``: one job's items (`list_job_items`)."""

BATCHES = Endpoint(
    name="batches",
    path="/api/v2/batches",
    limit_param="page_size",
    paging="token",
    mark="b",
    method="list_batches",
    page="BatchPage",
    filter_names=(
        "status, project_id, organization_id, source_directory_id, created_after and created_before"
    ),
    record=Batch,
)
"""``GET /api/v2/batches``: the v2 batch listing (`list_batches`)."""


# The single-record endpoints (not listings): their paths, each id one segment.
JOB_PATH = JOBS.path + "/{job_id}"
"""``GET``: one job's status (`get_job`); ``POST`` to `JOBS`' path creates one."""
JOB_CANCEL_PATH = JOB_PATH + "/cancel"
"""``POST``: cancel one job (`cancel_job`)."""
BATCH_PATH = BATCHES.path + "/{batch_id}"
"""``GET``: one v2 batch (`get_batch`); ``POST`` to `BATCHES`' path creates one."""
BATCH_CANCEL_PATH = BATCH_PATH + "/cancel"
"""``POST``: cancel one v2 batch (`cancel_batch`)."""


def resource_url(base_url: str, path: str, **ids: str) -> str:
    """``base_url`` + ``path`` with each ``{name}`` filled by its id, quoted as one segment."""
    return base_url + path.format(**{key: quote(value, safe="") for key, value in ids.items()})
