"""Progress mode, without I/O: when each job in flight runs and settles, and moving it there."""

from __future__ import annotations

import random
from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from ._batches import ACTIVE_BATCH_STATUSES
from ._jobs import ACTIVE_STATUSES, format_timestamp

__all__ = ["Schedule", "advance", "advance_batches", "plan", "plan_batch"]


@dataclass
class Schedule:
    """When a job in flight starts running and finishes (progress mode)."""

    run_at: float
    done_at: float
    outcome: str
    error_message: str | None


def plan_batch(batch: Mapping[str, Any], now: float, *, seed: int, span: float) -> Schedule | None:
    """A seeded schedule for a v2 batch in flight, or None for a settled one (as `plan`)."""
    return plan(batch, now, seed=seed, span=span, active=ACTIVE_BATCH_STATUSES, running="RUNNING")


def advance_batches(
    batches: Sequence[dict[str, Any]], schedules: MutableMapping[str, Schedule], now: float
) -> None:
    """Move scheduled v2 batches along to where the clock ``now`` says they are (in place)."""
    stamp = format_timestamp(datetime.now(timezone.utc))
    for batch in batches:
        schedule = schedules.get(batch.get("id", ""))
        if schedule is None or now < schedule.run_at:
            continue
        if batch.get("status") not in ACTIVE_BATCH_STATUSES:
            del schedules[batch["id"]]  # changed by the test: leave it alone
            continue
        if now >= schedule.done_at:
            del schedules[batch["id"]]
            batch.update(status=schedule.outcome.upper(), updated_at=stamp)
        elif batch.get("status") != "RUNNING":
            batch.update(status="RUNNING", updated_at=stamp)


def plan(
    job: Mapping[str, Any],
    now: float,
    *,
    seed: int,
    span: float,
    active: frozenset[str] = ACTIVE_STATUSES,
    running: str = "running",
) -> Schedule | None:
    """Return a seeded schedule for a job in flight, or None for a settled job.

    Args:
        job: The job mapping.
        active: The statuses of a record in flight.
        running: The status of a running record.
        now: The progress clock's current reading.
        seed: The listing's seed (with the job id, it seeds the schedule).
        span: Seconds within which every job settles.
    """
    job_id = job.get("id")
    if not isinstance(job_id, str) or job.get("status") not in active:
        return None
    rng = random.Random(f"progress:{seed}:{job_id}")  # noqa: S311 - test data
    run_at = now if job.get("status") == running else now + rng.uniform(0.0, 0.4) * span
    done_at = run_at + rng.uniform(0.2, 0.6) * span
    failed = rng.random() < 0.15
    return Schedule(
        run_at=run_at,
        done_at=done_at,
        outcome="failed" if failed else "completed",
        error_message="Worker lost while processing items" if failed else None,
    )


def advance(
    jobs: Sequence[dict[str, Any]], schedules: MutableMapping[str, Schedule], now: float
) -> None:
    """Move scheduled jobs along to where the clock ``now`` says they are (in place)."""
    stamp = format_timestamp(datetime.now(timezone.utc))
    for job in jobs:
        schedule = schedules.get(job.get("id", ""))
        if schedule is None or now < schedule.run_at:
            continue
        total = job.get("total_items")
        total = total if isinstance(total, int) and total > 0 else 0
        if job.get("status") not in ACTIVE_STATUSES:
            del schedules[job["id"]]  # changed by the test: leave it alone
            continue
        if job.get("started_at") is None:
            job["started_at"] = stamp
        if now >= schedule.done_at:
            del schedules[job["id"]]
            failed = max(1, total // 10) if schedule.outcome == "failed" else 0
            failed = min(failed, total)
            job.update(
                status=schedule.outcome,
                processed_items=total - failed,
                failed_items=failed,
                skipped_items=0,
                completed_at=stamp,
                updated_at=stamp,
                effective_at=stamp,
                error_message=schedule.error_message,
            )
            continue
        fraction = (now - schedule.run_at) / (schedule.done_at - schedule.run_at)
        processed = min(total, int(total * fraction))
        if job.get("status") != "running" or job.get("processed_items") != processed:
            job.update(
                status="running",
                processed_items=processed,
                failed_items=0,
                skipped_items=0,
                updated_at=stamp,
                effective_at=stamp,
            )
