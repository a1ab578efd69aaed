"""Imports of scans made by others: one module per format, one registry line each
(:mod:`mxcensus.importers.registry`).

:func:`import_files` is the public entry point; the CLI's ``import`` command and the
benchmarks call it. The names below load on first use (PEP 562): importing a module of this
package (an importer, the contract in ``interface``) runs neither the runner nor the
analysis and store it drives.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mxcensus.importers.interface import Importer
    from mxcensus.importers.registry import IMPORTERS
    from mxcensus.importers.run import ImportProgress, ImportResult, ProblemAt, import_files

_WHERE = {
    "IMPORTERS": "registry",
    "Importer": "interface",
    "ImportProgress": "run",
    "ImportResult": "run",
    "ProblemAt": "run",
    "import_files": "run",
}

__all__ = ["IMPORTERS", "ImportProgress", "ImportResult", "Importer", "ProblemAt", "import_files"]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
