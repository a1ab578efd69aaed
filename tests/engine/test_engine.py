from __future__ import annotations

from pathlib import Path

from mxcensus.engine import Progress, ScanPlan, run_scan
from mxcensus.probes.interface import ProbeConfig
from mxcensus.store.db import Store
from mxcensus.targets import load_targets
from tests.engine import tinyprobe
from tests.engine.servers import counting_servers, free_port


def plan_for(targets: list[str], port: int, **kw: object) -> ScanPlan:
    return ScanPlan(
        targets=load_targets(targets, allow_reserved=True),
        ports=((port, "smtp"),),
        seed=7,
        probe_table=tinyprobe.TABLE,
        probe_config=ProbeConfig(connect_timeout=2, greeting_timeout=3, read_timeout=3),
        **kw,  # type: ignore[arg-type]
    )


def test_every_target_gets_exactly_one_result(tmp_path: Path) -> None:
    port = free_port()
    listening = [(f"127.0.5.{i}", port) for i in range(1, 21)]
    events: list[Progress] = []
    with counting_servers(listening) as srv, Store.open(tmp_path / "s.duckdb") as store:
        plan = plan_for(["127.0.5.0/27"], port, workers=2, per_net=4, concurrency=16)
        scan = store.create_scan(name=None, kind="scan", source="scan", params=plan.to_params())
        result = run_scan(store, scan, plan, progress=events.append)
        counts = srv.snapshot()
        rows = store.con.execute(
            "SELECT ip, port, outcome, count(*) FROM transcripts WHERE scan = ? "
            "GROUP BY ip, port, outcome",
            [scan],
        ).fetchall()
    assert result.total == 32 and result.done == 32 and result.probed == 32
    assert {(ip, p) for ip, p, _, _ in rows} == {(f"127.0.5.{i}", port) for i in range(32)}
    assert all(n == 1 for *_, n in rows)
    outcome = {ip: o for ip, _, o, _ in rows}
    assert {ip for ip, o in outcome.items() if o == "ok"} == {ip for ip, _ in listening}
    assert {o for ip, o in outcome.items() if (ip, port) not in listening} == {"refused"}
    assert counts == dict.fromkeys(listening, 1)
    assert events[-1].finished and events[-1].done == 32
    assert events[-1].outcomes == {"ok": 20, "refused": 12}


def test_excluded_addresses_receive_nothing(tmp_path: Path) -> None:
    port = free_port()
    listening = [(f"127.0.6.{i}", port) for i in range(1, 9)]
    with counting_servers(listening) as srv, Store.open(tmp_path / "s.duckdb") as store:
        plan = ScanPlan(
            targets=load_targets(
                ["127.0.6.0/28"], exclude=["127.0.6.4-127.0.6.7"], allow_reserved=True
            ),
            ports=((port, "smtp"),),
            seed=1,
            probe_table=tinyprobe.TABLE,
        )
        scan = store.create_scan(name=None, kind="scan", source="scan")
        result = run_scan(store, scan, plan)
        counts = srv.snapshot()
        ips = {r[0] for r in store.con.execute("SELECT ip FROM transcripts").fetchall()}
    assert result.done == 12
    assert not ips & {f"127.0.6.{i}" for i in range(4, 8)}
    assert counts == {(f"127.0.6.{i}", port): 1 for i in (1, 2, 3, 8)}


def test_per_net_and_concurrency_caps_hold(tmp_path: Path) -> None:
    port = free_port()
    listening = [(f"127.0.{n}.{i}", port) for n in (11, 12) for i in range(1, 21)]
    with counting_servers(listening, delay=0.2) as srv, Store.open(tmp_path / "s.duckdb") as st:
        plan = plan_for(["127.0.11.1-20", "127.0.12.1-20"], port, per_net=3, concurrency=5)
        scan = st.create_scan(name=None, kind="scan", source="scan")
        result = run_scan(st, scan, plan)
        peak = dict(srv.peak)
        counts = srv.snapshot()
    assert result.outcomes == {"ok": 40}
    assert counts == dict.fromkeys(listening, 1)
    assert peak["127.0.11"] <= 3 and peak["127.0.12"] <= 3
    assert max(peak.values()) == 3  # the cap is reached, not just respected by slowness


def test_a_crashing_probe_becomes_an_error_outcome(tmp_path: Path) -> None:
    with Store.open(tmp_path / "s.duckdb") as store:
        plan = ScanPlan(
            targets=load_targets(["127.0.13.0/30"], allow_reserved=True),
            ports=((25, "boom"),),
            seed=3,
            probe_table="tests.engine.tinyprobe:BROKEN",
        )
        scan = store.create_scan(name=None, kind="scan", source="scan")
        result = run_scan(store, scan, plan)
        errors = store.con.execute("SELECT DISTINCT outcome FROM transcripts").fetchall()
    assert result.done == 4 and errors == [("error",)]
