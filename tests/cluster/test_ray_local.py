"""A real local Ray (2 CPUs, a bounded object store), started once for this module by the
Ray executor itself, scanning a lab population: one result per target, the same records as
the local executor walking the same plan, zero connections to excluded addresses, the rate
held cluster-wide, and a driver killed with SIGKILL then resumed."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from mxcensus.engine.executor import LocalExecutor
from mxcensus.engine.plan import ScanPlan
from mxcensus.engine.request import ScanRequest
from mxcensus.engine.run import Progress
from mxcensus.engine.session import Started, analyze, scan, start
from mxcensus.lab.api import Lab
from mxcensus.store.db import Store
from tests.cluster.conftest import OBJECT_STORE, RateProbe, assert_gone, descendants, loopback_only
from tests.conftest import _env
from tests.engine import tinyprobe
from tests.engine.servers import counting_servers, free_port

pytestmark = pytest.mark.slow

RATE = 120  # the cluster's, well below what the lab answers on two shared cores


@pytest.fixture(scope="module")
def ray_executor() -> Iterator[Any]:
    from mxcensus.engine.ray_executor import RayExecutor

    before = descendants()
    executor = RayExecutor(num_cpus=2, object_store_memory=OBJECT_STORE)
    ours = descendants() - before
    try:
        assert executor.address.startswith("127.0.0.1:")
        assert loopback_only(ours | {os.getpid()}) == []
        yield executor
    finally:
        ours |= descendants() - before
        executor.close()
        assert_gone(ours)


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    with Lab(size=300, seed=5, hostile_fraction=0.0, ports=(25,)) as running:
        yield running


def _request(lab: Lab, **over: Any) -> ScanRequest:
    a = lab.addresses
    args: dict[str, Any] = {
        "targets": (f"{a[0]}-{a[-1]}",),
        "ports": "25",
        "allow_reserved": True,
        "exclude": (f"{a[40]}-{a[59]}",),
        "seed": 11,
        "rate": RATE,
    }
    args.update(over)
    return ScanRequest(**args)


def _transcripts(db: Path) -> list[tuple[str, int, str, str]]:
    with Store.open(db, read_only=True) as store:
        return [
            tuple(r)
            for r in store.con.execute(
                "SELECT ip, port, protocol, outcome FROM transcripts ORDER BY ip, port"
            ).fetchall()
        ]


def _records(db: Path) -> list[dict[str, Any]]:
    with Store.open(db, read_only=True) as store:
        scan_id = store.resolve_scan(None)
        out = []
        for rec in store.iter_records(scan_id):
            out.append({k: v for k, v in rec.items() if k not in ("scan", "observed_at")})
        return out


def test_ray_scan_one_result_each_same_as_local_none_excluded_rate_held(
    ray_executor: Any, lab: Lab, tmp_path: Path
) -> None:
    excluded = lab.addresses[40:60]
    before = lab.counters()["connections"]
    rate = RateProbe(lab)
    events: list[Any] = []

    def observe(event: Any) -> None:
        events.append(event)
        rate(event)

    done = scan(_request(lab, shards=2), db=tmp_path / "ray.duckdb", executor=ray_executor,
                on_event=observe)  # fmt: skip
    after = lab.counters()["connections"]
    rows = _transcripts(tmp_path / "ray.duckdb")

    # one result per (address, port, probe), every target but the excluded ones
    size = done.plan.targets.addresses.size  # the range's addresses less the excluded
    assert len(rows) == len({r[:3] for r in rows}) == size == done.result.done
    assert {a for a in lab.addresses if a not in excluded} <= {r[0] for r in rows}
    assert not {r[0] for r in rows} & set(excluded) and done.plan.targets.excluded == 20
    assert all(after.get(a, 0) == before.get(a, 0) for a in excluded)  # zero connections
    # the shards' targets add up to the scan's, stated per shard
    shards = done.result.shards
    assert [s.status for s in shards] == ["done", "done"] and len({s.node for s in shards}) == 1
    assert sum(s.total for s in shards) == done.result.total == size
    started = [e for e in events if isinstance(e, Started)]
    assert started[0].total == size
    progress = [e for e in events if isinstance(e, Progress)]
    assert progress[-1].finished and len(progress[-1].shards) == 2
    # the rate is the cluster's total, not each shard's
    assert len(rate.samples) >= 4, rate.samples
    assert rate.worst() <= RATE * 1.15 + 3, rate.samples

    # the same plan through this machine's worker processes: the same records
    plan = ScanPlan.from_params(done.plan.to_params())
    assert plan.shard is None and plan.shards == 2
    fast = dataclasses.replace(plan, rate=1000)  # the pace is not part of what is found
    with Store.open(tmp_path / "local.duckdb") as store, LocalExecutor() as local:
        sid = start(store, fast, None)
        local.run(store, sid, fast, None)
        analyze(store, sid)
        store.finish_scan(sid)
    assert _transcripts(tmp_path / "local.duckdb") == rows
    assert _records(tmp_path / "local.duckdb") == _records(tmp_path / "ray.duckdb")


def test_driver_killed_then_resumed_finishes_only_what_is_missing(
    ray_executor: Any, lab: Lab, tmp_path: Path
) -> None:
    """kill -9 of the driver (attached to the cluster), then scan --resume --executor ray."""
    db = tmp_path / "k.duckdb"
    a = lab.addresses
    args = [
        sys.executable, "-m", "mxcensus", "scan", f"{a[0]}-{a[-1]}", "-p", "25",
        "--allow-reserved", "--db", str(db), "-q", "--name", "k", "--rate", "40",
        "--executor", "ray", "--ray-address", ray_executor.address, "--shards", "2",
    ]  # fmt: skip
    start_total = lab.counters()["total"]
    proc = subprocess.Popen(args, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        for _ in range(600):  # bounded: 60 s
            if lab.counters()["total"] - start_total >= 60 or proc.poll() is not None:
                break
            time.sleep(0.1)
        assert proc.poll() is None, proc.communicate()
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.communicate(timeout=60)
    time.sleep(2.0)  # the dead driver's tasks end with its job
    con = duckdb.connect(str(db))
    kept = {r[0] for r in con.execute("SELECT ip FROM transcripts").fetchall()}
    status = con.execute("SELECT status FROM scans").fetchall()
    con.close()
    assert status[0][0] != "finished" and 0 < len(kept) < len(a)
    before = lab.counters()["connections"]

    resumed = subprocess.run(
        [sys.executable, "-m", "mxcensus", "scan", "--resume", "k", "--db", str(db),
         "--executor", "ray", "--ray-address", ray_executor.address],
        env=_env(), capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    assert "shards     2:" in resumed.stdout and "every target in one shard" in resumed.stdout
    after = lab.counters()["connections"]
    rows = _transcripts(db)
    size = int(resumed.stdout.split("targets    ")[1].split()[0])
    assert len(rows) == len({r[:3] for r in rows}) == size >= len(a)  # exactly once, all
    # a target whose result was kept before the kill was not probed again
    assert all(after.get(ip, 0) == before.get(ip, 0) for ip in kept)
    con = duckdb.connect(str(db), read_only=True)
    attempts = con.execute("SELECT status, count(*) FROM shard_attempts GROUP BY 1").fetchall()
    con.close()
    assert dict(attempts).get("done") == 2  # the resumed run's attempts; the killed ones stopped


def test_the_per_net_cap_is_the_clusters(
    ray_executor: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every /24 is walked by every shard: without leases two shards would hold 2 × 4."""
    monkeypatch.setenv("MXCENSUS_PROBE_TABLE", tinyprobe.TABLE)
    port = free_port()
    listening = [(f"127.0.52.{i}", port) for i in range(1, 41)]
    with counting_servers(listening, delay=0.3) as srv:
        request = ScanRequest(
            targets=("127.0.52.1-40",), ports=str(port), allow_reserved=True, shards=2,
            per_net=4, rate=10_000, seed=1,
        )  # fmt: skip
        done = scan(request, db=tmp_path / "net.duckdb", executor=ray_executor)
        peak = dict(srv.peak)
        counts = srv.snapshot()
    assert done.result.outcomes == {"ok": 40} and counts == dict.fromkeys(listening, 1)
    assert 3 <= peak["127.0.52"] <= 4, peak
