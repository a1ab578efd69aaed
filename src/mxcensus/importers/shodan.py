"""Shodan: the JSON lines of ``shodan download`` (one banner per line, gzip as shipped).

A banner has ``ip_str``, ``port``, ``transport``, ``timestamp``, ``hostnames``, ``data`` (what
the crawler received: for SMTP the greeting and EHLO reply, for IMAP/POP3 the greeting and
capabilities, for HTTP the response head), ``_shodan.module``, ``http.*`` (``status``,
``title``, ``html``, ``location``), ``ssl.*`` (``cipher``, ``versions``, ``chain``, ``cert``),
``location.*``, ``asn``, ``org``, ``product``, ``version``. SMTP, IMAP, POP3 and HTTP(S)
banners become transcripts; others are skipped.

The converter's parts are public for the columnar path (:mod:`.shodan_columnar`), which
calls them once per distinct value so that both paths give the same transcripts:
:func:`address_of`, :func:`service_of` (protocol, transport and steps of a banner),
:func:`tls_of`, :func:`asn_text` and :func:`iso_time`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from functools import partial
from typing import Any, BinaryIO

from mxcensus.importers import _common as c
from mxcensus.importers._jsonlines import read_json_lines
from mxcensus.importers.interface import FILE_START, DocItem, Item, ReadAt, Stager
from mxcensus.model import Outcome
from mxcensus.probes import TABLE
from mxcensus.serialize import transcript_from_dict

# org, asn and location.{country_code,city} are kept once, as the geo.* hint
_KEEP_DOC = ("product", "version", "info", "os", "isp", "devicetype", "cpe23", "cpe", "domains")
_KEEP = (_KEEP_DOC, {k: f"shodan.{k}" for k in _KEEP_DOC})
_KEEP_META = (("id",), {"id": "shodan.id"})
_KEEP_HTTP = (
    ("title", "server", "host"),
    {k: f"shodan.http.{k}" for k in ("title", "server", "host")},
)


class ShodanImporter:
    name = "shodan"
    feed_suffixes = (".json", ".jsonl", "")
    """A watch feed's Shodan downloads; "": also any file no other format claims."""

    def read(self, stream: BinaryIO, path: str) -> Iterator[Item]:
        for n, item in self.read_docs(stream, path):
            if isinstance(item, dict):
                yield n, transcript_from_dict(item)
            else:
                yield n, item

    def read_docs(self, stream: BinaryIO, path: str, at: ReadAt = FILE_START) -> Iterator[DocItem]:
        """:meth:`read` with each transcript in its stored JSON form (what the import writes),
        from ``at`` in the file."""
        return read_json_lines(
            stream,
            path,
            fmt=self.name,
            looks_right=lambda d: "port" in d and ("ip_str" in d or "ip" in d),
            convert=partial(_convert, now=at.now or datetime.now(UTC)),
            what="a Shodan banner",
            start=at.line,
            first=at.first,
        )

    def stager(
        self, *, threads: int, memory: str, tmp: str, now: datetime
    ) -> AbstractContextManager[Stager]:
        """The columnar fast path (``interface.ChunkedImporter``): chunks staged by SQL,
        :mod:`mxcensus.importers.shodan_columnar`."""
        from mxcensus.importers.shodan_columnar import stager

        return stager(threads=threads, memory=memory, tmp=tmp, now=now)


def address_of(doc: dict[str, Any]) -> str:
    ip = doc.get("ip_str")
    if isinstance(ip, str) and ip:
        return c.address(ip)
    raw = doc["ip"]
    if type(raw) is int and 0 <= raw < 2**128:
        return str(ipaddress.ip_address(raw))
    return c.address(raw)


def _convert(doc: dict[str, Any], now: datetime) -> list[dict[str, Any]]:
    """One banner -> its transcripts in serialize.transcript_to_dict's form."""
    port = doc["port"]
    if not isinstance(port, int) or not 0 < port < 65536:
        raise ValueError(f"bad port {port!r}")
    ip = address_of(doc)
    transport_l4 = doc.get("transport") or "tcp"
    if transport_l4 != "tcp":
        return []
    meta = doc.get("_shodan") or {}
    module = str(meta.get("module") or "")
    http = doc.get("http")
    ssl = doc.get("ssl")
    service = service_of(port, module, http, isinstance(ssl, dict), doc.get("data"))
    if service is None:
        return []
    protocol, transport, steps = service
    tls = tls_of(ssl) if isinstance(ssl, dict) else None
    extra: list[list[str]] = [["shodan.module", module]] if module else []
    add = extra.append
    text_of = c.text_of
    for source, (key, name) in ((doc, _KEEP), (meta, _KEEP_META), (http, _KEEP_HTTP)):
        if type(source) is dict:
            for k in key:
                v = source.get(k)
                if v is None:
                    continue
                if type(v) is str:  # the usual case, without a call
                    if v:
                        add([name[k], v if len(v) <= _MAX_EXTRA else v[:_MAX_EXTRA]])
                else:
                    s = text_of(v)
                    if s:
                        add([name[k], s])
    loc = doc.get("location")
    if type(loc) is dict:
        for k, key_name in _LOCATION:
            v = loc.get(k)
            if v is None:
                continue
            s = (v if len(v) <= _MAX_EXTRA else v[:_MAX_EXTRA]) if type(v) is str else text_of(v)
            if s:
                add([key_name, s])
    asn = asn_text(doc.get("asn"))
    if asn:
        add(["geo.asn", asn])
    org = text_of(doc.get("org") or doc.get("isp"))
    if org:
        add(["geo.org", org])
    hostnames = doc.get("hostnames") or ()
    return [
        {
            "ip": ip,
            "port": port,
            "protocol": protocol,
            "transport": transport,
            "observed_at": iso_time(doc.get("timestamp"), now),
            "outcome": _OK,
            "steps": steps,
            "tls": tls,
            "error": "",
            "duration_ms": 0,
            "hostname": str(hostnames[0]) if hostnames else "",
            "source": "shodan",
            "extra": extra,
        }
    ]


def service_of(
    port: int, module: str, http: Any, has_ssl: bool, data: Any
) -> tuple[str, str, list[dict[str, Any]]] | None:
    """A banner's protocol, transport and step documents (None: no mail or web service),
    from the fields they follow from: the columnar import calls it once per distinct set."""
    family = _HTTP if isinstance(http, dict) else c.family_of(port, module)
    if family is None:
        return None
    web = family == _HTTP
    # TLS from the first byte: a module that says so, HTTP with TLS facts, or TLS facts on
    # an implicit-TLS port of the line protocols (else the TLS came by STARTTLS)
    implicit = module in _TLS_NAMES or (has_ssl and (web or port in _TLS_PORTS))
    protocol = c.protocol_of(family, port, tls=implicit, name=module)
    text = data if type(data) is str else None  # the memos' key (a JSON string, as a rule)
    steps: list[dict[str, Any]]
    starttls = False
    if not web:
        memo = _STEPS.get(family)
        if memo is None:
            memo = _STEPS[family] = {}
        got = memo.get(text) if text is not None else None
        if got is None:
            got = c.banner_step_docs_text(family, c.stored_text(data))
            if text is not None:
                _remember(memo, text, got)
        steps = got
        starttls = has_ssl and not implicit
    else:
        head = _HEADS.get(text) if text is not None else None
        if head is None:
            head = c.http_head_text(c.stored_text(data))
            if text is not None:
                _remember(_HEADS, text, head)
        code, headers = head
        body = ""
        path = "/"
        if isinstance(http, dict):
            body = c.stored_text(http.get("html"))
            status = http.get("status")
            if isinstance(status, int):
                code = status
            loc = http.get("location")
            if isinstance(loc, str) and loc.startswith("/"):
                path = loc.split("?", 1)[0]
        steps = [c.http_step_doc_text(path, code, headers, body)]
    return protocol, _TRANSPORT[protocol, starttls], steps


_HTTP = next(f for f, spec in TABLE.families.items() if spec.http)
"""The family of banners with an ``http`` part."""
_TLS_NAMES = TABLE.tls_names
_TLS_PORTS = frozenset(
    p
    for spec in TABLE.specs
    if not spec.http
    for s in spec.services
    if s.implicit_tls
    for p in s.ports
)
"""The well-known implicit-TLS ports of the line protocols (465, 993, 995)."""
_STEPS: dict[str, dict[str, list[dict[str, Any]]]] = {}
"""family -> banner text -> its step documents: the same greeting and capabilities recur on
many servers (one product's defaults). Shared documents: only ever serialised, never
mutated (the store writes them; the analysis reads what the store gives back)."""
_HEADS: dict[str, tuple[int | None, list[list[str]]]] = {}
"""HTTP response head text -> its status code and headers (shared, never mutated)."""
_MEMO_ENTRIES = 16_384
_MEMO_CHARS = 8 * 1024 * 1024
_memo_chars = 0


def _remember(memo: dict[str, Any], text: str, value: Any) -> None:
    """Keep one memo entry; every memo is cleared when one is full or when they hold
    :data:`_MEMO_CHARS` characters of text in all (each holds its keys alive)."""
    global _memo_chars
    if len(memo) >= _MEMO_ENTRIES or _memo_chars >= _MEMO_CHARS:
        for m in _STEPS.values():
            m.clear()
        _HEADS.clear()
        _memo_chars = 0
    _memo_chars += len(text)
    memo[text] = value


_LOCATION = (
    ("country_code", "geo.country"),
    ("city", "geo.city"),
    ("region_code", "shodan.location.region_code"),
)


def asn_text(value: Any) -> str:
    """c.parse_asn as the text kept ("" for none); cached by the source's text ("AS3320"):
    a few thousand networks hold most servers."""
    if type(value) is str:
        got = _ASNS.get(value)
        if got is None:
            if len(_ASNS) >= 65536:
                _ASNS.clear()
            asn = c.parse_asn(value)
            got = _ASNS[value] = "" if asn is None else str(asn)
        return got
    asn = c.parse_asn(value)
    return "" if asn is None else str(asn)


_ASNS: dict[str, str] = {}

_OK = Outcome.OK.value
_MAX_EXTRA = c.MAX_EXTRA
_TRANSPORT = {
    (p, s): c.transport_of(p, starttls=s).value for p in TABLE.protocols for s in (False, True)
}


def iso_time(value: Any, now: datetime) -> str:
    """The banner's time as serialize writes it. Shodan's own form, naive UTC with
    microseconds ("2024-03-07T08:01:00.000000"), only gets its offset appended (after
    fromisoformat has checked it): parsing and formatting it again was a tenth of the import."""
    if (
        type(value) is str
        and len(value) == 26
        and value[4] == value[7] == "-"
        and value[13] == value[16] == ":"
        and value[19] == "."
    ):  # "YYYY-MM-DD?HH:MM:SS.ffffff", which DuckDB's cast reads too
        try:
            naive = datetime.fromisoformat(value).tzinfo is None
        except ValueError:
            naive = False
        if naive:
            return value + "+00:00"
    return c.parse_time(value, now).isoformat()


def tls_of(ssl: dict[str, Any]) -> dict[str, Any]:
    cipher = ssl.get("cipher") or {}
    offered = ssl.get("versions") or ()
    # the highest version offered ("-TLSv1" means not offered and matches none of them)
    version = ""
    if type(offered) is list:
        for v in _DESCENDING:
            if v in offered:
                version = v
                break
    version = version or str(cipher.get("version") or "")
    chain: list[dict[str, Any]] = []
    pems = [p for p in ssl.get("chain") or () if isinstance(p, str)]
    summary = ssl.get("cert")
    if isinstance(summary, dict) and summary.get("subject"):
        # Shodan parsed the leaf already: its summary is enough and far cheaper than X.509
        # parsing; the rest of the chain (the same few intermediates everywhere) is cached.
        chain.append(_cert_summary(summary))
        pems = pems[1:]
    for pem in pems:
        cert = c.cert_doc_from_pem(pem)
        if cert is not None:
            chain.append(cert)
    return {"version": version, "cipher": str(cipher.get("name") or ""), "chain": chain}


_ORDER = ("SSLv2", "SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3")


_DESCENDING = _ORDER[::-1]


def _when(v: Any) -> datetime | None:
    """Shodan's certificate time, "20261124012732Z"."""
    if type(v) is str and len(v) >= 14 and v[:14].isdigit():
        try:
            return datetime(int(v[0:4]), int(v[4:6]), int(v[6:8]), int(v[8:10]),
                            int(v[10:12]), int(v[12:14]), tzinfo=UTC)  # fmt: skip
        except ValueError:
            return None
    return None


def _cert_summary(cert: dict[str, Any]) -> dict[str, Any]:
    """The leaf as Shodan summarised it, in serialize's form. Cached by every field it is
    made of: a certificate recurs on each port of a host and across hosts of a provider."""
    fp = cert.get("fingerprint") or {}
    subject, issuer = cert.get("subject"), cert.get("issuer")
    try:
        key = (
            str(fp.get("sha256") or "") if type(fp) is dict else "",
            cert.get("serial"),
            cert.get("issued"),
            cert.get("expires"),
            tuple(subject.items()) if type(subject) is dict else subject,
            tuple(issuer.items()) if type(issuer) is dict else issuer,
        )
        hash(key)
    except TypeError:  # a list somewhere: build it, uncached
        return _cert_summary_doc(cert)
    got = _SUMMARIES.get(key)
    if got is None:
        if len(_SUMMARIES) >= 4096:
            _SUMMARIES.clear()
        got = _SUMMARIES[key] = _cert_summary_doc(cert)
    return got


_SUMMARIES: dict[tuple[Any, ...], dict[str, Any]] = {}
"""Shared documents: only ever serialised, never mutated."""


def _cert_summary_doc(cert: dict[str, Any]) -> dict[str, Any]:
    when = _when
    fp = cert.get("fingerprint") or {}
    serial = cert.get("serial")
    return c.cert_doc_from_fields(
        subject=c.name_string(cert.get("subject")),
        issuer=c.name_string(cert.get("issuer")),
        not_before=when(cert.get("issued")),
        not_after=when(cert.get("expires")),
        serial=format(serial, "x") if isinstance(serial, int) else str(serial or ""),
        sha256=str(fp.get("sha256") or ""),
    )
