"""kill -9 a running scan, resume it: one result per target, finished targets not probed again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb

from tests.conftest import RunCli, _env
from tests.engine import tinyprobe
from tests.engine.servers import counting_servers, free_port


def test_sigkill_then_resume(tmp_path: Path, mx: RunCli) -> None:
    port = free_port()
    listening = [(f"127.0.7.{i}", port) for i in range(1, 61)]  # .0 and .61-.63 refuse
    db = tmp_path / "scan.duckdb"
    env = _env({"MXCENSUS_PROBE_TABLE": tinyprobe.TABLE})
    args = ["127.0.7.0/26", "-p", str(port), "--allow-reserved", "--db", str(db), "-q"]
    slow = ["--name", "k", "--rate", "25", "--workers", "2", "--concurrency", "8"]
    with counting_servers(listening, delay=0.3) as srv:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mxcensus", "scan", *args, *slow],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(300):  # bounded: at most 30 s
            if sum(srv.snapshot().values()) >= 20 or proc.poll() is not None:
                break
            time.sleep(0.1)
        assert proc.poll() is None, "the scan ended before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)
        time.sleep(1.0)  # let in-flight connections of the dead workers settle
        before = srv.snapshot()

        con = duckdb.connect(str(db))
        done_before = {
            (ip, p) for ip, p in con.execute("SELECT ip, port FROM transcripts").fetchall()
        }
        status = con.execute("SELECT status FROM scans").fetchall()
        con.close()
        assert status == [("running",)]
        assert 0 < len(done_before) < 64

        res = mx(
            "scan",
            "--resume",
            "k",
            "--db",
            str(db),
            "-q",
            env={"MXCENSUS_PROBE_TABLE": tinyprobe.TABLE},
        )
        assert res.returncode == 0, res.stderr
        after = srv.snapshot()

    con = duckdb.connect(str(db))
    rows = con.execute("SELECT ip, port, outcome FROM transcripts").fetchall()
    status = con.execute("SELECT status FROM scans").fetchall()
    con.close()
    targets = {(f"127.0.7.{i}", port) for i in range(64)}
    assert sorted((ip, p) for ip, p, _ in rows) == sorted(targets)  # exactly one each
    assert status == [("finished",)]
    outcome = {(ip, p): o for ip, p, o in rows}
    assert all(outcome[t] == "ok" for t in listening)
    for t in done_before & set(listening):
        assert after[t] == before[t], f"{t} was probed again after it had its result"
    assert all(after.get(t, 0) >= 1 for t in listening)


def test_sigterm_leaves_a_resumable_scan_and_says_how(tmp_path: Path, mx: RunCli) -> None:
    """SIGTERM ends a scan as Ctrl-C does: exit 130, one line naming the resume command,
    the scan kept unfinished; the resume then completes it."""
    port = free_port()
    listening = [(f"127.0.23.{i}", port) for i in range(1, 33)]
    db = tmp_path / "scan.duckdb"
    env = _env({"MXCENSUS_PROBE_TABLE": tinyprobe.TABLE})
    args = ["127.0.23.0/27", "-p", str(port), "--allow-reserved", "--db", str(db), "-q"]
    slow = ["--name", "t", "--rate", "20", "--workers", "2", "--concurrency", "4"]
    with counting_servers(listening, delay=0.3) as srv:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mxcensus", "scan", *args, *slow],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        for _ in range(300):  # bounded: at most 30 s
            if sum(srv.snapshot().values()) >= 8 or proc.poll() is not None:
                break
            time.sleep(0.1)
        assert proc.poll() is None, "the scan ended before it could be stopped"
        os.kill(proc.pid, signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 130, err
        assert err.startswith("mxcensus: interrupted; resume with: mxcensus scan --resume ")
        assert err.rstrip().endswith(f"--db {db}") and err.count("\n") == 1
        con = duckdb.connect(str(db))
        assert con.execute("SELECT status FROM scans").fetchall() == [("running",)]
        con.close()
        res = mx(
            "scan",
            "--resume",
            "t",
            "--db",
            str(db),
            "-q",
            env={"MXCENSUS_PROBE_TABLE": tinyprobe.TABLE},
        )
        assert res.returncode == 0, res.stderr
    con = duckdb.connect(str(db))
    ips = sorted(ip for (ip,) in con.execute("SELECT ip FROM transcripts").fetchall())
    status = con.execute("SELECT status FROM scans").fetchall()
    con.close()
    assert ips == sorted(f"127.0.23.{i}" for i in range(32)) and status == [("finished",)]
