"""The import graph of ``src/mxcensus``: no cycle, and layers that only point down.

Read from the source with ``ast`` (imports inside functions count too: a lazy import is
still a dependency), so the test needs no import of the package.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"


def _modules() -> dict[str, Path]:
    out = {}
    for p in (SRC / "mxcensus").rglob("*.py"):
        parts = list(p.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = p
    return out


MODULES = _modules()


def _resolve(name: str) -> str:
    while name not in MODULES:
        name = name.rpartition(".")[0]
    return name


def _imports(path: Path) -> set[tuple[str, bool]]:
    """(module imported, at module level?) for every mxcensus import of ``path``."""
    tree = ast.parse(path.read_text())
    top = {id(n) for n in tree.body}
    top |= {id(n) for s in tree.body if isinstance(s, ast.If) for n in s.body}
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [
                f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in MODULES else node.module
                for a in node.names
            ]
        else:
            continue
        out |= {(_resolve(n), id(node) in top) for n in names if n.startswith("mxcensus")}
    return out


EDGES = {m: _imports(p) for m, p in MODULES.items()}


def _package(module: str) -> str:
    return module.split(".")[1] if "." in module else module


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_module_imports_another_in_a_cycle() -> None:
    graph = {m: {t for t, top in e if top and t != m} for m, e in EDGES.items()}
    assert _cycles(graph) == []


def test_no_package_cycle_even_through_lazy_imports() -> None:
    graph: dict[str, set[str]] = {}
    for m, e in EDGES.items():
        for t, _ in e:
            if _package(t) != _package(m):
                graph.setdefault(_package(m), set()).add(_package(t))
    assert _cycles(graph) == []


FORBIDDEN = {
    "identify": {"assess", "store", "report", "export", "pipeline"},
    "assess": {"identify", "store", "report", "export", "pipeline"},
    "report": {"export", "cli", "pipeline", "importers", "engine"},
    "export": {"report", "cli", "pipeline", "importers", "engine"},
    "store": {"report", "export", "explain", "cli", "pipeline", "importers", "engine"},
    "output": {"store", "report", "export", "model", "cli"},
    "text": {"*"},
    "web": {"cli"},
}
"""Package → packages it must not import (``*``: nothing of mxcensus)."""


def test_layers_only_point_down() -> None:
    bad = []
    for m, e in EDGES.items():
        banned = FORBIDDEN.get(_package(m), set())
        for t, _ in e:
            if _package(t) != _package(m) and ("*" in banned or _package(t) in banned):
                bad.append(f"{m} -> {t}")
    assert bad == []


def test_only_the_store_touches_its_connection() -> None:
    """No module outside ``store/`` uses the store's DuckDB connection (``Store.con``): they
    read through ``Store.reader()`` and write through the store's methods."""
    bad = [
        f"{m}:{node.lineno}"
        for m, p in MODULES.items()
        if _package(m) != "store"
        for node in ast.walk(ast.parse(p.read_text()))
        if isinstance(node, ast.Attribute) and node.attr == "con"
    ]
    assert bad == []


def test_nothing_imports_the_web_service_but_the_cli() -> None:
    bad = [
        f"{m} -> {t}"
        for m, e in EDGES.items()
        for t, _ in e
        if _package(t) == "web" and _package(m) not in ("web", "cli")
    ]
    assert bad == []
