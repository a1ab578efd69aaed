"""The lab's simulated geography: the MMDB it writes, read by maxminddb and the enrichment."""

from __future__ import annotations

import ipaddress
from collections import Counter
from pathlib import Path

import maxminddb
import pytest

from mxcensus.enrich import GeoEnricher
from mxcensus.lab.geography import NETWORKS, network_of, write_geo_db
from mxcensus.lab.mmdb import write_mmdb
from mxcensus.lab.population import LabConfig, addresses, span


def test_every_address_of_every_epoch_reads_back_as_its_network(tmp_path: Path) -> None:
    config = LabConfig(size=700, seed=3, base="127.70.0.0", epoch=2)
    path = tmp_path / "geo.mmdb"
    write_geo_db(config, path)
    where = addresses(config.base, span(config))
    with maxminddb.open_database(str(path)) as reader:
        for index, address in enumerate(where):
            rec = reader.get(address)
            net = network_of(config.seed, index)
            assert isinstance(rec, dict), address
            assert rec["country"] == {"iso_code": net.country}
            assert rec["continent"] == {"code": net.continent}
            assert rec["autonomous_system_number"] == net.asn
            assert rec["autonomous_system_organization"] == net.org
        # nothing outside the population: the address before the first, after the last
        assert reader.get(str(ipaddress.IPv4Address(where[0]) - 1)) is None
        assert reader.get(str(ipaddress.IPv4Address(where[-1]) + 1)) is None
        assert reader.metadata().ip_version == 4
    # the enrichment reads it as any --geo-db file
    enricher = GeoEnricher([path])
    try:
        geo = enricher.lookup(where[10])
    finally:
        enricher.close()
    net = network_of(config.seed, 10)
    assert (geo.country, geo.asn, geo.org, geo.source) == (net.country, net.asn, net.org, "mmdb")


def test_placement_spreads_over_continents_and_is_stable() -> None:
    continents = Counter(network_of(1, i).continent for i in range(300))
    assert set(continents) == {"EU", "NA", "SA", "AS", "AF", "OC"}
    assert max(continents.values()) < 150  # no continent holds half the lab
    # a host keeps its network at every epoch and base (the index decides)
    assert [network_of(1, i) for i in range(50)] == [network_of(1, i) for i in range(50)]
    assert len({n.asn for n in NETWORKS}) == len(NETWORKS)
    assert all(64496 <= n.asn <= 64511 for n in NETWORKS)  # RFC 5398 documentation ASNs


def test_identical_configs_write_identical_files(tmp_path: Path) -> None:
    config = LabConfig(size=100, seed=9, base="127.71.0.0")
    write_geo_db(config, tmp_path / "a.mmdb")
    write_geo_db(config, tmp_path / "b.mmdb")
    assert (tmp_path / "a.mmdb").read_bytes() == (tmp_path / "b.mmdb").read_bytes()


def test_writer_sizes_and_types_read_back(tmp_path: Path) -> None:
    long = "x" * 70_000  # the 3-byte size form
    mid = "é" * 200  # the 2-byte size form (400 bytes)
    records = {
        "10.0.0.0/8": {"s": "a", "n": 0, "big": 4_000_000_000, "list": ["p", "q"]},
        "192.168.1.0/24": {"s": mid, "nested": {"k": {"deeper": 7}}},
        "192.168.2.7/32": {"s": long},
    }
    path = tmp_path / "t.mmdb"
    write_mmdb(path, records.items(), database_type="t", description="d", build_epoch=5)
    with maxminddb.open_database(str(path)) as reader:
        assert reader.get("10.200.3.4") == records["10.0.0.0/8"]
        assert reader.get("192.168.1.255") == records["192.168.1.0/24"]
        assert reader.get("192.168.2.7") == records["192.168.2.7/32"]
        assert reader.get("192.168.2.8") is None
        assert reader.metadata().build_epoch == 5


@pytest.mark.parametrize("second", ["10.1.0.0/16", "0.0.0.0/1", "10.0.0.0/8"])
def test_overlapping_networks_are_refused_and_nothing_is_written(
    tmp_path: Path, second: str
) -> None:
    path = tmp_path / "t.mmdb"
    with pytest.raises(ValueError, match="mmdb: "):
        write_mmdb(path, [("10.0.0.0/8", {"a": "b"}), (second, {"a": "c"})],
                   database_type="t", description="d")  # fmt: skip
    assert list(tmp_path.iterdir()) == []
