"""Ids are one path segment: every id-taking method and wait refuses a bad one, sending nothing."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from llama_batch_async import BatchClient, Response
from llama_batch_async.testing import MockTransport

BAD_IDS = ["", ".", "..", "a/b", "a?b", "a#b", "a%2F", "a b", " a", "a\tb", "a\nb", "a\x00b"]

CALLS: dict[str, tuple[str, Callable[[BatchClient, str], Any]]] = {
    "get_job": ("job_id", lambda c, i: c.get_job(i)),
    "list_job_items": ("job_id", lambda c, i: c.list_job_items(i).collect()),
    "cancel_job": ("job_id", lambda c, i: c.cancel_job(i)),
    "get_batch": ("batch_id", lambda c, i: c.get_batch(i)),
    "cancel_batch": ("batch_id", lambda c, i: c.cancel_batch(i)),
    "wait_for_jobs": ("job_ids", lambda c, i: c.wait_for_jobs([i])),
    "finished_jobs": ("job_ids", lambda c, i: c.finished_jobs([i]).__anext__()),
    "wait_for_batches": ("batch_ids", lambda c, i: c.wait_for_batches([i])),
}


@pytest.mark.parametrize("bad", BAD_IDS, ids=repr)
@pytest.mark.parametrize("method", sorted(CALLS))
async def test_a_bad_id_is_refused_before_any_request(method: str, bad: str) -> None:
    """Empty, dot segments, / ? # %, whitespace and controls: ValueError naming the parameter."""
    transport = MockTransport(lambda _r: Response(status=500, headers={}, body=b""))
    name, call = CALLS[method]
    async with BatchClient("sk-ids-0123456789", transport=transport) as client:
        with pytest.raises(ValueError, match=f"^{name}") as info:
            await call(client, bad)
    assert transport.requests == []
    assert "one path segment" in str(info.value)


@pytest.mark.parametrize("page_size", [0, 1001])
@pytest.mark.parametrize("method", ["list_jobs", "list_job_items"])
def test_a_v1_page_size_the_schema_refuses_is_refused_here(method: str, page_size: int) -> None:
    """Both v1 listings take page_size 1 to 1000 (the vendor's schema), at the call."""
    client = BatchClient("sk-ids-0123456789", transport=MockTransport(lambda _r: None))  # type: ignore[arg-type,return-value]
    with pytest.raises(ValueError, match="page_size must be an int from 1 to 1000"):
        if method == "list_jobs":
            client.list_jobs(page_size=page_size)
        else:
            client.list_job_items("bjb-1", page_size=page_size)
