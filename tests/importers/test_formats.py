"""Each format's realistic file becomes the transcripts a live probe would have produced."""

from __future__ import annotations

from pathlib import Path

import pytest

from mxcensus.importers import import_files
from mxcensus.model import Outcome, Transcript, Transport
from mxcensus.store.db import Store
from tests.importers.conftest import FIXTURES, fixture


def imported(store: Store, fmt: str, *paths: Path) -> dict[tuple[str, int], Transcript]:
    r = import_files(store, fmt, list(paths), analyze=False)
    assert r.malformed == 0, r.problems
    out = {(t.ip, t.port): t for t in store.iter_transcripts(r.scan)}
    assert len(out) == r.transcripts
    assert all(t.source == fmt for t in out.values())
    return out


def extra(t: Transcript) -> dict[str, str]:
    return dict(t.extra)


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


def test_zgrab2_results_keep_status_and_partial_data(store: Store) -> None:
    ts = imported(store, "zgrab2", fixture("zgrab2-mail.json"))
    exim = ts["192.0.2.25", 25]
    assert [s.name for s in exim.steps] == ["greeting", "ehlo", "starttls"]
    assert exim.transport is Transport.STARTTLS
    assert exim.tls is not None and exim.tls.version == "TLSv1.2"
    assert exim.tls.cipher == "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"
    assert exim.tls.chain[0].subject == "CN=vm,O=Exim Developers,C=UK"
    assert exim.observed_at.isoformat() == "2024-03-05T10:22:33+00:00"  # +01:00 -> UTC
    slow = ts["192.0.2.26", 25]
    assert slow.outcome is Outcome.TIMEOUT and "i/o timeout" in slow.error
    assert slow.steps[0].received.startswith(b"220-mx2")  # what came before the failure
    assert ts["192.0.2.27", 25].outcome is Outcome.REFUSED
    assert ts["192.0.2.30", 143].transport is Transport.STARTTLS
    assert ts["192.0.2.31", 110].protocol == "pop3"  # "pop3" is a module name, not port 3
    assert ts["192.0.2.50", 587].protocol == "submission"  # port from module "smtp-587"
    owa = ts["198.51.100.120", 443]
    assert owa.protocol == "https" and owa.steps[0].name == "GET /owa/auth/logon.aspx"
    assert ("X-Owa-Version", "15.1.2507.39") in owa.steps[0].headers
    assert ("request-id", "9d3e") in owa.steps[0].headers


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


@pytest.mark.parametrize("name", ["masscan.json", "masscan.txt"])
def test_masscan_open_ports_and_banners_merge(store: Store, name: str) -> None:
    ts = imported(store, "masscan", fixture(name))
    exim = ts["192.0.2.25", 25]
    assert exim.outcome is Outcome.OK
    (greeting,) = exim.steps  # the open record and its banner record became one transcript
    assert greeting.name == "greeting" and greeting.received.startswith(b"220 mail.example.net")
    assert all(port not in (22, 3389) for _, port in ts)
    if name == "masscan.txt":
        pop = ts["192.0.2.31", 110]
        assert pop.steps[0].received == b"+OK Dovecot ready.\r\n"  # \x0d\x0a unescaped
        assert ts["198.51.100.120", 443].steps == ()  # open, no banner
    else:
        assert ts["192.0.2.26", 993].protocol == "imaps"


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
