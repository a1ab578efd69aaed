"""``notify`` killed half-way publishes nothing: its files appear together or not at all,
and what the killed run staged is swept by the next one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from bench.census import build_census

from tests.conftest import _env


@pytest.fixture(scope="module")
def census(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("census") / "census.duckdb"
    build_census(path, 30_000, locations=3000)
    return path


def _staged(parent: Path) -> list[Path]:
    return [p for p in parent.iterdir() if p.name.startswith(".notices.") and p.is_dir()]


def _kill_while_writing(census: Path, out: Path, sig: int) -> None:
    cmd = [sys.executable, "-m", "mxcensus", "notify", "--db", str(census), "--out", str(out)]
    proc = subprocess.Popen(cmd, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # until it has staged some of its files
            staged = _staged(out.parent)
            if staged and len(os.listdir(staged[0])) >= 20:
                break
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            time.sleep(0.02)
        else:
            pytest.fail("notify staged nothing in 120 s")
        proc.send_signal(sig)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT])
def test_a_killed_notify_publishes_nothing(census: Path, tmp_path: Path, sig: int) -> None:
    out = tmp_path / "notices"
    _kill_while_writing(census, out, sig)
    assert not out.exists()  # no file, no partial set
    out.mkdir()
    (out / "index.csv").write_text("yesterday's index")
    (out / "notes.txt").write_text("the user's")
    _kill_while_writing(census, out, sig)
    assert sorted(p.name for p in out.iterdir()) == ["index.csv", "notes.txt"]
    assert (out / "index.csv").read_text() == "yesterday's index"


def test_the_next_notify_sweeps_what_a_killed_one_staged(census: Path, tmp_path: Path) -> None:
    out = tmp_path / "notices"
    _kill_while_writing(census, out, signal.SIGKILL)
    assert _staged(tmp_path)  # a SIGKILL cannot clean up
    res = subprocess.run(
        [sys.executable, "-m", "mxcensus", "notify", "--db", str(census), "--out", str(out)],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert res.returncode == 0, res.stderr
    assert _staged(tmp_path) == []
    names = {p.name for p in out.iterdir()}
    assert "index.tsv" in names and len(names) > 100
