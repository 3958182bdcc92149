"""``llama-batch`` as a program: help, the console script, signals, pipes, what it imports."""

from __future__ import annotations

import ast
import asyncio
import io
import os
import signal
import sys
from pathlib import Path

import pytest
from cli_helpers import (
    KEY,
    command,
    connect,
    jsonl,
    run_cli,
)
from helpers import (
    TESTS,
    TIMEOUT,
    cli_env,
    run_process,
    run_python,
)

import llama_batch_async.cli
from llama_batch_async.cli import main
from llama_batch_async.testing import (
    FakeLlamaCloud,
)


def test_help_exits_0_and_lists_the_commands() -> None:
    """--help names both subcommands; no subcommand at all is a usage error."""
    result = run_cli("--help")
    assert result.returncode == 0
    assert "list" in result.stdout
    assert "serve-fake" in result.stdout
    assert run_cli().returncode == 2


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
async def test_ctrl_c_exits_130_quietly() -> None:
    """SIGINT during a walk exits 130 with nothing on stderr."""
    async with FakeLlamaCloud(jobs=10, api_key=KEY, latency=30) as cloud:
        proc = await asyncio.create_subprocess_exec(
            *command("list", *connect(cloud)),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=cli_env(),
            cwd=TESTS,
        )
        try:
            for _ in range(int(TIMEOUT / 0.05)):
                if cloud.requests:
                    break
                await asyncio.sleep(0.05)
            proc.send_signal(signal.SIGINT)
            out, err = await asyncio.wait_for(proc.communicate(), TIMEOUT)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    assert proc.returncode == 130
    assert (out, err) == (b"", b"")


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX pipes")
async def test_broken_pipe_exits_0_quietly() -> None:
    """A reader that stops early (`| head -1`) ends the command with status 0, no traceback."""
    async with FakeLlamaCloud(jobs=3000, api_key=KEY) as cloud:
        read_end, write_end = os.pipe()
        proc = await asyncio.create_subprocess_exec(
            *command("list", *connect(cloud), "--page-size", "500"),
            stdout=write_end,
            stderr=asyncio.subprocess.PIPE,
            env=cli_env(),
            cwd=TESTS,
        )
        os.close(write_end)
        try:
            loop = asyncio.get_running_loop()
            first = await asyncio.wait_for(loop.run_in_executor(None, os.read, read_end, 100), 30)
            assert first.startswith(b'{"id": ')
        finally:
            os.close(read_end)
        _, err = await asyncio.wait_for(proc.communicate(), TIMEOUT)
    assert proc.returncode == 0
    assert err == b""
    assert len(cloud.requests) < 6  # it stopped, not walked on into the void


def test_console_script_runs() -> None:
    """The installed `llama-batch` script (next to the interpreter) runs the demo."""
    script = Path(sys.executable).parent / ("llama-batch.exe" if os.name == "nt" else "llama-batch")
    if not script.exists():
        pytest.skip("the llama-batch console script is not installed in this environment")
    done = run_process([str(script), "list", "--demo", "--max-items", "3"], env=cli_env())
    assert done.returncode == 0, done.stderr
    assert len(jsonl(done.stdout)) == 3


def test_broken_pipe_in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """A stdout whose reader went away ends main() with 0 and nothing on stderr."""

    class Gone(io.StringIO):
        def write(self, text: str) -> int:
            raise BrokenPipeError

    err = io.StringIO()
    monkeypatch.setattr(sys, "stdout", Gone())
    monkeypatch.setattr(sys, "stderr", err)
    assert main(["list", "--demo"]) == 0
    assert err.getvalue() == ""


def test_cli_imports_only_the_public_package() -> None:
    """No module under cli/ imports a private module of the library (`_client`, `_watch`, ...)."""
    import ast  # noqa: PLC0415 - this test only
    import importlib.util  # noqa: PLC0415 - this test only

    spec = importlib.util.find_spec("llama_batch_async.cli")
    assert spec is not None
    assert spec.submodule_search_locations is not None
    folder = Path(next(iter(spec.submodule_search_locations)))
    sources = sorted(folder.glob("*.py"))
    assert {path.name for path in sources} >= {"__init__.py", "_list.py", "_wait.py"}
    private: list[str] = []
    for path in sources:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                names = [f"{node.module or ''}.{alias.name}" for alias in node.names]
                if node.level >= 2 or (node.module or "").startswith("llama_batch_async._"):
                    private.append(f"{path.name}: from {'.' * node.level}{node.module or ''}")
                elif node.level == 0 and node.module == "llama_batch_async":
                    private += [f"{path.name}: {name}" for name in names if "._" in name]
            elif isinstance(node, ast.Import):
                private += [
                    f"{path.name}: import {alias.name}"
                    for alias in node.names
                    if alias.name.startswith("llama_batch_async._")
                ]
    assert private == []


def test_command_modules_are_imported_only_when_their_command_runs() -> None:
    """Importing the CLI and `--help` load no command module; `list --help` loads only list's."""
    probe = (
        "import sys, contextlib, io\n"
        "from llama_batch_async.cli import main\n"
        "cli = 'llama_batch_async.cli.'\n"
        "loaded = lambda: sorted(m for m in sys.modules if m.startswith(cli))\n"
        "print(loaded())\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    main(['--help']); print(loaded(), file=sys.stderr)\n"
        "    main(['list', '--help'])\n"
        "print(loaded())\n"
        "print('llama_batch_async.testing' in sys.modules)\n"
    )
    done = run_python("-c", probe, env=cli_env())  # a fresh interpreter: nothing loaded yet
    assert done.returncode == 0, done.stderr
    shared = ["llama_batch_async.cli._options", "llama_batch_async.cli._output"]
    assert done.stdout.splitlines() == [
        str(shared),
        str(
            [
                "llama_batch_async.cli._job_output",
                "llama_batch_async.cli._list",
                *shared,
                "llama_batch_async.cli._status",
            ]
        ),
        "False",
    ]
    assert done.stderr.strip() == str(shared)


def test_the_cli_modules_import_one_way() -> None:
    """No import circle among the CLI's modules (lazy imports inside functions count too)."""
    package = Path(llama_batch_async.cli.__file__).parent
    edges: dict[str, set[str]] = {}
    for path in package.glob("_*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        edges[path.stem] = {
            node.module
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module
        }

    def circle(start: str, seen: tuple[str, ...]) -> tuple[str, ...] | None:
        for target in sorted(edges.get(start, ())):
            if target in seen:
                return (*seen, target)
            found = circle(target, (*seen, target))
            if found:
                return found
        return None

    circles = [found for module in sorted(edges) if (found := circle(module, (module,)))]
    assert not circles, " -> ".join(circles[0])
