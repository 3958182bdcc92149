"""Helpers several test modules share. Import as ``from helpers import ...``.

``conftest.py`` puts this folder on ``sys.path``: under nox the suite runs from
a temporary folder against the installed wheel, so ``tests`` is not a package
that can be imported, and the checkout's root must stay off the path.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from llama_batch_async import BatchJob, JobStatus, JobType
from llama_batch_async._config import (
    DEFAULT_MAX_RETRIES,
    DEFAULT_PAGE_SIZE,
    DEFAULT_RETRY_AFTER_CAP,
    DEFAULT_TIMEOUT,
    Config,
    make_config,
)
from llama_batch_async._query import JobQuery, make_query
from llama_batch_async.testing import FakeLlamaCloud

API_KEY = "llx-CONFIGKEY-0123456789"


def ids(jobs: Iterable[BatchJob]) -> list[str]:
    """The ids of ``jobs``, in order."""
    return [job.id for job in jobs]


def all_ids(cloud: FakeLlamaCloud) -> list[str]:
    """The ids of every job the fake lists, in listing order."""
    return [job["id"] for job in cloud.jobs]


def job(job_id: str, status: str = "running", *, total_items: int = 1, **fields: Any) -> BatchJob:
    """A valid `BatchJob` of type parse in ``proj-1``."""
    return BatchJob(
        id=job_id,
        job_type=JobType.PARSE,
        project_id="proj-1",
        status=JobStatus(status),
        total_items=total_items,
        **fields,
    )


def config(**changes: Any) -> Config:
    """``make_config`` with the client's defaults, an empty environment and ``changes``."""
    arguments: dict[str, Any] = {
        "api_key": API_KEY,
        "base_url": None,
        "session_cookie": None,
        "timeout": DEFAULT_TIMEOUT,
        "max_retries": DEFAULT_MAX_RETRIES,
        "retry_after_cap": DEFAULT_RETRY_AFTER_CAP,
        "trust_env": False,
        "environ": {},
    }
    arguments.update(changes)
    return make_config(**arguments)


def query(**changes: Any) -> JobQuery:
    """``make_query`` with list_jobs' defaults and ``changes`` applied."""
    arguments: dict[str, Any] = {
        "directory_id": None,
        "job_type": None,
        "status": None,
        "project_id": None,
        "organization_id": None,
        "page_size": DEFAULT_PAGE_SIZE,
        "offset": 0,
        "max_items": None,
    }
    arguments.update(changes)
    return make_query(**arguments)
