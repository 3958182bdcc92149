"""The fake's single-record endpoints, without I/O: a job's status and items, cancel, create.

`JobActions` is a base of `Listing` (as `BatchListing` is): each ``answer_*``
takes plain values and returns ``(status, payload)``. A job's items are not
stored: they are derived from the job's counters every time they are served
(the first ``failed_items`` failed, then ``skipped_items`` skipped, then the
rest of ``processed_items`` completed, the next one ``processing`` while the
job runs, the others ``pending``; ``cancelled`` once the job is), so they move
as the job progresses, and a cancel moves a job's pending items with it.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any, Final

from ._batch_listing import validation_error
from ._jobs import PROJECT_IDS, format_timestamp
from ._options import ListingOptions

__all__ = ["ITEM_STATUSES", "JobActions", "job_items", "progress_of"]

ITEM_STATUSES: Final[tuple[str, ...]] = (
    "pending",
    "processing",
    "completed",
    "failed",
    "skipped",
    "cancelled",
)
"""The item statuses the fake serves and accepts as a filter."""

_TERMINAL_JOB: Final = frozenset({"completed", "failed", "cancelled"})
_TERMINAL_BATCH: Final = frozenset({"COMPLETED", "FAILED", "CANCELLED"})
_BATCH_JOB_TYPES: Final = frozenset({"parse_v2", "extract_v2"})
_ITEMS_MAX_LIMIT: Final = 1000


def _count(job: Mapping[str, Any], name: str) -> int:
    value = job.get(name)
    return value if isinstance(value, int) and value > 0 else 0


def progress_of(job: Mapping[str, Any]) -> float:
    """The job's ``progress_percentage``: items done (processed, failed, skipped) of its total."""
    total = _count(job, "total_items")
    if job.get("status") in _TERMINAL_JOB and job.get("status") != "cancelled":
        return 100.0
    if total == 0:
        return 0.0
    done = (
        _count(job, "processed_items") + _count(job, "failed_items") + _count(job, "skipped_items")
    )
    return round(min(100.0, 100.0 * done / total), 2)


def job_items(job: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every item of ``job``, in order, as the items endpoint serves them."""
    job_id = str(job.get("id", ""))
    digest = hashlib.blake2b(job_id.encode(), digest_size=4).hexdigest()
    total = _count(job, "total_items")
    failed = _count(job, "failed_items")
    skipped = _count(job, "skipped_items")
    # processed_items counts the completed ones (the fake's progress keeps them apart).
    completed = _count(job, "processed_items")
    status = job.get("status")
    started = job.get("started_at")
    finished = job.get("completed_at")
    items = []
    for index in range(total):
        if index < failed:
            item_status = "failed"
        elif index < failed + skipped:
            item_status = "skipped"
        elif index < failed + skipped + completed or status == "completed":
            item_status = "completed"
        elif status in ("cancelled", "failed"):
            item_status = "cancelled"
        elif status == "running" and index == failed + skipped + completed:
            item_status = "processing"
        else:
            item_status = "pending"
        item: dict[str, Any] = {
            "item_id": f"itm-{digest}-{index:05d}",
            "item_name": f"file-{index:05d}.pdf",
            "status": item_status,
        }
        if item_status != "pending":
            item["started_at"] = started
        if item_status in ("completed", "failed", "skipped"):
            item["completed_at"] = finished or started
            item["job_id"] = f"pjb-{digest}-{index:05d}"
        if item_status == "failed":
            item["error_message"] = "Could not parse the document"
        if item_status == "skipped":
            item["skip_reason"] = "already_processed"
        items.append(item)
    return items


class JobActions(ListingOptions):
    """The single-record v1 and v2 endpoints' answers as plain values (a base of `Listing`)."""

    # Set by `Listing.__init__` and `BatchListing._init_batches`; declared for the type checker.
    jobs: list[dict[str, Any]]
    batches: list[dict[str, Any]]

    def _find_job(self, job_id: str) -> dict[str, Any] | None:
        self._advance()
        for job in self.jobs:
            if job.get("id") == job_id:
                return job
        return None

    def _advance(self) -> None:  # pragma: no cover - Listing's
        raise NotImplementedError

    def _advance_batches(self) -> None:  # pragma: no cover - BatchListing's
        raise NotImplementedError

    def _forget_schedule(self, record_id: str) -> None:  # pragma: no cover - Listing's
        raise NotImplementedError

    def insert_jobs(  # pragma: no cover - Listing's
        self, jobs: int | Sequence[Mapping[str, Any]], *, at: int = 0
    ) -> list[dict[str, Any]]:
        raise NotImplementedError

    def insert_batches(  # pragma: no cover - BatchListing's
        self, batches: Sequence[Mapping[str, Any]], *, at: int = 0
    ) -> list[dict[str, Any]]:
        raise NotImplementedError

    # ------------------------------------------------------------------ v1

    def answer_job(self, job_id: str) -> tuple[int, dict[str, Any]]:
        """``GET .../batch-processing/{job_id}``: 200 ``{job, progress_percentage}`` or 404."""
        job = self._find_job(job_id)
        if job is None:
            return 404, {"detail": "Batch job not found"}
        return 200, {"job": dict(job), "progress_percentage": progress_of(job)}

    def answer_items(self, job_id: str, query: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
        """``GET .../{job_id}/items``: the job listing's envelope and offset paging, or 404/422."""
        errors: list[object] = []
        limit = _int(query, "limit", 100, (1, _ITEMS_MAX_LIMIT), errors)
        offset = _int(query, "offset", 0, (0, None), errors)
        status = query.get("status")
        if status is not None and status not in ITEM_STATUSES:
            expected = ", ".join(f"'{item}'" for item in ITEM_STATUSES)
            errors.append(
                validation_error(
                    "enum", "status", f"Input should be {expected}", status, expected=expected
                )
            )
        if errors:
            return 422, {"detail": errors}
        job = self._find_job(job_id)
        if job is None:
            return 404, {"detail": "Batch job not found"}
        items = job_items(job)
        if status is not None:
            items = [item for item in items if item["status"] == status]
        if self.max_limit is not None:
            limit = min(limit, self.max_limit)
        page = items[offset : offset + limit]
        payload: dict[str, Any] = {"items": page}
        if self.page_tokens and offset + len(page) < len(items):
            # A hint that more follow (the fake pages items by offset only).
            payload["next_page_token"] = f"items-{offset + len(page)}"
        if self.total_size:
            payload["total_size"] = len(items)
        return 200, payload

    def answer_cancel_job(self, job_id: str, body: object) -> tuple[int, dict[str, Any]]:
        """``POST .../{job_id}/cancel``: the job and its pending items become cancelled.

        422 without a JSON object body (the endpoint requires one), 404 for an
        unknown job, 409 for a job already completed or failed; cancelling a
        cancelled job answers as the first cancel did.
        """
        if not isinstance(body, dict):
            return 422, {"detail": [_body_error("missing", "body", "Field required")]}
        reason = body.get("reason")
        if reason is not None and not isinstance(reason, str):
            return 422, {
                "detail": [_body_error("string_type", "reason", "Input should be a valid string")]
            }
        job = self._find_job(job_id)
        if job is None:
            return 404, {"detail": "Batch job not found"}
        if job.get("status") in ("completed", "failed"):
            return 409, {"detail": f"Batch job is already {job['status']}"}
        if job.get("status") != "cancelled":
            self._forget_schedule(job_id)
            stamp = format_timestamp(datetime.now(timezone.utc))
            job.update(status="cancelled", completed_at=stamp, updated_at=stamp, effective_at=stamp)
            if reason:
                job["error_message"] = f"Cancelled: {reason}"
        return 200, {
            "job_id": job_id,
            "status": "cancelled",
            "processed_items": _count(job, "processed_items"),
            "message": "Batch job cancelled",
        }

    def answer_create_job(self, body: object) -> tuple[int, dict[str, Any]]:
        """``POST .../batch-processing``: 201 with a new pending job, which then progresses."""
        problem = _create_job_problem(body)
        if problem is not None:
            return 422, {"detail": [problem]}
        assert isinstance(body, dict)  # noqa: S101 - checked by _create_job_problem
        config = body["job_config"]
        name = str(config.get("job_name", ""))
        job_type = "classify" if "classify" in name else "extract" if "extract" in name else "parse"
        item_ids = body.get("item_ids")
        total = len(item_ids) if isinstance(item_ids, list) else 10
        stamp = format_timestamp(datetime.now(timezone.utc))
        job: dict[str, Any] = {
            "id": f"bjb-{uuid.uuid4()}",
            "job_type": job_type,
            "project_id": PROJECT_IDS[0],
            "status": "pending",
            "total_items": total,
            "created_at": stamp,
            "updated_at": stamp,
            "effective_at": stamp,
            "directory_id": body.get("directory_id"),
            "processed_items": 0,
            "failed_items": 0,
            "skipped_items": 0,
        }
        (created,) = self.insert_jobs([job])
        return 201, dict(created)

    # ------------------------------------------------------------------ v2

    def answer_cancel_batch(self, batch_id: str) -> tuple[int, dict[str, Any]]:
        """``POST /api/v2/batches/{id}/cancel``: the batch, cancelled; 404; 409 if terminal."""
        self._advance_batches()
        for batch in self.batches:
            if batch.get("id") == batch_id:
                break
        else:
            return 404, {"detail": "Batch not found"}
        if batch.get("status") in _TERMINAL_BATCH:
            # spec: batch-job-endpoints - a terminal batch cannot be cancelled
            return 409, {"detail": f"Batch is already {batch['status']}"}
        self._forget_schedule(batch_id)
        stamp = format_timestamp(datetime.now(timezone.utc))
        batch.update(status="CANCELLED", updated_at=stamp)
        served = dict(batch)
        served["results"] = None
        return 200, served

    def answer_create_batch(self, body: object) -> tuple[int, dict[str, Any]]:
        """``POST /api/v2/batches``: 201 with a new PENDING batch (it then progresses), or 422."""
        problem = _create_batch_problem(body)
        if problem is not None:
            return 422, {"detail": [problem]}
        assert isinstance(body, dict)  # noqa: S101 - checked by _create_batch_problem
        stamp = format_timestamp(datetime.now(timezone.utc))
        batch = {
            "id": f"bat-{uuid.uuid4()}",
            "project_id": PROJECT_IDS[0],
            "source_directory_id": body["source_directory_id"],
            "status": "PENDING",
            "config": {"job": dict(body["config"]["job"])},
            "created_at": stamp,
            "updated_at": stamp,
            "results": None,
        }
        (created,) = self.insert_batches([batch])
        return 201, dict(created)


def _body_error(kind: str, name: str, message: str) -> object:
    """One FastAPI-style 422 ``detail`` entry for body field ``name``."""
    loc = ["body"] if name == "body" else ["body", name]
    return {"type": kind, "loc": loc, "msg": message}


def _int(
    query: Mapping[str, str],
    name: str,
    default: int,
    bounds: tuple[int, int | None],
    errors: list[object],
) -> int:
    low, high = bounds
    text = query.get(name)
    if text is None:
        return default
    try:
        value = int(text.strip())
    except ValueError:
        errors.append(
            validation_error("int_parsing", name, "Input should be a valid integer", text)
        )
        return default
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f">= {low}"
        errors.append(validation_error("range", name, f"Input should be {bound}", text))
        return default
    return value


def _create_job_problem(body: object) -> object | None:
    """The FastAPI-style detail of what is wrong with a create_job body, or None."""
    if not isinstance(body, dict):
        return _body_error("missing", "body", "Field required")
    if not isinstance(body.get("job_config"), dict):
        return _body_error("missing", "job_config", "Field required")
    directory_id, item_ids = body.get("directory_id"), body.get("item_ids")
    if (directory_id is None) == (item_ids is None):
        return _body_error("value_error", "body", "Exactly one of directory_id and item_ids")
    if item_ids is not None and not (
        isinstance(item_ids, list) and item_ids and all(isinstance(i, str) for i in item_ids)
    ):
        return _body_error("list_type", "item_ids", "Input should be a list")
    if directory_id is not None and not isinstance(directory_id, str):
        return _body_error("string_type", "directory_id", "Input should be a string")
    return None


def _create_batch_problem(body: object) -> object | None:
    """The FastAPI-style detail of what is wrong with a create_batch body, or None."""
    if not isinstance(body, dict):
        return _body_error("missing", "body", "Field required")
    if not isinstance(body.get("source_directory_id"), str):
        return _body_error("missing", "source_directory_id", "Field required")
    config = body.get("config")
    job = config.get("job") if isinstance(config, dict) else None
    if not isinstance(job, dict) or job.get("type") not in _BATCH_JOB_TYPES:
        return _body_error("literal_error", "config", "Input should be a job config")
    if not isinstance(job.get("configuration_id"), str):
        return _body_error("missing", "configuration_id", "Field required")
    return None
