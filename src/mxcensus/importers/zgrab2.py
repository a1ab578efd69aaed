"""ZGrab2: its JSON lines, one target per line, one entry per module under ``data``.

``{"ip": …, "domain": …, "data": {"smtp": {"status": "success", "protocol": "smtp",
"timestamp": …, "result": {"banner", "ehlo", "help", "starttls", "quit",
"tls": {"handshake_log": …}}, "error": …}}}`` (help and quit with --send-help and
--send-quit); likewise ``imap`` (``banner``, ``starttls``, ``tls``), ``pop3`` (``banner``,
``starttls``, ``tls``) and ``http`` (``result.response.{status_code, headers, body,
request.url}``). zgrab2 does not record the port: it is taken from a module name that ends
in digits (``smtp-587``, ``smtp587``; names come from the ini file), from the HTTP request
URL, or else from the protocol's default. zgrab2's status becomes the outcome, and what was
gathered before a failure is kept.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, BinaryIO

from mxcensus.importers import _common as c
from mxcensus.importers._jsonlines import read_json_lines
from mxcensus.importers.interface import Item
from mxcensus.model import Certificate, Outcome, Step, TlsInfo, Transcript
from mxcensus.probes import TABLE

_STATUS = {
    "success": Outcome.OK,
    "connection-refused": Outcome.REFUSED,
    "connection-timeout": Outcome.CONNECT_TIMEOUT,
    "io-timeout": Outcome.TIMEOUT,
    "protocol-error": Outcome.PROTOCOL_ERROR,
    "application-error": Outcome.ERROR,
    "unknown-error": Outcome.ERROR,
}
_PORT_IN_NAME = re.compile(r"(\d{2,5})$")


class Zgrab2Importer:
    name = "zgrab2"

    def read(self, stream: BinaryIO, path: str) -> Iterator[Item]:
        now = datetime.now(UTC)
        return read_json_lines(
            stream,
            path,
            fmt=self.name,
            looks_right=lambda d: (
                "data" in d and isinstance(d["data"], dict) and ("ip" in d or "domain" in d)
            ),
            convert=lambda d: _target(d, now),
            what="a zgrab2 result",
        )


def _target(doc: dict[str, Any], now: datetime) -> Iterator[Transcript]:
    if not doc.get("ip"):
        raise ValueError("no ip (hostname-only targets carry no address)")
    ip = c.address(doc["ip"])
    data = doc["data"]
    if not isinstance(data, dict):
        raise TypeError("data is not an object")
    for module, entry in data.items():
        if not isinstance(entry, dict):
            raise TypeError(f"data.{module} is not an object")
        family = c.family_of(0, str(entry.get("protocol") or "")) or c.family_of(0, module)
        if family is None:
            m = re.match(r"[a-z]+", module)
            family = c.family_of(0, m.group(0)) if m else None
        if family is None:
            continue
        yield _module(ip, str(doc.get("domain") or ""), module, family, entry, now)


def _port(module: str, family: str, result: dict[str, Any]) -> int:
    if isinstance(result.get("port"), int):
        return int(result["port"])
    m = None if c.family_of(0, module) else _PORT_IN_NAME.search(module)
    if m and 0 < int(m.group(1)) < 65536:
        return int(m.group(1))
    if c.is_http(family):
        url = ((result.get("response") or {}).get("request") or {}).get("url") or {}
        host = str(url.get("host") or "")
        if ":" in host and host.rsplit(":", 1)[1].isdigit():
            return int(host.rsplit(":", 1)[1])
        if url.get("scheme") == "https":
            return 443
    return c.default_port(family)


def _module(
    ip: str, domain: str, module: str, family: str, entry: dict[str, Any], now: datetime
) -> Transcript:
    result = entry.get("result") or {}
    if not isinstance(result, dict):
        raise TypeError(f"data.{module}.result is not an object")
    port = _port(module, family, result)
    status = str(entry.get("status") or "")
    if status not in _STATUS:
        raise ValueError(f"unknown status {status!r}")
    tls_doc = result.get("tls")
    starttls_reply = result.get("starttls")
    starttls = isinstance(starttls_reply, str) and bool(starttls_reply)
    implicit = isinstance(tls_doc, dict) and not starttls
    web = c.is_http(family)
    if web:
        url = ((result.get("response") or {}).get("request") or {}).get("url") or {}
        implicit = url.get("scheme") == "https" or implicit
    protocol = c.protocol_of(family, port, tls=implicit or port in TABLE.tls_ports)
    steps: list[Step] = []
    if not web:
        banner = c.to_bytes(result.get("banner"))
        if banner:
            steps.append(c.step("greeting", banner, code=c.reply_code(banner)))
        ehlo = c.to_bytes(result.get("ehlo"))  # the smtp module's EHLO reply
        if ehlo:
            steps.append(c.step("ehlo", ehlo, code=c.reply_code(ehlo)))
        if starttls:
            reply = c.to_bytes(starttls_reply)
            steps.append(c.step("starttls", reply, code=c.reply_code(reply)))
        for key in ("help", "quit"):  # --send-help and --send-quit (the smtp module)
            data = c.to_bytes(result.get(key))
            if data:
                steps.append(c.step(key, data, code=c.reply_code(data)))
    else:
        steps.append(_http_step(result))
    extra: list[tuple[str, str]] = []
    c.keep(extra, "zgrab2.module", module)
    c.keep(extra, "zgrab2.status", status)
    c.keep(extra, "zgrab2.domain", domain)
    return Transcript(
        ip=ip,
        port=port,
        protocol=protocol,
        transport=c.transport_of(protocol, starttls=starttls and isinstance(tls_doc, dict)),
        observed_at=c.parse_time(entry.get("timestamp"), now),
        outcome=_STATUS[status],
        steps=tuple(steps),
        tls=_tls(tls_doc) if isinstance(tls_doc, dict) else None,
        error=str(entry.get("error") or "")[:512],
        hostname=domain,
        source="zgrab2",
        extra=tuple(extra),
    )


def _http_step(result: dict[str, Any]) -> Step:
    resp = result.get("response") or {}
    if not isinstance(resp, dict):
        raise TypeError("response is not an object")
    code = resp.get("status_code") if isinstance(resp.get("status_code"), int) else None
    headers: list[tuple[str, str]] = []
    for k, v in (resp.get("headers") or {}).items():
        if k == "unknown" and isinstance(v, list):  # zgrab2 keeps odd headers as key/value
            for h in v:
                if isinstance(h, dict):
                    for value in h.get("value") or ():
                        headers.append((str(h.get("key") or ""), str(value)))
            continue
        name = "-".join(p.capitalize() for p in k.split("_"))
        for value in v if isinstance(v, list) else [v]:
            headers.append((name, str(value)))
    url = (resp.get("request") or {}).get("url") or {}
    path = str(url.get("path") or "/") if isinstance(url, dict) else "/"
    return c.http_step(path, code, tuple(headers), c.to_bytes(resp.get("body")))


def _tls(tls: dict[str, Any]) -> TlsInfo:
    log = tls.get("handshake_log") or tls
    hello = log.get("server_hello") or {}
    version = str((hello.get("version") or {}).get("name") or "")
    cipher = str((hello.get("cipher_suite") or {}).get("name") or "")
    chain: list[Certificate] = []
    certs = log.get("server_certificates") or {}
    for cert in [certs.get("certificate"), *(certs.get("chain") or ())]:
        if isinstance(cert, dict) and isinstance(cert.get("raw"), str):
            parsed = c.cert_from_der_b64(cert["raw"])
            if parsed is not None:
                chain.append(parsed)
    return c.tls_info(version, cipher, tuple(chain))
