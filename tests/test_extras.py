"""The optional-dependency extras install what the docs say they do."""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import sys


def _extra(name: str) -> set[str]:
    requires = importlib.metadata.requires("llama-batch-async") or []
    marker = re.compile(rf"""extra\s*==\s*["']{name}["']""")
    return {re.split(r"[\s<>=!~;\[]", req, maxsplit=1)[0] for req in requires if marker.search(req)}


def test_fastapi_extra_installs_what_testclient_imports() -> None:
    """The fastapi extra brings the HTTP client starlette's TestClient actually imports."""
    code = "import sys, starlette.testclient; print('httpx2' in sys.modules)"
    result = subprocess.run(  # noqa: S603 - this interpreter, fixed code
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    client = "httpx2" if result.stdout.strip() == "True" else "httpx"
    assert {"fastapi", client} <= _extra("fastapi")


def test_test_extra_installs_what_the_plugin_needs() -> None:
    """The test extra brings pytest and pytest-asyncio, which the plugin's fixtures run on."""
    assert {"pytest", "pytest-asyncio"} <= _extra("test")
