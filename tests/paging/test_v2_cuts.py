"""v2 token walks ending inside a page: max_items cuts exactly; a repeated token keeps its page."""

from __future__ import annotations

import json
from typing import Any

import pytest

from llama_batch_async import BatchClient, PaginationError, Request, Response
from llama_batch_async.testing import MockTransport, make_batches

BATCHES = make_batches(60)


def _fixed_pages(batches: list[dict[str, Any]], size: int, *, repeat_at: int | None = None) -> Any:
    """A v2 listing that ignores page_size (always ``size``); its token at ``repeat_at`` repeats."""

    def handler(request: Request) -> Response:
        start = int(dict(request.params).get("page_token", "0"))
        end = start + size
        token = str(end) if end < len(batches) else None
        if repeat_at is not None and start == repeat_at:
            token = "20"  # the second page's token again: a loop
        body = {"items": batches[start:end], "next_page_token": token}
        return Response(status=200, headers={}, body=json.dumps(body).encode())

    return handler


async def test_max_items_cut_inside_a_page_resumes_at_the_cut() -> None:
    """Issue 24.5: max_items=45 on pages of 20, then resume: batches 45-59 all come, once."""
    transport = MockTransport(_fixed_pages(BATCHES, 20))
    async with BatchClient("k", base_url="https://api.example.test", transport=transport) as c:
        pages = [page async for page in c.list_batches(page_size=20, max_items=45).pages()]
        first = [b.id for page in pages for b in page.items]
        rest = await c.list_batches(page_size=20, resume_from=pages[-1].cursor).collect()
    assert first == [b["id"] for b in BATCHES[:45]]
    assert [b.id for b in rest] == [b["id"] for b in BATCHES[45:]]


async def test_a_repeated_token_delivers_its_page_then_raises() -> None:
    """Issue 24.6: the page carrying a repeated token is delivered, then PaginationError."""
    transport = MockTransport(_fixed_pages(BATCHES, 20, repeat_at=40))
    got: list[str] = []
    async with BatchClient("k", base_url="https://api.example.test", transport=transport) as c:
        with pytest.raises(PaginationError) as raised:
            async for batch in c.list_batches(page_size=20):
                got.append(batch.id)
    assert got == [b["id"] for b in BATCHES]  # the third page's batches are not lost
    assert raised.value.cursor is not None
