"""Benchmarks: this client against a raw-aiohttp floor and the official SDK.

Run with ``nox -s bench`` (or ``python benchmarks/run.py`` in an environment with
the package, ``llama-cloud==2.10.0``, matplotlib and psutil installed).

One benchmark server process (``_server.py``: FakeLlamaCloud's records, pre-rendered)
listens on 127.0.0.1; every measured walk runs in a fresh client process
(``_worker.py``), so client CPU and peak RSS are that variant's alone. Variants
are interleaved round-robin, ``--repeat`` times, and medians are reported.
Results go to stdout and, unless ``--no-docs``, to ``docs/benchmarks.md`` and
``docs/benchmarks.png``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from _report import (
    HEADERS,
    Case,
    Measured,
    Report,
    evaluate_goals,
    summarize_profile,
    table_rows,
    text_table,
    verdict,
    write_docs,
)

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORKER = HERE / "_worker.py"
SERVER = HERE / "_server.py"
DOCS = ROOT / "docs"


# ----------------------------------------------------------------------------- cases


def make_cases(latency_ms: float, *, sdk: bool, orjson: bool) -> list[Case]:
    """Every variant to measure, in round-robin order.

    "this client" is the library's defaults (``prefetch`` 8 since 0.5); the
    sequential walk (``prefetch=0``) is shown beside it.
    """
    cases: list[Case] = []
    for page_size in (1000, 100):
        scenario = f"page {page_size}"
        cases.append(Case(scenario, "floor", "floor", "fast", page_size))
        cases.append(Case(scenario, "this client", "client", "fast", page_size))
        cases.append(Case(scenario, "this client, prefetch=0", "client", "fast", page_size, 0))
        if page_size == 1000:
            cases.append(Case(scenario, "this client, pages()", "client-pages", "fast", page_size))
        if orjson:
            cases.append(
                Case(scenario, "this client + orjson", "client", "fast", page_size, None, "orjson")
            )
        if sdk and page_size == 1000:
            cases.append(Case(scenario, "official SDK", "sdk", "fast", page_size))
    scenario = f"{latency_ms:g} ms latency, page 1000"
    cases.append(Case(scenario, "floor", "floor", "slow", 1000))
    cases.append(Case(scenario, "this client, prefetch=0", "client", "slow", 1000, 0))
    cases.append(Case(scenario, "this client", "client", "slow", 1000))
    return cases


# ----------------------------------------------------------------------------- processes


def _pinning(enabled: bool) -> tuple[set[int] | None, set[int] | None]:
    """CPU sets for (server, client): the last CPU serves, the others run the client."""
    if not enabled or not hasattr(os, "sched_getaffinity"):
        return None, None
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None, None
    return {cpus[-1]}, set(cpus[:-1])


@contextlib.contextmanager
def bench_server(
    jobs: int, stream_jobs: int, latency_ms: float, cpus: set[int] | None
) -> Iterator[dict[str, Any]]:
    """Start ``_server.py`` in its own process; yield its URLs; stop it."""
    command = [
        sys.executable,
        str(SERVER),
        "--jobs",
        str(jobs),
        "--stream-jobs",
        str(stream_jobs),
        "--latency-ms",
        str(latency_ms),
        "--watch-stdin",
    ]
    process = subprocess.Popen(
        command,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        if cpus:
            os.sched_setaffinity(process.pid, cpus)
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line:
            raise RuntimeError(f"the benchmark server exited with {process.wait()}")
        yield json.loads(line)
    finally:
        if process.stdin is not None:
            process.stdin.close()
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def run_worker(args: list[str], cpus: set[int] | None, timeout: float = 600) -> dict[str, Any]:
    """Run one ``_worker.py`` process and return its JSON line."""
    command = [sys.executable, str(WORKER), *args]

    def pin() -> None:
        if cpus:
            os.sched_setaffinity(0, cpus)

    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=pin,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"worker failed ({done.returncode}): {shlex.join(command)}\n{done.stderr[-3000:]}"
        )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def case_args(case: Case, urls: dict[str, Any], jobs: int) -> list[str]:
    """Worker arguments for one case."""
    prefetch = [] if case.prefetch is None else ["--prefetch", str(case.prefetch)]
    return [
        case.variant,
        "--url",
        urls[case.site],
        "--page-size",
        str(case.page_size),
        *prefetch,
        "--expect",
        str(jobs),
        "--json-parser",
        case.json_parser,
    ]


# ----------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="repetitions per variant")
    parser.add_argument("--jobs", type=int, default=100_000, help="jobs in the listing")
    parser.add_argument(
        "--stream-jobs", type=int, default=1_000_000, help="jobs in the memory run (0: skip)"
    )
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--no-sdk", action="store_true", help="skip the official SDK")
    parser.add_argument("--no-profile", action="store_true", help="skip the cProfile run")
    parser.add_argument(
        "--sdk-repeat",
        type=int,
        default=3,
        help="repetitions of the (slow) official SDK, interleaved in the first rounds",
    )
    parser.add_argument(
        "--pin",
        action="store_true",
        help="pin the server to the last CPU and clients to the others (for an idle machine)",
    )
    parser.add_argument(
        "--json-parser",
        choices=["json", "orjson"],
        default="json",
        help="experimental: orjson adds 'this client + orjson' variants (needs orjson)",
    )
    docs = parser.add_mutually_exclusive_group()
    docs.add_argument(
        "--write-docs",
        dest="write_docs",
        action="store_true",
        default=True,
        help="write docs/benchmarks.md and docs/benchmarks.png (the default)",
    )
    docs.add_argument("--no-docs", dest="write_docs", action="store_false")
    parser.add_argument("--docs-dir", type=Path, default=DOCS)
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.jobs < 1:
        parser.error("--repeat and --jobs must be >= 1")
    if args.json_parser == "orjson":
        try:
            import orjson  # noqa: F401, PLC0415
        except ImportError:
            parser.error("--json-parser orjson needs orjson installed (pip install orjson)")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run every benchmark, print the table, and write the docs page."""
    args = parse_args(argv)
    started = time.monotonic()
    load_before = os.getloadavg()
    server_cpus, client_cpus = _pinning(args.pin)
    pinned = (
        f"server on CPU {sorted(server_cpus)}, clients on CPUs {sorted(client_cpus)}"
        if server_cpus and client_cpus
        else "none"
    )
    cases = make_cases(args.latency_ms, sdk=not args.no_sdk, orjson=args.json_parser == "orjson")
    measured = [Measured(case) for case in cases]
    stream: dict[str, Any] | None = None
    split: dict[str, Any] | None = None
    profile_rows: list[tuple[str, float]] = []
    profile_top: list[str] = []
    profile_wall: float | None = None

    print(f"starting the benchmark server ({args.jobs:,} jobs) ...", flush=True)
    with bench_server(args.jobs, args.stream_jobs, args.latency_ms, server_cpus) as urls:
        print(
            f"  generated in {urls['generate_seconds']:.1f} s, encoded in "
            f"{urls['encode_seconds']:.1f} s; pinning: {pinned}",
            flush=True,
        )
        for rep in range(args.repeat):
            # Round-robin, starting one further along each time, so no variant
            # always runs first (or right after the same neighbour).
            order = measured[rep % len(measured) :] + measured[: rep % len(measured)]
            for m in order:
                if m.case.variant == "sdk" and rep >= args.sdk_repeat:
                    continue
                result = run_worker(case_args(m.case, urls, args.jobs), client_cpus)
                m.runs.append(result)
                print(
                    f"  [{rep + 1}/{args.repeat}] {m.case.key:<45} "
                    f"wall {result['wall']:7.3f} s  cpu {result['cpu']:7.3f} s  "
                    f"rss {result['peak_rss_mb']:6.1f} MB",
                    flush=True,
                )
        if args.stream_jobs:
            print(f"streaming {args.stream_jobs:,} jobs ...", flush=True)
            stream = run_worker(
                [
                    "stream",
                    "--url",
                    urls["stream"],
                    "--page-size",
                    "1000",
                    "--expect",
                    str(args.stream_jobs),
                    "--sample-every",
                    str(max(1, args.stream_jobs // 10)),
                ],
                client_cpus,
            )
            print(
                f"  wall {stream['wall']:.1f} s, peak RSS {stream['peak_rss_mb']:.1f} MB, "
                "samples " + ", ".join(f"{n:,}: {rss:.1f}" for n, rss in stream["samples"]),
                flush=True,
            )
        if not args.no_profile:
            print("profiling this client at page 1000 ...", flush=True)
            with tempfile.TemporaryDirectory() as tmp:
                prof = str(Path(tmp) / "client.prof")
                profile_case = Case("page 1000", "this client", "client", "fast", 1000)
                result = run_worker(
                    [*case_args(profile_case, urls, args.jobs), "--profile", prof], client_cpus
                )
                profile_wall = float(result["wall"])
                profile_rows, profile_top = summarize_profile(prof)
            split = run_worker(["split", "--url", urls["fast"], "--page-size", "1000"], None)

    rows = table_rows(measured, args.jobs)
    goals = evaluate_goals(measured, stream, args.latency_ms)
    print()
    print(text_table(HEADERS, rows))
    print()
    for goal in goals:
        cpu = f"; CPU ratio {goal.cpu_value}" if goal.cpu_value else ""
        print(f"{verdict(goal).upper():>12}  {goal.measure}: {goal.value} (goal {goal.goal}{cpu})")
    if profile_rows:
        print("\nwhere this client's time goes (cProfile self time, page 1000):")
        for label, share in profile_rows:
            print(f"  {share:5.1f} %  {label}")
    if split is not None:
        orjson_ms = split["orjson_loads_ms"]
        print(
            "unprofiled, one page of 1000 (best of 30): "
            f"floor fetch {split['fetch_ms']:.2f} + json.loads {split['json_loads_ms']:.2f} ms; "
            f"this client {split['client_page_ms']:.2f} ms, with structure_page "
            f"{split['structure_page_ms']:.2f} ms (datetimes {split['datetimes_ms']:.2f} ms); "
            "orjson.loads "
            + ("n/a" if orjson_ms is None else f"{orjson_ms:.2f} ms")
            + f"; FakeLlamaCloud json.dumps {split['fake_encode_ms']:.2f} ms"
        )

    if args.write_docs:
        given = shlex.join(argv if argv is not None else sys.argv[1:])
        command = "nox -s bench" + (f" -- {given}" if given else "")
        report = Report(
            command=command,
            jobs=args.jobs,
            repeat=args.repeat,
            latency_ms=args.latency_ms,
            pinned=pinned,
            measured=measured,
            goals=goals,
            stream=stream,
            split=split,
            profile_rows=profile_rows,
            profile_top=profile_top,
            profile_wall=profile_wall,
            server=urls,
            elapsed=time.monotonic() - started,
            load=(load_before, os.getloadavg()),
            sdk_repeat=min(args.sdk_repeat, args.repeat),
        )
        md, png = write_docs(report, args.docs_dir)
        print(f"\nwrote {md} and {png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
