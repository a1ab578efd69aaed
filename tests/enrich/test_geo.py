"""Enrichment: iptocc offline, MMDB files of the common layouts, and which source won."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mxcensus.enrich import EnrichError, Geo, GeoEnricher, countries, hint_of
from mxcensus.errors import UsageError
from mxcensus.importers import import_files
from mxcensus.store.db import Store
from tests.enrich.conftest import write_mmdb

ISO_3166 = Path("/usr/share/iso-codes/json/iso_3166-1.json")  # Debian iso-codes


def test_country_offline_from_iptocc() -> None:
    geo = GeoEnricher().lookup("193.0.6.139")  # RIPE NCC, Amsterdam
    assert geo == Geo(country="NL", continent="EU", region="Western Europe", source="iptocc")
    us = GeoEnricher().lookup("8.8.8.8")
    assert (us.country, us.continent, us.region) == ("US", "NA", "Northern America")


def test_unknown_and_invalid_addresses_give_an_empty_geo() -> None:
    e = GeoEnricher()
    for ip in ("192.0.2.1", "127.0.0.1", "not-an-ip", "", "2001:db8::1"):
        geo = e.lookup(ip)
        assert geo.is_empty and geo.source == ""


def test_mmdb_city_and_asn_layouts(city_db: Path, asn_db: Path) -> None:
    e = GeoEnricher([city_db, asn_db])
    geo = e.lookup("192.0.2.7")
    assert geo == Geo(
        country="JP", continent="AS", region="Eastern Asia", asn=64496, org="Doc Net One",
        city="Tokyo", source="mmdb",
    )  # fmt: skip
    # an ASN-only file for a public address: the country still comes from iptocc
    ripe = e.lookup("193.0.6.139")
    assert (ripe.country, ripe.asn, ripe.org) == ("NL", 3333, "RIPE NCC")
    assert ripe.source == "mmdb+iptocc"
    # outside every network, and IPv6 in an IPv4-only file: no crash, nothing found
    assert e.lookup("203.0.113.5").is_empty
    assert e.lookup("2001:db8::5").source == ""
    e.close()


def test_dbip_and_ipinfo_layouts(tmp_path: Path) -> None:
    dbip = write_mmdb(
        tmp_path / "dbip-country-lite.mmdb",
        "DBIP-Country-Lite",
        {"203.0.113.0/24": {"continent": {"code": "EU"}, "country": {"iso_code": "FR"}}},
    )
    ipinfo = write_mmdb(
        tmp_path / "ipinfo.mmdb",
        "ipinfo standard_location",
        {"198.51.100.0/24": {"country": "BR", "asn": "AS64499", "as_name": "Example BR",
                             "city": "Sao Paulo"}},
    )  # fmt: skip
    e = GeoEnricher([dbip, ipinfo])
    fr = e.lookup("203.0.113.9")
    assert (fr.country, fr.continent, fr.region, fr.source) == (
        "FR", "EU", "Western Europe", "mmdb",
    )  # fmt: skip
    br = e.lookup("198.51.100.9")
    assert (br.country, br.continent, br.asn, br.org, br.city) == (
        "BR", "SA", 64499, "Example BR", "Sao Paulo",
    )  # fmt: skip


def test_the_sources_own_location_wins_and_is_named(city_db: Path, asn_db: Path) -> None:
    e = GeoEnricher([city_db, asn_db])
    hint = Geo(country="DE", asn=64500, org="Example Hosting GmbH", source="shodan")
    geo = e.lookup("192.0.2.7", hint)
    assert (geo.country, geo.continent, geo.region) == ("DE", "EU", "Western Europe")
    assert (geo.asn, geo.org) == (64500, "Example Hosting GmbH")
    assert geo.city == "Tokyo"  # what the hint lacked came from the MMDB
    assert geo.source == "shodan+mmdb"
    full = Geo(country="DE", asn=64500, org="X", city="Berlin", source="censys")
    assert e.lookup("192.0.2.7", full).source == "censys"
    assert GeoEnricher().lookup("8.8.8.8", full).country == "DE"  # over iptocc too


def test_hint_from_an_imported_transcript(tmp_path: Path, city_db: Path) -> None:
    fixtures = Path(__file__).parent.parent / "importers" / "fixtures"
    with Store.open(tmp_path / "s.duckdb") as store:
        r = import_files(store, "shodan", [fixtures / "shodan-mail.json"], analyze=False)
        t = next(t for t in store.iter_transcripts(r.scan) if t.ip == "192.0.2.25")
    assert hint_of(t) == Geo(
        country="DE", asn=64500, org="Example Hosting GmbH", city="Frankfurt am Main",
        source="shodan",
    )  # fmt: skip
    geo = GeoEnricher([city_db]).lookup(t.ip, t)  # the pipeline passes the transcript
    assert (geo.country, geo.city, geo.source) == ("DE", "Frankfurt am Main", "shodan")


def test_lookups_are_cached() -> None:
    e = GeoEnricher()
    assert e.lookup("193.0.6.139") is e.lookup("193.0.6.139")


def test_bad_geo_db_is_a_usage_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mmdb"
    junk.write_bytes(b"this is not a MaxMind DB" * 100)
    with pytest.raises(EnrichError, match=f"--geo-db {junk}: not a readable MMDB") as info:
        GeoEnricher([junk])
    assert isinstance(info.value, UsageError)
    with pytest.raises(EnrichError, match="no such file"):
        GeoEnricher([tmp_path / "missing.mmdb"])


def test_country_table_is_complete_and_well_formed() -> None:
    table = countries()
    iso = {c["alpha_2"] for c in json.loads(ISO_3166.read_text())["3166-1"]}
    assert iso <= set(table), sorted(iso - set(table))
    assert {c.continent for c in table.values()} == {"AF", "AN", "AS", "EU", "NA", "OC", "SA"}
    assert all(c.region and len(c.m49) == 3 for k, c in table.items() if k != "AQ")
    assert table["DE"].region == "Western Europe" and table["MX"].continent == "NA"
    assert table["TR"].continent == "AS" and table["EG"].region == "Northern Africa"


def test_provenance_names_sources_and_dates(tmp_path: Path, city_db: Path) -> None:
    fixtures = Path(__file__).parent.parent / "importers" / "fixtures"
    e = GeoEnricher([city_db])
    with Store.open(tmp_path / "s.duckdb") as store:
        r = import_files(store, "shodan", [fixtures / "shodan-mail.json"], enricher=e)
        params = store.find_scan(r.scan)["params"]  # type: ignore[index]
    (db,) = params["enrichment"]["mmdb"]
    assert db["type"] == "GeoLite2-City" and db["path"] == str(city_db.resolve())
    assert len(db["built"]) == 10  # YYYY-MM-DD from the file's build_epoch
    assert params["enrichment"]["iptocc"].count(".") >= 1
