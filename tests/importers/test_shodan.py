"""Shodan banners (JSON lines, ``importers/shodan.py``): the transcripts a live probe would
have produced, and what the analysis makes of them, with the values written by hand from
the fixtures."""

from __future__ import annotations

from pathlib import Path

from mxcensus.model import Outcome, Transport
from mxcensus.store.db import Store
from tests.importers.conftest import analysed, extra, fixture, imported


def test_shodan_banners(store: Store) -> None:
    ts = imported(store, "shodan", fixture("shodan-mail.json"))
    assert set(ts) == {
        ("192.0.2.25", 25),
        ("198.51.100.120", 25),
        ("198.51.100.120", 443),
        ("203.0.113.10", 993),
        ("203.0.113.11", 110),
        ("203.0.113.13", 587),
    }  # the SSH banner on 203.0.113.12:22 is skipped
    exim = ts["192.0.2.25", 25]
    assert exim.protocol == "smtp" and exim.transport is Transport.STARTTLS
    assert exim.outcome is Outcome.OK
    greeting, ehlo = exim.step("greeting"), exim.step("ehlo")
    assert greeting is not None and greeting.code == 220
    assert greeting.received.startswith(b"220 mail.example.net ESMTP Exim 4.92 ")
    assert greeting.received.endswith(b"\r\n") and b"250" not in greeting.received
    assert ehlo is not None and ehlo.code == 250 and ehlo.received.endswith(b"250 HELP\r\n")
    assert exim.hostname == "mail.example.net"
    assert exim.observed_at.isoformat() == "2024-03-05T11:22:33.456789+00:00"
    assert exim.tls is not None and exim.tls.version == "TLSv1.3"
    assert exim.tls.chain[0].subject == "CN=vm,O=Exim Developers,C=UK"
    assert exim.tls.chain[0].self_signed
    e = extra(exim)
    assert e["shodan.product"] == "Exim smtpd" and e["shodan.version"] == "4.92"
    assert e["geo.country"] == "DE" and e["geo.asn"] == "64500"
    assert e["geo.org"] == "Example Hosting GmbH" and e["geo.city"] == "Frankfurt am Main"

    owa = ts["198.51.100.120", 443]
    assert owa.protocol == "https" and owa.transport is Transport.TLS
    (step,) = owa.steps
    assert step.name == "GET /owa/auth/logon.aspx" and step.code == 200
    assert ("X-OWA-Version", "15.1.2375.7") in step.headers
    assert step.headers[0] == ("Cache-Control", "no-cache, no-store")  # order kept
    assert b"/owa/auth/15.1.2375/themes" in step.received
    assert extra(owa)["shodan.http.title"] == "Outlook"
    assert owa.tls is not None and owa.tls.cipher == "ECDHE-RSA-AES256-GCM-SHA384"
    assert owa.tls.chain[0].sha256 and len(owa.tls.chain[0].sha256) == 64  # parsed from PEM

    imaps = ts["203.0.113.10", 993]
    assert imaps.protocol == "imaps" and imaps.transport is Transport.TLS
    assert [s.name for s in imaps.steps] == ["greeting", "capability"]
    assert imaps.steps[0].received.startswith(b"* OK [CAPABILITY IMAP4rev1")
    pop = ts["203.0.113.11", 110]
    assert pop.protocol == "pop3" and [s.name for s in pop.steps] == ["greeting", "capa"]
    assert ts["203.0.113.13", 587].protocol == "submission"


def test_shodan_gzip_is_recognised_by_magic_not_name(store: Store, tmp_path: Path) -> None:
    disguised = tmp_path / "banners.json"  # gzip content, no .gz in the name
    disguised.write_bytes(fixture("shodan-mail.json.gz").read_bytes())
    plain = imported(store, "shodan", fixture("shodan-mail.json"))
    assert imported(store, "shodan", disguised).keys() == plain.keys()


def test_hostile_banner_is_bounded_and_kept_raw(store: Store, tmp_path: Path) -> None:
    import orjson

    rec = orjson.loads(fixture("shodan-mail.json").read_bytes().splitlines()[0])
    rec["data"] = "220 \x1b[31m=cmd|' /C calc'!A0 <script>x</script>" + "A" * 200_000 + "\r\n"
    f = tmp_path / "hostile.json"
    f.write_bytes(orjson.dumps(rec) + b"\n")
    (t,) = imported(store, "shodan", f).values()
    greeting = t.steps[0]
    assert greeting.truncated and len(greeting.received) == 64 * 1024
    assert greeting.received.startswith(b"220 \x1b[31m=cmd")


def test_shodan_fixture_analysed(store: Store) -> None:
    """The fixture's services as the analysis identifies and judges them, written out by hand:
    an SSH banner skipped; the SMTP banner of the Exchange host takes the build its OWA
    shows."""
    counts, services = analysed(store, "shodan", fixture("shodan-mail.json"))
    assert counts == (7, 6, 1, 0, 6)  # records, transcripts, skipped, malformed, services
    assert services == [
        ("192.0.2.25", 25, "smtp", "ok", "exim", "4.92", "version", "potentially-vulnerable"),
        ("198.51.100.120", 25, "smtp", "ok", "ms-exchange", "15.1.2375.7", "build4", "vulnerable"),
        (
            "198.51.100.120",
            443,
            "https",
            "ok",
            "ms-exchange",
            "15.1.2375.7",
            "build4",
            "vulnerable",
        ),
        ("203.0.113.10", 993, "imaps", "ok", "dovecot", None, "product", "unknown"),
        ("203.0.113.11", 110, "pop3", "ok", "dovecot", None, "product", "unknown"),
        ("203.0.113.13", 587, "submission", "ok", "postfix", None, "product", "unknown"),
    ]
