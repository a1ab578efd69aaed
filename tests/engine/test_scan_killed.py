"""A scan killed at any write (a seeded schedule over its writes: batches with their
checkpoints, the analysis, the finish): the next open marks it interrupted, ``scan
--resume`` completes it, and the result is the uninterrupted scan's, one row per target."""

from __future__ import annotations

from pathlib import Path

from mxcensus.store.db import Store
from tests.conftest import RunCli, _env
from tests.engine import tinyprobe
from tests.engine.servers import counting_servers, free_port
from tests.store.kill import cli_killed_at, schedule


def _result(db: Path) -> tuple[str, list[tuple[object, ...]], list[tuple[object, ...]]]:
    with Store.open(db, read_only=True) as store:
        (status,) = store.con.execute("SELECT status FROM scans").fetchone() or ("",)
        rows = store.con.execute(
            "SELECT ip, port, outcome FROM transcripts ORDER BY ALL"
        ).fetchall()
        services = store.con.execute(
            "SELECT ip, port, outcome, product, worst_status FROM services ORDER BY ALL"
        ).fetchall()
    return status, rows, services


def test_scan_killed_at_scheduled_writes_then_resumed(tmp_path: Path, mx: RunCli) -> None:
    port = free_port()
    listening = [(f"127.0.9.{i}", port) for i in range(1, 25)]
    env = _env({"MXCENSUS_PROBE_TABLE": tinyprobe.TABLE})
    args = ["127.0.9.0/27", "-p", str(port), "--allow-reserved", "-q", "--name", "k"]
    pace = ["--rate", "200", "--workers", "2", "--concurrency", "4"]
    with counting_servers(listening, delay=0.05):
        ref_db = tmp_path / "ref.duckdb"
        ref = cli_killed_at(0, ["scan", *args, *pace, "--db", str(ref_db)], env)
        assert ref.returncode == 0, ref.stderr
        total = int(ref.stderr.rsplit("writes: ", 1)[1])
        want = _result(ref_db)
        assert want[0] == "finished" and len(want[1]) == 32 and len(want[2]) == 32
        for n in schedule(total, seed=1812, count=3, last=1):
            db = tmp_path / f"k{n}.duckdb"
            run = cli_killed_at(n, ["scan", *args, *pace, "--db", str(db)], env)
            if run.returncode == 0:  # this run wrote fewer times: it finished
                assert _result(db) == want
                continue
            assert run.returncode == -9, run.stderr
            with Store.open(db) as store:  # a dead process's scan: interrupted
                found = store.find_scan("k")
                if found is None:  # killed before its row was committed: nothing at all
                    assert store.list_scans() == [] and store.count("transcripts", "k") == 0
                    continue
                assert found["status"] == "interrupted", n
            resumed = mx("scan", "--resume", "k", "--db", str(db), "-q",
                         env={"MXCENSUS_PROBE_TABLE": tinyprobe.TABLE})  # fmt: skip
            assert resumed.returncode == 0, resumed.stderr
            assert _result(db) == want, f"killed at write {n} of {total}"
