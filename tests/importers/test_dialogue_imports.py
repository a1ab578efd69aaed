"""Imports benefit from the dialogue rules: Shodan, Censys, ZGrab2 and nmap records that carry
the EHLO reply, the capability lines, the HELP or QUIT reply of a server whose greeting names
nothing are identified from them, as a live probe's transcript is.

The replies are Debian's Exim 4.96, Postfix 3.7.11 and Dovecot 2.3.19.1 as recorded on
loopback with customised greetings (the issue 16 research); how each tool keeps them: Shodan's
``data`` holds the greeting and the EHLO reply (IMAP: the greeting and the capability lines);
Censys keeps ``services[].smtp.ehlo``; zgrab2's smtp module records ``ehlo``, ``help`` (with
``--send-help``) and ``quit``; nmap's ``smtp-commands`` script the EHLO keywords and the HELP
reply with its codes dropped (a real nmap 7.93 run on Debian's Exim is the fixture).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mxcensus.importers import import_files
from mxcensus.store.db import Store
from tests.importers.conftest import FIXTURES

CUSTOM_SMTP = "220 mx.example.org ESMTP Mail Service ready\r\n"
EXIM_EHLO = (
    "250-mx.example.org Hello scanner.example.net [192.0.2.200]\r\n250-SIZE 52428800\r\n"
    "250-8BITMIME\r\n250-PIPELINING\r\n250-PIPECONNECT\r\n250-CHUNKING\r\n250-STARTTLS\r\n"
    "250-SMTPUTF8\r\n250 HELP\r\n"
)
EXIM_HELP = (
    "214-Commands supported:\r\n"
    "214 AUTH STARTTLS HELO EHLO MAIL RCPT DATA BDAT NOOP QUIT RSET HELP\r\n"
)
POSTFIX_EHLO = (
    "250-mx.example.org\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-VRFY\r\n250-ETRN\r\n"
    "250-STARTTLS\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n250-SMTPUTF8\r\n"
    "250 CHUNKING\r\n"
)
DOVECOT_IMAP = (
    "* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ STARTTLS "
    "LOGINDISABLED] Mail Service ready.\r\n* CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID "
    "ENABLE IDLE LITERAL+ STARTTLS LOGINDISABLED\r\nA001 OK Pre-login capabilities listed, "
    "post-login capabilities have more.\r\n"
)
DIALOGUE = {"smtp.ehlo-shape", "smtp.help", "smtp.quit", "imap.capability", "pop3.capa"}


def _lines(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def _records(store: Store, fmt: str, path: Path) -> dict[tuple[str, int], dict[str, Any]]:
    r = import_files(store, fmt, [path])
    assert r.malformed == 0, r.problems
    return {(rec["ip"], rec["port"]): rec for rec in store.iter_records(r.scan)}


def _from_dialogue(rec: dict[str, Any], product: str) -> None:
    assert (rec["product"], rec["precision"], rec["confidence"]) == (product, "product", "low")
    assert set(rec["evidence"]) <= DIALOGUE | {"smtp.ehlo"}, rec["evidence"]
    assert rec["cves"] and all(c["status"] == "unknown" for c in rec["cves"])
    assert all(c["reason"].startswith("version hidden") for c in rec["cves"])


def test_shodan_greeting_and_ehlo(store: Store, tmp_path: Path) -> None:
    common = {"transport": "tcp", "timestamp": "2026-03-02T10:11:12.123456", "hostnames": []}
    path = _lines(
        tmp_path / "shodan.json",
        [
            {**common, "ip_str": "198.51.100.61", "port": 25, "data": CUSTOM_SMTP + EXIM_EHLO,
             "_shodan": {"id": "e1", "module": "smtp"}},
            {**common, "ip_str": "198.51.100.62", "port": 25,
             "data": CUSTOM_SMTP + POSTFIX_EHLO, "_shodan": {"id": "p1", "module": "smtp"}},
            {**common, "ip_str": "198.51.100.63", "port": 143, "data": DOVECOT_IMAP,
             "_shodan": {"id": "d1", "module": "imap"}},
        ],
    )  # fmt: skip
    recs = _records(store, "shodan", path)
    _from_dialogue(recs["198.51.100.61", 25], "exim")
    _from_dialogue(recs["198.51.100.62", 25], "postfix")
    _from_dialogue(recs["198.51.100.63", 143], "dovecot")
    assert recs["198.51.100.63", 143]["evidence"] == ["imap.capability"]


def test_censys_ehlo(store: Store, tmp_path: Path) -> None:
    host = {
        "ip": "203.0.113.61",
        "last_updated_at": "2026-03-03T08:00:00.000Z",
        "services": [
            {"port": 25, "service_name": "SMTP", "transport_protocol": "TCP",
             "observed_at": "2026-03-03T07:59:00.000Z", "banner": CUSTOM_SMTP,
             "smtp": {"start_tls": True, "ehlo": POSTFIX_EHLO}},
        ],
    }  # fmt: skip
    rec = _records(store, "censys", _lines(tmp_path / "censys.json", [host]))
    _from_dialogue(rec["203.0.113.61", 25], "postfix")


def test_zgrab2_ehlo_help_and_quit(store: Store, tmp_path: Path) -> None:
    record = {
        "ip": "192.0.2.61",
        "data": {
            "smtp": {
                "status": "success",
                "protocol": "smtp",
                "timestamp": "2026-03-04T09:00:00Z",
                "result": {
                    "banner": CUSTOM_SMTP,
                    "ehlo": EXIM_EHLO,
                    "help": EXIM_HELP,
                    "quit": "221 mx.example.org closing connection\r\n",
                },
            }
        },
    }
    path = _lines(tmp_path / "zgrab2.json", [record])
    r = import_files(store, "zgrab2", [path], analyze=False)
    (t,) = store.iter_transcripts(r.scan)
    assert [s.name for s in t.steps] == ["greeting", "ehlo", "help", "quit"]
    rec = _records(store, "zgrab2", path)["192.0.2.61", 25]
    _from_dialogue(rec, "exim")
    assert set(rec["evidence"]) == {"smtp.ehlo-shape", "smtp.help", "smtp.quit"}


def test_nmap_smtp_commands_with_a_customised_banner(store: Store, tmp_path: Path) -> None:
    """The real nmap 7.93 run on Debian's Exim, its banner script output replaced by a
    customised greeting: smtp-commands still names Exim (EHLO keywords and HELP)."""
    xml = (FIXTURES / "nmap-exim.xml").read_text()
    xml = xml.replace(
        'output="220 vm ESMTP Exim 4.96 Mon, 23 Nov 2026 23:27:36 +0000"',
        'output="220 vm ESMTP Mail Service ready"',
    )
    xml = xml.replace('product="Exim smtpd" version="4.96" ', "")
    path = tmp_path / "nmap.xml"
    path.write_text(xml)
    r = import_files(store, "nmap-xml", [path], analyze=False)
    transcripts = {t.port: t for t in store.iter_transcripts(r.scan)}
    smtp = transcripts[2525]
    assert [s.name for s in smtp.steps][:3] == ["greeting", "ehlo", "help"]
    help_ = smtp.step("help")
    assert help_ is not None and help_.received.startswith(b"214 Commands supported: AUTH")
    rec = _records(store, "nmap-xml", path)["127.0.0.1", 2525]
    assert rec["product"] == "exim" and rec["precision"] == "product"
    assert {"smtp.ehlo-shape", "smtp.help", "tls.subject"} <= set(rec["evidence"])
