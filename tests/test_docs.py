"""The documentation's code runs: every ```python block of docs/*.md and README.md.

Each block is a complete program, run as a script in a fresh folder with
``LLAMA_CLOUD_API_KEY`` and ``LLAMA_CLOUD_BASE_URL`` pointing at a `FakeLlamaCloud`
served by this test; a block that defines ``test_*`` functions is a pytest module
and is run by pytest instead. Both run in this process, warnings as errors (as
``python -W error``): a script as ``__main__`` in a fresh namespace (`runpy`), a test
module by pytest in process (`pytest.Pytester`); a subprocess would add only Python's
start-up. The README's testing snippet still runs as printed, in a subprocess. A
block whose fence carries ``title="name.py"`` is also written to that file name next
to every other block of its page, so a later block can import it (``from app import
app``). Text that must not run uses another fence language (``text``, ``pycon``,
``bash``, ...).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest
from helpers import Result, run_python, run_script

from llama_batch_async.testing import FakeLlamaCloud, serve_in_thread

ROOT = Path(__file__).resolve().parent.parent
SOURCES = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]
KEY = "sk-docs-example"
pytest_plugins = ["pytester"]

# Fence languages that are shown, never run. ``python`` is the only spelling of a
# block that runs: ``py`` or ``python3`` would silently escape this test, so an
# unknown (or missing) language fails `test_every_fence_has_a_known_language`.
SHOWN_ONLY = frozenset({"bash", "console", "http", "ini", "json", "pycon", "text", "toml", "yaml"})

_FENCE = re.compile(r"^(?P<indent>[ ]*)(?P<fence>`{3,}|~{3,})\s*(?P<info>.*?)\s*$")
_TITLE = re.compile(r"""\btitle=["'](?P<title>[^"']+)["']""")
_TEST_FUNCTION = re.compile(r"^(?:async\s+)?def\s+test_", re.MULTILINE)


class Block(NamedTuple):
    """One fenced code block of a Markdown file."""

    path: Path
    line: int
    language: str
    title: str | None
    code: str

    @property
    def where(self) -> str:
        """``file:line`` of the opening fence, relative to the repository."""
        return f"{self.path.relative_to(ROOT).as_posix()}:{self.line}"

    @property
    def is_test_module(self) -> bool:
        """True for a block pytest should run: it defines test functions."""
        return bool(_TEST_FUNCTION.search(self.code))

    @property
    def file_name(self) -> str:
        """The name the block is saved under in its working folder."""
        if self.title:
            return self.title
        return "test_example.py" if self.is_test_module else "example.py"


def fenced_blocks(path: Path) -> Iterator[Block]:
    """Every fenced block of ``path``, nested ones (in admonitions, lists) included."""
    lines = path.read_text(encoding="utf-8").splitlines()
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        index += 1
        if opening is None:
            continue
        indent, fence, info = opening["indent"], opening["fence"], opening["info"]
        start = index
        body: list[str] = []
        while index < len(lines):
            line = lines[index]
            index += 1
            stripped = line.strip()
            if stripped.startswith(fence) and not stripped.lstrip(fence[0]):
                break
            body.append(line[len(indent) :] if line.startswith(indent) else line.lstrip())
        else:
            raise AssertionError(f"{path.name}:{start}: unclosed code fence")
        language = info.split(maxsplit=1)[0].strip("{}.").lower() if info else ""
        title = match["title"] if (match := _TITLE.search(info)) else None
        yield Block(path, start, language, title, "\n".join(body) + "\n")


ALL_BLOCKS = [block for source in SOURCES for block in fenced_blocks(source)]
PYTHON_BLOCKS = [block for block in ALL_BLOCKS if block.language == "python"]


def pytest_configuration(source: Path) -> Block | None:
    """The ```toml block of ``source`` that configures pytest, if it shows one."""
    configs = [
        block
        for block in ALL_BLOCKS
        if block.path == source
        and block.language == "toml"
        and block.code.startswith("[tool.pytest.ini_options]")
    ]
    assert len(configs) <= 1, f"{source.name}: more than one pytest configuration"
    return configs[0] if configs else None


def test_docs_have_python_examples() -> None:
    """Every docs page this test is meant to cover is found, with runnable examples."""
    pages = {block.path.name for block in PYTHON_BLOCKS}
    expected = {"README.md", "tutorial.md", "pagination.md", "retries.md"}
    expected |= {"fastapi.md", "testing.md"}
    assert expected <= pages


@pytest.mark.parametrize("block", ALL_BLOCKS, ids=[block.where for block in ALL_BLOCKS])
def test_every_fence_has_a_known_language(block: Block) -> None:
    """A fence is ```python (run) or a known shown-only language, never unlabelled."""
    assert block.language == "python" or block.language in SHOWN_ONLY, (
        f"{block.where}: fence language {block.language!r}; use 'python' for code "
        f"that runs, or one of {sorted(SHOWN_ONLY)} for text that must not"
    )


@pytest.fixture
def cloud() -> Iterator[FakeLlamaCloud]:
    with serve_in_thread(jobs=250, batches=120, seed=11, api_key=KEY) as server:
        yield server


def run_block(block: Block, cloud: FakeLlamaCloud, request: pytest.FixtureRequest) -> Result:
    """Run ``block`` as a user would (``python file`` or ``pytest file``), in this process."""
    if block.is_test_module:
        # The pytester folder: pytest runs in it, and its imports are undone afterwards.
        folder = request.getfixturevalue("pytester").path
    else:
        folder = request.getfixturevalue("tmp_path")
    return run_block_in(block, cloud, folder, request)


def run_block_in(
    block: Block, cloud: FakeLlamaCloud, folder: Path, request: pytest.FixtureRequest
) -> Result:
    """Run ``block`` in ``folder``, next to the page's titled blocks."""
    for other in PYTHON_BLOCKS:
        if other.path == block.path and other.title:
            (folder / other.title).write_text(other.code, encoding="utf-8")
    script = folder / block.file_name
    script.write_text(block.code, encoding="utf-8")
    monkeypatch: pytest.MonkeyPatch = request.getfixturevalue("monkeypatch")
    monkeypatch.setenv("LLAMA_CLOUD_API_KEY", KEY)
    monkeypatch.setenv("LLAMA_CLOUD_BASE_URL", cloud.url)
    if not block.is_test_module:
        return run_script(script)
    # The page's own pytest configuration, as printed: nothing is added here, so a
    # page whose async tests need a setting must show it.
    if (config := pytest_configuration(block.path)) is not None:
        (folder / "pyproject.toml").write_text(config.code, encoding="utf-8")
    pytester: pytest.Pytester = request.getfixturevalue("pytester")
    ran = pytester.runpytest_inprocess(script.name, "-q", "-p", "no:cacheprovider", "-W", "error")
    return Result(int(ran.ret), "\n".join(ran.outlines), "\n".join(ran.errlines))


@pytest.mark.parametrize("block", PYTHON_BLOCKS, ids=[block.where for block in PYTHON_BLOCKS])
def test_python_block_runs(
    block: Block, cloud: FakeLlamaCloud, request: pytest.FixtureRequest
) -> None:
    """The block runs to completion against a fake cloud, leaving no unclosed session."""
    result = run_block(block, cloud, request)
    output = f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
    assert result.returncode == 0, f"{block.where} failed (exit {result.returncode})\n{output}"
    assert "Unclosed" not in result.stderr, f"{block.where} left a session open\n{output}"


def _block_containing(source: Path, text: str) -> Block:
    (block,) = [block for block in PYTHON_BLOCKS if block.path == source and text in block.code]
    return block


def _run_ok(
    block: Block, cloud: FakeLlamaCloud, folder: Path, request: pytest.FixtureRequest
) -> str:
    result = run_block_in(block, cloud, folder, request)
    assert result.returncode == 0, f"{block.where}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def test_tutorial_checkpoint_example_runs_again(
    cloud: FakeLlamaCloud, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Run twice in one folder, the checkpoint example handles the full listing both times."""
    block = _block_containing(ROOT / "docs" / "tutorial.md", 'CHECKPOINT = Path("walk.cursor")')
    outputs = [_run_ok(block, cloud, tmp_path, request) for _ in range(2)]
    assert outputs == ["100 + 150 jobs handled of 250\n"] * 2
    assert not (tmp_path / "walk.cursor").exists()


def test_readme_checkpoint_example_runs_again(
    cloud: FakeLlamaCloud, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Run twice in one folder, the README's checkpointed walk handles every job both times."""
    block = _block_containing(ROOT / "README.md", "checkpointed_pages(")
    for _ in range(2):
        lines = _run_ok(block, cloud, tmp_path, request).splitlines()
        pages = [int(line.split()[0]) for line in lines if line.endswith(" jobs handled")]
        assert sum(pages) == len(cloud.jobs)
    assert not (tmp_path / ".checkpoints" / "every-job.cursor").exists()  # cleared


def test_new_jobs_recipe_finds_jobs_added_since(
    cloud: FakeLlamaCloud, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """The "new jobs since the last run" recipe handles exactly the jobs added in between."""
    block = _block_containing(ROOT / "docs" / "tutorial.md", "async def handle_new_jobs")
    assert _run_ok(block, cloud, tmp_path, request) == "250 new jobs handled; then 0\n"
    cloud.insert_jobs(2)  # at the head: newest first
    cloud.insert_jobs(1, at=120)  # and one in the middle: the listing has no promised order
    cloud.remove_jobs([cloud.jobs[-1]["id"]])
    assert _run_ok(block, cloud, tmp_path, request) == "3 new jobs handled; then 0\n"
    handled = (tmp_path / "handled.ids").read_text().split()
    assert handled == sorted(job["id"] for job in cloud.jobs)


def test_readme_testing_snippet_passes_as_printed(tmp_path: Path) -> None:
    """The README's "Testing your code" test and pytest configuration pass as printed."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("### Testing your code") :]
    section = section[: section.index("\n#")]
    readme_blocks = list(fenced_blocks(ROOT / "README.md"))
    (config,) = [b for b in readme_blocks if b.language == "toml" and b.code in section]
    (test,) = [b for b in readme_blocks if b.language == "python" and b.code in section]
    (tmp_path / "pyproject.toml").write_text(config.code, encoding="utf-8")
    (tmp_path / "test_failed_jobs.py").write_text(test.code, encoding="utf-8")
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST_")}
    env.pop("LLAMA_CLOUD_API_KEY", None)  # the plugin's fixtures need no environment
    # A subprocess on purpose: the one page snippet run exactly as a user runs it.
    result = run_python("-m", "pytest", "-p", "no:cacheprovider", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
    assert "warning" not in result.stdout.lower()


def _tree_names(text: str) -> list[str]:
    return re.findall(r"^[\s│├└─]*(\w+Error)\b", text, re.MULTILINE)


def test_readme_error_tree_matches_the_errors_module() -> None:
    """The README draws the same error tree as llama_batch_async._errors, every class in it."""
    import llama_batch_async  # noqa: PLC0415 - only this test needs the names
    from llama_batch_async import _errors  # noqa: PLC0415 - the tree is drawn in its docstring

    (tree,) = [
        block
        for block in fenced_blocks(ROOT / "README.md")
        if block.language == "text" and block.code.startswith("LlamaBatchError")
    ]
    assert _tree_names(tree.code) == _tree_names(_errors.__doc__ or "")
    errors = {
        name
        for name in llama_batch_async.__all__
        if isinstance(cls := getattr(llama_batch_async, name), type)
        and issubclass(cls, llama_batch_async.LlamaBatchError)
    }
    assert set(_tree_names(tree.code)) == errors


def test_site_stylesheets_exist() -> None:
    """Every stylesheet mkdocs.yml lists under extra_css is in docs/."""
    config = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    listed = re.search(r"^extra_css:\n((?:[ ]+- .+\n)+)", config, re.MULTILINE)
    assert listed is not None
    sheets = re.findall(r"- (\S+)", listed[1])
    assert sheets
    assert [sheet for sheet in sheets if not (ROOT / "docs" / sheet).is_file()] == []


def test_pages_name_no_internal_issues() -> None:
    """Published pages do not point at the project's internal issue numbers."""
    pages = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]
    leaks = [page.name for page in pages if re.search(r"issue #\d", page.read_text())]
    assert leaks == []


def test_api_reference_covers_the_public_names() -> None:
    """docs/api.md renders every name `llama_batch_async` exports."""
    import llama_batch_async  # noqa: PLC0415 - only this test needs the names

    text = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    rendered = set(re.findall(r"^::: llama_batch_async\.(\w+)\s*$", text, re.MULTILINE))
    assert sorted(set(llama_batch_async.__all__) - rendered) == []


# `pip install NAME` of the project's own name: it is not on the package index, so the
# command fails ("No matching distribution found"), and telling people to install an
# unregistered name invites someone else to register it.
_REGISTRY_NAME = re.compile(
    r"""(?<![./\w-])["']?llama[-_.]batch[-_.]async\b(?!\.)""", re.IGNORECASE
)
_PIP_INSTALL = re.compile(r"\bpip\s+install\b(?P<rest>.*)")


def _install_lines() -> Iterator[tuple[str, str]]:
    package = ROOT / "llama_batch_async"
    texts = [*SOURCES, *sorted((ROOT / "examples").glob("*.py")), *sorted(package.rglob("*.py"))]
    for path in texts:
        lines = path.read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines, 1):
            # A message may be split over string literals: read the next line too.
            joined = line + " " + (lines[number] if number < len(lines) else "")
            found = _PIP_INSTALL.search(joined)
            if found:
                yield f"{path.relative_to(ROOT).as_posix()}:{number}", found["rest"]


def _requirements(rest: str) -> list[str]:
    """The words after ``pip install`` up to the prose or the next command."""
    words = []
    for word in rest.split():
        if word in {"in", "from", "#", "&&", ";", "|"} or word.startswith(("#", "(")):
            break
        words.append(word)
    return words


def test_install_commands_never_name_the_unreleased_package() -> None:
    """No `pip install` in the docs, README, examples or messages asks the index for our name."""
    lines = list(_install_lines())
    assert len(lines) >= 8  # the docs' installs and the extras' messages were all read
    wrong = [
        where
        for where, rest in lines
        if any(_REGISTRY_NAME.match(word) for word in _requirements(rest))
    ]
    assert not wrong, f"pip install of the unregistered name at {wrong}"


def test_no_table_cell_shows_an_escaped_pipe_in_code() -> None:
    r"""A code span in a table cell never holds `\|`: the site would show the backslash."""
    code_span = re.compile(r"`[^`\n]*\\\|[^`\n]*`")
    wrong = [
        f"{path.relative_to(ROOT).as_posix()}:{number}"
        for path in SOURCES
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if line.startswith("|") and code_span.search(line)
    ]
    assert not wrong, f"use <code>... &#124; ...</code> instead, at {wrong}"
