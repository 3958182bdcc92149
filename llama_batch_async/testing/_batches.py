"""Synthetic v2 batch records (``/api/v2/batches``), shaped as the official SDK's types show.

Every record is a plain ``dict`` as the server would send it: ``id``,
``project_id``, ``source_directory_id``, ``status`` (upper case), ``config``,
``created_at``, ``updated_at`` and ``results`` (a list of per-file entries; the
fake serves it only when asked with ``expand=results``).
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Final

from ._jobs import DIRECTORY_IDS, NEWEST_CREATED_AT, PROJECT_IDS, format_timestamp, random_uuid

__all__ = [
    "ACTIVE_BATCH_STATUSES",
    "BATCH_FIELDS",
    "BATCH_JOB_TYPES",
    "BATCH_STATUSES",
    "TERMINAL_BATCH_STATUSES",
    "complete_batch",
    "make_batch",
    "make_batches",
]

BATCH_STATUSES: Final[tuple[str, ...]] = (
    "PENDING",
    "THROTTLED",
    "RUNNING",
    "COMPLETED",
    "FAILED",
    "CANCELLED",
)
"""The v2 ``status`` values."""

TERMINAL_BATCH_STATUSES: Final[frozenset[str]] = frozenset({"COMPLETED", "FAILED", "CANCELLED"})
"""Statuses after which a batch never changes again."""

ACTIVE_BATCH_STATUSES: Final[frozenset[str]] = frozenset({"PENDING", "THROTTLED", "RUNNING"})
"""Statuses of a batch still in flight."""

BATCH_JOB_TYPES: Final[tuple[str, ...]] = ("parse_v2", "extract_v2")
"""The v2 ``config.job.type`` values."""

BATCH_FIELDS: Final[tuple[str, ...]] = (
    "id",
    "project_id",
    "source_directory_id",
    "status",
    "config",
    "created_at",
    "updated_at",
    "results",
)
"""The fields of a v2 batch record, required ones first."""

_CONFIGURATIONS: Final[Mapping[str, tuple[str, ...]]] = {
    "parse_v2": ("cfg-PARSE_AGENTIC", "cfg-PARSE_FAST"),
    "extract_v2": ("cfg-EXTRACT_INVOICE", "cfg-EXTRACT_CONTRACT"),
}
_ACTIVE_WEIGHTS: Final[tuple[int, ...]] = (20, 10, 50, 15, 3, 2)
_SETTLED_WEIGHTS: Final[tuple[int, ...]] = (1, 1, 3, 80, 10, 5)
_FILE_ERRORS: Final[tuple[str, ...]] = (
    "Unsupported file type",
    "File could not be read from the source directory",
)


def _results(rng: random.Random, job_type: str, status: str) -> list[dict[str, Any]] | None:
    if status in {"PENDING", "THROTTLED"}:
        return None
    prefix = "pjb" if job_type == "parse_v2" else "ejb"
    entries = []
    for _ in range(rng.randint(1, 4)):
        failed = rng.random() < 0.1
        entries.append(
            {
                "source_directory_file_id": f"dfl-{random_uuid(rng)}",
                "job_reference": None
                if failed
                else {"id": f"{prefix}-{random_uuid(rng)}", "type": job_type},
                "error_message": rng.choice(_FILE_ERRORS) if failed else None,
            }
        )
    return entries


def synthesize_batch(
    rng: random.Random, created_at: datetime, *, status: str | None = None, active: bool = False
) -> dict[str, Any]:
    """One realistic batch record from a random source.

    Args:
        rng: The random source (seed it for reproducible records).
        created_at: The batch's creation time.
        status: The status to give it; drawn at random when None.
        active: Weigh the draw towards statuses in flight (recent batches).
    """
    if status is None:
        status = rng.choices(
            BATCH_STATUSES, weights=_ACTIVE_WEIGHTS if active else _SETTLED_WEIGHTS
        )[0]
    job_type = rng.choice(BATCH_JOB_TYPES)
    updated_at = created_at
    if status not in {"PENDING", "THROTTLED"}:
        updated_at = created_at + timedelta(milliseconds=rng.randint(200, 3_600_000))
    return {
        "id": f"bat-{random_uuid(rng)}",
        "project_id": rng.choice(PROJECT_IDS),
        "source_directory_id": rng.choice(DIRECTORY_IDS),
        "status": status,
        "config": {
            "job": {"type": job_type, "configuration_id": rng.choice(_CONFIGURATIONS[job_type])}
        },
        "created_at": format_timestamp(created_at),
        "updated_at": format_timestamp(updated_at),
        "results": _results(rng, job_type, status),
    }


def make_batches(
    n: int, *, seed: int = 0, newest: datetime = NEWEST_CREATED_AT
) -> list[dict[str, Any]]:
    """Generate ``n`` realistic, reproducible batches, newest first.

    ``created_at`` strictly decreases down the list (by 1 s to 15 min); the
    newest tenth leans towards statuses in flight.

    Raises:
        ValueError: ``n`` is negative.
    """
    if n < 0:
        msg = f"n must be >= 0, got {n}"
        raise ValueError(msg)
    rng = random.Random(f"batches:{seed}")  # noqa: S311 - test data
    active_count = max(3, n // 10)
    batches: list[dict[str, Any]] = []
    created_at = newest
    for index in range(n):
        batches.append(synthesize_batch(rng, created_at, active=index < active_count))
        created_at -= timedelta(milliseconds=rng.randint(1_000, 900_000))
    return batches


def make_batch(**overrides: Any) -> dict[str, Any]:  # noqa: ANN401 - any JSON value
    """One complete batch record created now; the given fields win over the defaults."""
    from datetime import timezone  # noqa: PLC0415 - keeps the module's imports short

    rng = random.Random()  # noqa: S311 - test data
    status = overrides.get("status")
    batch = synthesize_batch(
        rng,
        datetime.now(timezone.utc),
        status=status if isinstance(status, str) and status in BATCH_STATUSES else None,
    )
    batch.update(overrides)
    return batch


def complete_batch(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Copy a caller's batch mapping and fill in only the required fields.

    Required ones get: a random ``id``, the first synthetic project and
    directory, ``status="COMPLETED"`` and a ``parse_v2`` config.
    """
    batch = dict(fields)
    if "id" not in batch:
        batch["id"] = f"bat-{uuid.uuid4()}"
    batch.setdefault("project_id", PROJECT_IDS[0])
    batch.setdefault("source_directory_id", DIRECTORY_IDS[0])
    batch.setdefault("status", "COMPLETED")
    batch.setdefault("config", {"job": {"type": "parse_v2", "configuration_id": "cfg-PARSE_FAST"}})
    return batch
