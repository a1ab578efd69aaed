"""nmap XML (``importers/nmap_xml.py``): the transcripts a live probe would have produced, and
what the analysis makes of them, with the values written by hand from the fixtures."""

from __future__ import annotations

from pathlib import Path

from mxcensus.model import Outcome, Transport
from mxcensus.store.db import Store
from tests.importers.conftest import analysed, extra, fixture, imported


def test_nmap_xml_from_a_real_run(store: Store) -> None:
    ts = imported(store, "nmap-xml", fixture("nmap-exim.xml"))
    assert set(ts) == {("127.0.0.1", 2525)}  # the closed 2599 is not a mail port
    t = ts["127.0.0.1", 2525]
    assert t.protocol == "smtp" and t.outcome is Outcome.OK
    assert t.transport is Transport.STARTTLS  # ssl-cert seen without an ssl tunnel
    greeting = t.step("greeting")
    assert greeting is not None and greeting.received.startswith(b"220 vm ESMTP Exim 4.96 ")
    ehlo = t.step("ehlo")
    assert ehlo is not None and b"250-STARTTLS\r\n" in ehlo.received
    assert ehlo.received.endswith(b"250 HELP\r\n")
    e = extra(t)
    assert e["nmap.product"] == "Exim smtpd" and e["nmap.version"] == "4.96"
    assert e["nmap.cpe"] == "cpe:/a:exim:exim:4.96"
    assert t.tls is not None and t.tls.chain[0].subject == "CN=vm,O=Exim Developers,C=UK"
    assert t.hostname == "localhost"


def test_nmap_closed_mail_port_is_refused(store: Store, tmp_path: Path) -> None:
    xml = fixture("nmap-exim.xml").read_text().replace('portid="2599"', 'portid="587"')
    f = tmp_path / "nmap.xml"
    f.write_text(xml)
    ts = imported(store, "nmap-xml", f)
    assert ts["127.0.0.1", 587].outcome is Outcome.REFUSED
    assert ts["127.0.0.1", 587].steps == ()


def test_nmap_xml_of_a_real_dovecot(store: Store) -> None:
    """IMAP/POP3 plain and implicit TLS from nmap -sV --script banner,imap-capabilities,
    pop3-capabilities,ssl-cert against Debian's Dovecot on loopback."""
    ts = imported(store, "nmap-xml", fixture("nmap-dovecot.xml"))
    ip = "127.77.31.23"
    assert {(p, t.protocol) for (_, p), t in ts.items()} == {
        (110, "pop3"), (143, "imap"), (993, "imaps"), (995, "pop3s"),
    }  # fmt: skip
    imap = ts[ip, 143]
    greeting = imap.step("greeting")
    assert greeting is not None and not greeting.truncated
    # banner.nse wraps its output at 75 columns: the wrap is not part of the banner
    assert greeting.received == (
        b"* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ STARTTLS "
        b"LOGINDISABLED] Dovecot (Debian) ready."
    )
    assert imap.step("capability") is not None
    assert imap.transport is Transport.STARTTLS and imap.tls is not None
    assert imap.tls.chain[0].sans == ("imap.dovecot.test.invalid",)
    assert dict(imap.extra)["nmap.product"] == "Dovecot imapd"
    imaps = ts[ip, 993]
    assert imaps.transport is Transport.TLS and imaps.step("greeting") is not None
    pop = ts[ip, 110]
    capa = pop.step("capa")
    assert capa is not None and b"\r\nSTLS\r\n" in capa.received
    assert pop.steps[0].received == b"+OK Dovecot (Debian) ready."


def test_nmap_banner_cut_by_nmap_is_marked_truncated(store: Store, tmp_path: Path) -> None:
    xml = fixture("nmap-exim.xml").read_text()
    xml = xml.replace('output="220 vm', 'output="220-vm').replace(
        '+0000"/>', '+0000\\x0D\\x0A220-second line of a lo&#xa;ng greeting..."/>'
    )
    f = tmp_path / "cut.xml"
    f.write_text(xml)
    greeting = imported(store, "nmap-xml", f)["127.0.0.1", 2525].steps[0]
    assert greeting.truncated
    assert greeting.received.endswith(b"+0000\r\n220-second line of a long greeting")


def test_nmap_xml_fixture_analysed(store: Store) -> None:
    """The fixture's services as the analysis identifies and judges them, written out by hand:
    the closed port 2599 is not a mail port."""
    counts, services = analysed(store, "nmap-xml", fixture("nmap-exim.xml"))
    assert counts == (1, 1, 0, 0, 1)  # records, transcripts, skipped, malformed, services
    assert services == [
        ("127.0.0.1", 2525, "smtp", "ok", "exim", "4.96", "version", "potentially-vulnerable"),
    ]
