"""Censys: host documents (Search 2.0 ``hosts`` records), one JSON object per line.

A host has ``ip``, ``services[]`` (``port``, ``service_name``, ``extended_service_name``,
``transport_protocol``, ``banner``, ``observed_at``, ``tls``, ``http.response.{status_code,
headers, body}``, ``smtp``/``imap``/``pop3`` with ``start_tls``, ``software[]``),
``location`` (``country_code``, ``city``, ``province``, ``continent``), ``autonomous_system``
(``asn``, ``name``) and ``last_updated_at``. Each SMTP, IMAP, POP3 or HTTP(S) service becomes
one transcript. Exports written as a single JSON array or ``{"result": {"hits": [...]}}`` are
read whole when they are at most 256 MiB (convert bigger ones with ``jq -c '.[]'``).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, BinaryIO, NamedTuple

import orjson

from mxcensus.importers import _common as c
from mxcensus.importers._jsonlines import read_json_lines
from mxcensus.importers.interface import ImportProblem, Item, Skipped, WrongFormatError
from mxcensus.model import Certificate, Outcome, Step, TlsInfo, Transcript
from mxcensus.probes import TABLE

_WHOLE_MAX = 256 * 1024 * 1024
_HTTP = next(f for f, spec in TABLE.families.items() if spec.http)
"""The family of services with an ``http`` record."""


class CensysImporter:
    name = "censys"

    def read(self, stream: BinaryIO, path: str) -> Iterator[Item]:
        now = datetime.now(UTC)
        head = stream.peek(64)[:64] if hasattr(stream, "peek") else b""
        if head.lstrip()[:1] == b"[" or head.lstrip().startswith(b'{"result"'):
            return _read_whole(stream, path, now)
        return read_json_lines(
            stream,
            path,
            fmt=self.name,
            looks_right=lambda d: "ip" in d and "services" in d,
            convert=lambda d: _host(d, now),
            what="a Censys host document",
        )


def _read_whole(stream: BinaryIO, path: str, now: datetime) -> Iterator[Item]:
    data = stream.read(_WHOLE_MAX + 1)
    if len(data) > _WHOLE_MAX:
        raise WrongFormatError(
            path, "a single JSON document over 256 MiB: convert it to JSON lines (jq -c '.[]')"
        )
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise WrongFormatError(path, f"not Censys JSON: {exc}") from exc
    hits = doc.get("result", {}).get("hits") if isinstance(doc, dict) else doc
    if not isinstance(hits, list) or (hits and not (isinstance(hits[0], dict) and "ip" in hits[0])):
        raise WrongFormatError(path, "not Censys host documents (no hosts with an ip)")
    for i, host in enumerate(hits, start=1):  # element number stands in for the line
        if not isinstance(host, dict):
            yield i, ImportProblem(i, "host document is not a JSON object")
            continue
        try:
            out = list(_host(host, now))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            yield i, ImportProblem(i, f"not a Censys host document: {exc!r}")
            continue
        if not out:
            yield i, Skipped("no mail or web service")
        for t in out:
            yield i, t


class _Host(NamedTuple):
    """What a host document says of every service on it."""

    ip: str
    time: datetime
    """``last_updated_at``: the time of a service without its own ``observed_at``."""
    name: str
    """The first of its DNS names ("" when it has none)."""
    extra: tuple[tuple[str, str], ...]
    """Its location and network, the start of each of its transcripts' ``extra``."""


def _host(doc: dict[str, Any], now: datetime) -> Iterator[Transcript]:
    ip = c.address(doc["ip"])
    services = doc["services"]
    if not isinstance(services, list):
        raise TypeError("services is not a list")
    host_extra: list[tuple[str, str]] = []
    loc = doc.get("location") or {}
    if isinstance(loc, dict):
        c.keep(host_extra, "censys.location.province", loc.get("province"))
        c.keep(host_extra, "geo.country", loc.get("country_code"))
        c.keep(host_extra, "geo.city", loc.get("city"))
    asys = doc.get("autonomous_system") or {}
    if isinstance(asys, dict):
        asn = c.parse_asn(asys.get("asn"))
        c.keep(host_extra, "censys.autonomous_system.bgp_prefix", asys.get("bgp_prefix"))
        if asn is not None:
            host_extra.append(("geo.asn", str(asn)))
        c.keep(host_extra, "geo.org", asys.get("name") or asys.get("description"))
    hostname = ""
    dns = doc.get("dns") or {}
    if isinstance(dns, dict):
        names = (dns.get("reverse_dns") or {}).get("names") or dns.get("names") or ()
        if names:
            hostname = str(names[0])
    host = _Host(ip, c.parse_time(doc.get("last_updated_at"), now), hostname, tuple(host_extra))
    for svc in services:
        t = _service(host, svc)
        if t is not None:
            yield t


def _service(host: _Host, svc: Any) -> Transcript | None:
    if not isinstance(svc, dict):
        raise TypeError("service is not an object")
    port = svc["port"]
    if not isinstance(port, int) or not 0 < port < 65536:
        raise ValueError(f"bad port {port!r}")
    if str(svc.get("transport_protocol") or "TCP").upper() != "TCP":
        return None
    name = str(svc.get("service_name") or "")
    http = svc.get("http")
    family = _HTTP if isinstance(http, dict) else c.family_of(port, name)
    if family is None:
        return None
    tls_doc = svc.get("tls")
    proto_doc: dict[str, Any] = svc[family] if isinstance(svc.get(family), dict) else {}
    starttls = bool(proto_doc.get("start_tls") or proto_doc.get("starttls"))
    implicit = isinstance(tls_doc, dict) and not starttls
    protocol = c.protocol_of(family, port, tls=implicit)
    banner = c.to_bytes(svc.get("banner"))
    steps: tuple[Step, ...]
    if c.is_http(family):
        steps = (_http_step(http if isinstance(http, dict) else {}, banner),)
    else:
        steps = c.banner_steps(family, banner)
        ehlo = proto_doc.get("ehlo")  # services.smtp.ehlo: the EHLO reply
        if isinstance(ehlo, str) and ehlo and all(s.name != "ehlo" for s in steps):
            data = c.to_bytes(ehlo)
            steps = (*steps, c.step("ehlo", data, code=c.reply_code(data)))
    extra = list(host.extra)
    c.keep(extra, "censys.service_name", name)
    c.keep(extra, "censys.extended_service_name", svc.get("extended_service_name"))
    for sw in svc.get("software") or ():
        if isinstance(sw, dict):
            text = ":".join(str(sw.get(k) or "") for k in ("vendor", "product", "version")).strip(
                ":"
            )
            c.keep(extra, "censys.software", sw.get("uniform_resource_identifier") or text)
    return Transcript(
        ip=host.ip,
        port=port,
        protocol=protocol,
        transport=c.transport_of(protocol, starttls=starttls and isinstance(tls_doc, dict)),
        observed_at=c.parse_time(svc.get("observed_at"), host.time),
        outcome=Outcome.OK,
        steps=steps,
        tls=_tls(tls_doc) if isinstance(tls_doc, dict) else None,
        hostname=host.name,
        source="censys",
        extra=tuple(extra),
    )


def _http_step(http: dict[str, Any], banner: bytes) -> Step:
    resp = http.get("response") or {}
    req = http.get("request") or {}
    if not isinstance(resp, dict):
        raise TypeError("http.response is not an object")
    code = resp.get("status_code") if isinstance(resp.get("status_code"), int) else None
    headers: list[tuple[str, str]] = []
    raw_headers = resp.get("headers") or {}
    if isinstance(raw_headers, dict):
        for k, v in raw_headers.items():
            if k.startswith("_"):
                continue
            hname = k.replace("_", "-")
            for value in v if isinstance(v, list) else [v]:
                headers.append((hname, str(value)))
    if not headers and banner:
        code2, parsed, _ = c.http_head(banner)
        headers, code = list(parsed), code if code is not None else code2
    path = "/"
    uri = req.get("uri") if isinstance(req, dict) else None
    if isinstance(uri, str) and "://" in uri:
        path = "/" + uri.split("://", 1)[1].partition("/")[2]
    return c.http_step(path, code, tuple(headers), c.to_bytes(resp.get("body")))


_TLS_NAMES = {"TLSv1_0": "TLSv1", "TLSv1_1": "TLSv1.1", "TLSv1_2": "TLSv1.2", "TLSv1_3": "TLSv1.3"}


def _tls(tls: dict[str, Any]) -> TlsInfo:
    version = str(tls.get("version_selected") or "")
    cipher = str(tls.get("cipher_selected") or "")
    chain: list[Certificate] = []
    certs = tls.get("certificates") or {}
    leaf = certs.get("leaf_data") if isinstance(certs, dict) else None
    if isinstance(leaf, dict):
        raw = leaf.get("raw") or (certs.get("leaf") or {}).get("raw")
        parsed = c.cert_from_der_b64(raw) if isinstance(raw, str) else None
        if parsed is None:
            parsed = c.cert_from_fields(
                subject=str(leaf.get("subject_dn") or ""),
                issuer=str(leaf.get("issuer_dn") or ""),
                not_before=None,
                not_after=None,
                sha256=str(certs.get("leaf_fp_sha_256") or ""),
                sans=tuple(str(n) for n in leaf.get("names") or ()),
            )
        chain.append(parsed)
    return c.tls_info(_TLS_NAMES.get(version, version), cipher, tuple(chain))
