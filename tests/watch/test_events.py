"""The events between two runs, from hand-written records: one rule per case."""

from __future__ import annotations

from typing import Any

from mxcensus.watch.events import diff, exposed


def rec(
    ip: str,
    port: int = 25,
    *,
    version: str | None = "4.92",
    product: str = "exim",
    cves: dict[str, str] | None = None,
    kev: set[str] | None = None,
    eol: bool | None = False,
    outcome: str = "ok",
    hostname: str | None = None,
    source: str | None = None,
) -> dict[str, Any]:
    r: dict[str, Any] = {
        "ip": ip, "port": port, "protocol": "smtp", "outcome": outcome, "product": product,
        "product_line": "Exim 4.92", "version": version, "asn": 64500, "country": "DE",
        "eol": {"eol": eol, "line": "Exim 4.92", "date": "2020-01-01"},
        "cves": [{"id": c, "status": s, "reason": f"because {c}", "kev": c in (kev or set()),
                  "fixed_in": "4.99"} for c, s in (cves or {}).items()],
        "remediation": ["Upgrade Exim."],
    }  # fmt: skip
    if hostname:
        r["hostname"], r["hostname_source"] = hostname, source
    return r


def events(before: list[dict[str, Any]], now: list[dict[str, Any]]) -> set[tuple[Any, ...]]:
    out = set()
    for e in diff(exposed(before), exposed(now)):
        assert e.endpoint is not None  # every change is about a service
        out.add((e.kind, e.endpoint.ip, e.endpoint.port, e.cve))
    return out


def test_unchanged_services_say_nothing() -> None:
    a = [rec("192.0.2.1", cves={"CVE-1": "vulnerable"}, eol=True)]
    assert events(a, a) == set()


def test_new_and_gone() -> None:
    before = [rec("192.0.2.1"), rec("192.0.2.2")]
    now = [rec("192.0.2.2"), rec("192.0.2.3")]
    assert events(before, now) == {("gone", "192.0.2.1", 25, None),
                                   ("new", "192.0.2.3", 25, None)}  # fmt: skip


def test_a_port_that_stopped_accepting_is_gone_and_never_new() -> None:
    before = [rec("192.0.2.1")]
    now = [rec("192.0.2.1", outcome="refused"), rec("192.0.2.2", outcome="connect-timeout")]
    assert events(before, now) == {("gone", "192.0.2.1", 25, None)}


def test_first_run_announces_every_risk_of_a_new_service() -> None:
    now = [
        rec(
            "192.0.2.1",
            cves={
                "CVE-1": "vulnerable",
                "CVE-2": "potentially-vulnerable",
                "CVE-3": "not-vulnerable",
                "CVE-4": "unknown",
            },
            eol=True,
        )
    ]
    assert events([], now) == {
        ("new", "192.0.2.1", 25, None), ("vulnerable", "192.0.2.1", 25, "CVE-1"),
        ("potentially-vulnerable", "192.0.2.1", 25, "CVE-2"), ("eol", "192.0.2.1", 25, None),
    }  # fmt: skip


def test_verdict_transitions() -> None:
    before = [
        rec(
            "192.0.2.1",
            cves={
                "A": "potentially-vulnerable",
                "B": "vulnerable",
                "C": "vulnerable",
                "D": "potentially-vulnerable",
                "E": "not-vulnerable",
                "F": "vulnerable",
            },
        )
    ]
    now = [
        rec(
            "192.0.2.1",
            cves={
                "A": "vulnerable",
                "B": "potentially-vulnerable",
                "C": "not-vulnerable",
                "D": "unknown",
                "E": "potentially-vulnerable",
                "F": "vulnerable",
            },
        )
    ]
    assert events(before, now) == {
        ("vulnerable", "192.0.2.1", 25, "A"),  # worse
        ("fixed", "192.0.2.1", 25, "B"),  # vulnerable -> potentially: improved
        ("fixed", "192.0.2.1", 25, "C"),
        ("potentially-vulnerable", "192.0.2.1", 25, "E"),
        # D: at risk -> unknown is no fix; F unchanged
    }


def test_kev_entry_of_a_cve_already_at_risk() -> None:
    before = [rec("192.0.2.1", cves={"A": "potentially-vulnerable", "B": "vulnerable"})]
    now = [
        rec("192.0.2.1", cves={"A": "potentially-vulnerable", "B": "vulnerable"}, kev={"A", "B"})
    ]
    assert events(before, now) == {("kev", "192.0.2.1", 25, "A"), ("kev", "192.0.2.1", 25, "B")}


def test_a_newly_vulnerable_kev_cve_is_one_event_carrying_the_flag() -> None:
    found = list(
        diff(
            exposed([rec("192.0.2.1")]),
            exposed([rec("192.0.2.1", cves={"A": "vulnerable"}, kev={"A"})]),
        )
    )
    assert [(e.kind, e.cve) for e in found] == [("vulnerable", "A")]
    assert "CISA KEV" in found[0].summary and found[0].evidence["now"]["kev"] is True
    assert found[0].evidence["now"]["reason"] == "because A"


def test_version_change_and_the_cves_it_fixed() -> None:
    before = [rec("192.0.2.1", cves={"A": "potentially-vulnerable"}, eol=True)]
    now = [rec("192.0.2.1", version="4.99.4", cves={}, eol=False)]
    assert events(before, now) == {
        ("version-changed", "192.0.2.1", 25, None),
        ("fixed", "192.0.2.1", 25, "A"),  # no longer among a known product's findings
        ("fixed", "192.0.2.1", 25, None),  # supported again
    }


def test_a_product_no_longer_identified_fixes_nothing() -> None:
    before = [rec("192.0.2.1", cves={"A": "vulnerable"})]
    now = [rec("192.0.2.1", product="unknown", version=None, cves={})]
    assert events(before, now) == {("version-changed", "192.0.2.1", 25, None)}


def test_newly_end_of_support() -> None:
    assert events([rec("192.0.2.1", eol=False)], [rec("192.0.2.1", eol=True)]) == {
        ("eol", "192.0.2.1", 25, None)
    }


def test_merge_order_and_the_later_of_two_records_of_one_endpoint() -> None:
    before = [rec("192.0.2.1", 25), rec("192.0.2.1", 587), rec("192.0.2.10", 25)]
    now = [
        rec("192.0.2.1", 587),
        rec("192.0.2.1", 587, version="4.99.4"),
        rec("192.0.2.10", 25),
        rec("192.0.2.2", 25),
    ]  # fmt: skip (the store's order: addresses as text)
    assert events(before, now) == {
        ("gone", "192.0.2.1", 25, None), ("version-changed", "192.0.2.1", 587, None),
        ("new", "192.0.2.2", 25, None),
    }  # fmt: skip


def test_records_out_of_order_are_refused_not_misread() -> None:
    import pytest

    with pytest.raises(ValueError, match="out of order"):
        events([], [rec("192.0.2.2"), rec("192.0.2.10")])


def test_events_keep_the_domain_their_name_came_from() -> None:
    now = [rec("192.0.2.1", hostname="mx1.example.org", source="mx:example.org")]
    (e,) = [e for e in diff(iter(()), exposed(now)) if e.kind == "new"]
    assert e.endpoint is not None
    assert (e.endpoint.hostname, e.domain, e.endpoint.asn) == (
        "mx1.example.org", "example.org", 64500,
    )  # fmt: skip
