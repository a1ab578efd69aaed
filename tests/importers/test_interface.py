"""The importer contract: the columnar fast path is a capability an importer declares
(``ChunkedImporter``), and the runner dispatches on it, not on an importer's class."""

from __future__ import annotations

import ast
import inspect

from mxcensus.importers import IMPORTERS, run
from mxcensus.importers.interface import ChunkedImporter, DocImporter


def test_capabilities_are_declared_by_the_importers() -> None:
    assert {n for n, i in IMPORTERS.items() if isinstance(i, ChunkedImporter)} == {"shodan"}
    assert {n for n, i in IMPORTERS.items() if isinstance(i, DocImporter)} == {"shodan"}


def test_the_runner_names_no_importer() -> None:
    """No importer's class, module or name in the runner's code (its docstrings may give
    Shodan as an example)."""
    tree = ast.parse(inspect.getsource(run))
    docs = {  # docstrings, of modules, classes, functions and attributes
        id(n.value)
        for n in ast.walk(tree)
        if isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant)
    }
    words = set()
    for n in ast.walk(tree):
        if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docs:
            words.add(n.value.lower())
        elif isinstance(n, ast.Name):
            words.add(n.id.lower())
        elif isinstance(n, ast.Attribute):
            words.add(n.attr.lower())
        elif isinstance(n, ast.alias):
            words.add(n.name.lower())
        elif isinstance(n, ast.ImportFrom) and n.module:
            words.add(n.module.lower())
    for name, importer in IMPORTERS.items():
        assert not [w for w in words if name in w or type(importer).__name__.lower() in w]
