"""SIGKILL, SIGTERM and SIGINT delivered to ``reassess``, ``import``, ``scan`` and ``notify``
at points chosen by a seeded schedule (issue 18, "Done when"): each time the store is exactly
as before or as after, the scan's status says which, and a rerun completes.

The points are instrumented, not timed: the command runs in a child whose n-th store write
(the :attr:`Store.fault` seam) or n-th file-system change (an audit hook: files opened for
writing, renames, links, directories made or removed) sends the signal to the child itself,
so the signal lands exactly there; the schedule draws n from the writes a reference run
counted. What is already proven elsewhere is not repeated: SIGKILL at every scheduled write
of an import, a reassessment, a deletion (tests/store/) and of a scan
(tests/engine/test_scan_killed.py), and signals at seeded delays
(tests/store/test_atomic_reassess.py, tests/store/test_killed_runs.py)."""

from __future__ import annotations

import hashlib
import random
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from mxcensus.store.db import Store
from tests.conftest import _env
from tests.engine import tinyprobe
from tests.engine.servers import counting_servers, free_port
from tests.reliability.stores import april_and_may
from tests.store.kill import State, assert_before_or_after, schedule, state

pytestmark = pytest.mark.timeout(240)

SIGNALS = (signal.SIGKILL, signal.SIGTERM, signal.SIGINT)

AT_POINT = """
import atexit, os, signal, sys

n = int(os.environ["SIGNAL_AT"])
sig = int(os.environ["SIGNAL"])
calls = 0

def point(*_):
    global calls
    calls += 1
    if calls == n:
        os.kill(os.getpid(), sig)

from mxcensus.cli import main
if os.environ["POINTS"] == "writes":
    from mxcensus.store.db import Store
    Store.fault = point
else:
    WRITE = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
    CHANGES = {"os.rename", "os.link", "os.mkdir", "os.remove", "os.rmdir", "os.symlink",
               "shutil.rmtree", "ctypes.call_function"}

    def audit(event, args):
        if event == "open":
            mode, flags = args[1], args[2]
            if (mode is not None and any(c in mode for c in "wax+")) or (
                mode is None and flags & WRITE
            ):
                point()
        elif event in CHANGES:
            point()

    sys.addaudithook(audit)
atexit.register(lambda: print(f"points: {calls}", file=sys.stderr, flush=True))
main(sys.argv[1:])
"""
"""``python -c AT_POINT ARGV...``: the CLI, sending itself ``SIGNAL`` at its ``SIGNAL_AT``-th
point (``POINTS``: ``writes`` of the store, or ``files``: changes to the file system); when
it ends first, it prints ``points: N`` on stderr."""


def at_point(
    argv: list[str], n: int, sig: int, points: str = "writes", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    extra = {"SIGNAL_AT": str(n), "SIGNAL": str(int(sig)), "POINTS": points}
    return subprocess.run(
        [sys.executable, "-c", AT_POINT, *argv],
        env=_env({"PYTHONDONTWRITEBYTECODE": "1", **extra, **(env or {})}),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def counted(run: subprocess.CompletedProcess[str]) -> int:
    assert run.returncode == 0, run.stderr
    return int(run.stderr.rsplit("points: ", 1)[1])


def plan(total: int, seed: int, signals: tuple[int, ...] = SIGNALS) -> list[tuple[int, int]]:
    """One kill point per signal among ``total``, drawn with ``seed`` from the scheduled
    ones (the first, the last two, a seeded few in between), the signals in seeded order."""
    rng = random.Random(seed)
    chosen = rng.sample(schedule(total, seed, count=3, last=2), len(signals))
    order = list(signals)
    rng.shuffle(order)
    return sorted(zip(chosen, order, strict=True))


def stopped(run: subprocess.CompletedProcess[str], sig: int) -> None:
    """Ended by ``sig``: killed by it, or (SIGINT, or SIGTERM where the CLI handles it as
    Ctrl-C) exit 130 with one line."""
    if run.returncode == 130:
        assert sig != signal.SIGKILL
        assert run.stderr.startswith("mxcensus: interrupted"), run.stderr
    else:
        assert run.returncode == -sig, (run.returncode, run.stderr)


class Base:
    """A store holding the import "april", analysed without enrichment."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.path, self.may, self.before = april_and_may(tmp, 191, 80)
        self.n = 0

    def copy(self) -> Path:
        self.n += 1
        path = self.tmp / f"s{self.n}.duckdb"
        shutil.copyfile(self.path, path)
        return path

    def reference(self, argv: list[str]) -> tuple[int, State]:
        """``argv`` on a copy of the store, never signalled: its writes and the state after."""
        path = self.copy()
        total = counted(at_point([*argv, "--db", str(path)], 0, signal.SIGKILL))
        return total, state(path)


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Base]:
    yield Base(tmp_path_factory.mktemp("kills"))


def test_reassess(base: Base) -> None:
    argv = ["reassess", "april"]
    total, after = base.reference(argv)
    assert total > 5
    for n, sig in plan(total, 1901):
        path = base.copy()
        stopped(at_point([*argv, "--db", str(path)], n, sig), sig)
        got = assert_before_or_after(path, base.before, after, f"{sig} at write {n}/{total}")
        assert [s[4] for s in state(path)["scans"]] == ["finished"], got
    rerun = at_point([*argv, "--db", str(path)], 0, signal.SIGKILL)
    assert rerun.returncode == 0 and state(path) == after, rerun.stderr


def test_import(base: Base) -> None:
    argv = ["import", "shodan", str(base.may), "--name", "may", "-q"]
    total, after = base.reference(argv)
    assert total > 5
    (may,) = [s for s in after["scans"] if s[1] == "may"]
    failed = {**base.before, "scans": [*base.before["scans"], (*may[:4], "failed", *may[5:])]}
    seen = []
    for n, sig in plan(total, 1911):
        path = base.copy()
        stopped(at_point([*argv, "--db", str(path)], n, sig), sig)
        what = f"{sig} at write {n}/{total}"
        got = assert_before_or_after(path, base.before, after, what, marked=failed)
        statuses = [s[4] for s in state(path)["scans"]]
        # the import's entry says which: failed (or gone: Ctrl-C removes it), or finished
        assert statuses in (["finished"], ["finished", "failed"], ["finished", "finished"])
        assert (got == "after") == (statuses == ["finished", "finished"]), what
        seen.append((got, path))
    # stopped before its last commit, the name is free again and the rerun is whole
    path = next(path for got, path in seen if got == "before")
    rerun = at_point([*argv, "--db", str(path)], 0, signal.SIGKILL)
    assert rerun.returncode == 0, rerun.stderr
    assert "may" in [s[1] for s in state(path)["scans"] if s[4] == "finished"]


def _scan_result(db: Path) -> tuple[list[tuple[object, ...]], ...]:
    with Store.open(db, read_only=True) as store:
        return tuple(
            store.con.execute(sql).fetchall()
            for sql in (
                "SELECT status FROM scans",
                "SELECT ip, port, outcome FROM transcripts ORDER BY ALL",
                "SELECT ip, port, outcome, product, worst_status FROM services ORDER BY ALL",
            )
        )


def test_scan_then_resume(tmp_path: Path) -> None:
    """A scan stopped at a scheduled write (SIGTERM, SIGINT; SIGKILL at every scheduled
    write is tests/engine/test_scan_killed.py): marked interrupted (resumable) when the
    store is next opened, or finished; ``scan --resume`` completes it to the unstopped
    scan's result."""
    port = free_port()
    listening = [(f"127.0.19.{i}", port) for i in range(1, 25)]
    env = {"MXCENSUS_PROBE_TABLE": tinyprobe.TABLE}
    args = ["scan", "127.0.19.0/27", "-p", str(port), "--allow-reserved", "-q", "--name", "k"]
    args += ["--rate", "400", "--workers", "1", "--concurrency", "4"]
    with counting_servers(listening, delay=0.02):
        ref = tmp_path / "ref.duckdb"
        total = counted(at_point([*args, "--db", str(ref)], 0, signal.SIGKILL, env=env))
        want = _scan_result(ref)
        assert want[0] == [("finished",)] and len(want[1]) == 32
        for n, sig in plan(total, 1921, (signal.SIGTERM, signal.SIGINT)):
            db = tmp_path / f"k{n}.duckdb"
            stopped(at_point([*args, "--db", str(db)], n, sig, env=env), sig)
            with Store.open(db) as store:
                found = store.find_scan("k")
            if found is None:  # stopped before its row was committed: nothing at all
                assert not db.exists() or _scan_result(db) == ([], [], [])
                continue
            assert found["status"] in ("interrupted", "finished"), (n, found)
            if found["status"] == "finished":
                assert _scan_result(db) == want
                continue
            resume = ["scan", "--resume", "k", "-q", "--db", str(db)]
            resumed = at_point(resume, 0, signal.SIGKILL, env=env)
            assert resumed.returncode == 0, resumed.stderr
            assert _scan_result(db) == want, f"stopped at write {n} of {total}"


def _tree(directory: Path) -> dict[str, str] | None:
    """What a reader of ``directory`` sees: each file's digest (None: no directory)."""
    if not directory.exists():
        return None
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.iterdir())
        if p.is_file()
    }


def test_notify(base: Base, tmp_path: Path) -> None:
    """notify stopped at a scheduled change to the file system: the store untouched, the
    directory absent or the whole set (never a part of it), and a rerun writes the set and
    leaves nothing of the stopped one behind."""
    path = base.copy()
    argv = ["notify", "--per", "prefix", "--scan", "april", "--db", str(path)]
    ref = tmp_path / "ref"
    total = counted(at_point([*argv, "--out", str(ref)], 0, signal.SIGKILL, points="files"))
    want = _tree(ref)
    assert want is not None and len(want) > 2
    for n, sig in plan(total, 1931):
        out = tmp_path / f"out{n}"
        stopped(at_point([*argv, "--out", str(out)], n, sig, points="files"), sig)
        assert _tree(out) in (None, want), f"{sig} at change {n} of {total}"
        assert state(path) == base.before
        rerun = at_point([*argv, "--out", str(out)], 0, signal.SIGKILL, points="files")
        assert rerun.returncode == 0, rerun.stderr
        assert _tree(out) == want
    left = [p.name for p in tmp_path.iterdir() if not (p.name == "ref" or p.name[:3] == "out")]
    assert not left, f"left behind: {left}"  # a stopped run's staging, swept by the rerun
