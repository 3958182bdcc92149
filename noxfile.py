"""Sessions: tests (3.10-3.13, on the built wheel), tests_all, lint, typecheck, docs, bench, soak.

`python3 -m nox` runs lint, typecheck and tests_all: the tests session of every
listed Python, all at once (LLAMA_BATCH_TEST_SESSIONS), each in a nox process of its
own. Under CI=true a missing interpreter is an error, elsewhere it is skipped (and
said to be: "tests-3.12: skipped, interpreter 3.12 not found"), and no interpreter is
downloaded: a run uses the Pythons the machine has.
"""

from __future__ import annotations

import inspect
import json
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nox

nox.options.sessions = ["lint", "typecheck", "tests_all"]
nox.options.reuse_existing_virtualenvs = False
# uv makes each session's environment in seconds (the README installs it beside nox);
# plain virtualenv + pip where it is missing.
nox.options.default_venv_backend = "uv|virtualenv"

ROOT = Path(__file__).parent
# On CI a missing Python is an error; elsewhere it is skipped, and never downloaded
# (nox and uv would each try: ~50 s of failed downloads before the skip).
IN_CI = os.environ.get("CI", "").lower() in {"true", "1", "yes"}
if not IN_CI:
    os.environ.setdefault("UV_PYTHON_DOWNLOADS", "never")  # uv venv --python X
# nox's own downloads (nox >= 2025.10.14 has the option; older ones never download).
NO_DOWNLOADS: dict[str, str] = (
    {"download_python": "never"}
    if not IN_CI and "download_python" in inspect.signature(nox.session).parameters
    else {}
)
PYTHONS = ["3.10", "3.11", "3.12", "3.13"]
COVERAGE_PYTHON = "3.11"
# The Pythons that also run the tests marked `processes` (the installed CLI, workers,
# venvs: marked by tests/conftest.py from the tests' code); the others run the rest.
# perf: those 187 tests held 128 of the 158 s of CPU one Python's suite took (per-test
# getrusage of self and children, -n 2, one idle 2-core machine), and the CI machine
# has 2 cores for four sessions: the whole `.ci/run` took 7 min 5 s with every test on
# every Python. The coverage Python and the newest run them.
PROCESS_PYTHONS = (COVERAGE_PYTHON, "3.13")
# Test workers: the CI machines have 2 cores; LLAMA_BATCH_TEST_WORKERS overrides.
WORKERS = os.environ.get("LLAMA_BATCH_TEST_WORKERS", "2")
# Test sessions tests_all runs at once. perf: the suite waits on timers, servers and
# subprocesses for most of its run (one Python, -n 2: 156 s of test wall time held
# 52 s of CPU), so every session runs at once and fills the cores meanwhile: the whole
# `.ci/run` took 2 min 46 s with 4 at a time, 3 min 17 s with 2 (fresh clones, empty
# uv and pip caches, back to back on one idle 2-core machine:
# `CI=true LLAMA_BATCH_TEST_SESSIONS=N /usr/bin/time -v bash .ci/run`).
# LLAMA_BATCH_TEST_SESSIONS overrides (1: one after another).
SESSIONS = int(os.environ.get("LLAMA_BATCH_TEST_SESSIONS", "4"))
# The wheel tests_all built, for its child sessions to install.
WHEEL_ENV = "LLAMA_BATCH_TEST_WHEEL"
TEST_DEPS = [
    "pytest>=8",
    "pytest-asyncio>=0.24",
    "pytest-timeout>=2.3",
    "coverage[toml]>=7.10",  # [run] patch = ["subprocess"]
    "hypothesis>=6.100",
    "pytest-xdist>=3.5",
    "fastapi>=0.110",
    "httpx2",  # starlette's TestClient transport
    "redis>=5.2",  # the [redis] extra: tests/e2e/test_redis.py against a real redis-server
    "limits>=5",
]


# The wheel built by the first tests session of this nox run; the others install it.
_built: dict[str, str] = {}


def build_wheel(session: nox.Session) -> str:
    """Build the wheel once per nox run (into the first session's tmp dir); return its path."""
    for wheel in (_built.get("wheel"), os.environ.get(WHEEL_ENV)):
        if wheel and Path(wheel).is_file():
            session.log(f"reusing {wheel}")
            return wheel
    out = Path(session.create_tmp()).resolve() / "dist"  # absolute: handed to other sessions
    for old in out.glob("*.whl"):
        old.unlink()
    if session.venv_backend == "uv" or (session.venv_backend == "none" and shutil.which("uv")):
        session.run("uv", "build", "--quiet", "--wheel", "-o", str(out), str(ROOT), external=True)
    else:
        python = sys.executable if session.venv_backend == "none" else "python"
        session.run(python, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(ROOT))
    (built,) = out.glob("llama_batch_async-*.whl")
    _built["wheel"] = str(built)
    return str(built)


@nox.session(python=PYTHONS, **NO_DOWNLOADS)
def tests(session: nox.Session) -> None:
    """Run the suite against the installed wheel, never the source tree."""
    wheel = build_wheel(session)
    session.install(*TEST_DEPS)
    session.install(wheel)
    # Run from a folder that cannot import the checkout, so the wheel is what is tested.
    tmp = Path(session.create_tmp()).resolve()  # absolute: the tests' subprocesses run elsewhere
    session.chdir(tmp)
    pytest = [
        "pytest",
        str(ROOT / "tests"),
        "-c",
        str(ROOT / "pyproject.toml"),
        "--rootdir",
        str(ROOT),
        "-p",
        "no:cacheprovider",
        "--numprocesses",
        WORKERS,
        *(() if session.python in PROCESS_PYTHONS else ("-m", "not processes")),
        *session.posargs,
    ]
    env: dict[str, str | None] = {
        "LLAMA_BATCH_EXPECT_INSTALLED": "1",
        # perf: bytecode, and pytest's assertion rewrites of every pytest11 plugin's
        # whole distribution (hypothesis: ~220 modules), are made once and reused by
        # every later process (xdist workers, the tests' subprocesses) under the
        # session's tmp dir, even where PYTHONDONTWRITEBYTECODE is set; uv installs
        # no .pyc. Without it each pytest process spent ~1.9 s more CPU: 3.4 s vs
        # 1.5 s user for `pytest -q` of one test, python 3.11, same machine.
        "PYTHONDONTWRITEBYTECODE": None,
        "PYTHONPYCACHEPREFIX": str(tmp / "pycache"),
    }
    if session.python != COVERAGE_PYTHON:
        # Hypothesis' full example count runs where coverage is measured; 25 elsewhere.
        env["LLAMA_BATCH_HYPOTHESIS"] = "quick"
        session.run("python", "-m", *pytest, env=env)
        return
    # `coverage run` starts before pytest, so it also measures the package as
    # imported by the pytest11 plugin entry point (pytest-cov starts too late); its
    # `patch = ["subprocess"]` measures the xdist workers and the CLI subprocesses.
    # Measured on one Python: the floor is the same code on each, at twice the cost.
    rcfile = f"--rcfile={ROOT / 'pyproject.toml'}"
    env["COVERAGE_FILE"] = str(Path.cwd() / ".coverage")
    session.run("coverage", "run", rcfile, "-m", *pytest, env=env)
    session.run("coverage", "combine", "--quiet", rcfile, env=env)
    session.run("coverage", "report", rcfile, env=env)


@nox.session(python=False)
def tests_all(session: nox.Session) -> None:
    """The tests session of every Python, SESSIONS at a time; each one's output, in order."""
    env = {**os.environ, WHEEL_ENV: build_wheel(session)}
    logs = Path(session.create_tmp()) / "logs"
    logs.mkdir(exist_ok=True)
    # The coverage session is the longest: first, so the others run beside it.
    order = [COVERAGE_PYTHON, *(python for python in PYTHONS if python != COVERAGE_PYTHON)]

    def run(python: str) -> tuple[int, float]:
        started = time.monotonic()
        nox_args = ["-f", str(ROOT / "noxfile.py"), "-s", f"tests-{python}"]
        nox_args += ["--report", str(logs / f"tests-{python}.json")]
        nox_args.append(
            "--error-on-missing-interpreters" if IN_CI else "--no-error-on-missing-interpreters"
        )
        with (logs / f"tests-{python}.log").open("w") as log:
            done = subprocess.run(
                [sys.executable, "-m", "nox", *nox_args, "--", *session.posargs],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                check=False,
            )
        return done.returncode, time.monotonic() - started

    session.log(f"tests-{', tests-'.join(order)}: {SESSIONS} at a time, logs in {logs}")
    with ThreadPoolExecutor(max_workers=max(1, SESSIONS)) as pool:
        results = dict(zip(order, pool.map(run, order), strict=True))
    failed = []
    for python in PYTHONS:
        code, seconds = results[python]
        sys.stdout.write(f"\n===== tests-{python} (exit {code}, {seconds:.0f} s) =====\n")
        sys.stdout.write((logs / f"tests-{python}.log").read_text())
        sys.stdout.flush()
        if code:
            failed.append(f"tests-{python}")
    for python in PYTHONS:
        code, seconds = results[python]
        session.log(f"tests-{python}: {_outcome(logs / f'tests-{python}.json', code, seconds)}")
    if failed:
        session.error(f"failed: {', '.join(failed)}")


def _outcome(report: Path, code: int, seconds: float) -> str:
    """``passed in 95 s``, ``failed in 12 s``, or ``skipped: Python interpreter 3.12 not found``.

    Read from the child's ``--report``: nox exits 0 for a session it skipped.
    """
    try:
        (result,) = json.loads(report.read_text())["sessions"]
    except (OSError, ValueError, KeyError, TypeError):  # no report: nox itself failed
        return f"{'failed' if code else 'passed'} in {seconds:.0f} s"
    reason = result.get("reason")
    if result.get("result") == "skipped":
        return f"skipped: {reason or 'no reason given'}"
    if code or result.get("result") != "success":
        return f"failed in {seconds:.0f} s" + (f": {reason}" if reason else "")
    return f"passed in {seconds:.0f} s"


@nox.session(python="3.11")
def lint(session: nox.Session) -> None:
    """Ruff: lint and formatting."""
    session.install("ruff>=0.6")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python="3.11")
def typecheck(session: nox.Session) -> None:
    """mypy --strict over the package and the tests."""
    session.install("mypy>=1.10", *TEST_DEPS)
    session.install("-e", ".")
    session.run("mypy", "--strict")


@nox.session(python="3.11")
def docs(session: nox.Session) -> None:
    """Build the documentation site with --strict."""
    session.install("-e", ".")
    # ruff lets mkdocstrings format signatures
    session.install("mkdocs-material>=9.5", "mkdocstrings[python]>=0.26", "ruff>=0.6")
    session.run(
        "mkdocs",
        "build",
        "--strict",
        "--site-dir",
        str(Path(session.create_tmp()) / "site"),
        env={"NO_MKDOCS_2_WARNING": "1"},
    )


@nox.session(python="3.11")
def bench(session: nox.Session) -> None:
    """The benchmarks against the raw-aiohttp floor and the official SDK (v1 and v2 rows)."""
    session.install(".[redis]")
    session.install("llama-cloud==2.10.0", "matplotlib>=3.8", "psutil>=5.9")
    session.run("python", "benchmarks/run.py", *session.posargs, env={"PYTHONHASHSEED": "0"})
    session.run("python", "benchmarks/latency.py")
    # requests per walk, watch polls, 429 shares, the Redis fleet (needs redis-server)
    session.run("python", "benchmarks/economy.py")
    session.run("python", "benchmarks/latency_v2.py", "--sdk-python", _sdk_v2_python(session))


def _sdk_v2_python(session: nox.Session) -> str:
    """The interpreter of an environment of its own holding ``llama-cloud==2.19.0``.

    2.19.0 has no v1 endpoint, so it cannot replace the 2.10.0 the v1 rows use;
    the v2 row runs its SDK walk there (``benchmarks/_sdk_v2.py``).
    """
    venv = Path(session.create_tmp()) / "sdk-2.19.0"
    session.run("python", "-m", "venv", "--clear", str(venv))
    python = venv / ("Scripts" if os.name == "nt" else "bin") / "python"
    session.run(str(python), "-m", "pip", "install", "-q", "llama-cloud==2.19.0", external=True)
    return str(python)


@nox.session(python="3.11")
def soak(session: nox.Session) -> None:
    """The full chaos soak (the test suite runs a small one)."""
    session.install(*TEST_DEPS)
    session.install(".")
    session.run(
        "pytest",
        "tests/e2e/test_soak.py",
        "-s",  # the soak prints its figures
        "-p",
        "no:cacheprovider",
        *session.posargs,
        env={"LLAMA_BATCH_SOAK_JOBS": os.environ.get("LLAMA_BATCH_SOAK_JOBS", "200000")},
    )
