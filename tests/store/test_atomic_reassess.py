"""``reassess`` is atomic: killed at any write (by a seeded schedule over every write the
change makes, and by real SIGKILL, SIGTERM and SIGINT at seeded delays), the store holds the
old services or the new ones, never a part of either, and nothing left behind."""

from __future__ import annotations

import random
import shutil
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from mxcensus import pipeline
from mxcensus.importers import import_files
from mxcensus.model import ScanId
from mxcensus.store.db import Store
from tests.importers.test_shodan_columnar import realistic, write_lines
from tests.store.kill import (
    assert_before_or_after,
    count_writes,
    fault,
    killed_at,
    leftovers,
    schedule,
    signalled,
    state,
)


class Base:
    """A store with one import analysed without enrichment ("before"); its reassessment
    with enrichment gives every service a location ("after"), so a mix shows."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.path = tmp / "base.duckdb"
        src = write_lines(tmp / "hosts.json", realistic(random.Random(18), 120))
        with Store.open(self.path) as store:
            self.scan = import_files(store, "shodan", [src], name="census", enricher=None).scan
        self.before = state(self.path)
        done = self.copy("after")
        self.reassess(done)
        self.after = state(done)
        assert self.before["services"] != self.after["services"]
        self.copies = 0

    def copy(self, tag: str) -> Path:
        path = self.tmp / f"{tag}.duckdb"
        shutil.copyfile(self.path, path)
        return path

    def reassess(self, path: Path) -> None:
        with Store.open(path) as store:
            pipeline.analyze_scan_with_geo(store, ScanId(self.scan))


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Base]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pipeline, "BATCH", 40)  # many batches: many points to kill it at
        yield Base(tmp_path_factory.mktemp("reassess"))


def test_killed_at_scheduled_writes(base: Base) -> None:
    probe = base.copy("count")
    total = count_writes(lambda: base.reassess(probe))
    assert total > 20
    seen = []
    for n in schedule(total, seed=1801, count=14):
        path = base.copy(f"kill-{n}")
        assert killed_at(n, lambda path=path: base.reassess(path)) == -signal.SIGKILL
        seen.append(assert_before_or_after(path, base.before, base.after, f"killed at {n}"))
        path.unlink()
    # the schedule covers the switch: killed before it the old rows, after it the new
    assert set(seen) == {"before", "after"}


def test_interrupted_in_process_leaves_the_old_rows(base: Base) -> None:
    """Ctrl-C (KeyboardInterrupt) between two writes: the old rows stay and the rows of the
    new generation are removed at once, before the store is opened again."""
    probe = base.copy("count-ki")
    total = count_writes(lambda: base.reassess(probe))
    rng = random.Random(1802)
    for n in sorted(rng.sample(range(1, total - 4), 6)):
        path = base.copy(f"ki-{n}")
        calls = 0

        def interrupt(_sql: str, n: int = n) -> None:
            nonlocal calls
            calls += 1
            if calls == n:
                raise KeyboardInterrupt

        calls = 0
        with fault(interrupt), pytest.raises(KeyboardInterrupt):
            base.reassess(path)
        assert not leftovers(path), n
        assert state(path) == base.before, n
        path.unlink()


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT])
def test_real_signals_at_seeded_delays(base: Base, sig: int) -> None:
    rng = random.Random(1803 + sig)
    for i in range(2):
        path = base.copy(f"sig-{sig}-{i}")
        code = signalled(
            ["reassess", base.scan, "--db", str(path)], sig, rng.uniform(0.0, 0.3), per_write=0.03
        )
        # the signal landed among the writes (~20 of them, 0.03 s each): killed, or Ctrl-C
        assert code == (130 if sig == signal.SIGINT else -sig), code
        assert_before_or_after(path, base.before, base.after, f"signal {sig} run {i}")
        path.unlink()


def test_before_and_after_states_differ_where_a_mix_would_show(base: Base) -> None:
    """The harness' own check: half the new services over the old ones is neither state."""
    path = base.copy("mixed")
    with Store.open(path) as store:
        rows = store.con.execute(
            "SELECT count(*) FROM services WHERE scan = ?", [base.scan]
        ).fetchone()
        assert rows is not None and rows[0] > 10
        store.con.execute("DELETE FROM service_rows WHERE scan = ? AND rowid % 2 = 0", [base.scan])
    with pytest.raises(AssertionError, match="neither before nor after"):
        assert_before_or_after(path, base.before, base.after, "mixed")


def test_another_connection_leaves_a_generation_being_written(base: Base) -> None:
    """The web service holds the store on several connections of one process (a request
    reading the watches' schedule opens it beside a watch's import): an open, which collects
    what is stale, must not take the rows of a generation still being written, and a
    checkpoint refused because of the other writer must not fail the write."""
    path = base.copy("beside")
    opened = 0
    inside = False

    def open_beside(sql: str) -> None:
        nonlocal opened, inside
        if inside or sql != "COMMIT":
            return
        inside = True
        try:
            with Store.open(path):
                opened += 1
        finally:
            inside = False

    with fault(open_beside):
        base.reassess(path)
    assert opened > 5
    assert not leftovers(path)
    assert state(path) == base.after


def test_a_list_read_before_the_switch_removes_nothing_live(
    base: Base, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another connection lists ``stale`` while a generation is still being written (its
    marker is there), then goes on after the generation won: it must not remove the rows
    that are now the live ones."""
    from mxcensus.store import db

    path = base.copy("listed")
    listed, switched = threading.Event(), threading.Event()
    real = db._CLAIMS

    class PauseBeside:  # the other connection stops between its list and its removals
        def __enter__(self) -> None:
            if threading.current_thread().name == "beside" and not listed.is_set():
                listed.set()
                switched.wait(60)
            real.acquire()

        def __exit__(self, *exc: object) -> None:
            real.release()

    monkeypatch.setattr(db, "_CLAIMS", PauseBeside())
    beside = threading.Thread(target=lambda: _collect(path), name="beside")
    step = 0  # 1: the new generation's marker inserted; 2: committed

    def hook(sql: str) -> None:
        nonlocal step
        if step == 0 and sql.startswith("INSERT INTO stale"):
            step = 1
        elif step == 1 and sql == "COMMIT":
            step = 2
        elif step == 2:  # the marker is committed: the other connection lists it now
            step = 3
            beside.start()
            assert listed.wait(60)
        elif step == 3 and sql.startswith("DELETE FROM service_rows"):
            switched.set()  # the switch committed: the old generation is being removed

    with fault(hook):
        base.reassess(path)
    switched.set()
    beside.join(60)
    assert not beside.is_alive()
    assert not leftovers(path)
    assert state(path) == base.after


def _collect(path: Path) -> None:
    """What another connection of this process does when it removes stale rows (a
    reassessment's or a deletion's end)."""
    with Store.open(path) as store:
        store.collect_stale()
