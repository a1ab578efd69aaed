"""Imported records go through the same identify, assess and enrich as a live scan."""

from __future__ import annotations

from pathlib import Path

from mxcensus.enrich import GeoEnricher
from mxcensus.importers import import_files
from mxcensus.store.db import Store
from tests.conftest import RunCli
from tests.enrich.conftest import city, write_mmdb
from tests.importers.conftest import FIXTURES, fixture


def _services(store: Store, scan: str) -> dict[tuple[str, int], dict]:
    cols = ("ip", "port", "product", "version", "precision", "country", "continent", "region",
            "asn", "org", "city", "geo_source", "source")  # fmt: skip
    rows = store.con.execute(
        f"SELECT {', '.join(cols)} FROM services WHERE scan = ?", [scan]
    ).fetchall()
    return {(r[0], r[1]): dict(zip(cols, r, strict=True)) for r in rows}


def test_shodan_import_is_identified_assessed_and_located(store: Store) -> None:
    r = import_files(store, "shodan", [fixture("shodan-mail.json")], enricher=GeoEnricher())
    assert r.analyzed and r.services == r.transcripts == 6
    svc = _services(store, r.scan)
    owa = svc["198.51.100.120", 443]
    assert (owa["product"], owa["version"], owa["precision"]) == (
        "ms-exchange", "15.1.2375.7", "build4",
    )  # fmt: skip
    assert (owa["country"], owa["continent"], owa["region"]) == ("AT", "EU", "Western Europe")
    assert (owa["asn"], owa["org"], owa["geo_source"]) == (64501, "Example Corp", "shodan")
    exim = svc["192.0.2.25", 25]
    assert (exim["product"], exim["version"]) == ("exim", "4.92")
    assert exim["city"] == "Frankfurt am Main" and exim["source"] == "shodan"
    assert store.count("findings", r.scan) > 0


def test_shadowserver_exchange_versions_reach_the_verdicts(store: Store) -> None:
    files = sorted(FIXTURES.glob("*scan_exchange*.csv"))
    r = import_files(store, "shadowserver", files, enricher=GeoEnricher())
    svc = _services(store, r.scan)
    assert svc["198.51.100.72", 443]["version"] == "15.1.2375.7"  # from X-OWA-Version
    assert svc["198.51.100.70", 443]["version"] == "15.2.721"  # from the OWA path
    assert svc["198.51.100.70", 443]["precision"] == "build3"
    assert {s["geo_source"] for s in svc.values()} == {"shadowserver"}


def test_mmdb_fills_what_an_import_lacks(store: Store, tmp_path: Path) -> None:
    db = write_mmdb(tmp_path / "city.mmdb", "GeoLite2-City",
                    {"192.0.2.0/24": city("JP", "AS", "Tokyo")})  # fmt: skip
    r = import_files(store, "zgrab2", [fixture("zgrab2-mail.json")], enricher=GeoEnricher([db]))
    svc = _services(store, r.scan)
    exim = svc["192.0.2.25", 25]
    assert (exim["country"], exim["region"], exim["city"], exim["geo_source"]) == (
        "JP", "Eastern Asia", "Tokyo", "mmdb",
    )  # fmt: skip
    assert svc["198.51.100.120", 443]["geo_source"] is None  # in no database, no hint


def test_cli_import_with_geo_db(mx: RunCli, db_path: Path, tmp_path: Path) -> None:
    db = write_mmdb(tmp_path / "city.mmdb", "GeoLite2-City",
                    {"192.0.2.0/24": city("JP", "AS", "Tokyo")})  # fmt: skip
    r = mx("import", "zgrab2", str(fixture("zgrab2-mail.json")), "--db", str(db_path),
           "--geo-db", str(db), "--name", "z")  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "services" in r.stdout and "(identified, assessed, enriched)" in r.stdout
    with Store.open(db_path, read_only=True) as store:
        svc = _services(store, store.resolve_scan("z"))
    assert svc["192.0.2.25", 25]["country"] == "JP"
    assert svc["192.0.2.25", 25]["product"] == "exim"
