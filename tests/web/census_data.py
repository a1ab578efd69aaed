"""A census for the web tests, made the way users make one: Shodan-format records written
to a file and imported through ``mxcensus import`` (``importers.import_files``), so every
row of the store comes from the real import and analysis.

Hosts are spread over countries, continents and ASNs (the importer's own location, as
Shodan gives it), run Exim, Postfix, Dovecot or Exchange (an X-OWA-Version header gives the
full build), and some carry hostile banners. Addresses are documentation and test ranges:
data in a file, never contacted.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path

import orjson

PLACES = (
    ("DE", "AS3320", "Deutsche Telekom AG", "192.0.2.{}"),
    ("FR", "AS3215", "Orange S.A.", "198.51.100.{}"),
    ("US", "AS7018", "AT&T Services", "203.0.113.{}"),
    ("BR", "AS28573", "Claro S.A.", "100.64.1.{}"),
    ("JP", "AS2516", "KDDI Corporation", "100.64.2.{}"),
)
HOSTILE = (
    "220 <script>window.__pwned=1</script> ESMTP Exim 4.92\r\n",
    '220 <img src=x onerror="window.__pwned=2"> ESMTP Postfix\r\n',
    "220 javascript:window.__pwned=3 \x1b[31mred\x1b[0m \u202eevil\u202c ESMTP Exim 4.94\r\n",
    '220 =HYPERLINK("http://x","y") @SUM(1) ESMTP Exim 4.96\r\n',
)
HOSTILE_ORG = '<script>window.__pwned=4</script> "Org" & Co'
EXIM = ("4.87", "4.89_1", "4.92", "4.94.2", "4.96", "4.97.1", "4.98.2")
EXCHANGE = ("15.1.2375.7", "15.1.2507.39", "15.2.986.36", "15.2.1118.40", "15.0.1497.48")


def record(ip: str, port: int, data: str, cc: str, asn: str, org: str, when: str,
           module: str | None = None) -> dict[str, object]:  # fmt: skip
    doc: dict[str, object] = {
        "ip_str": ip, "port": port, "transport": "tcp", "timestamp": when, "data": data,
        "org": org, "isp": org, "asn": asn,
        "location": {"country_code": cc, "city": "Somewhere"},
    }  # fmt: skip
    if module:
        doc["_shodan"] = {"module": module}
    return doc


def host_records(i: int, when: str, *, patched: bool = False) -> Iterator[dict[str, object]]:
    """The services of host ``i`` (a host's software is a function of ``i``)."""
    cc, asn, org, pattern = PLACES[i % len(PLACES)]
    ip = pattern.format(1 + i // len(PLACES))
    if i == 7:
        org = HOSTILE_ORG
    kind = i % 4
    if i < len(HOSTILE) * 3 and i % 3 == 0:
        yield record(ip, 25, HOSTILE[(i // 3) % len(HOSTILE)], cc, asn, org, when)
    elif kind == 0 and patched:  # moved to Postfix: no longer at risk
        yield record(ip, 25, f"220 mx{i}.example ESMTP Postfix\r\n", cc, asn, org, when)
    elif kind == 0:
        v = EXIM[i % len(EXIM)]
        yield record(ip, 25, f"220 mx{i}.example ESMTP Exim {v} Mon, 01 Jan 2026\r\n",
                     cc, asn, org, when)  # fmt: skip
    elif kind == 1:
        yield record(ip, 25, f"220 mx{i}.example ESMTP Postfix\r\n", cc, asn, org, when)
        yield record(ip, 143, "* OK [CAPABILITY IMAP4rev1] Dovecot ready.\r\n", cc, asn, org,
                     when, "imap")  # fmt: skip
    elif kind == 2:
        build = "15.2.2562.46" if patched else EXCHANGE[i % len(EXCHANGE)]
        head = f"HTTP/1.1 302 Found\r\nX-OWA-Version: {build}\r\nLocation: /owa/\r\n\r\n"
        yield record(ip, 443, head, cc, asn, org, when, "https")
        yield record(ip, 25, f"220 mx{i}.example Microsoft ESMTP MAIL Service ready\r\n",
                     cc, asn, org, when)  # fmt: skip
    else:
        yield record(ip, 110, "+OK Dovecot ready.\r\n", cc, asn, org, when, "pop3")


def write_census(path: Path, hosts: range, when: str, *, patched: bool = False) -> Path:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wb") as fh:
        for i in hosts:
            for doc in host_records(i, when, patched=patched):
                fh.write(orjson.dumps(doc) + b"\n")
    return path


def write_many(path: Path, n: int, when: str) -> Path:
    """``n`` Shodan records, one service each, on consecutive addresses of 100.64.0.0/10
    (banners cycling through Exim versions, Postfix and Dovecot; countries by address)."""
    banners = [f"220 mx.example ESMTP Exim {v}\r\n" for v in EXIM]
    banners += ["220 mx.example ESMTP Postfix\r\n", "+OK Dovecot ready.\r\n"]
    base = int.from_bytes(bytes([100, 64, 0, 0]), "big")
    with open(path, "wb") as fh:
        for i in range(n):
            cc, asn, org, _ = PLACES[i % len(PLACES)]
            a = (base + i).to_bytes(4, "big")
            banner = banners[i % len(banners)]
            port = 110 if banner.startswith("+OK") else 25
            doc = record(".".join(map(str, a)), port, banner, cc, asn, org, when)
            fh.write(orjson.dumps(doc) + b"\n")
    return path
