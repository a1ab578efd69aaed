"""Importing an importer or the importer contract runs neither the import runner nor the
analysis and store it drives: ``importers/__init__`` loads its names on first use."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import _env


def test_an_importer_loads_no_runner_analysis_or_store() -> None:
    code = (
        "import sys\n"
        "import mxcensus.importers.shodan, mxcensus.importers.interface\n"
        "import mxcensus.importers.registry\n"
        "print(sorted(m for m in ('mxcensus.importers.run', 'mxcensus.pipeline',"
        " 'mxcensus.store.db', 'duckdb') if m in sys.modules))\n"
        "from mxcensus.importers import import_files\n"
        "print('mxcensus.pipeline' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=_env(), capture_output=True, text=True, check=True
    ).stdout.split("\n")
    assert out[:2] == ["[]", "True"]
