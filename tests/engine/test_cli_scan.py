from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from mxcensus.targets import load_targets
from tests.conftest import RunCli
from tests.engine import tinyprobe
from tests.engine.servers import counting_servers, free_port

TINY = {"MXCENSUS_PROBE_TABLE": tinyprobe.TABLE}


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (["127.0.0.1", "-p", "0", "--allow-reserved"], 2, "port 0 is outside 1-65535"),
        (["127.0.0.1", "-p", "70000", "--allow-reserved"], 2, "port 70000"),
        (["127.0.0.1", "-p", "abc", "--allow-reserved"], 2, "'abc' is not a port"),
        (["300.1.2.3", "-p", "25"], 2, "300.1.2.3: not a valid IP address"),
        (["10.0.0.0/33", "-p", "25"], 2, "10.0.0.0/33: not a valid CIDR"),
        (["10.0.0.1", "-p", "25"], 2, "add --allow-reserved"),
        (["-iL", "/nonexistent/list.txt", "-p", "25"], 2, "/nonexistent/list.txt: cannot read"),
        (
            ["127.0.0.0/30", "--exclude", "127.0.0.0/30", "--allow-reserved", "-p", "25"],
            2,
            "no targets left after exclusions",
        ),
        (["-p", "25"], 2, "no targets given"),
        (["127.0.0.1", "--probes", "gopher", "--allow-reserved"], 2, "--probes gopher"),
        (
            ["127.0.0.1", "--allow-reserved", "--shards", "2", "--shard", "2", "--seed", "1"],
            2,
            "--shard 2",
        ),
        (["127.0.0.1", "--allow-reserved", "--shards", "2", "--shard", "1"], 2, "give --seed"),
        (["127.0.0.1", "--resume", "x"], 2, "--resume SCAN takes no targets"),
        (["--resume", "x"], 2, "no such database"),  # and creates none
        # issue 18: every number in a stated range, refused with it, never clamped
        (["127.0.0.1", "--rate", "18446744073709551617"], 2, "(allowed: 1 to 10000000)"),
        (["127.0.0.1", "--seed", str(2**80)], 2, "--seed 1208925819614629174706176: must be"),
        (["127.0.0.1", "--shards", str(10**30), "--seed", "1"], 2, "(allowed: 1 to 100000)"),
        (["127.0.0.1", "--concurrency", "0"], 2, "--concurrency 0: must be at least 1"),
        (["127.0.0.1", "--concurrency", "1e9"], 2, "--concurrency 1e9: must be an integer"),
        (["127.0.0.1", "--concurrency", str(10**9)], 2, "(allowed: 1 to 1000000)"),
        (["127.0.0.1", "--shards", "0"], 2, "--shards 0: must be at least 1"),
        (["127.0.0.1", "--per-net", "0"], 2, "--per-net 0: must be at least 1"),
        (["127.0.0.1", "--workers", "100000"], 2, "--workers 100000: must be at most"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(
    mx: RunCli, db_path: Path, args: list[str], code: int, needle: str
) -> None:
    res = mx("scan", *args, "--db", str(db_path), env=TINY)
    assert res.returncode == code, res.stderr
    assert needle in res.stderr
    assert res.stderr.strip().count("\n") == 0
    assert "Traceback" not in res.stderr
    assert not db_path.exists()


def test_concurrency_beyond_the_open_file_limit(tmp_path: Path) -> None:
    """Asked for: refused with the limit; the default: lowered to what the limit allows."""
    import resource
    import subprocess
    import sys

    from tests.conftest import _env

    def low_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (512, 512))

    def run(*flags: str) -> subprocess.CompletedProcess[str]:
        args = ["127.0.22.0/30", "-p", str(free_port()), "--allow-reserved", "-q", *flags]
        return subprocess.run(
            [sys.executable, "-m", "mxcensus", "scan", *args], capture_output=True, text=True,
            env=_env(TINY), preexec_fn=low_limit, timeout=120,
        )  # fmt: skip

    res = run("--concurrency", "1000", "--db", str(tmp_path / "a.duckdb"))
    assert res.returncode == 2, res.stderr
    assert "--concurrency 1000: the open-file limit allows at most 384" in res.stderr
    assert not (tmp_path / "a.duckdb").exists()
    res = run("--db", str(tmp_path / "b.duckdb"))
    assert res.returncode == 0, res.stderr
    con = duckdb.connect(str(tmp_path / "b.duckdb"))
    (params,) = con.execute("SELECT params FROM scans").fetchone() or ("",)
    con.close()
    assert json.loads(params)["concurrency"] == 384


def test_unwritable_db_is_one_line(mx: RunCli, tmp_path: Path) -> None:
    ro = tmp_path / "a-file"
    ro.write_text("not a directory")  # root ignores permissions; a file as parent is enough
    target = ro / "x.duckdb"
    res = mx("scan", "127.0.0.1", "-p", "25", "--allow-reserved", "--db", str(target), env=TINY)
    assert res.returncode in (1, 2)
    assert str(ro) in res.stderr and res.stderr.strip().count("\n") == 0


def test_scan_summary_and_store(mx: RunCli, db_path: Path) -> None:
    port = free_port()
    with counting_servers([("127.0.8.1", port)]) as srv:
        res = mx(
            "scan", "127.0.8.0/30", "-p", str(port), "--allow-reserved", "--db", str(db_path),
            "--name", "tiny", "--seed", "5", env=TINY,
        )  # fmt: skip
        counts = srv.snapshot()
    assert res.returncode == 0, res.stderr
    assert "4 endpoints = 4 addresses × 1 port(s)" in res.stdout
    assert "refused 3" in res.stdout and "ok 1" in res.stdout
    assert "targets/s" in res.stdout
    assert counts == {("127.0.8.1", port): 1}
    con = duckdb.connect(str(db_path))
    scans = con.execute("SELECT name, status, targets_total FROM scans").fetchall()
    n = con.execute("SELECT count(*) FROM transcripts").fetchone()
    con.close()
    assert scans == [("tiny", "finished", 4)]
    assert n == (4,)
    res = mx("scan", "--resume", "tiny", "--db", str(db_path), env=TINY)
    assert res.returncode == 2 and "finished already" in res.stderr


def test_shards_split_the_scan_exactly(mx: RunCli, tmp_path: Path) -> None:
    port = free_port()
    seen: list[str] = []
    for shard in range(3):
        db = tmp_path / f"shard{shard}.duckdb"
        res = mx(
            "scan", "127.0.14.0/28", "-p", str(port), "--allow-reserved", "--db", str(db),
            "--shards", "3", "--shard", str(shard), "--seed", "9", "-q", env=TINY,
        )  # fmt: skip
        assert res.returncode == 0, res.stderr
        con = duckdb.connect(str(db))
        seen.extend(ip for (ip,) in con.execute("SELECT ip FROM transcripts").fetchall())
        con.close()
    assert sorted(seen) == sorted(f"127.0.14.{i}" for i in range(16))


def _interrupted_scan(db_path: Path, port: int) -> None:
    """A started scan of 127.0.15.0/29 that never ran (as after kill -9 before a result)."""
    from mxcensus import engine
    from mxcensus.store.db import Store

    plan = engine.ScanPlan(
        targets=load_targets(["127.0.15.0/29"], allow_reserved=True),
        ports=((port, "smtp"),),
        seed=4,
        workers=2,
        rate=10,
        concurrency=5,
        probe_table=tinyprobe.TABLE,
    )
    with Store.open(db_path) as store:
        engine.start(store, plan, "half")


@pytest.mark.parametrize(
    ("flags", "needle"),
    [
        (["--seed", "5"], "--seed cannot change"),
        (["--shards", "2", "--shard", "1"], "--shards, --shard cannot change"),
        (["-p", "25"], "-p/--ports cannot change"),
        (["--probes", "smtp"], "--probes cannot change"),
        (["--workers", "3"], "--workers cannot change"),
        (["--exclude", "127.0.15.3"], "--exclude cannot change"),
        (["--rate", "0"], "--rate 0: must be at least 1"),
    ],
)
def test_resume_refuses_flags_that_change_the_walk(
    mx: RunCli, db_path: Path, flags: list[str], needle: str
) -> None:
    _interrupted_scan(db_path, free_port())
    res = mx("scan", "--resume", "half", "--db", str(db_path), "-q", *flags, env=TINY)
    assert res.returncode == 2, res.stderr
    assert needle in res.stderr and res.stderr.strip().count("\n") == 0
    con = duckdb.connect(str(db_path))
    (params,) = con.execute("SELECT params FROM scans").fetchone() or ("",)
    n = con.execute("SELECT count(*) FROM transcripts").fetchone()
    con.close()
    assert n == (0,)  # nothing was probed
    assert json.loads(params)["rate"] == 10 and json.loads(params)["seed"] == 4


def test_resume_honours_new_rate_and_concurrency(mx: RunCli, db_path: Path) -> None:
    port = free_port()
    _interrupted_scan(db_path, port)
    res = mx(
        "scan", "--resume", "half", "--db", str(db_path), "-q",
        "--rate", "500", "--concurrency", "7", "--per-net", "3", env=TINY,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    con = duckdb.connect(str(db_path))
    (params,) = con.execute("SELECT params FROM scans").fetchone() or ("",)
    rows = con.execute("SELECT ip, outcome FROM transcripts").fetchall()
    status = con.execute("SELECT status FROM scans").fetchall()
    con.close()
    stored = json.loads(params)
    assert (stored["rate"], stored["concurrency"], stored["per_net"]) == (500, 7, 3)
    assert (stored["seed"], stored["workers"]) == (4, 2)  # the walk itself is unchanged
    assert sorted(ip for ip, _ in rows) == sorted(f"127.0.15.{i}" for i in range(8))
    assert {o for _, o in rows} == {"refused"} and status == [("finished",)]
