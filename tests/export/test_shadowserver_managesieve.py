"""A ManageSieve service in the Shadowserver export: Shadowserver publishes no ManageSieve
report, so the service gets a report type of Shadowserver's pattern under its own name
(``scan_managesieve``); no file is written for it (IntelMQ would refuse the name) but the
export counts it and says where it is: never dropped silently or filed under IMAP."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from tests.conftest import RunCli

PIGEONHOLE = (
    '"IMPLEMENTATION" "Dovecot (Debian) Pigeonhole"\r\n"SIEVE" "fileinto reject"\r\n'
    '"SASL" ""\r\n"STARTTLS"\r\n"VERSION" "1.0"\r\nOK "Dovecot (Debian) ready."\r\n'
)


def _import(mx: RunCli, tmp_path: Path) -> Path:
    db = tmp_path / "s.duckdb"
    banners = [
        {"ip_str": "192.0.2.50", "port": 4190, "transport": "tcp", "data": PIGEONHOLE,
         "timestamp": "2026-04-01T06:00:00.000000", "asn": "AS64500",
         "location": {"country_code": "DE"}},
        {"ip_str": "192.0.2.50", "port": 143, "transport": "tcp",
         "data": "* OK [CAPABILITY IMAP4rev1 STARTTLS] Dovecot (Debian) ready.\r\n",
         "timestamp": "2026-04-01T06:00:00.000000", "asn": "AS64500",
         "location": {"country_code": "DE"}},
    ]  # fmt: skip
    src = tmp_path / "shodan.json"
    src.write_text("".join(json.dumps(b) + "\n" for b in banners))
    res = mx("import", "shodan", str(src), "--db", str(db), "--name", "sieve")
    assert res.returncode == 0, res.stderr
    return db


def test_managesieve_rows_have_their_own_report_type(mx: RunCli, tmp_path: Path) -> None:
    db = _import(mx, tmp_path)
    out = tmp_path / "ss"
    res = mx("export", "--db", str(db), "--format", "shadowserver", "-o", str(out))
    assert res.returncode == 0, res.stderr
    assert [p.name.split("-")[3] for p in out.iterdir()] == ["scan_imap"]
    rows = list(csv.DictReader(io.StringIO(next(out.iterdir()).read_text())))
    assert [r["port"] for r in rows] == ["143"]
    assert rows[0]["tag"].split(";")[:2] == ["imap", "dovecot"]
    assert "no Shadowserver report, not written: 1 scan_managesieve" in res.stderr
    res = mx("export", "--db", str(db), "--format", "jsonl")
    assert {json.loads(line)["port"] for line in res.stdout.splitlines()} == {143, 4190}


def test_report_types_follow_the_protocol_family(mx: RunCli, tmp_path: Path) -> None:
    from mxcensus.export.shadowserver import shadow_records
    from mxcensus.store.db import Store

    db = _import(mx, tmp_path)
    with Store.open(db, read_only=True) as store:
        scan = store.resolve_scan("sieve")
        types = {
            r.values["port"]: (r.report_type, r.severity)
            for r in shadow_records(store, scan, at_risk_only=False)
        }
    # Dovecot without a version: its CVEs are unknown, so not at risk (no _vulnerable)
    assert types == {4190: ("scan_managesieve", "info"), 143: ("scan_imap", "info")}


def test_a_watched_domains_name_and_its_source_are_written(mx: RunCli, tmp_path: Path) -> None:
    """A watch probes an address under its domain's MX name and records where the name came
    from (``scan_names``); the Shadowserver rows carry both."""
    from mxcensus.export.shadowserver import shadow_records
    from mxcensus.store.db import Store

    db = _import(mx, tmp_path)
    with Store.open(db) as store:
        scan = store.resolve_scan("sieve")
        store.con.execute("UPDATE service_rows SET hostname = 'MX.Example.ORG' WHERE port = 143")
        store.con.execute(
            "INSERT INTO scan_names VALUES ($s, '192.0.2.50', 'MX.Example.ORG',"
            " 'mx:example.org', 'example.org')",
            {"s": scan},
        )
    with Store.open(db, read_only=True) as store:
        rows = {r.values["port"]: r.values for r in shadow_records(store, scan, at_risk_only=False)}
    assert (rows[143]["hostname"], rows[143]["hostname_source"]) == (
        "mx.example.org", "mx:example.org",
    )  # fmt: skip
    assert rows[4190].get("hostname_source") is None  # no host name
