"""The record itself: one definition, a clean MRO, frozen however it was built."""

from __future__ import annotations

import attrs
import pytest

from llama_batch_async._convert import _converter, _fast_job, _fast_job_source
from llama_batch_async._models import FIELD_NAMES, BatchJob, JobBuilder, make_job_fast

ITEM = {
    "id": "bjb-1",
    "job_type": "parse",
    "project_id": "proj-1",
    "status": "running",
    "total_items": 3,
    "created_at": "2024-01-02T03:04:05Z",
}


def test_batch_job_has_no_base_but_object() -> None:
    """BatchJob has a clean MRO: no mutable base can write its slots."""
    assert BatchJob.__mro__ == (BatchJob, object)


def test_builder_is_a_slot_less_subclass() -> None:
    """The fast builder adds no slots, so its objects have BatchJob's layout."""
    assert JobBuilder.__mro__[1] is BatchJob
    assert JobBuilder.__dict__["__slots__"] == ()


@pytest.mark.parametrize("build", [make_job_fast, BatchJob], ids=["fast", "attrs"])
def test_record_is_frozen_however_built(build: type[BatchJob]) -> None:
    """A record from the hot path or from attrs refuses every write and delete."""
    job = build("bjb-1", "parse", "p", "running", 3, *[None] * 12)

    assert type(job) is BatchJob
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        job.id = "x"  # type: ignore[misc]
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        del job.id
    assert job.id == "bjb-1"
    assert hash(job) == hash(BatchJob("bjb-1", "parse", "p", "running", 3))


def test_hot_path_is_derived_from_the_field_table() -> None:
    """The generated hot path reads every field of the one attrs table, in order."""
    source = _fast_job_source()

    assert tuple(field.name for field in attrs.fields(BatchJob)) == FIELD_NAMES
    for name in FIELD_NAMES:
        assert f"get({name!r})" in source
    assert "(" + ", ".join(FIELD_NAMES) + ",) = o.values()" in source


def test_key_order_does_not_change_the_record() -> None:
    """Keys in the reference's order (one unpack) or any other give equal records."""
    full = dict.fromkeys(FIELD_NAMES) | ITEM
    ordered = {name: full[name] for name in FIELD_NAMES}
    reversed_ = {name: full[name] for name in reversed(FIELD_NAMES)}

    assert _fast_job(ordered) == _fast_job(reversed_) == _converter.structure(ITEM, BatchJob)
