"""The package's import graph: no cycles, and each layer imports only the layers below it.

Every import counts, including those inside functions and under
``TYPE_CHECKING``: a cycle hidden in a function is still a cycle for whoever
reads the code. docs/layout.rst describes the layers.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import jupyter_samp

PACKAGE = Path(jupyter_samp.__file__).parent

#: What each subpackage (or top-level module) may import, besides itself.
ALLOWED = {
    "errors": set(),
    "_version": set(),
    "lockfile": {"errors"},
    "core": {"errors"},
    "transport": {"core", "errors"},
    "client": {"core", "transport", "errors", "lockfile"},
    "hub": {"core", "transport", "errors", "lockfile", "_version"},
    "data": {"client", "core", "transport", "errors"},
    "remote": {"client", "transport", "errors"},
    "serverext": {"remote"},
    "notebook": {"client", "core", "data", "errors", "lockfile", "remote"},
    "testing": {"client", "core", "data", "hub", "transport", "errors", "lockfile"},
    "compat": {"client", "hub", "core", "transport", "errors", "lockfile"},
    "cli": {"hub", "_version"},
    "__main__": {"cli"},
    "<package>": {"client", "hub", "notebook", "errors", "_version"},
}


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = ["jupyter_samp", *path.relative_to(PACKAGE).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _imported(module: str, node: ast.Import | ast.ImportFrom) -> Iterator[str]:
    """The package's modules an import statement names (a module, or the package it is in)."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:
            package = module.split(".")
            if MODULES[module].name != "__init__.py":
                package.pop()
            package = package[: len(package) - node.level + 1]
            base = ".".join([*package, base] if base else package)
        names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base
                 for alias in node.names]
    for name in names:
        while name and name not in MODULES:
            name = name.rpartition(".")[0]
        if name and name != module:
            yield name


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {module: set() for module in MODULES}
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                graph[module].update(_imported(module, node))
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph[node]):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "<package>"


def test_no_import_cycles() -> None:
    assert _cycles(_graph()) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_each_layer_imports_only_layers_below_it() -> None:
    wrong = set()
    for module, imported in _graph().items():
        layer = _layer(module)
        for other in imported:
            if _layer(other) != layer and _layer(other) not in ALLOWED[layer]:
                wrong.add(f"{module} imports {other}")
    assert not wrong, sorted(wrong)
