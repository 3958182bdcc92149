"""Open enums (values newer than the library) and the v2 records."""

from __future__ import annotations

import json
import pickle

import pytest

from llama_batch_async import (
    Batch,
    BatchConfig,
    BatchJob,
    BatchJobConfig,
    BatchJobType,
    BatchStatus,
    JobStatus,
    JobType,
)
from llama_batch_async._models import _PSEUDO, PSEUDO_MEMBER_CACHE


@pytest.mark.parametrize("enum_cls", [JobStatus, JobType, BatchStatus, BatchJobType])
def test_known_values_are_the_members(enum_cls: type[JobStatus]) -> None:
    """A declared value gives the member itself, equal to its string."""
    for member in enum_cls:
        assert enum_cls(member.value) is member
        assert member == member.value
        assert str(member) == member.value
        assert member.is_known


def test_a_newer_value_is_a_pseudo_member() -> None:
    """An unknown string is an instance of the enum, equal to the string, not listed."""
    status = JobStatus("archived")
    assert isinstance(status, JobStatus)
    assert status == "archived"
    assert str(status) == "archived"
    assert status.value == "archived"
    assert status.name == "ARCHIVED"
    assert not status.is_known
    assert not status.is_terminal
    assert "archived" not in [member.value for member in JobStatus]
    assert JobStatus("archived") is status  # cached
    assert pickle.loads(pickle.dumps(status)) == "archived"  # noqa: S301 - our own bytes


def test_the_pseudo_member_cache_is_bounded() -> None:
    """A hostile server sending a new value per record cannot grow the cache past its bound."""
    values = [f"hostile-{i}" for i in range(PSEUDO_MEMBER_CACHE * 3)]
    made = [BatchJobType(value) for value in values]
    assert len(_PSEUDO[BatchJobType]) <= PSEUDO_MEMBER_CACHE
    assert [str(member) for member in made] == values  # beyond the bound: still right


@pytest.mark.parametrize("value", [3, None, ["running"], b"running"])
def test_non_strings_are_refused(value: object) -> None:
    """Only strings become pseudo-members; anything else is a ValueError."""
    with pytest.raises(ValueError, match="is not a valid JobStatus"):
        JobStatus(value)


def test_records_convert_strings_given_to_their_constructors() -> None:
    """BatchJob(status="running") holds the member; a newer value a pseudo-member."""
    job = BatchJob("bjb-1", "parse", "p", "running", 1)
    assert job.status is JobStatus.RUNNING
    assert job.job_type is JobType.PARSE
    newer = BatchJob("bjb-2", "ocr", "p", "queued", 1)
    assert isinstance(newer.status, JobStatus)
    assert newer.to_dict()["status"] == "queued"
    assert newer.to_dict()["job_type"] == "ocr"


def test_batch_to_dict_is_the_wire_shape() -> None:
    """Batch.to_dict gives the nested JSON object, enums as the values sent."""
    batch = Batch(
        id="bat-1",
        project_id="p",
        source_directory_id="d",
        status="SUSPENDED",
        config=BatchConfig(job=BatchJobConfig(type="ocr_v3", configuration_id="cfg")),
    )
    assert json.loads(json.dumps(batch.to_dict())) == {
        "id": "bat-1",
        "project_id": "p",
        "source_directory_id": "d",
        "status": "SUSPENDED",
        "config": {"job": {"type": "ocr_v3", "configuration_id": "cfg"}},
        "created_at": None,
        "updated_at": None,
        "results": None,
    }
    assert not batch.is_terminal
    assert Batch(**{**batch.to_dict(), "status": "FAILED", "config": batch.config}).is_terminal
