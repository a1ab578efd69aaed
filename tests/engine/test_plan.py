from __future__ import annotations

from typing import Any

import pytest

from mxcensus.engine import ScanPlan, load_port_table, load_probes, port_plan
from mxcensus.errors import UsageError
from mxcensus.probes.interface import ProbeConfig
from mxcensus.targets import load_targets
from tests.engine import tinyprobe


class _P:
    def __init__(self, name: str, ports: tuple[int, ...]) -> None:
        self.name, self.ports = name, ports

    async def run(self, endpoint: object, config: object) -> object:
        raise NotImplementedError


PROBES = {
    p.name: p for p in (_P("smtp", (25, 465, 587)), _P("imap", (143, 993)), _P("owa", (443,)))
}
WELL_KNOWN = {25: "smtp", 465: "smtp", 587: "smtp", 143: "imap", 993: "imap", 80: "owa", 443: "owa"}


def test_port_plan() -> None:
    plan = port_plan(PROBES, WELL_KNOWN, None, None)  # type: ignore[arg-type]
    assert plan == (
        (25, "smtp"),
        (143, "imap"),
        (443, "owa"),
        (465, "smtp"),
        (587, "smtp"),
        (993, "imap"),
    )
    assert port_plan(PROBES, WELL_KNOWN, None, ["imap"]) == ((143, "imap"), (993, "imap"))  # type: ignore[arg-type]
    assert port_plan(PROBES, WELL_KNOWN, (2525, 80, 993), None) == (  # type: ignore[arg-type]
        (2525, "smtp"),
        (80, "owa"),
        (993, "imap"),
    )
    assert port_plan(PROBES, WELL_KNOWN, (25, 2525, 143), ["imap"]) == (  # type: ignore[arg-type]
        (2525, "imap"),
        (143, "imap"),
    )
    with pytest.raises(UsageError, match="--probes gopher"):
        port_plan(PROBES, WELL_KNOWN, None, ["gopher"])  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="none of these ports"):
        port_plan(PROBES, WELL_KNOWN, (25,), ["imap", "owa"][1:])  # type: ignore[arg-type]


def test_registry_without_port_table_uses_probe_ports() -> None:
    assert load_port_table(tinyprobe.TABLE) == {25: "smtp", 2525: "smtp"}
    assert set(load_probes(tinyprobe.TABLE)) == {"smtp"}
    with pytest.raises(UsageError, match="cannot be loaded"):
        load_probes("no.such.module:PROBES")


def test_plan_params_roundtrip_and_checks() -> None:
    plan = ScanPlan(
        targets=load_targets(["127.0.0.0/30", "localhost"], allow_reserved=True),
        ports=((25, "smtp"),),
        seed=99,
        shards=3,
        shard=2,
        workers=2,
    )
    assert ScanPlan.from_params(plan.to_params()) == plan
    with pytest.raises(UsageError, match="--shard 3"):
        ScanPlan(targets=plan.targets, ports=plan.ports, seed=1, shards=3, shard=3)
    with pytest.raises(UsageError, match="--rate 0"):
        ScanPlan(targets=plan.targets, ports=plan.ports, seed=1, rate=0)


def test_default_plan_uses_the_probes_default_ports() -> None:
    """No -p: the ports are what ``mxcensus.probes.default_ports`` declares, so owa plans
    HTTPS 443 and, with ``http``, plain HTTP 80 as well."""
    from mxcensus.probes import default_ports

    probes, well_known = load_probes(), load_port_table()
    http = ProbeConfig(http=True)
    assert port_plan(probes, well_known, None, ["owa"]) == ((443, "owa"),)
    assert port_plan(probes, well_known, None, ["owa"], http) == ((80, "owa"), (443, "owa"))
    assert port_plan(probes, well_known, None, ["smtp"], http) == (
        (25, "smtp"),
        (465, "smtp"),
        (587, "smtp"),
    )
    for names in (None, ["owa"], ["smtp", "imap"], ["pop3", "owa"]):
        for config in (ProbeConfig(), http):
            plan = port_plan(probes, well_known, None, names, config)
            assert sorted({p for p, _ in plan}) == sorted(default_ports(names, config))
            assert all(well_known[p] == n for p, n in plan)


def test_new_plan_http_flag() -> None:
    from mxcensus.engine import ScanRequest, new_plan

    def plan(**kw: Any) -> ScanPlan:
        return new_plan(ScanRequest(targets=("127.0.0.1",), allow_reserved=True, **kw))

    owa = plan(probes="owa", http=True, seed=1)
    assert owa.ports == ((80, "owa"), (443, "owa")) and owa.probe_config.http
    assert ScanPlan.from_params(owa.to_params()) == owa  # a resume replays port 80 too
    assert plan(probes="owa").ports == ((443, "owa"),)
    with pytest.raises(UsageError, match="--http: only the owa probe"):
        plan(probes="smtp", http=True)
