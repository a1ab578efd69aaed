"""Censys host documents (``importers/censys.py``): the transcripts a live probe would have
produced, and what the analysis makes of them, with the values written by hand from the
fixtures."""

from __future__ import annotations

from pathlib import Path

from mxcensus.model import Transport
from mxcensus.store.db import Store
from tests.importers.conftest import analysed, extra, fixture, imported


def test_censys_host_documents(store: Store) -> None:
    ts = imported(store, "censys", fixture("censys-hosts.json"))
    assert set(ts) == {
        ("198.51.100.120", 25),
        ("198.51.100.120", 443),
        ("192.0.2.40", 587),
        ("192.0.2.40", 110),
        ("192.0.2.40", 143),
    }  # SSH on 22 and DNS over UDP are not mail services
    smtp = ts["198.51.100.120", 25]
    assert smtp.transport is Transport.STARTTLS and smtp.protocol == "smtp"
    assert [s.name for s in smtp.steps] == ["greeting", "ehlo"]
    assert smtp.tls is not None and smtp.tls.version == "TLSv1.2"
    assert smtp.hostname == "exch01.example.org"
    owa = ts["198.51.100.120", 443]
    (step,) = owa.steps
    assert step.name == "GET /owa/auth/logon.aspx" and step.code == 200
    assert ("X-Owa-Version", "15.2.1118.40") in step.headers
    assert owa.protocol == "https" and owa.tls is not None
    assert owa.tls.chain[0].subject == "CN=vm,O=Exim Developers,C=UK"  # from the DER
    e = extra(owa)
    assert e["geo.asn"] == "64501" and e["geo.country"] == "AT" and e["geo.org"] == "EXAMPLE-CORP"
    assert "cpe" in e["censys.software"] or "Microsoft" in e["censys.software"]
    assert ts["192.0.2.40", 587].protocol == "submission"
    assert ts["192.0.2.40", 587].transport is Transport.PLAIN


def test_censys_json_array_export(store: Store, tmp_path: Path) -> None:
    lines = fixture("censys-hosts.json").read_text().splitlines()
    arr = tmp_path / "censys.json"
    arr.write_text("[\n" + ",\n".join(lines) + "\n]\n")
    assert (
        imported(store, "censys", arr).keys()
        == imported(store, "censys", fixture("censys-hosts.json")).keys()
    )


def test_censys_fixture_analysed(store: Store) -> None:
    """The fixture's services as the analysis identifies and judges them, written out by hand:
    two host documents; SSH and DNS are no mail services; generic POP3/IMAP greetings
    name no product."""
    counts, services = analysed(store, "censys", fixture("censys-hosts.json"))
    assert counts == (2, 5, 0, 0, 5)  # records, transcripts, skipped, malformed, services
    assert services == [
        ("192.0.2.40", 110, "pop3", "ok", "unknown", None, "none", "unknown"),
        ("192.0.2.40", 143, "imap", "ok", "unknown", None, "none", "unknown"),
        ("192.0.2.40", 587, "submission", "ok", "postfix", None, "product", "unknown"),
        ("198.51.100.120", 25, "smtp", "ok", "ms-exchange", "15.2.1118.40", "build4", "vulnerable"),
        (
            "198.51.100.120",
            443,
            "https",
            "ok",
            "ms-exchange",
            "15.2.1118.40",
            "build4",
            "vulnerable",
        ),
    ]
