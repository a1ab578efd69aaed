"""Domains through a real authoritative server (Debian's NSD on loopback), ASNs through an
MMDB and a prefix list."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mxcensus.errors import UsageError
from mxcensus.watch.resolve import Name, Resolver, asn_prefixes, resolve_domains
from tests.enrich.conftest import write_mmdb
from tests.watch.dns import nsd_server

RECORDS = [
    "alpha MX 20 mx2.alpha", "alpha MX 10 mx1.alpha", "mx1.alpha A 127.0.0.5",
    "mx1.alpha AAAA ::1", "mx2.alpha A 127.0.0.6", "autodiscover.alpha A 127.0.0.7",
    "owa.alpha CNAME mx1.alpha", "beta A 127.0.0.8", "gamma MX 0 .",
    "delta MX 10 nowhere.delta", "shared MX 10 mx1.alpha",
]  # fmt: skip


@pytest.fixture(scope="module")
def nsd() -> Iterator[str]:
    with nsd_server(RECORDS) as where:
        yield where


def test_mx_hosts_by_preference_with_their_names(nsd: str) -> None:
    names, problems = resolve_domains(["alpha.test", "shared.test"], Resolver(nsd, 2))
    assert problems == []
    assert names == sorted([
        Name("127.0.0.5", "mx1.alpha.test", "mx:alpha.test", "alpha.test"),
        Name("::1", "mx1.alpha.test", "mx:alpha.test", "alpha.test"),
        Name("127.0.0.6", "mx2.alpha.test", "mx:alpha.test", "alpha.test"),
        Name("127.0.0.5", "mx1.alpha.test", "mx:shared.test", "shared.test"),
        Name("::1", "mx1.alpha.test", "mx:shared.test", "shared.test"),
    ])  # fmt: skip


def test_web_names_follow_cnames(nsd: str) -> None:
    names, _ = resolve_domains(["alpha.test"], Resolver(nsd, 2), web_names=True)
    found = {(n.ip, n.source) for n in names}
    assert ("127.0.0.7", "autodiscover:alpha.test") in found
    assert ("127.0.0.5", "owa:alpha.test") in found  # owa.alpha is a CNAME of mx1
    assert not any(n.source.startswith(("mail:", "webmail:")) for n in names)  # no such names


def test_implicit_null_missing_and_dangling(nsd: str) -> None:
    names, problems = resolve_domains(
        ["beta.test", "gamma.test", "nx.test", "delta.test"], Resolver(nsd, 2)
    )
    assert names == [Name("127.0.0.8", "beta.test", "mx:beta.test", "beta.test")]  # implicit MX
    assert [p.message for p in problems] == [
        "domain gamma.test: no MX host (null MX)",
        f"domain nx.test: no such domain (NXDOMAIN at {nsd})",
        "domain delta.test: its MX host nowhere.delta.test resolve to no address",
    ]


def test_prefix_list_and_mmdb(tmp_path: Path) -> None:
    plist = tmp_path / "prefixes.txt"
    plist.write_text("# bgp table\n192.0.2.0/25 64500\nAS64500, 2001:db8::/32\n"
                     "198.51.100.0/24 AS64501\n")  # fmt: skip
    mmdb = write_mmdb(tmp_path / "asn.mmdb", "GeoLite2-ASN", {
        "203.0.113.0/24": {"autonomous_system_number": 64500,
                           "autonomous_system_organization": "Doc"},
        "192.0.2.128/25": {"autonomous_system_number": 64502,
                           "autonomous_system_organization": "Other"},
    })  # fmt: skip
    nets, problems = asn_prefixes([64500, 64999], mmdbs=[mmdb], prefix_file=plist)
    assert nets == ["192.0.2.0/25", "2001:db8::/32", "203.0.113.0/24"]
    assert [p.message for p in problems] == [
        "AS64999: no prefix in the ASN database or prefix list"
    ]
    plist.write_text("192.0.2.0/25 198.51.100.0/24\n")
    with pytest.raises(UsageError, match=r"prefixes\.txt:1: expected one prefix and one ASN"):
        asn_prefixes([64500], prefix_file=plist)


def test_a_watch_reads_its_asn_database_once_for_all_its_asns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The targets and the prefix → ASN map of a watch come from one read of each
    database, however many ASNs the watch names."""
    from mxcensus.watch import resolve
    from mxcensus.watch.run import resolve_targets
    from mxcensus.watch.spec import Lookup, Watch, Watched

    mmdb = write_mmdb(tmp_path / "asn.mmdb", "GeoLite2-ASN", {
        "203.0.113.0/25": {"autonomous_system_number": 64500},
        "203.0.113.128/25": {"autonomous_system_number": 64501},
        "198.51.100.0/24": {"autonomous_system_number": 64500},
    })  # fmt: skip
    reads: list[Path] = []
    walk = resolve._mmdb_networks

    def counted(path: Path) -> Iterator[tuple[int, str]]:
        reads.append(path)
        return walk(path)

    monkeypatch.setattr(resolve, "_mmdb_networks", counted)
    spec = Watch("asns", Watched(asns=(64501, 64500, 64999)), Lookup(asn_db=(str(mmdb),)))
    found = resolve_targets(spec)
    assert reads == [mmdb]
    assert found.targets == ["198.51.100.0/24", "203.0.113.0/25", "203.0.113.128/25"]
    assert [(str(net), asn) for net, asn in found.asn_nets] == [
        ("203.0.113.128/25", 64501), ("198.51.100.0/24", 64500), ("203.0.113.0/25", 64500),
    ]  # fmt: skip
    assert [p.message for p in found.problems] == [
        "AS64999: no prefix in the ASN database or prefix list"
    ]
