"""The Shadowserver writer against Shadowserver's published schema (fixtures/shadowserver:
the entries of the reports mxcensus writes, with their source and date), and the cells it
writes for the cases a lab scan does not show."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mxcensus.export.shadowserver import REPORTS, columns_for, file_name, safe_token, values
from mxcensus.model import Certificate, Outcome, Step, TlsInfo, Transcript, Transport
from mxcensus.store.results import ShadowSource

FIXTURES = Path(__file__).parent / "fixtures" / "shadowserver"


def _load(name: str) -> dict[str, dict[str, object]]:
    loaded: dict[str, dict[str, object]] = json.loads((FIXTURES / name).read_text())
    return loaded


def test_the_fixture_says_where_it_comes_from() -> None:
    provenance = (FIXTURES / "PROVENANCE.md").read_text()
    assert "8e06fb91ef1b3cc621abf848d486369f6ff527ca" in provenance
    assert _load("intelmq-subset.json")["_meta"]["date_created"] == "2026-03-24T15:31:20Z"


def test_columns_are_shadowservers_in_their_order() -> None:
    reports = _load("reports-subset.json")
    intelmq = _load("intelmq-subset.json")
    assert set(reports) == set(intelmq) - {"_meta"} == REPORTS
    for report in REPORTS:
        assert list(columns_for(report)) == reports[report]["fields"], report
        entry = intelmq[report]
        mapped = {f[1] for f in [*entry["required_fields"], *entry["optional_fields"]]}  # type: ignore[misc]
        assert mapped == set(columns_for(report)), report  # every column IntelMQ reads


@pytest.mark.parametrize(
    ("parts", "name"),
    [
        (("as64500", "asn"), "2026-04-01-scan_smtp-as64500-asn.csv"),
        (("192.0.2.0_24", "prefix"), "2026-04-01-scan_smtp-192_0_2_0_24-prefix.csv"),
        (("2001:db8:1::_48", "prefix"), "2026-04-01-scan_smtp-2001_db8_1__48-prefix.csv"),
        (("../../etc/x", "Ünïcode"), "2026-04-01-scan_smtp-etc_x-n_code.csv"),
    ],
)
def test_file_names_are_what_intelmq_detects(parts: tuple[str, ...], name: str) -> None:
    got = file_name("2026-04-01", "scan_smtp", *parts)
    assert got == name
    # IntelMQ's parser: r"^(?:\d{4}-\d{2}-\d{2}-)?(\w+)(-\w+)*\.csv$", group 1 the report
    assert got.split("-")[3] == "scan_smtp"
    assert all(safe_token(p).isascii() for p in parts)


WHEN = datetime(2026, 4, 1, 6, 0, tzinfo=UTC)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _row(**kw: object) -> ShadowSource:
    base = ShadowSource(
        owner="all", report_type="scan_smtp_vulnerable", app="smtp",
        timestamp="2026-04-01 06:00:00", severity="medium", ip="192.0.2.1", port=25,
        protocol="smtp", hostname="MX.Example.ORG.", product="exim", eol=False, asn=64500,
        country="de", region=None, city=None, version="4.92", banner="220 mx\\r\\n",
        risky_cves="cve-2019-10149", risky_tags="21nails", org=None,
        status="potentially-vulnerable", hostname_source="mx:example.org",
    )  # fmt: skip
    return base._replace(**kw)


def _cert(**kw: object) -> Certificate:
    cert = Certificate(
        subject="CN=mx.example.org,O=Example", issuer="CN=Example CA", sans=(),
        not_before=datetime(2025, 1, 1, tzinfo=UTC), not_after=datetime(2026, 1, 1, tzinfo=UTC),
        serial="0a1b", sha256="ab" * 32, self_signed=False, key_algorithm="rsaEncryption",
        key_bits=2048, signature_algorithm="sha256WithRSAEncryption", x509_version=2,
        sha1="cd" * 20,
    )  # fmt: skip
    return replace(cert, **kw)  # type: ignore[arg-type]


def _transcript(cert: Certificate | None, version: str = "TLSv1.2") -> Transcript:
    steps = (
        Step("greeting", b"", b"220-mx.example.org ESMTP\r\n220 =cmd|' /C calc'!A0\r\n"),
        Step("starttls", b"STARTTLS\r\n", b"220 2.0.0 Ready to start TLS\r\n"),
    )
    tls = TlsInfo(version, "ECDHE-RSA-AES256-GCM-SHA384", (cert,) if cert else ())
    return Transcript("192.0.2.1", 25, "smtp", Transport.STARTTLS, WHEN, Outcome.OK, steps, tls)


def test_cells_of_a_service_with_a_certificate() -> None:
    v = values(_row(), _transcript(_cert()))
    assert v["hostname"] == "mx.example.org" and v["hostname_source"] == "mx:example.org"
    assert v["geo"] == "DE"
    assert v["tag"] == "smtp;exim;cve-2019-10149;21nails;potentially-vulnerable"
    assert v["banner"] == "220-mx.example.org ESMTP|220 =cmd|' /C calc'!A0|"
    assert v["auth_tls_response"] == "220 2.0.0 Ready to start TLS|"
    assert (v["handshake"], v["tlsv13_support"], v["tlsv13_cipher"]) == ("TLSv1.2", "N", None)
    assert v["cert_expired"] == "Y"  # expired before the service was seen
    assert (v["cert_issue_date"], v["cert_expiration_date"]) == (
        "2025-01-01 00:00:00", "2026-01-01 00:00:00",
    )  # fmt: skip
    assert v["cert_serial_number"] == "0A1B"
    assert v["sha256_fingerprint"] == ":".join(["AB"] * 32)
    assert v["sha1_fingerprint"] == ":".join(["CD"] * 20)
    assert (v["cert_length"], v["ssl_version"]) == (2048, 2)
    assert (v["subject_common_name"], v["subject_organization_name"]) == (
        "mx.example.org", "Example",
    )  # fmt: skip
    assert v["issuer_common_name"] == "Example CA"


def test_placeholder_dates_are_unknown_never_expired() -> None:
    v = values(_row(), _transcript(_cert(not_before=EPOCH, not_after=EPOCH, key_bits=0,
                                         x509_version=None, subject="CN=a+,b")))  # fmt: skip
    for col in ("cert_expired", "cert_issue_date", "cert_expiration_date", "cert_length",
                "ssl_version", "subject_common_name"):  # fmt: skip
        assert v.get(col) is None, col


def test_no_webshell_in_our_tags_and_no_address_as_host_name() -> None:
    row = _row(app="exchange", report_type="scan_exchange", risky_tags="webshell-drop;x",
               hostname="192.0.2.1", status="vulnerable")  # fmt: skip
    v = values(row, None)
    assert "webshell" not in v["tag"] and v["tag"].endswith(";x")
    assert v["hostname"] is None and v["url"] == "/owa/"
    assert v.get("hostname_source") is None
