"""The package's layers, read from its own imports: what may import what.

``_http`` (one request) imports nothing above it; ``_paging`` (one walk) and
``_polling`` (the waits) stand on it and never import each other; the flat
leaves (records, converter, errors, config, validation) import no layer. These
are the rules `docs/design.md` draws; this test is what keeps them true.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import llama_batch_async

PACKAGE = Path(llama_batch_async.__file__).parent
NAME = "llama_batch_async"
LEAVES = {
    "_tasks",
    "_errors",
    "_config",
    "_validate",
    "_models",
    "_convert",
    "_endpoints",
    "settings",
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _runtime_imports(path: Path) -> list[tuple[str, tuple[str, ...]]]:
    """(module, names) of every import outside ``if TYPE_CHECKING:``, resolved to absolute."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"
        for inner in ast.walk(node)
    }
    here = _module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    found: list[tuple[str, tuple[str, ...]]] = []
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            found.extend((alias.name, ()) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            names = tuple(alias.name for alias in node.names)
            found.append((module, names))
    return found


def _modules() -> dict[str, Path]:
    return {_module_name(path): path for path in PACKAGE.rglob("*.py")}


def _graph() -> dict[str, set[str]]:
    """Each package module -> the package modules it imports at run time."""
    modules = _modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for module, names in _runtime_imports(path):
            if not module.startswith(NAME):
                continue
            targets = [f"{module}.{n}" for n in names if f"{module}.{n}" in modules]
            graph[name].update(targets or [module])
    return graph


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_the_request_layer_imports_nothing_above_it() -> None:
    """``_http`` imports itself and the flat leaves only: no walk, wait, client or converter."""
    bad = [
        f"{name} -> {target}"
        for name, targets in _graph().items()
        if _layer(name) == "_http"
        for target in targets
        if _layer(target) not in {"_http", *LEAVES - {"_convert"}}
    ]
    assert bad == []


def test_walk_and_waits_do_not_import_each_other() -> None:
    """``_paging`` never imports ``_polling``, nor ``_polling`` ``_paging``."""
    graph = _graph()
    bad = [
        f"{name} -> {target}"
        for name, targets in graph.items()
        for target in targets
        if {_layer(name), _layer(target)} == {"_paging", "_polling"}
    ]
    assert bad == []


def test_the_leaves_import_no_layer() -> None:
    """Records, converter, errors, config and validation import none of the layers or the client."""
    bad = [
        f"{name} -> {target}"
        for name, targets in _graph().items()
        if _layer(name) in LEAVES
        for target in targets
        if _layer(target) not in LEAVES
    ]
    assert bad == []


def test_no_module_takes_another_modules_private_names() -> None:
    """``from x import _name`` across modules: none (a private name stays in its module)."""
    bad = [
        f"{_module_name(path)}: from {module} import {name}"
        for path in _modules().values()
        for module, names in _runtime_imports(path)
        if module.startswith(NAME)
        for name in names
        if name.startswith("_")
        and not name.startswith("__")
        and f"{module}.{name}" not in _graph()  # a private submodule is a module, not a name
    ]
    assert bad == []


def test_no_import_circles() -> None:
    """The run-time import graph of the package has no cycle."""
    graph = _graph()
    visiting: set[str] = set()
    done: set[str] = set()
    cycles: list[str] = []

    def visit(node: str, trail: tuple[str, ...]) -> None:
        if node in done:
            return
        if node in visiting:
            cycles.append(" -> ".join((*trail[trail.index(node) :], node)))
            return
        visiting.add(node)
        for target in sorted(graph.get(node, ())):
            visit(target, (*trail, node))
        visiting.discard(node)
        done.add(node)

    for node in sorted(graph):
        visit(node, ())
    assert cycles == []


def longest_chain(*, within: str = NAME, outside: str = f"{NAME}.cli") -> tuple[str, ...]:
    """The longest chain of run-time imports between the modules ``within`` (not ``outside``).

    The default measures the library: everything but the command line, an application
    of the public door with a depth of its own (`test_cli_chains_stay_short`).
    """
    graph = {
        name: {t for t in targets if t.startswith(within) and not t.startswith(outside)}
        for name, targets in _graph().items()
        if name.startswith(within) and not name.startswith(outside)
    }

    @functools.cache
    def chain(node: str, trail: frozenset[str] = frozenset()) -> tuple[str, ...]:
        best: tuple[str, ...] = ()
        for target in graph.get(node, ()):
            # trail: a circle (test_no_import_circles fails on it) must not recurse forever
            if target not in trail and len(candidate := chain(target, trail | {node})) > len(best):
                best = candidate
        return (node, *best)

    return max((chain(node) for node in graph), key=len)


def test_import_chains_stay_short() -> None:
    """No run-time import chain inside the library is longer than 10 modules."""
    assert len(longest_chain()) <= 10, " -> ".join(longest_chain())


def test_cli_chains_stay_short() -> None:
    """Inside the command line, no run-time import chain is longer than 6 of its modules."""
    chain = longest_chain(within=f"{NAME}.cli", outside=f"{NAME}.cli.__never__")
    assert len(chain) <= 6, " -> ".join(chain)
