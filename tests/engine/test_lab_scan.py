"""The engine against the lab: 2,000 simulated hosts, hostile ones included, ground truth."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mxcensus.engine import ScanPlan, load_port_table, load_probes, port_plan, run_scan
from mxcensus.lab.api import Lab
from mxcensus.probes.interface import ProbeConfig
from mxcensus.store.db import Store
from mxcensus.targets import load_targets

PORTS = (25,)
CONFIG = ProbeConfig(connect_timeout=3, greeting_timeout=6, read_timeout=6, total_timeout=12)


@pytest.mark.slow
def test_lab_of_2000_hosts_matches_the_truth(tmp_path: Path) -> None:
    with Lab(size=2000, seed=3, hostile_fraction=0.05, ports=PORTS) as lab:
        addrs = lab.addresses
        hosts = lab.truth["hosts"]
        excluded = set(addrs[100:200])
        plan = ScanPlan(
            targets=load_targets(
                [f"{addrs[0]}-{addrs[-1]}"],
                exclude=[f"{addrs[100]}-{addrs[199]}"],
                allow_reserved=True,
            ),
            ports=port_plan(load_probes(), load_port_table(), PORTS, None),
            seed=5,
            workers=2,
            rate=1000,  # the lab shares the CPU with the scanner: do not drown it
            concurrency=500,
            per_net=256,
            probe_config=CONFIG,
        )
        with Store.open(tmp_path / "lab.duckdb") as store:
            scan = store.create_scan(name=None, kind="scan", source="scan")
            result = run_scan(store, scan, plan)
            rows = store.con.execute(
                "SELECT ip, port, outcome, data FROM transcripts WHERE scan = ?", [scan]
            ).fetchall()
        counters = lab.counters()

    assert result.done == result.total == plan.targets.addresses.size * len(PORTS)
    seen = [(ip, port) for ip, port, _, _ in rows]
    assert len(seen) == len(set(seen)) == result.total  # exactly one result per target

    outcome = {(ip, port): o for ip, port, o, _ in rows}
    wrong = []
    for addr, host in hosts.items():
        for port in PORTS:
            if addr in excluded:
                assert (addr, port) not in outcome
                continue
            truth = host["ports"].get(str(port))
            expected = truth["outcome"] if truth else "refused"
            if outcome[(addr, port)] != expected:
                wrong.append((addr, port, host["kind"], expected, outcome[(addr, port)]))
    assert not wrong, f"{len(wrong)} services off the truth, e.g. {wrong[:8]}"
    assert sum(1 for h in hosts.values() if h["hostile"]) >= 50

    # the total timeout holds; the slack is for an event loop starved by a loaded machine
    # (seen: > 1 s over at load 7 on 2 cores, with the lab in the same machine)
    bound_ms = (CONFIG.total_timeout + 3) * 1000
    assert all(json.loads(data)["duration_ms"] <= bound_ms for *_, data in rows)

    connections = counters["connections"]
    assert all(connections.get(a, 0) == 0 for a in excluded)
    assert sum(connections.get(a, 0) for a in addrs if a not in excluded) > 0
