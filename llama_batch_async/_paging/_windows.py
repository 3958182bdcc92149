"""A v2 walk split into ``created_at`` windows, walked concurrently, yielded in order.

The v2 listing pages by token only, so one walk cannot be sped up by asking
ahead: each page's token comes with the page before. Its ``created_at`` bounds
can be split instead. `windowed_pages` cuts ``[created_after, created_before]``
into N inclusive, disjoint windows (one microsecond apart), walks each as its
own token walk (the same `Walk`, retries and limiter) in its own task, and
yields the windows newest first, each window's pages in order, while the older
windows are already being fetched. Each task keeps at most `_PAGES_AHEAD` pages
ahead of the consumer (memory stays bounded, and a slow consumer slows the
walk), and every task is cancelled when the walk ends, fails or is closed.

Exactly once across windows: each window is asked for whole seconds (a server
that truncates or rounds bounds cannot cut them differently from us), so
neighbouring windows overlap by up to a second each side; a record outside its
own window is its neighbour's and is dropped, and one outside the seconds sent
(a server that ignores the bounds) is dropped and counted as an anomaly, so no
batch appears in two windows; within a window the walk's
own rules apply. A batch created during the walk falls in at most one window.

A page's cursor names its window (``"w"``): resuming finishes that window from
the page's token, then walks the older rest of the range.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Callable
from datetime import datetime, timedelta

import attrs

from llama_batch_async._config import MAX_WINDOWS
from llama_batch_async._models import BatchPage
from llama_batch_async._tasks import cancel_all
from llama_batch_async._validate import check_count

from ._cursor import Cursor, Position, parse_bound
from ._query import (
    AFTER_PARAM,
    BEFORE_PARAM,
    JobQuery,
    format_bound,
    split_range,
    window_query,
)

__all__ = ["Window", "check_windows", "plan_windows", "windowed_pages"]

# Pages a window's task may hold ahead of the consumer: enough for an older window
# to keep walking while the newer ones are consumed (16 x page_size records each).
_PAGES_AHEAD = 16
_TICK = timedelta(microseconds=1)
_SECOND = timedelta(seconds=1)


@attrs.frozen(slots=True)
class Window:
    """One window of a windowed walk: its bounds, and where to start in it."""

    low: datetime
    high: datetime
    start: Cursor | None = None


def check_windows(windows: object, created_after: datetime | None) -> None:
    """``list_batches``' ``windows``, validated: ValueError naming it, before any I/O."""
    count = check_count("windows", windows, minimum=1, maximum=MAX_WINDOWS)
    if count > 1 and created_after is None:
        raise ValueError(
            "windows > 1 needs created_after: the windows split "
            "[created_after, created_before or now]"
        )


def plan_windows(
    query: JobQuery, windows: int, start: Cursor | None, now: datetime
) -> list[Window]:
    """The windows of a walk, newest first.

    Args:
        query: The walk's query; ``created_after`` is required (checked by the client).
        windows: How many windows to split the range into.
        start: A resume cursor; with a window, that window is finished first.
        now: The upper bound when the query has no ``created_before``.

    The cursor's window bounds were checked by `decode_cursor`.
    """
    after_text = query.filter(AFTER_PARAM)
    assert after_text is not None  # noqa: S101 - the client requires created_after
    after = parse_bound(after_text)
    before_text = query.filter(BEFORE_PARAM)
    before = parse_bound(before_text) if before_text is not None else now
    plan: list[Window] = []
    if start is not None and start.window is not None:
        low, high = (parse_bound(bound) for bound in start.window)
        plan.append(Window(low, high, start))
        before = low - _TICK
    if before >= after:
        plan += [Window(low, high) for low, high in split_range(after, before, windows)]
    return plan


async def windowed_pages(
    query: JobQuery,
    plan: list[Window],
    walk_window: Callable[[JobQuery, Cursor | None], AsyncGenerator[BatchPage, None]],
    on_anomaly: Callable[[int], None],
) -> AsyncGenerator[BatchPage, None]:
    """Walk ``plan``'s windows concurrently; yield each page, newest window first.

    Each page's cursor is re-made under ``query`` (the walk's own filters), naming
    the page's window.

    Args:
        query: The walk's own query (cursors are made under it).
        plan: The windows, newest first (`plan_windows`).
        walk_window: Starts one token walk of a window's query (a pager's pages).
        on_anomaly: Told how many records a page lost to its window's bounds.
    """
    queues: list[asyncio.Queue[BatchPage | BaseException | None]] = [
        asyncio.Queue(_PAGES_AHEAD) for _ in plan
    ]

    async def feed(window: Window, queue: asyncio.Queue[BatchPage | BaseException | None]) -> None:
        # issue 24.7: the server is sent whole seconds, which it cannot cut differently
        # from us; the records past the window's own bounds are its neighbours' (dropped
        # here, not counted), so a server that truncates bounds loses nothing.
        sub = window_query(query, _floor_second(window.low), _ceil_second(window.high))
        pages = walk_window(sub, window.start)
        try:
            async with contextlib.aclosing(pages):
                async for page in pages:
                    await queue.put(_inside(page, window, on_anomaly))
        except Exception as exc:  # noqa: BLE001 - handed to the consumer, who raises it
            await queue.put(exc)
            return
        await queue.put(None)

    tasks = [asyncio.ensure_future(feed(w, q)) for w, q in zip(plan, queues, strict=True)]
    try:
        for window, queue in zip(plan, queues, strict=True):
            bounds = (format_bound(window.low), format_bound(window.high))
            while (item := await queue.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                yield _with_window(query, item, bounds)
    finally:
        await cancel_all(tasks)


def _floor_second(moment: datetime) -> datetime:
    return moment.replace(microsecond=0)


def _ceil_second(moment: datetime) -> datetime:
    return _floor_second(moment) + (_SECOND if moment.microsecond else timedelta(0))


def _inside(page: BatchPage, window: Window, on_anomaly: Callable[[int], None]) -> BatchPage:
    """``page`` without the records whose ``created_at`` lies outside ``window``.

    A record outside the window but inside the whole seconds the server was sent
    belongs to a neighbour window: dropped quietly. One outside those (a server
    that ignores the bounds) is dropped and counted as an anomaly.
    """
    low, high = window.low, window.high
    kept = tuple(
        batch
        for batch in page.items
        if batch.created_at is not None and low <= batch.created_at <= high
    )
    if len(kept) == len(page.items):
        return page
    sent_low, sent_high = _floor_second(low), _ceil_second(high)
    stray = sum(
        1
        for batch in page.items
        if batch.created_at is None or not sent_low <= batch.created_at <= sent_high
    )
    if stray:
        on_anomaly(stray)
    return attrs.evolve(page, items=kept)


def _with_window(query: JobQuery, page: BatchPage, bounds: tuple[str, str]) -> BatchPage:
    """``page`` with a cursor under the walk's own query that names its window."""
    inner = page._position
    if not isinstance(inner, Position):  # pragma: no cover - pagers make Positions
        return page
    return attrs.evolve(page, position=attrs.evolve(inner, query=query, window=bounds))
