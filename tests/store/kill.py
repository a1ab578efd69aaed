"""Killing store changes at chosen points, and the store's state to compare before and after.

``killed_at(n, change)`` runs ``change`` in a forked child whose store dies (SIGKILL, no
cleanup of any kind) just before its ``n``-th write statement or commit — the
:attr:`Store.fault` seam sees every one — so a test can walk the points of a change by a
seeded schedule instead of hoping a timer lands somewhere interesting. ``state(path)`` is
everything a reader of the store can see, in a canonical form (scan ids replaced by their
order, times of the run left out), and ``leftovers(path)`` what no reader sees but the file
still holds (rows of no live generation or of no scan, ``stale`` entries): after a store
was opened for writing again, there must be none.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson

from mxcensus.store.db import GEN_TABLES, Store

State = dict[str, list[tuple[Any, ...]]]

_VISIBLE = {
    "transcripts": "SELECT * EXCLUDE (data, steps_part, tls_part) FROM transcripts",
    "transcript_docs": "SELECT scan, ip, port, seq, data FROM transcript_docs",
    "progress": "SELECT scan, shard, position, pending FROM progress",
    # profile and location ids are numbered in an order SQL leaves open (GROUP BY): the
    # rows are compared without them, and the records join them all
    "services": "SELECT * EXCLUDE (pid, gid) FROM services",
    "findings": "SELECT * FROM findings",
    "profiles": "SELECT * EXCLUDE (pid) FROM profiles",
    "locations": "SELECT * EXCLUDE (gid) FROM locations",
    "verdicts": "SELECT * EXCLUDE (pid) FROM verdicts",
}


def state(path: Path) -> State:
    """What readers of the store at ``path`` see (opened read-only: changes nothing)."""
    with Store.open(path, read_only=True) as store:
        con = store.con
        scans = con.execute(
            "SELECT id, name, kind, source, status, params, targets_total FROM scans"
            " ORDER BY started_at, id"
        ).fetchall()
        alias = {row[0]: f"scan-{i}" for i, row in enumerate(scans)}
        out: State = {"scans": [(alias[r[0]], *r[1:]) for r in scans]}
        for name, sql in _VISIBLE.items():
            cur = con.execute(sql)
            cols = [d[0] for d in cur.description]
            rows = []
            for row in cur.fetchall():
                values = [
                    alias.get(v, "?") if c == "scan" else v for c, v in zip(cols, row, strict=True)
                ]
                if name == "transcript_docs":  # the whole JSON, canonical
                    values[-1] = orjson.dumps(orjson.loads(values[-1]), option=orjson.OPT_SORT_KEYS)
                rows.append(tuple(values))
            out[name] = sorted(rows, key=repr)
        out["records"] = sorted(
            orjson.dumps({**r, "scan": alias[sid]}, option=orjson.OPT_SORT_KEYS)
            for sid in alias
            for r in store.iter_records(sid)
        )
    return out


def leftovers(path: Path) -> dict[str, int]:
    """Rows the file holds that no reader sees; empty once the store was opened for writing."""
    with Store.open(path, read_only=True) as store:
        found = {}
        for table in GEN_TABLES:
            (n,) = store.con.execute(
                f"SELECT count(*) FROM {table} r ANTI JOIN scans s"
                " ON s.id = r.scan AND s.gen = r.gen"
            ).fetchone() or (0,)
            found[table] = n
        for table in ("transcripts", "transcript_parts", "progress"):
            (n,) = store.con.execute(
                f"SELECT count(*) FROM {table} r ANTI JOIN scans s ON s.id = r.scan"
            ).fetchone() or (0,)
            found[table] = n
        (found["stale"],) = store.con.execute("SELECT count(*) FROM stale").fetchone() or (0,)
    return {k: v for k, v in found.items() if v}


def differences(got: State, want: State) -> list[str]:
    return [
        f"{k}: {len(got.get(k, []))} rows against {len(want.get(k, []))}"
        + (" (same count, other values)" if len(got.get(k, [])) == len(want.get(k, [])) else "")
        for k in sorted(set(got) | set(want))
        if got.get(k) != want.get(k)
    ]


def assert_before_or_after(
    path: Path, before: State, after: State, what: str, *, marked: State | None = None
) -> str:
    """The store at ``path``, opened for writing once (what a dead run left is collected
    then), holds exactly ``before`` or ``after`` and nothing else; which one. ``marked``:
    "before" as a killed run leaves it, its entry marked (an import that failed)."""
    Store.open(path).close()
    got = state(path)
    assert not leftovers(path), f"{what}: rows left behind: {leftovers(path)}"
    if got == before or (marked is not None and got == marked):
        return "before"
    assert got == after, f"{what}: neither before nor after: " + "; ".join(differences(got, after))
    return "after"


def count_writes(change: Callable[[], object]) -> int:
    """How many write statements and commits ``change`` runs (in this process)."""
    calls = 0

    def count(_sql: str) -> None:
        nonlocal calls
        calls += 1

    with fault(count):
        change()
    return calls


@contextmanager
def fault(hook: Callable[[str], None]) -> Iterator[None]:
    Store.fault = hook
    try:
        yield
    finally:
        Store.fault = None


def killed_at(n: int, change: Callable[[], object]) -> int:
    """Run ``change`` in a forked child killed (SIGKILL) just before its ``n``-th write; the
    child's exit status (-9: killed; 0: it ended before write ``n``)."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 0
        try:
            calls = 0

            def kill(_sql: str) -> None:
                nonlocal calls
                calls += 1
                if calls == n:
                    os.kill(os.getpid(), signal.SIGKILL)

            Store.fault = kill
            change()
        except BaseException:  # noqa: BLE001 - the child reports by its exit status only
            code = 3
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


def schedule(total: int, seed: int, count: int, *, last: int = 6) -> list[int]:
    """Kill points among ``total`` writes: the first, the ``last`` few (a change's final
    switch or commit) and ``count`` more drawn with ``seed``."""
    rng = random.Random(seed)
    ends = {1, *range(max(1, total - last + 1), total + 1)}
    middle = sorted(set(range(2, total + 1)) - ends)
    return sorted(ends | set(rng.sample(middle, min(count, len(middle)))))


KILL_AT_WRITE = """
import atexit, os, signal, sys
from mxcensus.store.db import Store

n = int(os.environ["KILL_AT_WRITE"])
calls = 0
def kill(_sql):
    global calls
    calls += 1
    if calls == n:
        os.kill(os.getpid(), signal.SIGKILL)

Store.fault = kill
atexit.register(lambda: print(f"writes: {calls}", file=sys.stderr, flush=True))
from mxcensus.cli import main
main(sys.argv[1:])
"""
"""``python -c KILL_AT_WRITE ARGV...``: the CLI, killed just before its n-th store write
(env ``KILL_AT_WRITE``); when it ends first, it prints ``writes: N`` on stderr."""


def cli_killed_at(n: int, argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``mxcensus ARGV`` in a child killed before its ``n``-th write (0 or huge: never)."""
    return subprocess.run(
        [sys.executable, "-c", KILL_AT_WRITE, *argv],
        env={**env, "KILL_AT_WRITE": str(n)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


SLOW_WRITES = """
import os, sys, time
from mxcensus.store.db import Store

first = True
def slow(_sql):
    global first
    if first:
        first = False
        print("writing", flush=True)
    time.sleep(float(os.environ["SLOW_WRITE_SECONDS"]))

Store.fault = slow
from mxcensus.cli import main
main(sys.argv[1:])
"""
"""``python -c SLOW_WRITES ARGV...``: the CLI, every store write slowed down, "writing"
printed at the first: a signal sent a seeded delay after that line lands among the writes."""


def signalled(argv: list[str], sig: int, delay: float, *, per_write: float = 0.01) -> int:
    """Run ``mxcensus ARGV`` (writes slowed by ``per_write`` s), send ``sig`` ``delay``
    seconds after its first write; its exit code (negative: the signal killed it; 130:
    interrupted)."""
    env = {**os.environ, "SLOW_WRITE_SECONDS": str(per_write)}
    proc = subprocess.Popen(
        [sys.executable, "-c", SLOW_WRITES, *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if line.strip() == b"writing":
        time.sleep(delay)
        proc.send_signal(sig)
    proc.communicate(timeout=120)
    return proc.returncode
