"""A full disk under the store (issue 18 item 6, the store's writers): ``import``, ``scan``,
``reassess``, ``watch run`` and ``scans delete`` each end with one line naming the file and
what was being written, exit 1, and the store exactly as before (an import's entry marked
failed at most; a scan interrupted, and resumed once there is room again).

The store lives on a small tmpfs mounted in a private mount namespace (``unshare -m``, as
root), filled so that a seeded amount of room is left: none, a little, about half of what
the command needs (measured by a reference run on a real disk). The files are copied out
after the run and read here: a real DuckDB file, replayed from its log as a next open would.
"""

from __future__ import annotations

import random
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from mxcensus.store.db import Store
from tests.conftest import SRC, _env
from tests.engine import tinyprobe
from tests.engine.servers import counting_servers, free_port
from tests.reliability.stores import april_and_may
from tests.store.kill import State, differences, leftovers, state
from tests.tmpfs import can_mount
from tests.watch.test_feed_webhook import feed_file

pytestmark = [
    pytest.mark.skipif(not can_mount(), reason="needs root and unshare -m to mount a tmpfs"),
    pytest.mark.timeout(240),
]

ON_A_FULL_DISK = """
set -u
dir=$1; free=$2; src=$3; out=$4; after=$5; shift 5
mount -t tmpfs -o size=64m tmpfs "$dir" || exit 97
cp "$src" "$dir/store.duckdb"
avail=$(df --output=avail -k "$dir" | tail -1)
if [ $((avail - free)) -gt 0 ]; then
    head -c $(((avail - free) * 1024)) /dev/zero > "$dir/filler" 2>/dev/null
fi
"$@" --db "$dir/store.duckdb"
echo "exit $?"
cp "$dir"/store.duckdb* "$out"/
if [ -n "$after" ]; then
    rm -f "$dir/filler"
    mkdir "$out/then"
    sh -c "$after" sh "$dir/store.duckdb" >/dev/null 2>"$out/then/stderr"
    echo "then $?"
    cp "$dir"/store.duckdb* "$out/then"/
fi
"""
"""Mount a 64 MiB tmpfs over ``dir``, copy the store in, fill it to leave ``free`` KiB, run
the command on the store there and copy the store's files out to ``out``; then (``after``,
a shell command given the store's path) free the room, run that and copy the store's files
to ``out/then``."""

LINE = re.compile(
    r"mxcensus: error: (?P<path>\S+): cannot write (?P<what>.+): No space left on device"
)


@dataclass
class Run:
    exit: int
    then: int | None
    stderr: str
    store: Path


def on_a_full_disk(
    tmp: Path, tag: str, src: Path, free_kib: int, argv: list[str], *, after: str = ""
) -> Run:
    full, out = tmp / f"mnt-{tag}", tmp / f"out-{tag}"
    full.mkdir()
    out.mkdir()
    cmd = [sys.executable, "-m", "mxcensus", *argv]
    res = subprocess.run(
        [
            "unshare",
            "-m",
            "sh",
            "-c",
            ON_A_FULL_DISK,
            "sh",
            str(full),
            str(free_kib),
            str(src),
            str(out),
            after,
            *cmd,
        ],
        capture_output=True,
        text=True,
        env=_env({"PYTHONPATH": str(SRC), "MXCENSUS_PROBE_TABLE": tinyprobe.TABLE}),
        timeout=180,
        check=False,
    )
    said = dict(line.split(" ", 1) for line in res.stdout.splitlines() if " " in line)
    assert "exit" in said, (res.stdout, res.stderr)
    then = int(said["then"]) if "then" in said else None
    return Run(int(said["exit"]), then, res.stderr, out / "store.duckdb")


def one_line(run: Run, what: str) -> None:
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    m = LINE.fullmatch(lines[0])
    assert m is not None, lines[0]
    assert m["what"] == what
    assert m["path"].startswith(str(run.store.parent).replace("out-", "mnt-"))


def free_points(need_kib: int, seed: int) -> list[int]:
    """Room to leave: none, and a seeded share of what the command needs (at least one
    DuckDB block of 256 KiB)."""
    rng = random.Random(seed)
    return [0, max(256, int(need_kib * rng.uniform(0.1, 0.4)))]


def need_kib(before: Path, after: Path) -> int:
    """What a command needs, about: what it added to the store's files, or half the store
    (a reassessment writes a new generation of the derived rows, then frees the old one)."""

    def size(p: Path) -> int:
        return sum(f.stat().st_size for f in p.parent.glob(p.name + "*") if f.is_file())

    return max(size(after) - size(before), size(before) // 2) // 1024


class Base:
    """A store holding the import "april" (the "before" of every command here)."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.path, self.may, self.before = april_and_may(tmp, 181, 300)

    def reference(self, tag: str, argv: list[str], src: Path) -> tuple[Path, State]:
        """The command run on a real disk: the store after it, and its state."""
        path = self.tmp / f"ref-{tag}.duckdb"
        shutil.copyfile(src, path)
        res = subprocess.run(
            [sys.executable, "-m", "mxcensus", *argv, "--db", str(path)],
            capture_output=True,
            text=True,
            env=_env({"PYTHONPATH": str(SRC)}),
            timeout=180,
            check=False,
        )
        assert res.returncode == 0, res.stderr
        return path, state(path)


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Base]:
    yield Base(tmp_path_factory.mktemp("full"))


def other_tables(path: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every table :func:`state` does not compare (the watches' tables among them), whole."""
    with Store.open(path, read_only=True) as store:
        names = [
            r[0] for r in store.con.execute("SELECT table_name FROM duckdb_tables()").fetchall()
        ]
        return {
            t: sorted(store.con.execute(f"SELECT * FROM {t}").fetchall(), key=repr)
            for t in names
            if t.startswith("watch")
        }


def _named(got: State) -> State:
    """``got`` without the random part of a watch run's scan name (``watch f run-…``)."""
    return {
        **got,
        "scans": [(s[0], "watch run", *s[2:]) if str(s[1]).startswith("watch ") else s
                  for s in got["scans"]],
    }  # fmt: skip


def _check(
    base: Base, tag: str, argv: list[str], what: str, seed: int, *, src: Path | None = None,
    least: int = 2, rerun: str = "", partial: bool = False,
) -> None:  # fmt: skip
    """``argv`` on a full disk at seeded points: exit 0 and the reference's result, or exit 1,
    one line and the store as before — an import's entry marked failed at most (its rows
    gone), the watches' tables as before but for the run left ``running`` (the next run
    takes it over) — and ``rerun`` (a shell command given the store) completes afterwards."""
    src = src or base.path
    before, others = state(src), other_tables(src)
    ref, after = base.reference(tag, argv, src)
    failed = 0
    for free in free_points(need_kib(src, ref), seed):
        run = on_a_full_disk(base.tmp, f"{tag}-{free}", src, free, argv, after=rerun)
        Store.open(run.store).close()  # what a dead run left is collected here
        assert not leftovers(run.store), leftovers(run.store)
        got = _named(state(run.store))
        if run.exit == 0:
            assert got == _named(after) and not run.stderr, (free, run.stderr)
            continue
        failed += 1
        assert run.exit == 1, run.stderr
        one_line(run, what)
        marked = [s for s in got["scans"] if s[4] == "failed" and s[2] == "import"]
        assert len(marked) <= 1, got["scans"]
        got["scans"] = [s for s in got["scans"] if s not in marked]
        tables = other_tables(run.store)
        runs = [r for r in tables.pop("watch_runs", []) if r not in others["watch_runs"]]
        assert all("running" in r for r in runs) and len(runs) <= 1, runs
        if partial and len(got["scans"]) == len(before["scans"]) + 1:
            # a watch run imports, then stores its events: its import may be whole already
            (new,) = [s for s in got["scans"] if s not in before["scans"]]
            assert new[1] == "watch run" and new[4] == "finished", new
            assert only("scan-0", got) == only("scan-0", before), free
        else:
            assert got == before, f"{tag} with {free} KiB free: " + "; ".join(
                differences(got, before)
            )
            assert tables == {k: v for k, v in others.items() if k != "watch_runs"}
        if rerun:
            err = (run.store.parent / "then" / "stderr").read_text()
            assert run.then == 0, f"{tag}: the rerun after {free} KiB free failed: {err}"
    assert failed >= least, "the disk was never full: the test proves nothing"


def test_import(base: Base) -> None:
    argv = ["import", "shodan", str(base.may), "--name", "may", "-q"]
    _check(base, "import", argv, "the import into the store", 1861)


def test_reassess(base: Base) -> None:
    argv = ["reassess", "april"]
    _check(base, "reassess", argv, "the reassessed services into the store", 1862)


def test_scans_delete(base: Base) -> None:
    """Deleting needs little room (a checkpoint): none left is the case that fails."""
    argv = ["scans", "delete", "april"]
    _check(base, "delete", argv, "the deletion from the store", 1863, least=1)


def test_watch_run(base: Base) -> None:
    """A feed watch's run (an import of the newest Shadowserver file, then its events):
    failed, it leaves the store as before, the watches' own tables included — or, when the
    disk filled after its import was whole, that import finished and the run left
    ``running`` (the next run takes it over); either way the next run completes."""
    feed = base.tmp / "feed"
    feed.mkdir()
    hosts = {f"203.0.{i // 250}.{i % 250 + 1}": f"4.9{i % 7}" for i in range(400)}
    feed_file(feed, "2026-01-12", hosts)
    src = base.tmp / "watched.duckdb"
    shutil.copyfile(base.path, src)
    added = subprocess.run(
        [sys.executable, "-m", "mxcensus", "watch", "add", "f", "--feed", str(feed), "--db",
         str(src)],
        capture_output=True, text=True, env=_env({"PYTHONPATH": str(SRC)}), check=False,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    argv = ["watch", "run", "f", "-q"]
    rerun = f'{sys.executable} -m mxcensus watch run f -q --db "$1"'
    _check(base, "watch", argv, "the watch run's results into the store", 1864, src=src,
           rerun=rerun, partial=True)  # fmt: skip


def _scan_result(db: Path) -> tuple[list[tuple[object, ...]], ...]:
    with Store.open(db, read_only=True) as store:
        return tuple(
            store.con.execute(sql, ["k"]).fetchall()
            for sql in (
                "SELECT status FROM scans WHERE name = ?",
                "SELECT ip, port, outcome FROM transcripts t JOIN scans s ON s.id = t.scan"
                " WHERE s.name = ? ORDER BY ALL",
                "SELECT ip, port, outcome, product, worst_status FROM services v"
                " JOIN scans s ON s.id = v.scan WHERE s.name = ? ORDER BY ALL",
            )
        )


def only(alias: str, got: State) -> State:
    """The rows of one scan (by its alias in :func:`state`)."""
    mark = f'"scan":"{alias}"'.encode()
    return {
        k: [r for r in rows if (mark in r if isinstance(r, bytes) else alias in r)]
        for k, rows in got.items()
    }


def test_scan_then_resume(base: Base) -> None:
    """A scan on a full disk stops with one line; its batches committed so far stay, it is
    marked interrupted, the import beside it untouched, and once there is room ``scan
    --resume`` ends with the results of a scan that never stopped."""
    port = free_port()
    listening = [(f"127.0.9.{i}", port) for i in range(1, 60)]
    args = ["scan", "127.0.9.0/26", "-p", str(port), "--allow-reserved", "-q", "--name", "k"]
    args += ["--rate", "2000", "--workers", "1", "--concurrency", "16"]
    # resumed; or run again when the disk was full before the scan's row was committed
    again = " ".join(args)
    resume = (
        f'{sys.executable} -m mxcensus scan --resume k -q --db "$1"'
        f' || {sys.executable} -m mxcensus {again} --db "$1"'
    )
    with counting_servers(listening):
        ref, _ = base.reference("scan", args, base.path)
        want = _scan_result(ref)
        assert want[0] == [("finished",)] and len(want[1]) == 64
        failed = 0
        for free in free_points(need_kib(base.path, ref), 1865):
            run = on_a_full_disk(base.tmp, f"scan-{free}", base.path, free, args, after=resume)
            if run.exit == 0:
                assert not run.stderr
            else:
                failed += 1
                assert run.exit == 1, run.stderr
                one_line(run, "the scan's results into the store")
                Store.open(run.store).close()  # the dead scan is marked here
                assert _scan_result(run.store)[0] in ([], [("interrupted",)])
            assert run.then == 0, f"the resume after {free} KiB free failed"
            assert _scan_result(run.store.parent / "then" / "store.duckdb") == want, free
            assert only("scan-0", state(run.store)) == only("scan-0", base.before)  # april
        assert failed >= 2, "the disk was never full: the test proves nothing"
