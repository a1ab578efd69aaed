"""Memory stays flat in the size of the census: every export format, ``notify`` and a
report grouped by three fields, run as their own processes over a million stored services
(written straight in SQL by ``bench/census.py``), each peak under :data:`BOUND`.

Before the output paths streamed from the store, an export of this census peaked at
1.5-2.5 GB and ``notify`` at 3 GB (``bench/README.md``). The figures at 1 and 10 million
services are ``bench/data.py --memory``'s."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from bench.census import build_census

from tests.conftest import _env

pytestmark = pytest.mark.slow

SERVICES = 1_000_000
BOUND_MB = 400
"""The goal for ten million services; a million must stay well under it."""

PEAK_RSS = """
import os, subprocess, sys
child = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
_, status, usage = os.wait4(child.pid, 0)
err = child.stderr.read().decode()
print(os.waitstatus_to_exitcode(status), usage.ru_maxrss, repr(err[-500:]))
"""
"""Run argv[1:] from a process too small to lend it its own high-water mark (Linux carries
a parent's pre-exec peak into a child's ``ru_maxrss``) and print its exit and peak (KiB)."""


@pytest.fixture(scope="module")
def census(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("census") / "census.duckdb"
    build_census(path, SERVICES)
    return path


RUNS = {
    "export jsonl": ("export", "--format", "jsonl", "-o", "{out}/x.jsonl"),
    "export csv": ("export", "--format", "csv", "--all-outcomes", "-o", "{out}/x.csv"),
    "export parquet": ("export", "--format", "parquet", "-o", "{out}/x.parquet"),
    "export shadowserver": ("export", "--format", "shadowserver", "-o", "{out}/reports"),
    "notify": ("notify", "--per", "prefix", "--out", "{out}/notices"),
    "report by three fields": ("report", "--by", "version,country,asn", "--format", "table"),
}


def test_every_output_path_stays_flat_on_a_million_services(census: Path, tmp_path: Path) -> None:
    running = {}
    for label, args in RUNS.items():
        out = tmp_path / label.replace(" ", "-")
        out.mkdir()
        cmd = [sys.executable, "-m", "mxcensus", *(a.format(out=out) for a in args)]
        running[label] = subprocess.Popen(
            [sys.executable, "-c", PEAK_RSS, *cmd, "--db", str(census)],
            env=_env(),
            stdout=subprocess.PIPE,
            text=True,
        )
        if len(running) % max(1, min(2, os.cpu_count() or 1)) == 0:
            running[label].wait(timeout=600)  # two at a time
    peaks = {}
    for label, proc in running.items():
        out, _ = proc.communicate(timeout=600)
        code, peak_kb, err = out.split(maxsplit=2)
        assert code == "0", (label, err)
        peaks[label] = int(peak_kb) // 1024
    assert all(mb < BOUND_MB for mb in peaks.values()), peaks
    rows = (tmp_path / "export-csv" / "x.csv").read_bytes().count(b"\n") - 1
    assert rows == SERVICES
