"""Shadowserver CSV reports (``importers/shadowserver.py``): the transcripts a live probe
would have produced, and what the analysis makes of them, with the values written by hand
from the fixtures."""

from __future__ import annotations

from mxcensus.model import Transport
from mxcensus.store.db import Store
from tests.importers.conftest import FIXTURES, analysed, extra, imported


def test_shadowserver_reports_old_and_new_layouts(store: Store) -> None:
    files = sorted(FIXTURES.glob("*scan_*.csv"))
    assert len(files) == 7
    ts = imported(store, "shadowserver", *files)
    old = ts["192.0.2.60", 25]
    assert old.step("greeting") is not None
    assert old.steps[0].received == (
        b"220 smtp-server.invalid ESMTP Exim 4.80 Wed, 11 Jun 2021 10:00:00 +0300\r\n"
    )  # Shadowserver's "|" is the line break
    e = extra(old)
    assert e["shadowserver.tag"] == "smtp;21nails"
    assert e["shadowserver.report"] == "scan_smtp_vulnerable"
    assert e["geo.country"] == "EE" and e["geo.asn"] == "64500" and e["geo.city"] == "Tallinn"
    new = ts["203.0.113.80", 25]
    assert new.transport is Transport.STARTTLS and new.tls is not None
    assert new.tls.chain[0].subject == "CN=mx.example.fr"
    assert extra(new)["shadowserver.severity"] == "info"
    exch3 = ts["198.51.100.70", 443]
    (step,) = exch3.steps
    assert step.name == "GET /owa/auth/logon.aspx" and step.sent == b""
    assert b"/owa/auth/15.2.721/" in step.received
    exch4 = ts["198.51.100.72", 443]
    assert exch4.steps[0].headers == (("X-OWA-Version", "15.1.2375.7"),)
    assert extra(exch4)["shadowserver.servername"] == "MAIL01"
    http = ts["192.0.2.101", 443]
    assert http.steps[0].code == 302 and ("Server", "Microsoft-IIS/8.5") in http.steps[0].headers
    assert ts["203.0.113.90", 143].steps[0].received.startswith(b"* OK [CAPABILITY")
    assert ts["203.0.113.91", 110].protocol == "pop3"


def test_shadowserver_fixture_analysed(store: Store) -> None:
    """The fixture's services as the analysis identifies and judges them, written out by hand:
    the seven example reports, old and 2023+ layouts; a CU-level Exchange build is
    build3."""
    counts, services = analysed(store, "shadowserver", *sorted(FIXTURES.glob("*scan_*.csv")))
    assert counts == (12, 12, 0, 0, 12)  # records, transcripts, skipped, malformed, services
    assert services == [
        ("192.0.2.100", 8080, "http", "ok", "unknown", None, "none", "unknown"),
        ("192.0.2.101", 443, "https", "ok", "unknown", None, "none", "unknown"),
        ("192.0.2.60", 25, "smtp", "ok", "exim", "4.80", "version", "potentially-vulnerable"),
        ("192.0.2.61", 25, "smtp", "ok", "exim", "4.86_2", "version", "potentially-vulnerable"),
        ("198.51.100.70", 443, "https", "ok", "ms-exchange", "15.2.721", "build3", "vulnerable"),
        ("198.51.100.71", 443, "https", "ok", "ms-exchange", "15.0.847", "build3", "vulnerable"),
        ("198.51.100.72", 443, "https", "ok", "ms-exchange", "15.1.2375.7", "build4", "vulnerable"),
        (
            "198.51.100.73",
            443,
            "https",
            "ok",
            "ms-exchange",
            "15.0.1497",
            "build3",
            "potentially-vulnerable",
        ),
        ("203.0.113.80", 25, "smtp", "ok", "postfix", None, "product", "unknown"),
        ("203.0.113.81", 587, "submission", "ok", "ms-exchange", None, "product", "unknown"),
        ("203.0.113.90", 143, "imap", "ok", "dovecot", None, "product", "unknown"),
        ("203.0.113.91", 110, "pop3", "ok", "dovecot", None, "product", "unknown"),
    ]
