"""The scan workers start as fresh interpreters that import only the worker module: none of
the parent's store (DuckDB, pyarrow) nor its CLI (rich, typer), which a /12 walk would
otherwise hold once per worker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

HEAVY = ("duckdb", "pyarrow", "rich", "typer", "yaml", "pandas", "numpy", "cryptography")
"""cryptography loads on the first certificate (probes.tls), not at a worker's start."""

CHECK = """
import json, sys
import mxcensus.engine.worker
from mxcensus.engine.plan import load_probes
load_probes()  # the built-in probes, as a worker loads them
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules})))
"""


def test_worker_module_imports_no_store_nor_cli() -> None:
    src = str(Path(__file__).resolve().parents[2] / "src")
    res = subprocess.run(
        [sys.executable, "-c", CHECK],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=src),
        check=True,
    )
    loaded = set(json.loads(res.stdout))
    assert "mxcensus" in loaded
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_the_engine_package_itself_is_light() -> None:
    """``import mxcensus.engine`` (which ``mxcensus.engine.worker`` implies) must not run
    ``session`` → ``store.db`` → duckdb; its names load on first use."""
    src = str(Path(__file__).resolve().parents[2] / "src")
    code = (
        "import sys, mxcensus.engine as e\n"
        "assert 'duckdb' not in sys.modules, 'duckdb'\n"
        "e.run_scan, e.new_plan\n"
        "assert 'duckdb' in sys.modules\n"
        "assert 'pyarrow' not in sys.modules, 'a scan needs no pyarrow'\n"
    )
    subprocess.run([sys.executable, "-c", code], env=dict(os.environ, PYTHONPATH=src), check=True)
