"""Imports of scans made by others: one module per format, one registry line each
(:mod:`mxcensus.importers.registry`).

:func:`import_files` is the public entry point; the CLI's ``import`` command and the
benchmarks call it.
"""

from __future__ import annotations

from mxcensus.importers.interface import Importer
from mxcensus.importers.registry import IMPORTERS
from mxcensus.importers.run import ImportProgress, ImportResult, ProblemAt, import_files

__all__ = ["IMPORTERS", "ImportProgress", "ImportResult", "Importer", "ProblemAt", "import_files"]
