"""``mxcensus demo`` run once for the package, as ``make demo`` runs it (default size and
seed, in a fresh directory): its stdout and its database."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import SRC


@dataclass(frozen=True)
class Demo:
    cwd: Path
    db: Path
    stdout: str


def run_in(
    cwd: Path, *args: str, columns: int = 80, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``mxcensus ARGS`` in ``cwd`` as a user would type it there (terminal width
    ``columns``, no colour, no MXCENSUS_DB)."""
    full = dict(os.environ)
    full["PYTHONPATH"] = str(SRC) + os.pathsep + full.get("PYTHONPATH", "")
    full.pop("MXCENSUS_DB", None)
    full.update(NO_COLOR="1", COLUMNS=str(columns), **(env or {}))
    return subprocess.run(
        [sys.executable, "-m", "mxcensus", *args],
        cwd=cwd, capture_output=True, text=True, env=full, timeout=300, check=False,
    )  # fmt: skip


@pytest.fixture(scope="package")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    cwd = tmp_path_factory.mktemp("fresh-clone")
    res = run_in(cwd, "demo")
    assert res.returncode == 0, res.stderr
    return Demo(cwd, cwd / "mxcensus-demo.duckdb", res.stdout)
