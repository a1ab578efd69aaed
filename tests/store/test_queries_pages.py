"""The reader's methods the web service's pages need (host, CVE, diff and scans pages):
each agrees with the reader's other queries over the same services, and a scope holds in
each. The store is tests/report/fixture_store.py's (two scans, hosts in five countries)."""

from __future__ import annotations

from itertools import chain

import pytest

from mxcensus.store.db import Store
from mxcensus.store.filters import Filter, Scope
from mxcensus.store.queries import Reader
from mxcensus.store.results import CHURN
from tests.report import fixture_store
from tests.store.test_queries import APRIL, NOVEMBER


@pytest.fixture(scope="module")
def reader(tmp_path_factory: pytest.TempPathFactory) -> Reader:
    path = fixture_store.build(tmp_path_factory.mktemp("p") / "census.duckdb")
    return Store.open(path, read_only=True).reader()


def _every(reader: Reader, f: Filter) -> list[object]:
    return list(chain.from_iterable(reader.flat_rows(f)))


def test_churn_hosts_are_the_hosts_churn_counts(reader: Reader) -> None:
    counts = {c.category: c.hosts for c in reader.churn(APRIL, NOVEMBER, Filter())}
    assert sum(counts.values()) > 0
    for category in CHURN:
        hosts = reader.churn_hosts(APRIL, NOVEMBER, Filter(), category, limit=1000)
        assert len(hosts) == counts.get(category, 0), category
        assert all(h.category == category for h in hosts)
        assert all(h.first is None for h in hosts if category == "newly seen")
        assert all(h.last is None for h in hosts if category == "gone")


def test_a_host_is_every_service_of_its_address(reader: Reader) -> None:
    every = _every(reader, Filter(exposed=False))
    for ip in {r.ip for r in every}:  # type: ignore[attr-defined]
        mine = [r for r in every if r.ip == ip]  # type: ignore[attr-defined]
        assert sorted(reader.host_services(ip)) == sorted(mine)
        found = reader.host_findings(ip)
        assert {(f.scan, f.port) for f in found} <= {(r.scan, r.port) for r in mine}  # type: ignore[attr-defined]
    assert reader.host_services("192.0.2.250") == []


def test_at_risk_by_a_cve_is_within_the_services_judged_on_it(reader: Reader) -> None:
    f = Filter(scans=(APRIL,))
    for c in reader.cve_counts(f):
        risky = reader.at_risk_by(c.cve, f, limit=1000)
        judged = {(r.ip, r.port) for r in _every(reader, Filter(scans=(APRIL,), cves=(c.cve,)))}  # type: ignore[attr-defined]
        assert len(risky) == c.vulnerable + c.potentially
        assert {(r.ip, r.port) for r in risky} <= judged


def test_outcomes_count_every_probed_port(reader: Reader) -> None:
    f = Filter(scans=(APRIL, NOVEMBER))
    per_scan: dict[str, int] = {}
    for o in reader.outcomes(f):
        per_scan[o.scan] = per_scan.get(o.scan, 0) + o.services
    for scan in (APRIL, NOVEMBER):
        assert per_scan[scan] == reader.totals(Filter(scans=(scan,))).rows


def test_totals_count_kev_and_end_of_support(reader: Reader) -> None:
    f = Filter(scans=(APRIL,))
    t = reader.totals(f)
    rows = _every(reader, f)
    assert t.kev_services == sum(1 for r in rows if r.kev)  # type: ignore[attr-defined]
    assert t.eol_services == sum(1 for r in rows if r.eol)  # type: ignore[attr-defined]
    assert t.eol_hosts == len({r.ip for r in rows if r.eol})  # type: ignore[attr-defined]
    assert t.at_risk_hosts == reader.totals(Filter(scans=(APRIL,), at_risk=True)).hosts


def test_a_scope_holds_in_the_page_queries(reader: Reader) -> None:
    de = reader.scoped(Scope(countries=("DE",)))
    inside = {r.ip for r in _every(de, Filter(exposed=False))}  # type: ignore[attr-defined]
    outside = {r.ip for r in _every(reader, Filter(exposed=False))} - inside  # type: ignore[attr-defined]
    assert inside and outside
    for ip in outside:
        assert de.host_services(ip) == [] and de.host_findings(ip) == []
    hosts = chain.from_iterable(
        de.churn_hosts(APRIL, NOVEMBER, Filter(), c, limit=1000) for c in CHURN
    )
    assert {h.ip for h in hosts} <= inside
    for c in reader.cve_counts(Filter(scans=(APRIL,))):
        assert {r.ip for r in de.at_risk_by(c.cve, Filter(scans=(APRIL,)))} <= inside
    assert sum(o.services for o in de.outcomes(Filter(scans=(APRIL,)))) == (
        de.totals(Filter(scans=(APRIL,))).rows
    )
