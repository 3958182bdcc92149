"""The README's Quick start line 1 and "Testing your code" snippet, as printed, in a fresh venv.

One venv per run (``python -m venv``, so it has pip and nothing else: no
``--system-site-packages``, which would hand it this environment's packages and
hide a missing dependency). ``pip install .`` fetches the dependencies from
PyPI (or pip's cache), so this is the slowest module of the suite: about half a
minute with a warm cache.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import venv
from pathlib import Path

import attrs
import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
INSTALL_SECONDS = 540

pytestmark = pytest.mark.timeout(INSTALL_SECONDS + 60)


def _blocks(section: str) -> list[tuple[str, str]]:
    """The ``(language, body)`` of every fenced block under the README heading ``section``."""
    text = README.read_text(encoding="utf-8")
    match = re.search(rf"^#+ {re.escape(section)}\n(.*?)(?=^#+ )", text, re.MULTILINE | re.DOTALL)
    assert match is not None, f"README has no section {section!r}"
    return re.findall(r"^```(\w*)\n(.*?)^```$", match[1], re.MULTILINE | re.DOTALL)


@attrs.frozen
class Venv:
    """A fresh virtual environment: its folder and the environment that activates it."""

    path: Path
    env: dict[str, str]

    def sh(self, line: str, cwd: Path) -> subprocess.CompletedProcess[str]:
        """Run one shell line as printed, in this venv, as a user's activated shell would."""
        return subprocess.run(  # noqa: S603 - a line of our own README
            ["/bin/sh", "-c", line],
            cwd=cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=INSTALL_SECONDS,
            check=False,
        )


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Venv:
    path = tmp_path_factory.mktemp("quickstart") / "venv"
    venv.create(path, with_pip=True, symlinks=os.name != "nt")
    # What an activated venv in a plain shell has: none of this test run's pytest,
    # coverage or package variables, the venv's bin first on PATH.
    keep = ("HOME", "LANG", "LC_ALL", "TMPDIR", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE")
    env = {name: value for name, value in os.environ.items() if name in keep}
    env.update({name: value for name, value in os.environ.items() if name.startswith("PIP_")})
    env["VIRTUAL_ENV"] = str(path)
    env["PATH"] = os.pathsep.join([str(path / "bin"), "/usr/local/bin", "/usr/bin", "/bin"])
    return Venv(path, env)


@pytest.mark.skipif(sys.platform == "win32", reason="the README's lines are POSIX shell")
def test_quick_start_line_one_as_printed(fresh: Venv) -> None:
    """`python3 -m pip install . && llama-batch list --demo --max-items 5` lists 5 jobs."""
    (language, body), *_ = _blocks("Quick start")
    assert language == "bash"
    line = body.splitlines()[0]
    assert line == "python3 -m pip install . && llama-batch list --demo --max-items 5"
    done = fresh.sh(line, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    # pip reports on stdout too; the listing is the last 5 lines, piped as JSON Lines.
    rows = done.stdout.splitlines()[-5:]
    assert "Successfully installed" in done.stdout
    assert all(row.startswith('{"id": "bjb-') for row in rows)
    installed = fresh.path / "bin" / "llama-batch"
    assert installed.exists()


@pytest.mark.skipif(sys.platform == "win32", reason="the README's lines are POSIX shell")
def test_testing_snippet_as_printed(fresh: Venv, tmp_path: Path) -> None:
    """The "Testing your code" install line, pytest config and test pass in a user's project."""
    blocks = _blocks("Testing your code")
    install = next(body for language, body in blocks if language == "bash").strip()
    toml = next(body for language, body in blocks if language == "toml")
    test = next(body for language, body in blocks if language == "python")
    done = fresh.sh(install, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    project = tmp_path / "myproject"
    project.mkdir()
    (project / "pyproject.toml").write_text(toml, encoding="utf-8")
    (project / "test_jobs.py").write_text(test, encoding="utf-8")
    done = fresh.sh("python3 -m pytest -q -p no:cacheprovider", cwd=project)
    assert done.returncode == 0, done.stdout[-3000:]
    assert "1 passed" in done.stdout
    assert "warning" not in done.stdout.lower()
