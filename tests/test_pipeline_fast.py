"""The analysis' fast path (``analyze_scan``) against its reference (``analyze_scan_reference``,
one ServiceRecord at a time): the same services and findings rows and the same exported
records, byte for byte, over varied transcripts; and ``identify_doc`` / the memoised
``identify`` against the same identification built with nothing remembered."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
import pytest
from bench.analysis import generate
from jsonschema import Draft202012Validator

from mxcensus.enrich.geo import GeoEnricher
from mxcensus.identify import identify
from mxcensus.identify.engine import identify_doc, reset_memos
from mxcensus.importers import import_files
from mxcensus.model import Outcome, ScanId, Step, Transcript, Transport
from mxcensus.pipeline import analyze_scan, analyze_scan_reference
from mxcensus.serialize import transcript_from_dict, transcript_to_dict
from mxcensus.store.db import Store
from tests.enrich.conftest import write_mmdb

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "importers" / "fixtures"
SCHEMA = json.loads((ROOT / "schema" / "record.schema.json").read_text())
NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def _t(ip: str, port: int, protocol: str, *steps: Step, **kw: Any) -> Transcript:
    kw.setdefault("transport", Transport.PLAIN)
    kw.setdefault("outcome", Outcome.OK)
    kw.setdefault("observed_at", NOW)
    return Transcript(ip=ip, port=port, protocol=protocol, steps=steps, **kw)


def _http(path: str, body: bytes, code: int | None, *headers: tuple[str, str]) -> Step:
    return Step(f"GET {path}", sent=b"GET / HTTP/1.1\r\n\r\n", received=body, code=code,
                headers=headers)  # fmt: skip


def hand_made() -> list[Transcript]:
    """Transcripts a generator does not make: HTTP-only Exchange, odd bytes, failures,
    protocols without rules, importer extras, offsets and long banners."""
    ehlo = b"250-mx Hello [192.0.2.1]\r\n250-CHUNKING\r\n250-PIPELINING\r\n250 STARTTLS\r\n"
    exim = b"220 mx.example.org ESMTP Exim 4.96 #2 (Debian) Tue, 13 Aug 2024 10:00:00 +0000\r\n"
    return [
        # Exchange: SMTP lifted by OWA's build on the same host, ECP manifest, redirects
        _t("192.0.2.10", 25, "smtp",
           Step("greeting", received=b"220 ex Microsoft ESMTP MAIL Service ready at Tue\r\n"),
           Step("ehlo", received=b"250-ex Hello\r\n250-XEXCH50\r\n250 X-ANONYMOUSTLS\r\n")),
        _t("192.0.2.10", 443, "https",
           _http("/owa/", b"", 302, ("Location", "https://ex/owa/auth/logon.aspx")),
           _http("/owa/auth/logon.aspx", b'<link href="/owa/auth/15.1.2507/themes/x.css">',
                 200, ("X-OWA-Version", "15.1.2507.39"), ("Server", "Microsoft-IIS/10.0")),
           _http("/ecp/Current/exporttool/microsoft.exchange.ediscovery.exporttool.application",
                 b'<assemblyIdentity name="x" version="15.1.2507.39"/>', 200),
           transport=Transport.TLS),
        _t("192.0.2.10", 587, "submission",
           Step("greeting", received=b"220 ex Microsoft ESMTP MAIL Service ready at Tue\r\n")),
        # Exim with an EHLO the verdicts read; the same on another day and offset
        _t("192.0.2.11", 25, "smtp", Step("greeting", received=exim), Step("ehlo", received=ehlo)),
        _t("192.0.2.12", 465, "smtps", Step("greeting", received=exim),
           Step("ehlo", received=b"250-mx\r\n250 AUTH PLAIN EXTERNAL\r\n"),
           transport=Transport.TLS,
           observed_at=datetime(2024, 3, 1, 23, 30, tzinfo=timezone(timedelta(hours=-5)))),
        _t("192.0.2.13", 25, "smtp", Step("greeting", received=exim),
           Step("ehlo", received=b"250-mx\r\n250-CHUNKING\r\n250 SIZE\r\n"),
           Step("starttls", received=b"220 go ahead\r\n"),
           Step("ehlo-tls", received=b"250-mx\r\n250 AUTH SPA\r\n"),
           transport=Transport.STARTTLS,
           observed_at=datetime(2025, 1, 2, 3, 4, 5, 600, tzinfo=UTC)),
        # bytes that are not ASCII: latin-1 and UTF-8 banners, controls, a long banner
        _t("192.0.2.14", 25, "smtp", Step("greeting", received=b"220 h\xe9te ESMTP Postfix\r\n")),
        _t("192.0.2.14", 110, "pop3", Step("greeting", received="+OK Dovecot prêt ✓\r\n".encode())),
        _t("192.0.2.15", 25, "smtp",
           Step("greeting",
                received=b"220 \x1b[31mx\x00\x7f ESMTP Sendmail 8.15.2/8.15.2; " + b"A" * 600)),
        # Dovecot IMAP with capability, a Zimbra host whose Postfix is a component
        _t("192.0.2.16", 143, "imap",
           Step("greeting", received=b"* OK [CAPABILITY IMAP4rev1] Dovecot (Ubuntu) ready.\r\n"),
           Step("capability", received=b"* CAPABILITY IMAP4rev1 STARTTLS\r\na OK\r\n")),
        _t("192.0.2.17", 25, "smtp",
           Step("greeting", received=b"220 z ESMTP Postfix (Zimbra)\r\n")),
        _t("192.0.2.17", 443, "https",
           _http("/", b"<title>Zimbra Web Client Sign In</title>", 200, ("Server", "nginx"),
                 ("X-Note", "café ✓"))),
        # nothing to identify: failures, empty greeting, protocols without rules
        _t("192.0.2.18", 25, "smtp", outcome=Outcome.TIMEOUT),
        _t("192.0.2.18", 143, "imap", Step("greeting", received=b""), outcome=Outcome.CLOSED),
        _t("192.0.2.18", 22, "smtp", Step("banner", received=b"SSH-2.0-OpenSSH_9.6\r\n")),
        _t("192.0.2.19", 8080, "http", Step("x", received=b"HTTP/1.1 200 OK", code=200,
           headers=(("Server", "Microsoft-IIS/8.5"),))),
        # importer extras: a banner in extra, header fields, a location hint
        _t("198.51.100.20", 25, "smtp", source="censys", hostname="mx.example.com",
           extra=(("banner", "220 mx ESMTP Exim 4.92.3 Tue\r\n"), ("geo.country", "at"),
                  ("geo.asn", "64501"), ("geo.org", "Example"), ("other", "x"))),
        _t("198.51.100.21", 443, "https", source="zgrab2",
           extra=(("http.header.x-owa-version", "15.2.1544.4"), ("geo.city", "Graz"))),
        _t("198.51.100.22", 25, "smtp", source="shodan",
           extra=(("data", "220 mail ESMTP MDaemon 21.5.2; Tue\r\n"),)),
        # the same banner on two hosts (shared identifications), and two services of one
        _t("203.0.113.1", 25, "smtp", Step("greeting", received=exim)),
        _t("203.0.113.2", 25, "smtp", Step("greeting", received=exim)),
        _t("203.0.113.2", 2525, "smtp", Step("greeting", received=exim)),
    ]  # fmt: skip


def _generated(n: int) -> list[Transcript]:
    from mxcensus.importers.registry import IMPORTERS

    lines = b"".join(orjson.dumps(r) + b"\n" for r in generate(n, seed=7))
    import io

    out = []
    for _, item in IMPORTERS["shodan"].read(io.BytesIO(lines), "generated.json"):
        if isinstance(item, Transcript):
            out.append(item)
    return out


def test_identify_doc_and_memoised_identify_equal_a_fresh_identification() -> None:
    odd = [_t("192.0.2.1", 22, "ssh", Step("banner", received=b"SSH-2.0-OpenSSH_9.6\r\n")),
           _t("192.0.2.1", 8080, "weird", Step("x", received=b"<html>", code=200,
              headers=(("Server", "Microsoft-IIS/8.5"),)))]  # fmt: skip
    transcripts = hand_made() + odd + _generated(600)
    fresh = []
    for t in transcripts:  # every identification built with nothing remembered
        reset_memos()
        fresh.append(identify(t))
    reset_memos()
    for t, want in zip(transcripts * 2, fresh * 2, strict=True):  # round 2 answers from memos
        assert identify(t) == want, t
        doc = orjson.loads(orjson.dumps(transcript_to_dict(t)))
        assert identify_doc(doc) == want, t
        assert transcript_from_dict(doc) == t
    # the shared objects: the same things seen twice give the very same identification
    for t in transcripts:
        assert identify(t) is identify(t)


def _dump(store: Store, scan: ScanId) -> tuple[list[Any], list[Any], list[bytes]]:
    """What readers see of a scan's analysis: the services (without the normalised path's
    profile and location ids and the reference path's stored record), the records as
    exported, and the findings (the ``findings`` view)."""
    services: list[Any] = store.con.execute(
        """SELECT * EXCLUDE (pid, gid, record) FROM services
           WHERE scan = ? ORDER BY ip, port, protocol, banner""",
        [scan],
    ).fetchall()
    records = sorted(store.iter_record_texts(scan))
    findings = store.con.execute(
        "SELECT * FROM findings WHERE scan = ? ORDER BY ALL", [scan]
    ).fetchall()
    return services, findings, records


def _scans(store: Store, tmp_path: Path) -> Iterator[ScanId]:
    """Scans of hand-made transcripts, of every importer's fixtures and of generated
    Shodan hosts (several products and versions, multi-port hosts, unknowns, OWA)."""
    sid = store.create_scan(name="hand", kind="scan", source="scan")
    store.write_transcripts(sid, hand_made())
    yield sid
    generated = tmp_path / "generated.json"
    generated.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in generate(3000, seed=3)))
    for fmt, files in (
        ("shodan", [FIXTURES / "shodan-mail.json", generated]),
        ("censys", [FIXTURES / "censys-hosts.json"]),
        ("zgrab2", [FIXTURES / "zgrab2-mail.json"]),
        ("nmap-xml", [FIXTURES / "nmap-exim.xml", FIXTURES / "nmap-dovecot.xml"]),
        ("masscan", [FIXTURES / "masscan.json"]),
        ("shadowserver", sorted(FIXTURES.glob("*scan_*.csv"))),
    ):
        yield ScanId(import_files(store, fmt, files, analyze=False).scan)


@pytest.mark.parametrize("geo", ["none", "iptocc", "mmdb"])
def test_fast_analysis_writes_what_the_reference_writes(tmp_path: Path, geo: str) -> None:
    mmdb: list[Path] = []
    if geo == "mmdb":
        mmdb = [
            write_mmdb(tmp_path / "city.mmdb", "GeoLite2-City", {
                "192.0.2.0/25": {"country": {"iso_code": "JP"}, "city": {"names": {"en": "Tokyo"}}},
                "1.0.0.0/8": {"country": {"iso_code": "AU"}, "continent": {"code": "OC"}},
            }),
            write_mmdb(tmp_path / "asn.mmdb", "GeoLite2-ASN", {
                "192.0.2.0/24": {"autonomous_system_number": 64496,
                                 "autonomous_system_organization": "Doc Net One"},
                "1.0.0.0/9": {"autonomous_system_number": 13335,
                              "autonomous_system_organization": "Example AS"},
            }),
        ]  # fmt: skip
    validator = Draft202012Validator(SCHEMA)
    with Store.open(tmp_path / "s.duckdb") as store:
        for scan in list(_scans(store, tmp_path)):
            enricher = GeoEnricher(mmdb) if geo != "none" else None
            ref_n = analyze_scan_reference(store, scan, enricher)
            want = _dump(store, scan)
            seen: list[int] = []
            fast_n = analyze_scan(store, scan, GeoEnricher(mmdb) if enricher else None,
                                  progress=seen.append)  # fmt: skip
            got = _dump(store, scan)
            assert fast_n == ref_n == len(want[0]) > 0
            assert seen[-1] == fast_n
            assert len(got[0]) == len(want[0]) and len(got[1]) == len(want[1])
            for g, w in zip(got[0], want[0], strict=True):
                assert g == w
            assert got[1] == want[1]
            assert got[2] == want[2]
            for record in store.iter_records(scan):
                validator.validate(record)


def test_fast_analysis_batches_and_reassess_replace_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("mxcensus.pipeline.BATCH", 3)  # hosts straddle many batches
    with Store.open(tmp_path / "s.duckdb") as store:
        scan = store.create_scan(name="hand", kind="scan", source="scan")
        # the same hosts thrice, interleaved: each endpoint's three observations are merged
        store.write_transcripts(scan, hand_made() * 3)
        analyze_scan_reference(store, scan)
        want = _dump(store, scan)
        for _ in range(2):  # reassess: the second run replaces the first
            seen: list[int] = []
            assert analyze_scan(store, scan, progress=seen.append) == len(want[0])
            assert seen == sorted(seen) and len(seen) > 3
            assert _dump(store, scan) == want


def _import_sources(tmp_path: Path) -> list[tuple[str, list[Path]]]:
    generated = tmp_path / "generated.json"
    # shuffled: a host's banners scattered over the file, as Shodan downloads have them
    records = list(generate(3000, seed=5))
    random.Random(11).shuffle(records)
    generated.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    return [
        ("shodan", [FIXTURES / "shodan-mail.json", generated]),
        ("censys", [FIXTURES / "censys-hosts.json"]),
        ("zgrab2", [FIXTURES / "zgrab2-mail.json"]),
        ("nmap-xml", [FIXTURES / "nmap-exim.xml", FIXTURES / "nmap-dovecot.xml"]),
        ("shadowserver", sorted(FIXTURES.glob("*scan_*.csv"))),
    ]


@pytest.mark.parametrize("batch", [7, 5_000])
def test_import_analysed_in_flight_writes_what_the_reference_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, batch: int
) -> None:
    """``mxcensus import`` analyses each batch as it is written (``ImportAnalysis``) and
    analyses hosts spread over several batches again at the end: the rows are those
    ``analyze_scan_reference`` writes from the stored transcripts, with small batches (hosts
    split everywhere) and the real size, with the standard enrichment."""
    monkeypatch.setattr("mxcensus.importers.run.BATCH", batch)
    with Store.open(tmp_path / "s.duckdb") as store:
        for fmt, files in _import_sources(tmp_path):
            enricher = GeoEnricher(())
            result = import_files(store, fmt, files, enricher=enricher)
            got = _dump(store, result.scan)
            for table in ("profiles", "verdicts", "locations"):  # none left unused
                key = "gid" if table == "locations" else "pid"
                (unused,) = store.con.execute(
                    f"SELECT count(*) FROM {table} t WHERE scan = $s AND NOT EXISTS (SELECT 1"
                    f" FROM services s WHERE s.scan = $s AND s.{key} = t.{key})",
                    {"s": result.scan},
                ).fetchone() or (None,)
                assert unused == 0, (fmt, table)
            store.con.execute("UPDATE scans SET status = 'running' WHERE id = ?", [result.scan])
            assert analyze_scan_reference(store, result.scan, GeoEnricher(())) == result.services
            want = _dump(store, result.scan)
            assert len(got[0]) == len(want[0]) > 0, fmt
            for g, w in zip(got[0], want[0], strict=True):
                assert g == w, fmt
            assert got[1] == want[1], fmt
            assert got[2] == want[2], fmt
            tables = store.con.execute("SELECT table_name FROM duckdb_tables() WHERE temporary")
            assert tables.fetchall() == []
