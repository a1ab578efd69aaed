"""Shared fixtures. ``mx`` runs the real CLI in a subprocess, as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src"

RunCli = Callable[..., subprocess.CompletedProcess[str]]


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(SRC) + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("MXCENSUS_DB", None)
    env["NO_COLOR"] = "1"
    env["COLUMNS"] = "200"
    if extra:
        env.update(extra)
    return env


@pytest.fixture
def mx() -> RunCli:
    """Run ``mxcensus ARGS...``; returns the CompletedProcess (text mode)."""

    def run(
        *args: str,
        input: str | None = None,
        env: dict[str, str] | None = None,
        timeout: float = 120,
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "mxcensus", *args],
            input=input,
            capture_output=True,
            text=True,
            env=_env(env),
            timeout=timeout,
            check=False,
        )

    return run


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "mx.duckdb"
