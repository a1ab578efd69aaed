"""ManageSieve records as Shodan, Censys, ZGrab2 and nmap write them become managesieve
transcripts and are identified like a live probe's: the protocol table, not the importers,
knows port 4190 and nmap's service name ``sieve``.

The greetings are Debian 12's Dovecot 2.3.19.1 with Pigeonhole as the tests' real server
sends it, and Cyrus timsieved as public client code quotes it. How each tool records it:
Shodan's ``data`` holds what its crawler received (the whole greeting); Censys labels a
protocol it does not parse ``UNKNOWN`` and keeps the ``banner``; zgrab2 has no ManageSieve
module, so its generic ``banner`` module (protocol ``banner``, result ``banner``/``length``)
runs under a name the user's ini gives it, and sends its default probe "\\n" first, which
Dovecot answers with a NO; nmap names port 4190 ``sieve`` (nmap-services) and its
``banner`` script escapes CR LF as ``\\x0D\\x0A``, wraps at 75 columns and cuts with "...".
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mxcensus.importers import import_files
from mxcensus.model import Outcome, Transport
from mxcensus.store.db import Store
from tests.importers.conftest import FIXTURES

DOVECOT = (
    '"IMPLEMENTATION" "Dovecot (Debian) Pigeonhole"\r\n'
    '"SIEVE" "fileinto reject envelope encoded-character vacation subaddress '
    "comparator-i;ascii-numeric relational regex imap4flags copy include variables body "
    'enotify environment mailbox date index ihave duplicate mime foreverypart extracttext"\r\n'
    '"NOTIFY" "mailto"\r\n"SASL" ""\r\n"STARTTLS"\r\n"VERSION" "1.0"\r\n'
    'OK "Dovecot (Debian) ready."\r\n'
)
CYRUS = (
    '"IMPLEMENTATION" "Cyrus timsieved v2.4.17-Fedora-RPM-2.4.17-6.fc20"\r\n'
    '"SASL" "PLAIN"\r\n"SIEVE" "comparator-i;ascii-numeric fileinto reject vacation '
    'imapflags notify envelope relational regex subaddress copy"\r\n"STARTTLS"\r\nOK\r\n'
)


def _lines(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def _records(store: Store, fmt: str, path: Path) -> dict[tuple[str, int], dict[str, Any]]:
    r = import_files(store, fmt, [path])
    assert r.malformed == 0, r.problems
    return {(rec["ip"], rec["port"]): rec for rec in store.iter_records(r.scan)}


def _transcripts(store: Store, fmt: str, path: Path) -> dict[tuple[str, int], Any]:
    r = import_files(store, fmt, [path], analyze=False)
    return {(t.ip, t.port): t for t in store.iter_transcripts(r.scan)}


def test_shodan_banners_on_4190(store: Store, tmp_path: Path) -> None:
    path = _lines(
        tmp_path / "shodan.json",
        [
            {"ip_str": "198.51.100.41", "port": 4190, "transport": "tcp", "data": DOVECOT,
             "timestamp": "2026-03-02T10:11:12.123456", "hostnames": ["mail.example.org"],
             "_shodan": {"id": "a1b2", "module": "auto"}, "asn": "AS64500",
             "location": {"country_code": "DE"}},
            {"ip_str": "198.51.100.42", "port": 4190, "transport": "tcp", "data": CYRUS,
             "timestamp": "2026-03-02T10:11:13.000000", "hostnames": [],
             "ssl": {"versions": ["TLSv1.2"], "cipher": {"name": "ECDHE-RSA-AES256-GCM-SHA384"}},
             "_shodan": {"id": "c3d4"}},
        ],
    )  # fmt: skip
    ts = _transcripts(store, "shodan", path)
    dovecot, cyrus = ts["198.51.100.41", 4190], ts["198.51.100.42", 4190]
    assert dovecot.protocol == "managesieve" and dovecot.transport is Transport.PLAIN
    assert [(s.name, s.received) for s in dovecot.steps] == [("greeting", DOVECOT.encode())]
    assert cyrus.protocol == "managesieve" and cyrus.transport is Transport.STARTTLS
    recs = _records(store, "shodan", path)
    d, c = recs["198.51.100.41", 4190], recs["198.51.100.42", 4190]
    assert (d["protocol"], d["product"], d["precision"], d["distro"]) == (
        "managesieve",
        "dovecot",
        "product",
        "debian",
    )
    assert d["evidence"] == ["managesieve.banner"]
    assert (c["product"], c["version"], c["precision"]) == ("cyrus", "2.4.17", "version")


def test_censys_unknown_service_on_4190(store: Store, tmp_path: Path) -> None:
    host = {
        "ip": "203.0.113.41",
        "last_updated_at": "2026-03-03T08:00:00.000Z",
        "services": [
            {"port": 4190, "service_name": "UNKNOWN", "extended_service_name": "UNKNOWN",
             "transport_protocol": "TCP", "banner": DOVECOT,
             "observed_at": "2026-03-03T07:59:00.000Z"},
            {"port": 2000, "service_name": "UNKNOWN", "transport_protocol": "TCP",
             "banner": DOVECOT},  # the old draft port: not ours by port, so not taken
        ],
        "location": {"country_code": "NL"},
    }  # fmt: skip
    path = _lines(tmp_path / "censys.json", [host])
    ts = _transcripts(store, "censys", path)
    assert set(ts) == {("203.0.113.41", 4190)}
    t = ts["203.0.113.41", 4190]
    assert t.protocol == "managesieve" and t.outcome is Outcome.OK
    assert [s.name for s in t.steps] == ["greeting"]
    assert dict(t.extra)["censys.service_name"] == "UNKNOWN"
    rec = _records(store, "censys", path)["203.0.113.41", 4190]
    assert (rec["product"], rec["distro"], rec["observed_at"][:10]) == (
        "dovecot",
        "debian",
        "2026-03-03",
    )


def test_zgrab2_banner_module_named_for_sieve(store: Store, tmp_path: Path) -> None:
    banner = DOVECOT + 'NO "Error in MANAGESIEVE command received by server."\r\n'
    records = [
        {"ip": "192.0.2.41", "data": {"sieve": {
            "status": "success", "protocol": "banner", "timestamp": "2026-03-04T09:00:00Z",
            "result": {"banner": banner, "length": len(banner)}}}},
        {"ip": "192.0.2.42", "data": {"managesieve-4190": {
            "status": "success", "protocol": "banner", "timestamp": "2026-03-04T09:00:01Z",
            "result": {"banner": CYRUS, "length": len(CYRUS)}}}},
        {"ip": "192.0.2.43", "data": {"banner": {
            "status": "success", "protocol": "banner",
            "result": {"banner": CYRUS, "length": len(CYRUS)}}}},  # no port, no name: not ours
    ]  # fmt: skip
    path = _lines(tmp_path / "zgrab2.json", records)
    ts = _transcripts(store, "zgrab2", path)
    assert set(ts) == {("192.0.2.41", 4190), ("192.0.2.42", 4190)}
    t = ts["192.0.2.41", 4190]
    assert t.protocol == "managesieve" and [s.name for s in t.steps] == ["greeting"]
    assert dict(t.extra)["zgrab2.module"] == "sieve"
    recs = _records(store, "zgrab2", path)
    assert (recs["192.0.2.41", 4190]["product"], recs["192.0.2.41", 4190]["distro"]) == (
        "dovecot",
        "debian",
    )
    assert recs["192.0.2.42", 4190]["version"] == "2.4.17"


def test_nmap_sieve_service_with_its_banner_script(store: Store) -> None:
    path = FIXTURES / "nmap-sieve.xml"  # nmap 7.93 on Debian's Dovecot (test_nmap_live runs it)
    (t,) = _transcripts(store, "nmap-xml", path).values()
    assert (t.port, t.protocol, t.outcome) == (4190, "managesieve", Outcome.OK)
    (greeting,) = t.steps
    assert greeting.name == "greeting" and greeting.truncated  # nmap cut it
    assert greeting.received.startswith(b'"IMPLEMENTATION" "Dovecot (Debian) Pigeonhole"\r\n')
    assert dict(t.extra)["nmap.name"] == "sieve"
    (rec,) = _records(store, "nmap-xml", path).values()
    assert (rec["product"], rec["distro"], rec["evidence"]) == (
        "dovecot",
        "debian",
        ["managesieve.banner"],
    )
