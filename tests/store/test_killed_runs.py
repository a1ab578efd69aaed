"""Killed imports and deletions: the store is as before (the import marked failed, its rows
gone, its name free) or as after, at every write of a seeded schedule; ``scans list`` and
``scans delete`` manage what is left."""

from __future__ import annotations

import random
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from mxcensus.errors import UsageError
from mxcensus.importers import import_files, run
from mxcensus.store.db import Store
from tests.conftest import RunCli
from tests.importers.test_shodan_columnar import realistic, write_lines
from tests.store.kill import (
    State,
    assert_before_or_after,
    count_writes,
    killed_at,
    leftovers,
    schedule,
    signalled,
    state,
)


class Base:
    """A store holding the import "april"; "before" is that store, "after" the store with
    the import "may" too. A killed "may" must leave "before" plus its failed entry."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.path = tmp / "base.duckdb"
        self.april = write_lines(tmp / "april.json", realistic(random.Random(81), 40))
        self.may = write_lines(tmp / "may.json", realistic(random.Random(82), 60, first=30))
        with Store.open(self.path) as store:
            import_files(store, "shodan", [self.april], name="april", enricher=None)
        self.before = state(self.path)
        self.afters: dict[bool, State] = {}
        for columnar in (True, False):
            done = self.copy(f"after-{columnar}")
            self.import_may(done, columnar)
            self.afters[columnar] = state(done)
        self.after = self.afters[True]  # the two paths number profiles differently
        (may,) = [s for s in self.after["scans"] if s[1] == "may"]
        self.failed = {
            **self.before,
            "scans": [*self.before["scans"], (*may[:4], "failed", *may[5:])],
        }

    def copy(self, tag: str, source: Path | None = None) -> Path:
        path = self.tmp / f"{tag}.duckdb"
        shutil.copyfile(source or self.path, path)
        return path

    def import_may(self, path: Path, columnar: bool = True) -> None:
        with Store.open(path) as store:
            import_files(store, "shodan", [self.may], name="may", enricher=None, columnar=columnar)


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Base]:
    with pytest.MonkeyPatch.context() as mp:
        # many small transactions: batches of 20, a commit every 2; chunks of ~6 KB
        mp.setattr(run, "BATCH", 20)
        mp.setattr(run, "COMMIT_EVERY", 2)
        mp.setattr(run, "CHUNK_BYTES", 6_000)
        mp.setattr(run, "COMMIT_CHUNKS", 2)
        yield Base(tmp_path_factory.mktemp("killed"))


def _killed_store_is(path: Path, base: Base, columnar: bool, what: str) -> str:
    """After a kill: opened for writing, the store is "before" with the import failed, or
    "after"; nothing left behind either way."""
    return assert_before_or_after(
        path, base.before, base.afters[columnar], what, marked=base.failed
    )


@pytest.mark.parametrize("columnar", [True, False])
def test_import_killed_at_scheduled_writes(base: Base, columnar: bool) -> None:
    probe = base.copy(f"count-{columnar}")
    total = count_writes(lambda: base.import_may(probe, columnar))
    assert total > 15
    seen = set()
    # the last write is the import's final COMMIT: killed before it, nothing of "may" stays;
    # "after" is only seen when the kill comes too late (n = total + 1)
    for n in [*schedule(total, seed=1808 + columnar, count=8, last=3), total + 1]:
        path = base.copy(f"kill-{columnar}-{n}")
        code = killed_at(n, lambda p=path: base.import_may(p, columnar))
        assert code == (0 if n > total else -signal.SIGKILL)
        seen.add(_killed_store_is(path, base, columnar, f"killed at write {n} of {total}"))
        path.unlink()
    assert seen == {"before", "after"}


def test_a_killed_import_frees_its_name_and_can_be_deleted(base: Base, mx: RunCli) -> None:
    path = base.copy("rerun")
    probe = base.copy("count-rerun")
    total = count_writes(lambda: base.import_may(probe))
    assert killed_at(total // 2, lambda: base.import_may(path)) == -signal.SIGKILL
    listed = mx("scans", "list", "--format", "json", "--db", str(path))
    assert listed.returncode == 0, listed.stderr
    rows = [orjson.loads(line) for line in listed.stdout.splitlines()]
    assert [(r["name"], r["status"], r["services"]) for r in rows] == [
        ("april", "finished", len(base.before["services"])),
        ("may", "failed", 0),
    ]
    failed_id = rows[1]["id"]
    assert rows[1]["finished"]
    with Store.open(path) as store:  # the name is free again; the rerun is whole
        with pytest.raises(UsageError, match="did not finish"):
            store.resolve_scan(failed_id)
        assert store.resolve_scan(None) == rows[0]["id"]  # the report's default
    base.import_may(path)
    assert not leftovers(path)
    assert [s[4] for s in state(path)["scans"]] == ["finished", "failed", "finished"]
    table = mx("scans", "list", "--db", str(path))
    assert table.stdout.splitlines()[0].split() == [
        "ID", "NAME", "KIND", "SOURCE", "STATUS", "STARTED", "FINISHED", "SERVICES",
    ]  # fmt: skip
    gone = mx("scans", "delete", failed_id, "--db", str(path))
    assert gone.returncode == 0, gone.stderr
    assert gone.stdout.startswith(f"deleted import {failed_id} (may): 0 services, failed")
    assert state(path) == base.after


def test_delete_killed_at_every_write(base: Base) -> None:
    """Deleting "may" from the "after" store: killed at any write, "may" is whole or gone."""
    full = base.copy("full")
    base.import_may(full)

    def delete(path: Path) -> None:
        with Store.open(path) as store:
            store.delete_scan("may")

    total = count_writes(lambda: delete(base.copy("count-delete", full)))
    seen = set()
    for n in range(1, total + 1):
        path = base.copy(f"delete-{n}", full)
        assert killed_at(n, lambda p=path: delete(p)) == -signal.SIGKILL
        seen.add(assert_before_or_after(path, base.after, base.before, f"delete, write {n}"))
        path.unlink()
    assert seen == {"before", "after"}


def test_delete_reclaims_the_space(base: Base) -> None:
    """Deleting an import and importing it again: the file does not grow by a second copy."""
    path = base.copy("space")
    base.import_may(path)
    size = path.stat().st_size
    for _ in range(2):
        with Store.open(path) as store:
            store.delete_scan("may")
        base.import_may(path)
    assert path.stat().st_size < size * 1.3


def test_delete_refuses_what_this_process_runs(tmp_path: Path) -> None:
    with Store.open(tmp_path / "s.duckdb") as store:
        scan = store.create_scan(name="live", kind="scan", source="scan")
        with pytest.raises(UsageError, match="running in this process"):
            store.delete_scan("live")
        store.finish_scan(scan)
        assert store.delete_scan("live").id == scan
        with pytest.raises(UsageError, match="no scan"):
            store.delete_scan("live")


def test_a_scan_left_running_is_interrupted_and_resumable(tmp_path: Path) -> None:
    """A scan a dead process left running (its row written by another process) is marked
    interrupted at the next open for writing; claiming it runs it again."""
    path = tmp_path / "s.duckdb"
    Store.open(path).close()

    def start() -> None:
        with Store.open(path) as store:
            store.create_scan(name="walk", kind="scan", source="scan")
            store.con.execute("CHECKPOINT")

    assert killed_at(10**6, start) == 0  # another process, gone without finishing it
    with Store.open(path, read_only=True) as store:
        assert store.find_scan("walk")["status"] == "running"  # type: ignore[index]
    with Store.open(path) as store:
        found = store.find_scan("walk")
        assert found is not None and found["status"] == "interrupted"
        assert store.resolve_scan(None) == found["id"]  # a partial scan may be reported
        store.claim_scan(found["id"])
    with Store.open(path) as store:  # this process runs it: not marked again
        assert store.find_scan("walk")["status"] == "running"  # type: ignore[index]


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT])
def test_import_cli_under_real_signals(base: Base, sig: int) -> None:
    rng = random.Random(1811 + sig)
    path = base.copy(f"cli-{sig}")
    argv = ["import", "shodan", str(base.may), "--name", "may", "--db", str(path), "-q"]
    code = signalled(argv, sig, rng.uniform(0.0, 0.15), per_write=0.05)
    assert code == (130 if sig == signal.SIGINT else -sig), code
    # the CLI enriches (iptocc): "after" is not this test's; the import is gone or whole
    Store.open(path).close()
    assert not leftovers(path)
    got = state(path)
    # Ctrl-C is an exception: the import removes itself, entry and all; a kill leaves the
    # entry (if it was written yet) marked failed
    assert {**got, "scans": base.before["scans"]} == base.before
    entries = [(name, status) for _, name, _, _, status, *_ in got["scans"]]
    assert entries[0] == ("april", "finished")
    assert entries[1:] in ([], [("may", "failed")] if sig != signal.SIGINT else [])
