"""The population: deterministic by seed, consistent truth, valid vocabulary."""

from __future__ import annotations

import json

import pytest

from mxcensus.errors import UsageError
from mxcensus.lab import exchange
from mxcensus.lab.model import HOSTILE_KINDS, Handler
from mxcensus.lab.population import ALL_PORTS, LabConfig, addresses, generate, parse_ports
from mxcensus.lab.runner import truth_document
from mxcensus.model import Outcome, Precision
from mxcensus.vocabulary import PRODUCTS


def _truth(config: LabConfig) -> str:
    return json.dumps(truth_document(config, generate(config), None), sort_keys=True)


def test_same_seed_same_population() -> None:
    config = LabConfig(size=300, seed=42, hostile_fraction=0.1)
    assert _truth(config) == _truth(config)


def test_other_seed_other_population() -> None:
    assert _truth(LabConfig(size=100, seed=1)) != _truth(LabConfig(size=100, seed=2))


def test_population_is_prefix_stable() -> None:
    small = generate(LabConfig(size=50, seed=9))
    large = generate(LabConfig(size=500, seed=9))
    assert [h.truth() for h in small] == [h.truth() for h in large[:50]]


def test_addresses_skip_network_and_broadcast_octets() -> None:
    addrs = addresses("127.64.0.250", 10)
    assert addrs[:4] == ["127.64.0.251", "127.64.0.252", "127.64.0.253", "127.64.0.254"]
    assert addrs[4] == "127.64.1.1"
    assert all(not a.endswith((".0", ".255")) for a in addresses("127.64.0.0", 2000))


@pytest.mark.parametrize("base", ["10.0.0.1", "192.168.1.1", "not-an-ip", "::1"])
def test_base_outside_loopback_is_refused(base: str) -> None:
    with pytest.raises(UsageError, match="--base"):
        LabConfig(base=base).check()


def test_range_past_loopback_is_refused() -> None:
    with pytest.raises(UsageError, match="do not fit"):
        addresses("127.255.255.200", 100)


def test_parse_ports() -> None:
    assert parse_ports("25, 587,25") == (25, 587)
    with pytest.raises(UsageError, match="2525"):
        parse_ports("25,2525")


def test_truth_is_consistent() -> None:
    config = LabConfig(size=2000, seed=5, hostile_fraction=0.1)
    hosts = generate(config)
    doc = truth_document(config, hosts, None)
    assert list(doc["hosts"]) == addresses(config.base, config.size)
    outcomes = {o.value for o in Outcome}
    precisions = {p.label for p in Precision}
    seen_hostile = set()
    for host in hosts:
        t = doc["hosts"][host.address]
        assert t["product"] in PRODUCTS
        assert t["precision"] in precisions
        assert t["ports"], host.address
        if host.hostile:
            seen_hostile.add(host.hostile)
        best = max(
            (Precision.from_label(p["precision"]) for p in t["ports"].values()),
            default=Precision.NONE,
        )
        if not host.hostile and host.product != "hmailserver":
            # the host's precision is what its best port shows
            assert Precision.from_label(t["precision"]) == best, host.address
        for port, p in t["ports"].items():
            assert int(port) in ALL_PORTS
            assert p["product"] in PRODUCTS, (host.address, port)
            assert p["outcome"] in outcomes, (host.address, port)
            assert p["precision"] in precisions
            if p["precision"] in ("version", "build3", "build4"):
                assert p["version"], (host.address, port)
                if p["handler"] != "http":
                    assert p["version"] in p["banner"], (host.address, port)
            if p["handler"] in ("smtp", "imap", "pop3"):
                assert p["banner"].endswith("\r\n")
    assert seen_hostile == set(HOSTILE_KINDS)


def test_exchange_precision_follows_exposure() -> None:
    hosts = [h for h in generate(LabConfig(size=2000, seed=3)) if h.kind == "exchange"]
    by_exposure = {h.exposure for h in hosts}
    assert by_exposure == {"smtp-only", "owa-path", "x-owa-version", "ecp-manifest"}
    for h in hosts:
        https = next((s for s in h.services if s.port == 443), None)
        if h.exposure == "smtp-only":
            assert https is None and h.precision == "product" and h.visible_version == ""
            continue
        assert https is not None and https.http is not None
        routes = dict(https.http.routes)
        logon = routes["/owa/auth/logon.aspx"]
        headers = dict(logon.headers)
        if h.exposure == "x-owa-version":
            assert headers["X-OWA-Version"] == h.version and h.precision == "build4"
        else:
            assert "X-OWA-Version" not in headers
        if h.exposure == "ecp-manifest":
            manifest = routes[exchange.ECP_MANIFEST_PATH].body.decode()
            assert f'version="{h.version}"' in manifest and h.precision == "build4"
        else:
            assert exchange.ECP_MANIFEST_PATH not in routes
        if h.exposure == "owa-path" and not h.version.startswith("15."):
            # Exchange 2007/2010 put the full build in the OWA path
            assert f"/owa/{h.version}/themes/" in logon.body.decode()
            assert h.precision == "build4" and h.visible_version == h.version
        if h.exposure == "owa-path" and h.version.startswith("15."):
            build3 = ".".join(h.version.split(".")[:3])
            assert f"/owa/auth/{build3}/themes/" in logon.body.decode()
            assert h.precision == "build3" and h.visible_version == build3


def test_exchange_builds_cover_the_fixes() -> None:
    builds = {r["build_short"] for r in exchange.builds()}
    # below and at ProxyLogon (Mar21SU), ProxyShell (Apr21SU) and ProxyNotShell (Nov22SU)
    for b in ("15.1.2176.2", "15.1.2176.9", "15.1.2176.12", "15.1.2375.32", "15.1.2375.37",
              "15.2.1118.15", "15.2.1118.20", "15.0.1497.42", "15.0.1497.44"):  # fmt: skip
        assert b in builds
    lines = {r["product"] for r in exchange.builds()}
    assert lines == {f"Exchange Server {v}" for v in ("2007", "2010", "2013", "2016", "2019", "SE")}


def test_exim_banners_have_the_real_variants() -> None:
    banners = [
        s.greeting.decode()
        for h in generate(LabConfig(size=2000, seed=11, hostile_fraction=0))
        for s in h.services
        if h.kind == "exim" and s.port == 25
    ]
    text = "\n".join(banners)
    for needle in (" Ubuntu ", "220-", " #", "Exim 4.89_1", "Exim 4.92.3", "(Exim "):
        assert needle in text, needle


def test_hostile_ports_expect_their_outcome() -> None:
    hosts = generate(LabConfig(size=600, seed=2, hostile_fraction=1.0))
    expected = {
        Handler.TARPIT: "timeout",
        Handler.SILENT: "timeout",
        Handler.RESET: "reset",
        Handler.DROP: "closed",
        Handler.GARBAGE: "protocol-error",
        Handler.GIANT: "too-large",
        Handler.BROKEN_TLS: "tls-error",
    }
    for h in hosts:
        for s in h.services:
            if s.handler in expected:
                assert s.outcome == expected[s.handler]
            if s.broken_starttls:
                assert s.outcome == "tls-error"
