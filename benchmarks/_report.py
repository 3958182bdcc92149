"""Reporting for the benchmarks: tables, goals, the chart, the profile split, the docs page."""

from __future__ import annotations

import contextlib
import os
import platform
import pstats
import statistics
import subprocess
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Case:
    """One measured variant of one scenario."""

    scenario: str  # "page 1000", "page 100", "20 ms latency, page 1000"
    label: str  # "floor", "this client", ...
    variant: str  # worker variant
    site: str  # server listener: fast | slow
    page_size: int
    prefetch: int | None = None  # None: the library's default
    json_parser: str = "json"

    @property
    def key(self) -> str:
        """A short unique name: scenario/label."""
        return f"{self.scenario}/{self.label}"


@dataclass
class Measured:
    """The repetitions of one case."""

    case: Case
    runs: list[dict[str, Any]] = field(default_factory=list)

    def median(self, name: str) -> float:
        """The median of one measure over the repetitions."""
        return statistics.median(float(run[name]) for run in self.runs)

    @property
    def wall(self) -> float:
        """Median wall seconds."""
        return self.median("wall")

    @property
    def cpu(self) -> float:
        """Median client CPU seconds."""
        return self.median("cpu")

    @property
    def rss(self) -> float:
        """Median peak RSS, MB."""
        return self.median("peak_rss_mb")


# ----------------------------------------------------------------------------- profile


_CATEGORIES = (
    ("JSON parse (json.loads)", ("json/decoder.py", "json/__init__.py", "_json")),
    ("datetime parsing", ("_parse_datetime", "_structure_opt_datetime", "fromisoformat")),
    (
        "record building (_fast_job, attrs)",
        ("_convert", "_models.py", "attrs generated", "<method 'get' of 'dict' objects>"),
    ),
    (
        "aiohttp, sockets, event loop",
        ("aiohttp/", "yarl/", "multidict/", "asyncio/", "selectors.py", "_socket", "epoll"),
    ),
    (
        "pager, walk, retry, request building",
        (
            "_pager.py",
            "_paging.py",
            "_paging_guards.py",
            "_retry.py",
            "_wire.py",
            "_query.py",
            "_transport.py",
        ),
    ),
    ("tenacity", ("tenacity/",)),
)


def _category(func: tuple[str, int, str]) -> str:
    filename, _line, name = func
    text = f"{filename}:{name}"
    for label, needles in _CATEGORIES:
        if any(needle in text for needle in needles):
            return label
    return "other (benchmark loop, builtins)"


def summarize_profile(path: str, top: int = 20) -> tuple[list[tuple[str, float]], list[str]]:
    """Split cProfile's self time into categories, and list the top functions."""
    stats = pstats.Stats(path)
    raw: dict[tuple[str, int, str], tuple[Any, ...]] = stats.stats  # type: ignore[attr-defined]
    total = sum(entry[2] for entry in raw.values())
    split: dict[str, float] = {}
    for func, entry in raw.items():
        label = _category(func)
        split[label] = split.get(label, 0.0) + entry[2]
    ordered = sorted(split.items(), key=lambda item: -item[1])
    rows = [(label, seconds / total * 100) for label, seconds in ordered]
    lines = ["  self s    cum s     calls  function"]
    for func, entry in sorted(raw.items(), key=lambda item: -item[1][2])[:top]:
        filename, line, name = func
        short = filename.replace(str(ROOT) + "/", "")
        with contextlib.suppress(ValueError):
            short = short[short.index("site-packages/") + len("site-packages/") :]
        if "/lib/python3" in short:
            short = "stdlib/" + short.rsplit("/lib/python3", 1)[1].split("/", 1)[1]
        where = name if filename == "~" else f"{short}:{line}({name})"
        lines.append(f"{entry[2]:8.3f} {entry[3]:8.3f} {entry[1]:9d}  {where}")
    return rows, lines


# ----------------------------------------------------------------------------- report


def versions() -> dict[str, str]:
    """Installed versions of what the numbers depend on."""
    found: dict[str, str] = {}
    for name in (
        "llama-batch-async",
        "aiohttp",
        "attrs",
        "cattrs",
        "tenacity",
        "llama-cloud",
        "httpx",
        "pydantic",
        "orjson",
        "matplotlib",
        "psutil",
    ):
        with contextlib.suppress(metadata.PackageNotFoundError):
            found[name] = metadata.version(name)
    return found


def machine() -> dict[str, str]:
    """What the numbers were measured on."""
    model = platform.processor() or "unknown"
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    revision = "unknown"
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        git = ["git", "--no-optional-locks", "-C", str(ROOT)]  # never takes the index lock
        revision = subprocess.run(
            [*git, "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        changed = subprocess.run(
            [*git, "diff", "--quiet", "HEAD", "--", "llama_batch_async"],
            capture_output=True,
            timeout=10,
            check=False,
        )
        if changed.returncode:
            revision += " + uncommitted changes in llama_batch_async/"
    return {
        "revision": revision,
        "nproc": str(os.cpu_count()),
        "cpu": model,
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "os": f"{platform.system()} {platform.release()} ({platform.machine()})",
    }


def table_rows(measured: list[Measured], jobs: int) -> list[list[str]]:
    """Rows of the results table, medians; ratios against the scenario's floor."""
    floors = {m.case.scenario: m for m in measured if m.case.label == "floor"}
    rows = []
    for m in measured:
        floor = floors[m.case.scenario]
        rows.append(
            [
                m.case.scenario,
                m.case.label,
                f"{m.wall:.3f}",
                f"{m.cpu:.3f}",
                f"{jobs / m.wall:,.0f}",
                f"{m.rss:.1f}",
                f"{m.wall / floor.wall:.2f}",
                f"{m.cpu / floor.cpu:.2f}",
            ]
        )
    return rows


HEADERS = [
    "scenario",
    "variant",
    "wall s",
    "client CPU s",
    "jobs/s",
    "peak RSS MB",
    "wall / floor",
    "CPU / floor",
]


def markdown_table(headers: list[str], rows: list[list[str]]) -> str:
    """A GitHub-flavoured markdown table."""
    numeric = [all(_is_number(row[i]) for row in rows) for i in range(len(headers))]
    lines = ["| " + " | ".join(headers) + " |"]
    lines.append("| " + " | ".join("---:" if num else "---" for num in numeric) + " |")
    lines.extend("| " + " | ".join(row) + " |" for row in rows)
    return "\n".join(lines)


def text_table(headers: list[str], rows: list[list[str]]) -> str:
    """A plain aligned table for the terminal."""
    widths = [max(len(headers[i]), *(len(row[i]) for row in rows)) for i in range(len(headers))]
    out = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))]
    out.append("  ".join("-" * w for w in widths))
    out.extend("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows)
    return "\n".join(out)


def _is_number(text: str) -> bool:
    try:
        float(text.replace(",", "").strip("*"))
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class Goal:
    """One of issue #3's goals, with what this run measured."""

    measure: str
    goal: str
    value: str
    met: bool | None  # None: not measured
    cpu_value: str = ""  # the same ratio over client CPU seconds, for context


def evaluate_goals(
    measured: list[Measured], stream: dict[str, Any] | None, latency_ms: float
) -> list[Goal]:
    """Issue #3's goals as same-run ratios of medians (wall decides; CPU for context)."""
    by_key = {m.case.key: m for m in measured}
    lat = f"{latency_ms:g} ms latency, page 1000"

    def ratio_goal(
        measure: str,
        goal: str,
        a: str,
        b: str,
        *,
        at_most: float | None = None,
        at_least: float | None = None,
    ) -> Goal:
        if a not in by_key or b not in by_key:
            return Goal(measure, goal, "-", None)
        wall = by_key[a].wall / by_key[b].wall
        cpu = by_key[a].cpu / by_key[b].cpu
        met = (at_most is None or wall <= at_most) and (at_least is None or wall >= at_least)
        # Spread: the ratio within each round (variants interleaved, so a round's
        # two walks ran minutes apart at most), min-max over the rounds.
        rounds = [
            x["wall"] / y["wall"] for x, y in zip(by_key[a].runs, by_key[b].runs, strict=False)
        ]
        spread = f" (rounds {min(rounds):.2f}-{max(rounds):.2f})" if len(rounds) > 1 else ""
        return Goal(measure, goal, f"{wall:.2f}{spread}", met, f"{cpu:.2f}")

    jobs = _jobs_label(measured)
    goals = [
        ratio_goal(
            f"this client / floor, wall, {jobs} jobs, page 1000",
            "≤ 1.15",
            "page 1000/this client",
            "page 1000/floor",
            at_most=1.15,
        ),
        ratio_goal(
            f"this client / floor, wall, {jobs} jobs, page 100",
            "≤ 1.15",
            "page 100/this client",
            "page 100/floor",
            at_most=1.15,
        ),
        ratio_goal(
            "official SDK / this client, wall, page 1000",
            "≥ 12",
            "page 1000/official SDK",
            "page 1000/this client",
            at_least=12,
        ),
        ratio_goal(
            f"sequential / default prefetch, wall, {latency_ms:g} ms latency, page 1000",
            "≥ 3.5",
            f"{lat}/this client, prefetch=0",
            f"{lat}/this client",
            at_least=3.5,
        ),
    ]
    if stream is None:
        goals.append(Goal("peak RSS streaming 1,000,000 jobs", "≤ 64 MB, flat", "-", None))
    else:
        growth = stream_growth(stream)
        peak = float(stream["peak_rss_mb"])
        goals.append(
            Goal(
                f"peak RSS streaming {stream['jobs']:,} jobs",
                "≤ 64 MB, flat",
                f"{peak:.1f} MB peak; {growth:+.1f} MB from the first to the last sample",
                peak <= 64 and abs(growth) <= FLAT_MB,
            )
        )
    return goals


FLAT_MB = 5.0  # "flat": RSS after the first sample moves by at most this much


def stream_growth(stream: dict[str, Any]) -> float:
    """RSS change (MB) from the first sample after the walk started to the last."""
    samples = [s for s in stream["samples"] if s[0] > 0]
    if len(samples) < 2:
        return 0.0
    return float(samples[-1][1] - samples[0][1])


def _jobs_label(measured: list[Measured]) -> str:
    jobs = measured[0].runs[0]["jobs"] if measured and measured[0].runs else 0
    return f"{jobs // 1000}k" if jobs % 1000 == 0 else str(jobs)


def verdict(goal: Goal) -> str:
    """Met, not met, or not measured."""
    return "not measured" if goal.met is None else ("met" if goal.met else "not met")


def goals_markdown(goals: list[Goal]) -> str:
    """The goals table."""
    rows = [[g.measure, g.goal, g.value, g.cpu_value or "-", f"**{verdict(g)}**"] for g in goals]
    return markdown_table(
        ["measure", "goal", "this run (wall)", "same ratio, client CPU", "verdict"], rows
    )


def chart(measured: list[Measured], jobs: int, path: Path) -> None:
    """Jobs/s per variant, grouped by scenario (matplotlib, Agg)."""
    import matplotlib as mpl  # noqa: PLC0415 - only when writing docs

    mpl.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    colors = {
        "floor": "#7f7f7f",
        "this client": "#1f77b4",
        "this client, prefetch=0": "#2ca02c",
        "this client, pages()": "#17becf",
        "this client + orjson": "#9467bd",
        "official SDK": "#d62728",
    }
    labels = [f"{m.case.scenario} | {m.case.label}" for m in measured]
    rates = [jobs / m.wall for m in measured]
    fig, ax = plt.subplots(figsize=(9, 0.42 * len(measured) + 1.4))
    y = list(range(len(measured)))[::-1]
    bars = ax.barh(y, rates, color=[colors.get(m.case.label, "#8c564b") for m in measured])
    ax.set_yticks(y, labels, fontsize=8)
    ax.bar_label(bars, [f"{rate:,.0f}" for rate in rates], padding=3, fontsize=7)
    ax.set_xlabel("jobs/s (median; higher is better)")
    ax.set_title(f"Listing {jobs:,} jobs over 127.0.0.1", fontsize=10)
    ax.set_xlim(0, max(rates) * 1.18)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def split_markdown(split: dict[str, Any]) -> str:
    """The unprofiled per-page split of the client's work, floor beside it."""
    fetch, loads = split["fetch_ms"], split["json_loads_ms"]
    structure, dts = split["structure_page_ms"], split["datetimes_ms"]
    client = split["client_page_ms"]
    floor = fetch + loads
    rest = client - fetch - loads - structure
    rows = [
        ["floor: aiohttp GET + read of the body", f"{fetch:.2f}"],
        ["floor: `json.loads` of the body", f"{loads:.2f}"],
        ["**floor, one page**", f"**{floor:.2f}**"],
        ["**this client, one page** (`list_jobs(max_items=1000).collect()`)", f"**{client:.2f}**"],
        ["... of which the floor's fetch + `json.loads` (above)", f"{floor:.2f}"],
        ["... of which `structure_page` (dicts -> `BatchJob` records)", f"{structure:.2f}"],
        [f"... ... of which {split['timestamps']:,} timestamps -> `datetime`", f"{dts:.2f}"],
        [
            "... ... of which the rest (`_fast_job`, attrs, str/int checks)",
            f"{structure - dts:.2f}",
        ],
        ["... of which the rest (request building, retry, walk, transport)", f"{rest:.2f}"],
    ]
    if split.get("orjson_loads_ms") is not None:
        rows.append(
            ["`orjson.loads` of the same body, for comparison", f"{split['orjson_loads_ms']:.2f}"]
        )
    rows.append(
        [
            "FakeLlamaCloud's `json.dumps` of this page (server side, every request)",
            f"{split['fake_encode_ms']:.2f}",
        ]
    )
    return markdown_table(["step, one page of 1000 jobs", "ms (best of 30)"], rows)


def stream_markdown(stream: dict[str, Any]) -> str:
    """RSS samples of the long walk."""
    rows = [
        ["before the walk (after imports)", f"{stream['rss_before_mb']:.1f}"],
        *[[f"after {count:,} jobs", f"{rss:.1f}"] for count, rss in stream["samples"] if count],
        ["peak (`ru_maxrss`, whole process)", f"{stream['peak_rss_mb']:.1f}"],
    ]
    return markdown_table(["point of the walk", "RSS MB"], rows)


@dataclass(frozen=True)
class Report:
    """Everything one run measured, ready to render."""

    command: str
    jobs: int
    repeat: int
    latency_ms: float
    pinned: str
    measured: list[Measured]
    goals: list[Goal]
    stream: dict[str, Any] | None
    split: dict[str, Any] | None
    profile_rows: list[tuple[str, float]]
    profile_top: list[str]
    profile_wall: float | None
    server: dict[str, Any]
    elapsed: float
    load: tuple[tuple[float, float, float], tuple[float, float, float]]
    sdk_repeat: int


def render_markdown(report: Report, chart_name: str) -> str:
    """The whole docs/benchmarks.md page."""
    info = machine()
    pkgs = ", ".join(f"{name} {version}" for name, version in versions().items())
    rows = table_rows(report.measured, report.jobs)
    stream = report.stream
    parts = [
        "# Benchmarks",
        "",
        "<!-- Generated by benchmarks/run.py; edit that script, not this page. -->",
        "",
        f"How fast `llama_batch_async` lists {report.jobs:,} batch jobs, against a raw "
        "aiohttp floor and the official `llama-cloud` SDK, and how much memory a "
        "million-job walk takes. Every number below is from one run of the command "
        "below; regenerate this page (and the chart) with it.",
        "",
        "```console",
        f"$ {report.command}",
        "```",
        "",
        "## Machine",
        "",
        f"- Checkout: {info['revision']}",
        f"- CPUs (nproc): {info['nproc']} ({info['cpu']})",
        f"- Python: {info['python']} on {info['os']}",
        f"- Packages: {pkgs}",
        f"- CPU pinning: {report.pinned}",
        f"- Whole run: {report.elapsed / 60:.1f} min; load average (1/5/15 min) "
        f"{_load(report.load[0])} at the start, {_load(report.load[1])} at the end",
        "",
        "## Method",
        "",
        f"- **Server**: one separate process on 127.0.0.1 serving the `FakeLlamaCloud` "
        f"records (`make_jobs({report.jobs:,}, seed=0)`, the realistic 17-field jobs, "
        "encoded the way the fake encodes them), pre-rendered: each page body is built "
        "once, so a request costs aiohttp's own overhead. `FakeLlamaCloud` itself runs "
        "`json.dumps` per request, which is more than the floor spends parsing the page "
        "(see the split below) and would be added to every variant's wall time. "
        "Offset/limit paging with `total_size` and no `next_page_token`.",
        "- **Clients**: every measured walk runs in a fresh process, so client CPU "
        "(`time.process_time`, user + system) and peak RSS (`ru_maxrss`) belong to "
        "that variant alone. Wall and CPU cover the walk (client creation and close "
        "included), not interpreter start-up or imports. Every walk must yield exactly "
        f"{report.jobs:,} jobs or the run fails.",
        f"- **Repetitions**: variants interleaved round-robin, {report.repeat} times "
        f"(the slow official SDK in the first {report.sdk_repeat} rounds only); medians "
        "shown. Ratios are ratios of medians from this one run. Wall time is what the "
        "goals are about; client CPU time is shown beside it because it does not "
        "depend on what else the machine is doing.",
        "- **floor**: `aiohttp.ClientSession` + `json.loads` into dicts, sequential "
        "`limit`/`offset` paging, stopping on a short page (the same requests this "
        "client sends).",
        "- **this client**: `async for job in client.list_jobs(page_size=N)` "
        "(the defaults: `prefetch` 8; `prefetch=0` where named, the sequential walk); "
        "`pages()`: `async for page in "
        "client.list_jobs(page_size=N).pages()`, counting `len(page.items)`, to show "
        "what handing out jobs one by one costs.",
        "- **official SDK**: `llama-cloud==2.10.0`, `AsyncLlamaCloud(api_key=..., "
        "base_url=<server>)` and `async for job in client.beta.batch.list(limit=N)`. "
        "Its pager (`AsyncPaginatedBatchItems`) computes the next offset from "
        "`total_size` and stops after the first page when `total_size` is missing, so "
        "the server always sends `total_size`; with it the SDK walks every job "
        "(checked on every run).",
        f"- **Latency**: the `{report.latency_ms:g} ms latency` scenario adds "
        f"{report.latency_ms:g} ms before every response (server-side `asyncio.sleep`).",
        "",
        "## Results",
        "",
        f"![jobs/s per variant]({chart_name})",
        "",
        markdown_table(HEADERS, rows),
        "",
        "Peak RSS is the whole client process (interpreter and imports included). "
        "Per-job iteration is built on `pages()` (`async for job in pager` walks the pages "
        "and yields each page's jobs), so `pages()` does strictly less work in the client; "
        "where its row comes out slower than the per-job row, the gap is run-to-run noise "
        "of this one run on a shared machine, not a cost of `pages()`.",
        "",
        "## Performance goals",
        "",
        goals_markdown(report.goals),
        "",
        *analysis_markdown(report),
        "",
    ]
    if stream is not None:
        parts += [
            f"## Streaming {stream['jobs']:,} jobs",
            "",
            "`async for job in client.list_jobs(page_size=1000)`, keeping nothing, "
            "against a listing of unique ids (the server reuses the "
            f"{report.jobs:,} record bodies with ids rendered from the offset). "
            f"Wall {stream['wall']:.1f} s, "
            f'CPU {stream["cpu"]:.1f} s. "Flat" here means the RSS moves by at most '
            f"{FLAT_MB:g} MB between the first and the last sample.",
            "",
            stream_markdown(stream),
            "",
        ]
    if report.profile_rows:
        wall = f" ({report.profile_wall:.2f} s under the profiler)" if report.profile_wall else ""
        parts += [
            "## Where the client's time goes (page 1000)",
            "",
            f"cProfile of one walk of {report.jobs:,} jobs at page size 1000 in the "
            f"client process{wall}. Self time by category (cProfile inflates many small "
            "Python calls relative to C calls such as `json.loads`; the unprofiled split "
            "below is the better guide to absolute cost):",
            "",
            markdown_table(
                ["category", "% of self time"],
                [[label, f"{share:.1f}"] for label, share in report.profile_rows],
            ),
            "",
            "Top functions by self time:",
            "",
            "```text",
            *report.profile_top,
            "```",
            "",
        ]
    if report.split is not None:
        parts += [
            f"Unprofiled, per page of 1000 jobs ({report.split['body_bytes']:,} bytes), "
            "each step timed round-robin in one process against the benchmark server, "
            "best of 30. Best-of on one warm page runs well below a walk's per-page "
            "average (compare the walk CPU per page above), so read it for proportions, "
            "not totals:",
            "",
            split_markdown(report.split),
            "",
        ]
    return "\n".join(parts)


def analysis_markdown(report: Report) -> list[str]:
    """Computed notes that explain the goals, from this run's numbers."""
    by_key = {m.case.key: m for m in report.measured}
    lines: list[str] = []
    pages = report.jobs // 1000 + 1  # a walk at page 1000 ends on a short (empty) page
    floor, client = by_key.get("page 1000/floor"), by_key.get("page 1000/this client")
    if floor and client:
        extra = (client.cpu - floor.cpu) / pages * 1000
        text = (
            f"- **Page 1000, per page of 1000 jobs** (walk CPU / pages): the floor spends "
            f"{floor.cpu / pages * 1000:.1f} ms of CPU, this client "
            f"{client.cpu / pages * 1000:.1f} ms: {extra:.1f} ms more"
        )
        if report.split is not None:
            sp = report.split
            text += (
                f". In the unprofiled split below (one process, interleaved) the page costs "
                f"the floor {sp['fetch_ms'] + sp['json_loads_ms']:.1f} ms and this client "
                f"{sp['client_page_ms']:.1f} ms; building the records (`structure_page`) "
                f"is {sp['structure_page_ms']:.1f} ms of the difference, about as much as "
                f"`json.loads` itself ({sp['json_loads_ms']:.1f} ms)"
            )
        lines.append(text + ".")
    lat = f"{report.latency_ms:g} ms latency, page 1000"
    seq, pre = by_key.get(f"{lat}/this client, prefetch=0"), by_key.get(f"{lat}/this client")
    lat_floor = by_key.get(f"{lat}/floor")
    if seq and pre:
        cpu_page = pre.cpu / pages * 1000
        seq_page = seq.wall / pages * 1000
        bound = seq_page / cpu_page
        need = report.latency_ms / 2.5
        text = (
            f"- **Prefetch under {report.latency_ms:g} ms latency**: a sequential page "
            f"takes {seq_page:.1f} ms of wall time (latency + serving + parsing); with "
            "prefetch the requests overlap, but the one event loop still parses every "
            f"page, {cpu_page:.1f} ms of CPU each. So sequential / prefetch cannot exceed "
            f"about {seq_page:.1f} / {cpu_page:.1f} = {bound:.1f} here, and the ≥ 3.5 goal "
            f"needs the per-page CPU at or below about {need:.0f} ms "
            f"(({report.latency_ms:g} + c) / c ≥ 3.5)"
        )
        if lat_floor:
            text += (
                f"; even the floor spends {lat_floor.cpu / pages * 1000:.1f} ms per page "
                "with `json.loads`"
            )
        lines.append(text + ".")
    sdk = by_key.get("page 1000/official SDK")
    if sdk and client:
        lines.append(
            f"- **Official SDK**: {sdk.cpu / pages * 1000:.0f} ms of CPU per page of "
            "1000 (httpx + pydantic models); the ≥ 12 goal needs this client at or "
            f"below {sdk.wall / 12:.2f} s for the walk (now {client.wall:.2f} s)."
        )
    return lines


def _load(values: tuple[float, float, float]) -> str:
    return "/".join(f"{value:.2f}" for value in values)


def write_docs(report: Report, docs: Path) -> tuple[Path, Path]:
    """Write docs/benchmarks.md and docs/benchmarks.png."""
    docs.mkdir(parents=True, exist_ok=True)
    png = docs / "benchmarks.png"
    chart(report.measured, report.jobs, png)
    md = docs / "benchmarks.md"
    text = render_markdown(report, png.name)
    # The latency scripts own the page from "## Realistic latency" on (their blocks
    # between markers, and the prose around them): keep that tail as it was, or
    # leave empty blocks for them to write into.
    text = text.rstrip("\n") + "\n\n" + (_latency_tail(md) or _EMPTY_TAIL)
    md.write_text(text, encoding="utf-8")
    return md, png


LATENCY_HEADING = "## Realistic latency"
LATENCY_START = "<!-- latency-table:start -->"
LATENCY_END = "<!-- latency-table:end -->"
V2_LATENCY_START = "<!-- v2-latency-table:start -->"
V2_LATENCY_END = "<!-- v2-latency-table:end -->"
_EMPTY_TAIL = f"""{LATENCY_HEADING}

Written by `python benchmarks/latency.py`, not by the run above.

{LATENCY_START}
{LATENCY_END}

## v2 batches at 80 ms latency

Written by `python benchmarks/latency_v2.py --sdk-python PATH` (the last step of
`nox -s bench`), not by the runs above.

{V2_LATENCY_START}
{V2_LATENCY_END}
"""


def _latency_tail(md: Path) -> str:
    """The latency scripts' part of the page, from its heading to the end ("" if none).

    Kept only whole: with both scripts' markers in it, so each still has its block.
    """
    try:
        old = md.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ""
    start = old.find("\n" + LATENCY_HEADING + "\n")
    tail = old[start + 1 :] if start >= 0 else ""
    markers = (LATENCY_START, LATENCY_END, V2_LATENCY_START, V2_LATENCY_END)
    return tail if all(marker in tail for marker in markers) else ""
