from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from mxcensus.model import Outcome, Precision, Status, Step, Transcript, Transport
from mxcensus.pipeline import analyze, analyze_scan, banner_of
from mxcensus.store.db import Store
from tests.factories import smtp_transcript

NOW = datetime(2026, 11, 1, tzinfo=UTC)


def owa(ip: str, build: str) -> Transcript:
    return Transcript(
        ip=ip,
        port=443,
        protocol="https",
        transport=Transport.TLS,
        observed_at=NOW,
        outcome=Outcome.OK,
        steps=(
            Step(
                "GET /owa/auth/logon.aspx",
                sent=b"GET /owa/auth/logon.aspx HTTP/1.1\r\n\r\n",
                received=b"<html><title>Outlook</title></html>",
                code=200,
                headers=(("Server", "Microsoft-IIS/10.0"), ("X-OWA-Version", build)),
            ),
        ),
    )


def test_host_evidence_lifts_the_smtp_service_to_the_owa_build() -> None:
    ip = "192.0.2.7"
    transcripts = [
        smtp_transcript(
            b"220 mail.contoso.com Microsoft ESMTP MAIL Service ready at Tue\r\n", ip=ip
        ),
        owa(ip, "15.1.2375.7"),
    ]
    records = list(analyze("s", transcripts))
    assert [r.transcript.port for r in records] == [25, 443]
    for r in records:
        assert r.identification.product == "ms-exchange"
        assert r.identification.version == "15.1.2375.7"
        assert r.identification.precision == Precision.BUILD4
        assert r.assessment.product_line == "Exchange Server 2016"
        by_cve = {f.cve: f for f in r.assessment.findings}
        assert by_cve["CVE-2022-41082"].status == Status.VULNERABLE
        assert by_cve["CVE-2022-41082"].fixed_in == "15.1.2375.37"


def test_different_products_on_one_host_stay_apart() -> None:
    ip = "192.0.2.8"
    dovecot = Transcript(
        ip=ip,
        port=143,
        protocol="imap",
        transport=Transport.STARTTLS,
        observed_at=NOW,
        outcome=Outcome.OK,
        steps=(Step("greeting", received=b"* OK [CAPABILITY IMAP4rev1] Dovecot ready.\r\n"),),
    )
    records = list(
        analyze("s", [smtp_transcript(b"220 mx ESMTP Exim 4.92 #2\r\n", ip=ip), dovecot])
    )
    assert [r.identification.product for r in records] == ["exim", "dovecot"]


def test_unanswered_service_stays_unknown_and_has_no_banner() -> None:
    t = Transcript(
        ip="192.0.2.9",
        port=25,
        protocol="smtp",
        transport=Transport.PLAIN,
        observed_at=NOW,
        outcome=Outcome.TIMEOUT,
    )
    (rec,) = analyze("s", [t])
    assert rec.identification.product == "unknown"
    assert banner_of(t) == ""
    assert all(f.status != Status.NOT_VULNERABLE for f in rec.assessment.findings)


def test_analyze_scan_writes_and_rewrites(tmp_path: Path) -> None:
    with Store.open(tmp_path / "p.duckdb") as store:
        sid = store.create_scan(name=None, kind="scan", source="scan")
        store.write_transcripts(
            sid, [smtp_transcript(b"220 mx ESMTP Exim 4.89\r\n", ip="192.0.2.1")]
        )
        assert analyze_scan(store, sid) == 1
        assert analyze_scan(store, sid) == 1  # re-assessment replaces, never duplicates
        assert store.count("services", sid) == 1
        (rec,) = store.iter_records(sid)
    assert rec["product"] == "exim"
    statuses = {c["id"]: c["status"] for c in rec["cves"]}
    assert statuses["CVE-2019-10149"] == "potentially-vulnerable"
