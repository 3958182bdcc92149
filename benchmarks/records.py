"""Per-record cost of structuring a page: the hot path beside its alternatives.

Run with ``python benchmarks/records.py`` (the package installed). One process,
variants interleaved round-robin over ``--rounds`` rounds, each timing
``structure``-ing the same decoded pages of FakeLlamaCloud records (page 1000,
``--pages`` of them, so timestamps differ across records as in a real walk);
the median per-record time and each variant's ratio to the hot path are printed,
with the spread (min-max) of the per-round ratios.

Variants:

- ``hot path``: `structure_page`, i.e. the generated `_fast_job`;
- ``hot path, no in-record dedupe``: each timestamp text parsed even when equal
  to an earlier one of the same record;
- ``hot path + cross-record memo``: the old bounded memo of timestamp texts;
- ``cattrs, detailed_validation=False``: one converter with the package's hooks
  as the hot path (issue 12's alternative to a hand path);
- ``cattrs, detailed_validation=True``: the package's converter (the slow path).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import cattrs

from llama_batch_async import _convert
from llama_batch_async._models import BatchJob, JobStatus, JobType
from llama_batch_async.testing import make_jobs


def _memo(parse: Callable[[str], datetime], kept: int = 4096) -> Callable[[str], datetime]:
    memo: dict[str, datetime] = {}

    def parse_memo(text: str) -> datetime:
        parsed = memo.get(text)
        if parsed is None:
            if len(memo) >= kept:
                memo.clear()
            parsed = memo[text] = parse(text)
        return parsed

    return parse_memo


def _cattrs_lean() -> cattrs.Converter:
    """The package's hooks on a converter without detailed validation."""
    conv = cattrs.Converter(detailed_validation=False, forbid_extra_keys=False)
    c = _convert
    conv.register_structure_hook(str, c._structure_str)
    conv.register_structure_hook(str | None, c._structure_opt_str)
    conv.register_structure_hook(int, c._structure_int)
    conv.register_structure_hook(int | None, c._structure_opt_int)
    conv.register_structure_hook(datetime | None, c._structure_opt_datetime)
    conv.register_structure_hook(JobStatus, c._open_enum(JobStatus))
    conv.register_structure_hook(JobType, c._open_enum(JobType))
    conv.register_structure_hook(BatchJob, cattrs.gen.make_dict_structure_fn(BatchJob, conv))
    return conv


def variants() -> dict[str, Callable[[list[Any]], object]]:
    """Each variant structures one page's items."""
    no_dedupe = _convert._compile_fast_job(dedupe=False)
    memo = _convert._compile_fast_job(parse=_memo(_convert._fromisoformat))
    lean = _cattrs_lean()
    full = _convert._converter
    return {
        "hot path": lambda items: _convert.structure_page({"items": items}),
        "hot path, no in-record dedupe": lambda items: [no_dedupe(o) for o in items],
        "hot path + cross-record memo": lambda items: [memo(o) for o in items],
        "cattrs, detailed_validation=False": lambda items: [
            lean.structure(o, BatchJob) for o in items
        ],
        "cattrs, detailed_validation=True": lambda items: [
            full.structure(o, BatchJob) for o in items
        ],
    }


def main(argv: list[str] | None = None) -> int:
    """Time every variant and print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--pages", type=int, default=20)
    parser.add_argument("--json", action="store_true", help="print one JSON line instead")
    args = parser.parse_args(argv)
    jobs = make_jobs(1000 * args.pages)
    pages = [json.loads(json.dumps(jobs[i : i + 1000])) for i in range(0, len(jobs), 1000)]
    runs = variants()
    times: dict[str, list[float]] = {name: [] for name in runs}
    reference = runs["hot path"]({"items": pages[0]}["items"])
    assert reference
    for rnd in range(args.rounds):
        names = list(runs)
        names = names[rnd % len(names) :] + names[: rnd % len(names)]
        for name in names:
            run = runs[name]
            started = time.perf_counter()
            for items in pages:
                run(items)
            times[name].append((time.perf_counter() - started) / len(jobs) * 1e6)
    base = times["hot path"]
    result: dict[str, Any] = {}
    for name, values in times.items():
        ratios = [v / b for v, b in zip(values, base, strict=True)]
        result[name] = {
            "us_per_record": statistics.median(values),
            "ratio": statistics.median(ratios),
            "ratio_min": min(ratios),
            "ratio_max": max(ratios),
        }
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"{'variant':<36} {'µs/record':>10} {'/ hot path':>10}  spread")
    for name, row in result.items():
        print(
            f"{name:<36} {row['us_per_record']:10.2f} {row['ratio']:10.2f}  "
            f"{row['ratio_min']:.2f}-{row['ratio_max']:.2f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
