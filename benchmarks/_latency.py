"""What the latency benchmarks share (``latency.py``, v1; ``latency_v2.py``, v2).

A FakeLlamaCloud in its own process with latency added before every response
(`fake_cloud`); every variant walked ``--repeat`` times, interleaved
round-robin, each walk checked for every record (`interleaved`); the median
wall time and each round's time over a base variant's (`summarize`); the
Markdown table written between two markers of ``docs/benchmarks.md``
(`write_block`).
"""

from __future__ import annotations

import contextlib
import json
import statistics
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import NamedTuple, TypeVar

DOCS = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
API_KEY = "bench-key"

V = TypeVar("V")

_SERVER = """
import json, sys
from llama_batch_async.testing import run_fake_server
run_fake_server(**json.loads(sys.argv[1]))
"""


@contextlib.contextmanager
def fake_cloud(latency_ms: float, **options: object) -> Iterator[str]:
    """`run_fake_server(**options)` in its own process, ``latency_ms`` per response; its URL."""
    options = {"latency": latency_ms / 1000, "api_key": API_KEY, "default_limit": 100, **options}
    process = subprocess.Popen(
        [sys.executable, "-c", _SERVER, json.dumps(options)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        if not url:
            raise RuntimeError(f"the fake server exited with {process.wait()}")
        yield url
    finally:
        process.terminate()
        process.wait(10)


class Walked(NamedTuple):
    """One walk: the records it listed, the requests it sent (0: not counted), its seconds."""

    records: int
    requests: int
    seconds: float


def interleaved(
    variants: Sequence[tuple[str, V]], repeat: int, walk: Callable[[V], Walked], expected: int
) -> dict[str, list[Walked]]:
    """Each variant walked ``repeat`` times, round-robin; every walk must list ``expected``."""
    walks: dict[str, list[Walked]] = {name: [] for name, _ in variants}
    for _ in range(repeat):
        for name, how in variants:
            walked = walk(how)
            if walked.records != expected:
                raise RuntimeError(f"{name}: {walked.records} of {expected} records")
            walks[name].append(walked)
    return walks


class Summary(NamedTuple):
    """A variant's median seconds; the median, min and max of its rounds over the base's."""

    median: float
    ratio: float
    spread: tuple[float, float]


def summarize(walks: dict[str, list[Walked]], base: str) -> dict[str, Summary]:
    """Each variant's `Summary` against the variant named ``base``, round by round."""
    base_seconds = [walked.seconds for walked in walks[base]]
    summaries = {}
    for name, runs in walks.items():
        seconds = [walked.seconds for walked in runs]
        ratios = [a / b for a, b in zip(seconds, base_seconds, strict=True)]
        summaries[name] = Summary(
            statistics.median(seconds), statistics.median(ratios), (min(ratios), max(ratios))
        )
    return summaries


def write_block(text: str, start: str, end: str) -> None:
    """Replace what stands between the markers ``start`` and ``end`` in the docs with ``text``."""
    page = DOCS.read_text()
    head, _, rest = page.partition(start)
    _, _, tail = rest.partition(end)
    if not rest:
        raise SystemExit(f"{DOCS} has no {start} marker")
    DOCS.write_text(f"{head}{start}\n{text}\n{end}{tail}")
