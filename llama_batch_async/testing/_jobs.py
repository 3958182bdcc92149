"""Synthetic batch-job records shaped like the LlamaCloud reference.

Every record is a plain ``dict`` with the reference's 17 fields (the optional
ones present, ``None`` where they do not apply), so it can be served as JSON
as-is and compared with what a client parsed.

Count fields follow one rule: ``processed_items + failed_items + skipped_items``
is the number of items handled so far, never more than ``total_items``, and
equal to it for a ``completed`` job.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any, Final

__all__ = [
    "ACTIVE_STATUSES",
    "DIRECTORY_IDS",
    "JOB_FIELDS",
    "JOB_STATUSES",
    "JOB_TYPES",
    "NEWEST_CREATED_AT",
    "ORGANIZATION_IDS",
    "PROJECT_IDS",
    "PROJECT_ORGANIZATIONS",
    "TERMINAL_STATUSES",
    "complete_job",
    "format_timestamp",
    "make_job",
    "make_jobs",
    "parse_timestamp",
    "synthesize_job",
]

JOB_TYPES: Final[tuple[str, ...]] = ("parse", "extract", "classify")
"""The reference's ``job_type`` values."""

JOB_STATUSES: Final[tuple[str, ...]] = (
    "pending",
    "running",
    "dispatched",
    "completed",
    "failed",
    "cancelled",
)
"""The reference's ``status`` values."""

TERMINAL_STATUSES: Final[frozenset[str]] = frozenset({"completed", "failed", "cancelled"})
"""Statuses after which a job never changes again."""

ACTIVE_STATUSES: Final[frozenset[str]] = frozenset({"pending", "dispatched", "running"})
"""Statuses of a job that is still in flight."""

JOB_FIELDS: Final[tuple[str, ...]] = (
    "id",
    "job_type",
    "project_id",
    "status",
    "total_items",
    "completed_at",
    "created_at",
    "directory_id",
    "effective_at",
    "error_message",
    "failed_items",
    "job_record_id",
    "processed_items",
    "skipped_items",
    "started_at",
    "updated_at",
    "workflow_id",
)
"""The 17 fields of a reference job record, required ones first."""

ORGANIZATION_IDS: Final[tuple[str, ...]] = (
    "org-5b0e7c2a-8f41-4d6b-9a37-1c2d3e4f5a6b",
    "org-d94a1f60-2b7e-4c85-a1f3-6e7d8c9b0a1f",
)
"""The organizations that own the synthetic projects."""

PROJECT_IDS: Final[tuple[str, ...]] = (
    "proj-2f6c1d84-7a3b-4e19-b5c2-0d8e9f1a2b3c",
    "proj-8c41e5a9-0f27-4b6d-83e1-5a6b7c8d9e0f",
    "proj-e1a7b3c5-9d2f-4086-b4a1-7c8d9e0f1a2b",
)
"""The projects synthetic jobs belong to (the first two in the first organization)."""

PROJECT_ORGANIZATIONS: Final[Mapping[str, str]] = {
    PROJECT_IDS[0]: ORGANIZATION_IDS[0],
    PROJECT_IDS[1]: ORGANIZATION_IDS[0],
    PROJECT_IDS[2]: ORGANIZATION_IDS[1],
}
"""Which organization each synthetic project belongs to (drives ``organization_id``)."""

DIRECTORY_IDS: Final[tuple[str, ...]] = (
    "dir-0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
    "dir-1b2c3d4e-5f6a-4b7c-9d8e-0f1a2b3c4d5e",
    "dir-2c3d4e5f-6a7b-4c8d-ae9f-1a2b3c4d5e6f",
    "dir-3d4e5f6a-7b8c-4d9e-bf0a-2b3c4d5e6f7a",
    "dir-4e5f6a7b-8c9d-4eaf-80b1-3c4d5e6f7a8b",
)
"""The directories synthetic jobs process."""

NEWEST_CREATED_AT: Final[datetime] = datetime(2026, 11, 1, 10, 0, 0, 123000, tzinfo=timezone.utc)
"""``created_at`` of the newest job that `make_jobs` generates (index 0)."""

_ERROR_MESSAGES: Final[tuple[str, ...]] = (
    "Worker exceeded its memory limit while processing items",
    "Directory not found or access revoked",
    "Upstream model provider returned 503 after 5 attempts",
    "Job exceeded the maximum runtime of 6 hours",
    "Too many items failed: failure ratio above 20%",
)
_RATIO_MESSAGE: Final = _ERROR_MESSAGES[-1]

_ACTIVE_WEIGHTS: Final[tuple[int, ...]] = (15, 25, 10, 35, 10, 5)
_SETTLED_WEIGHTS: Final[tuple[int, ...]] = (2, 3, 1, 72, 15, 7)
_TYPE_WEIGHTS: Final[tuple[int, ...]] = (50, 30, 20)


def format_timestamp(moment: datetime) -> str:
    """Format a datetime the way the reference does: ISO 8601, milliseconds, ``Z``.

    Args:
        moment: A timezone-aware datetime (naive ones are taken as UTC).

    Returns:
        A string such as ``"2026-11-01T10:00:00.123Z"``.
    """
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    elif moment.tzinfo is not timezone.utc:
        moment = moment.astimezone(timezone.utc)
    return moment.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def parse_timestamp(value: str) -> datetime:
    """Parse a timestamp written by `format_timestamp` (or any ISO 8601 one).

    Args:
        value: The timestamp text; a trailing ``Z`` means UTC.

    Returns:
        A timezone-aware datetime (UTC when the text carries no offset).

    Raises:
        ValueError: The text is not an ISO 8601 timestamp.
    """
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment


def random_uuid(rng: random.Random) -> str:
    """A version-4 UUID drawn from ``rng`` (same text as ``uuid.UUID(int=..., version=4)``)."""
    bits = rng.getrandbits(128)
    bits = (bits & ~(0xC000 << 48)) | (0x8000 << 48)  # RFC 4122 variant
    bits = (bits & ~(0xF000 << 64)) | (4 << 76)  # version 4
    text = f"{bits:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def _split_done(rng: random.Random, done: int, *, min_failed: int = 0) -> tuple[int, int, int]:
    """Split ``done`` handled items into (processed, failed, skipped)."""
    failed = min(done, max(min_failed, int(done * rng.uniform(0.0, 0.06))))
    skipped = min(done - failed, int(done * rng.uniform(0.0, 0.1)))
    return done - failed - skipped, failed, skipped


def _seconds(rng: random.Random, low: float, high: float) -> timedelta:
    return timedelta(milliseconds=round(rng.uniform(low, high) * 1000))


def synthesize_job(
    rng: random.Random,
    created_at: datetime,
    *,
    status: str | None = None,
    job_type: str | None = None,
    active: bool = False,
) -> dict[str, Any]:
    """Build one realistic job record from a random source.

    Args:
        rng: The random source (seed it for reproducible records).
        created_at: The job's creation time.
        status: The status to give the job; drawn at random when None.
        job_type: The job type to give the job; drawn at random when None.
        active: Draw the status with more weight on in-flight statuses (recent jobs).

    Returns:
        A dict with the reference's 17 fields, consistent with its status.
    """
    if status is None:
        weights = _ACTIVE_WEIGHTS if active else _SETTLED_WEIGHTS
        status = rng.choices(JOB_STATUSES, weights=weights)[0]
    if job_type is None:
        job_type = rng.choices(JOB_TYPES, weights=_TYPE_WEIGHTS)[0]
    job_id = "bjb-" + random_uuid(rng)
    project_id = rng.choice(PROJECT_IDS)
    directory_id = rng.choice(DIRECTORY_IDS)
    workflow_id = f"batch-{job_type}-{random_uuid(rng)}"
    total = max(1, min(20_000, int(rng.lognormvariate(4.5, 1.3))))

    started_at: datetime | None = None
    completed_at: datetime | None = None
    error_message: str | None = None
    updated_at = created_at
    done = 0
    min_failed = 0
    started = status == "running" or (
        status in TERMINAL_STATUSES and (status != "cancelled" or rng.random() < 0.7)
    )
    if started:
        started_at = created_at + _seconds(rng, 0.2, 45.0)
        updated_at = started_at
    if status == "running":
        done = rng.randint(0, total - 1)
        assert started_at is not None  # noqa: S101 - set just above
        updated_at = started_at + _seconds(rng, 1.0, 900.0)
    elif status in TERMINAL_STATUSES:
        base = started_at or created_at
        completed_at = base + _seconds(rng, 3.0, 5400.0)
        updated_at = completed_at
        if status == "completed":
            done = total
        elif status == "failed":
            done = rng.randint(1, total)
            min_failed = 1
            error_message = rng.choice(_ERROR_MESSAGES)
        else:
            done = rng.randint(0, total) if started_at is not None else 0
    elif status == "dispatched":
        updated_at = created_at + _seconds(rng, 0.05, 5.0)
    processed, failed, skipped = _split_done(rng, done, min_failed=min_failed)
    if error_message == _RATIO_MESSAGE and failed * 5 <= total:
        # The ratio message only where the counts bear it out (no extra draw: the
        # rest of the data stays as the seed made it).
        error_message = _ERROR_MESSAGES[0]
    job_record_id = None if status == "pending" else random_uuid(rng)
    return {
        "id": job_id,
        "job_type": job_type,
        "project_id": project_id,
        "status": status,
        "total_items": total,
        "completed_at": format_timestamp(completed_at) if completed_at else None,
        "created_at": format_timestamp(created_at),
        "directory_id": directory_id,
        "effective_at": format_timestamp(updated_at),
        "error_message": error_message,
        "failed_items": failed,
        "job_record_id": job_record_id,
        "processed_items": processed,
        "skipped_items": skipped,
        "started_at": format_timestamp(started_at) if started_at else None,
        "updated_at": format_timestamp(updated_at),
        "workflow_id": workflow_id,
    }


def make_jobs(
    n: int, *, seed: int = 0, newest: datetime = NEWEST_CREATED_AT
) -> list[dict[str, Any]]:
    """Generate ``n`` realistic, reproducible jobs, newest first.

    The same ``n`` and ``seed`` always give equal records. ``created_at``
    strictly decreases down the list; the newest tenth of the list leans
    towards in-flight statuses, the rest towards finished ones.

    Args:
        n: How many jobs to generate (0 or more).
        seed: The random seed.
        newest: ``created_at`` of the first (newest) job.

    Returns:
        A list of ``n`` job dicts in listing order (index 0 is the newest).

    Raises:
        ValueError: ``n`` is negative.
    """
    if n < 0:
        msg = f"n must be >= 0, got {n}"
        raise ValueError(msg)
    rng = random.Random(seed)  # noqa: S311 - test data, not cryptography
    active_count = max(3, n // 10)
    jobs: list[dict[str, Any]] = []
    created_at = newest
    for index in range(n):
        jobs.append(synthesize_job(rng, created_at, active=index < active_count))
        created_at -= _seconds(rng, 15.0, 900.0)
    return jobs


def make_job(**overrides: Any) -> dict[str, Any]:  # noqa: ANN401 - any JSON value
    """Build one complete job record; the given fields win over the defaults.

    Defaults are consistent with the ``status`` and ``job_type`` given (a
    ``failed`` job gets an ``error_message`` and ``completed_at``, a
    ``pending`` one neither), created now, with a fresh random ``id``.

    Args:
        **overrides: Field values to set (any key, including ones that are not
            reference fields, which are then served as they are).

    Returns:
        A dict with the 17 reference fields plus any extra keys given.
    """
    rng = random.Random()  # noqa: S311 - test data, not cryptography
    status = overrides.get("status")
    job_type = overrides.get("job_type")
    job = synthesize_job(
        rng,
        datetime.now(timezone.utc),
        status=status if isinstance(status, str) and status in JOB_STATUSES else None,
        job_type=job_type if isinstance(job_type, str) and job_type in JOB_TYPES else None,
    )
    job.update(overrides)
    return job


def complete_job(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Copy a caller's job mapping and fill in only the reference's required fields.

    Optional fields the caller left out stay out, so tests can serve sparse
    records. Required ones get: a random ``id``, ``job_type="parse"``, the
    first synthetic project, ``status="completed"`` and ``total_items=0``.

    Args:
        fields: The caller's job fields.

    Returns:
        A new dict with every required field present.
    """
    job = dict(fields)
    if "id" not in job:
        job["id"] = f"bjb-{uuid.uuid4()}"
    job.setdefault("job_type", "parse")
    job.setdefault("project_id", PROJECT_IDS[0])
    job.setdefault("status", "completed")
    job.setdefault("total_items", 0)
    return job
