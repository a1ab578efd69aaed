"""Shadowserver-format files, which CERT pipelines that read Shadowserver's reports
(IntelMQ's Shadowserver parser bot, AbuseIO …) take as they take Shadowserver's own.

One file per report type, named as Shadowserver names them
(``2026-04-01-scan_smtp_vulnerable-as64500-asn.csv``): IntelMQ detects the report from the
file name (the first token after the date), so a file never mixes report types, and every
name part is ``[a-z0-9_]``. Columns are each report's columns in Shadowserver's order
(github.com/The-Shadowserver-Foundation/report_schema, ``reports.json``), every one in the
header, empty when unknown: a missing optional column costs one IntelMQ warning per row.

Routing: SMTP/submission/SMTPS → ``scan_smtp``, IMAP(S) → ``scan_imap``, POP3(S) →
``scan_pop3``, with ``_vulnerable`` when something is known against the service (severity
above info); Exchange's web front end at risk (vulnerable, potentially vulnerable or end of
support) → ``scan_exchange`` (that report means a vulnerable Exchange server: a patched one
is ``scan_http``); other HTTP(S) → ``scan_http[_vulnerable]``. IPv6 addresses go to the
``scan6_`` twin of each. A family Shadowserver has no report for (ManageSieve) is counted
and named by the writers, never written under another report's name
(:data:`REPORT_COLUMNS` is the list of what is written).

Severity follows Shadowserver's scale (``severity.md``): critical = vulnerable to a CVE in
CISA KEV; high = vulnerable, potentially vulnerable to a KEV CVE, or end of support; medium
= potentially vulnerable; info = exposed, nothing known against it. The tag
(``exchange;cve-2021-26855;proxylogon;eol``): the application, the product for
non-Exchange services, every CVE the service is vulnerable or potentially vulnerable to in
lower case (IntelMQ puts exactly the ``cve-N-N`` tokens into ``product.vulnerabilities``),
the knowledge's short names, ``potentially-vulnerable`` when that is the worst verdict (a
banner-based judgement, like Shadowserver's own ``*_vulnerable`` reports), and ``eol``.

What each column holds: docs/shadowserver.md.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from itertools import groupby
from pathlib import Path
from typing import Any, BinaryIO, cast

from mxcensus.errors import UsageError
from mxcensus.export.interface import ExportError
from mxcensus.model import Certificate, ScanId, Status, Step, Transcript
from mxcensus.output.csv import write_csv
from mxcensus.output.files import FileSet, refuse_database
from mxcensus.probes import TABLE
from mxcensus.store.db import Store
from mxcensus.store.filters import Filter
from mxcensus.store.queries import Reader
from mxcensus.store.results import ShadowSource
from mxcensus.store.sql import EVERYONE, SHADOW_SEVERITY_RANK, Apps

PREFIX = (
    "timestamp", "severity", "ip", "protocol", "port", "hostname", "tag", "asn", "geo",
    "region", "city", "naics", "hostname_source", "sector",
)  # fmt: skip
_CERT_NAME = (
    "business_category", "common_name", "country", "email_address", "given_name",
    "locality_name", "organization_name", "organization_unit_name", "postal_code",
    "serial_number", "state_or_province_name", "street_address", "surname",
)  # fmt: skip
_TLS_HEAD = (
    "cert_expiration_date", "cert_expired", "cert_issue_date", "cert_length",
    "cert_serial_number", "cert_valid", "cipher_suite",
)  # fmt: skip
_TLS_TAIL = (
    "self_signed", "sha1_fingerprint", "sha256_fingerprint", "sha512_fingerprint",
    "signature_algorithm", "ssl_version", "sslv3_supported",
    *(f"subject_{n}" for n in _CERT_NAME),
)  # fmt: skip
MAIL_COLUMNS = (
    *PREFIX, "banner", *_TLS_HEAD, "handshake", *(f"issuer_{n}" for n in _CERT_NAME),
    "jarm", "key_algorithm", "md5_fingerprint", *_TLS_TAIL, "validation_level",
)  # fmt: skip
"""Accessible/Vulnerable IMAP and POP3 (60 columns)."""
SMTP_COLUMNS = (
    *PREFIX, "banner", "auth_ssl_response", "auth_tls_response", *_TLS_HEAD,
    "freak_cipher_suite", "freak_vulnerable", "handshake",
    *(f"issuer_{n}" for n in _CERT_NAME), "jarm", "key_algorithm", "md5_fingerprint",
    "raw_cert", "raw_cert_chain", *_TLS_TAIL, "tlsv13_cipher", "tlsv13_support",
    "validation_level",
)  # fmt: skip
"""Accessible/Vulnerable SMTP (68 columns)."""
HTTP_COLUMNS = (
    *PREFIX, "http", "http_code", "http_reason", "content_type", "connection",
    "www_authenticate", "set_cookie", "server", "content_length", "transfer_encoding",
    "http_date", "version",
)  # fmt: skip
EXCHANGE_COLUMNS = (*PREFIX, "version", "servername", "url")

REPORT_COLUMNS: dict[str, tuple[str, ...]] = {
    "exchange": EXCHANGE_COLUMNS,
    "http": HTTP_COLUMNS,
    "http_vulnerable": (*HTTP_COLUMNS, "build_date", "detail", "build_branch"),
    "smtp": SMTP_COLUMNS,
    "smtp_vulnerable": SMTP_COLUMNS,
    "imap": MAIL_COLUMNS,
    "imap_vulnerable": MAIL_COLUMNS,
    "pop3": MAIL_COLUMNS,
    "pop3_vulnerable": MAIL_COLUMNS,
}
"""The reports mxcensus writes (each also as ``scan_`` and ``scan6_``) and their columns;
tests/export checks them against Shadowserver's published schema."""
REPORTS = frozenset(f"{v}_{name}" for name in REPORT_COLUMNS for v in ("scan", "scan6"))

FAMILY = {name: spec.family for name, spec in TABLE.protocols.items()}
"""protocol -> the application its report is named after (``smtps`` -> ``smtp``), as the
probes declare them. A family without a Shadowserver report (ManageSieve) still gets a
report type of the same pattern (``scan_managesieve``): the writers count it under that
name and write no file for it."""

APPS = Apps(FAMILY, frozenset(TABLE.families))
"""What the store's Shadowserver rows need to name report types."""

SEVERITY_RANK = SHADOW_SEVERITY_RANK
"""Severity computed in the store's query (``store.queries``), ranked most severe first."""

_UNSAFE = re.compile(r"[^A-Za-z0-9_]+")
_EOL = re.compile(r"\r\n|\r|\n")  # only these: other separators stay, as escapes


def safe_token(text: str) -> str:
    """A file-name part: runs of characters other than ``[A-Za-z0-9_]`` as one ``_``, lower
    case, ``_`` trimmed, at most 80, or ``unknown`` (the store's ``safe_token_sql`` is the
    same rule in SQL: owners are named inside the query). IntelMQ reads the report type
    from a name made of such parts (``\\w`` between the dashes)."""
    token = _UNSAFE.sub("_", text).lower().strip("_")
    return token[:80] or "unknown"


def file_name(day: str, report_type: str, *parts: str) -> str:
    """``2026-04-01-scan_smtp-as64500-asn.csv``: Shadowserver's ``DATE-REPORT-…`` name."""
    return "-".join((day, report_type, *map(safe_token, parts))) + ".csv"


def columns_for(report_type: str) -> tuple[str, ...]:
    """The columns of a report type (``scan6_smtp_vulnerable``); KeyError for one
    Shadowserver has no report for (see :data:`REPORTS`)."""
    return REPORT_COLUMNS[report_type.split("_", 1)[1]]


def _tag(r: ShadowSource) -> str:
    parts = [r.app]
    if r.app != "exchange" and r.product != "unknown":
        parts.append(r.product)
    if r.risky_cves:
        parts += r.risky_cves.lower().split(";")
    if r.risky_tags:
        parts += r.risky_tags.split(";")
    if r.status == Status.POTENTIALLY_VULNERABLE:
        parts.append("potentially-vulnerable")
    if r.eol:
        parts.append("eol")
    tag = ";".join(dict.fromkeys(parts))
    if ";;" in tag or "webshell" in tag.lower():
        # "webshell" anywhere in an Exchange tag makes IntelMQ classify a compromise:
        # mxcensus never looks for web shells, so no tag of ours may say one was found
        kept = (p for p in parts if p and "webshell" not in p.lower())
        tag = ";".join(dict.fromkeys(kept))
    return tag


def _hostname(name: str | None) -> str | None:
    """A DNS name as Shadowserver writes it (lower case, no trailing dot); an address is no
    host name (IntelMQ would refuse it as ``source.reverse_dns``)."""
    if not name:
        return None
    name = name.lower().rstrip(".")
    try:
        ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return name or None
    return None


def _lines(text: str) -> str:
    """Reply lines as Shadowserver writes banners: each line followed by ``|``."""
    return "".join(f"{line}|" for line in _EOL.split(text) if line)


def _received(step: Step | None) -> str | None:
    if step is None or not step.received:
        return None
    return _lines(step.received.decode("utf-8", "replace")) or None


def _yn(value: bool) -> str:
    return "Y" if value else "N"


def _hex_pairs(hexdigest: str) -> str | None:
    h = hexdigest.upper()
    return ":".join(h[i : i + 2] for i in range(0, len(h), 2)) or None


_NAME_OIDS = {
    "business_category": "2.5.4.15", "common_name": "2.5.4.3", "country": "2.5.4.6",
    "email_address": "1.2.840.113549.1.9.1", "given_name": "2.5.4.42",
    "locality_name": "2.5.4.7", "organization_name": "2.5.4.10",
    "organization_unit_name": "2.5.4.11", "postal_code": "2.5.4.17",
    "serial_number": "2.5.4.5", "state_or_province_name": "2.5.4.8",
    "street_address": "2.5.4.9", "surname": "2.5.4.4",
}  # fmt: skip


@functools.lru_cache(maxsize=4096)
def _name_parts(rfc4514: str) -> tuple[tuple[str, str], ...]:
    """The first value of each attribute Shadowserver has a column for, from a name as
    the probe stores it (RFC 4514); nothing when it does not parse (importers' names)."""
    if not rfc4514:
        return ()
    from cryptography import x509

    try:
        name = x509.Name.from_rfc4514_string(rfc4514)
    except ValueError:
        return ()
    found: dict[str, str] = {}
    for attr in name:
        for col, oid in _NAME_OIDS.items():
            if attr.oid.dotted_string == oid and col not in found:
                found[col] = attr.value if isinstance(attr.value, str) else attr.value.hex()
    return tuple(found.items())


_EPOCH_YEAR = 1970  # importers' placeholder when a source gave no date


def _when(value: datetime) -> str | None:
    if value.year <= _EPOCH_YEAR:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _cert_values(c: Certificate, observed: datetime) -> dict[str, Any]:
    v: dict[str, Any] = {
        "cert_issue_date": _when(c.not_before),
        "cert_expiration_date": _when(c.not_after),
        "cert_length": c.key_bits or None,
        "cert_serial_number": c.serial.upper() or None,
        "self_signed": _yn(c.self_signed),
        "sha256_fingerprint": _hex_pairs(c.sha256),
        "sha1_fingerprint": _hex_pairs(c.sha1),
        "key_algorithm": c.key_algorithm or None,
        "signature_algorithm": c.signature_algorithm or None,
        "ssl_version": c.x509_version,
    }
    if c.not_after.year > _EPOCH_YEAR:  # a placeholder date is unknown, never "expired"
        v["cert_expired"] = _yn(c.not_after < observed)
    for which, name in (("subject", c.subject), ("issuer", c.issuer)):
        v.update((f"{which}_{col}", val) for col, val in _name_parts(name))
    return v


def _tls_values(t: Transcript) -> dict[str, Any]:
    """The TLS columns from the probe's facts (``model.TlsInfo``), the leaf certificate's."""
    tls = t.tls
    if tls is None or not tls.version:
        return {}
    v: dict[str, Any] = {
        "handshake": tls.version,
        "cipher_suite": tls.cipher or None,
        # our client offers TLS 1.3: a server that has it negotiates it
        "tlsv13_support": _yn(tls.version == "TLSv1.3"),
        "tlsv13_cipher": tls.cipher if tls.version == "TLSv1.3" else None,
    }
    if tls.chain:
        v.update(_cert_values(tls.chain[0], t.observed_at))
    return v


_HTTP_HEADERS = {
    "content-type": "content_type", "connection": "connection",
    "www-authenticate": "www_authenticate", "set-cookie": "set_cookie", "server": "server",
    "transfer-encoding": "transfer_encoding",
}  # fmt: skip


def _http_step(t: Transcript) -> Step | None:
    return next((s for s in t.steps if s.code is not None and s.headers), None)


def _http_values(step: Step) -> dict[str, Any]:
    v: dict[str, Any] = {"http_code": step.code}
    for key, value in step.headers:
        k = key.lower()
        if k in _HTTP_HEADERS and _HTTP_HEADERS[k] not in v:
            v[_HTTP_HEADERS[k]] = value
        elif k == "content-length" and value.strip().isdigit():
            v["content_length"] = int(value)
        elif k == "date":
            try:
                parsedate_to_datetime(value)
            except (TypeError, ValueError, IndexError):
                continue  # IntelMQ drops a date it cannot read: write only readable ones
            v["http_date"] = value
    return v


def _exchange_values(t: Transcript) -> dict[str, Any]:
    """``url``: the path requested, as Shadowserver writes it (IntelMQ builds the URL from
    the row's host name or address and this path); ``servername``: the front end's
    ``X-FEServer`` header."""
    v: dict[str, Any] = {}
    for step in t.steps:
        if step.name.startswith("GET /") and "url" not in v:
            v["url"] = step.name.split()[1]
        for key, value in step.headers:
            if key.lower() == "x-feserver" and "servername" not in v:
                v["servername"] = value
    return v


def values(r: ShadowSource, t: Transcript | None) -> dict[str, Any]:
    """A service's cells by Shadowserver column name (every report's: a writer picks its
    report's columns); ``t`` is the service's transcript, where the store has it."""
    v: dict[str, Any] = {
        "timestamp": r.timestamp, "severity": r.severity, "ip": r.ip, "protocol": "tcp",
        "port": r.port, "hostname": _hostname(r.hostname), "tag": _tag(r), "asn": r.asn,
        "geo": (r.country or "").upper() or None, "region": r.region, "city": r.city,
        "version": r.version,
    }  # fmt: skip
    if v["hostname"]:
        v["hostname_source"] = r.hostname_source  # as the JSONL record says it
    if r.app == "exchange":
        v["url"] = "/owa/"
    elif r.app != "http":
        v["banner"] = _lines(r.banner.replace("\\r\\n", "\n")) if r.banner else None
    if t is None:
        return v
    if r.app == "exchange":
        v.update(_exchange_values(t))
    elif r.app == "http":
        step = _http_step(t)
        if step is not None:
            v.update(_http_values(step))
    else:
        greeting = _received(t.step("greeting"))
        if greeting:
            v["banner"] = greeting
        v["auth_tls_response"] = _received(t.step("starttls"))
        v.update(_tls_values(t))
    return v


def rows_with_transcripts(
    reader: Reader, batches: Iterable[list[ShadowSource]], scan: ScanId
) -> Iterator[tuple[ShadowSource, dict[str, Any]]]:
    """Each row of ``batches`` with its cells, the transcripts read per batch."""
    for batch in batches:
        found = reader.endpoint_transcripts(scan, [(r.ip, r.port, r.protocol) for r in batch])
        for r in batch:
            yield r, values(r, found.get((r.ip, r.port, r.protocol)))


def pick(cells: dict[str, Any], columns: tuple[str, ...]) -> tuple[Any, ...]:
    return tuple(map(cells.get, columns))


@dataclass(frozen=True, slots=True)
class ShadowRow:
    """A service as a Shadowserver row whose columns a caller picks per report type
    (``watch``'s attachments)."""

    report_type: str
    severity: str
    ip: str
    asn: int | None
    country: str | None
    org: str | None
    values: dict[str, Any]  # by Shadowserver column name

    def row(self, columns: tuple[str, ...]) -> tuple[Any, ...]:
        return pick(self.values, columns)


def shadow_records(
    source: Store | Reader, scan: ScanId, *, at_risk_only: bool
) -> Iterator[ShadowRow]:
    """The services of ``scan`` (those at risk, or every exposed one) by address."""
    reader = source.reader() if isinstance(source, Store) else source
    f = Filter(scans=(scan,), at_risk=True if at_risk_only else None)
    for r, cells in rows_with_transcripts(reader, reader.shadow_rows(f, APPS), scan):
        yield ShadowRow(r.report_type, r.severity, r.ip, r.asn, r.country, r.org, cells)


# -- export --format shadowserver ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Written:
    """What an export wrote: rows per report type (and the file of each, by name), and the
    services per report type that no Shadowserver report holds (not written)."""

    rows: dict[str, int]
    names: dict[str, str]
    unreported: dict[str, int]

    def summary(self, where: str) -> str:
        """One line: how many services went to which report, and what was left out."""
        done = ", ".join(f"{n} {t}" for t, n in self.rows.items()) or "no services"
        line = f"shadowserver: {done} ({where})"
        if self.unreported:
            left = ", ".join(f"{n} {t}" for t, n in self.unreported.items())
            line += f"; no Shadowserver report, not written: {left} (see --format jsonl or csv)"
        return line


def _export_counts(reader: Reader, f: Filter) -> tuple[dict[str, int], dict[str, int]]:
    written: dict[str, int] = {}
    unreported: dict[str, int] = {}
    for o in reader.owner_files(f, APPS, EVERYONE):
        (written if o.report_type in REPORTS else unreported)[o.report_type] = o.services
    return written, unreported


def scan_day(source: Store | Reader, scan_ref: str | None) -> tuple[Reader, ScanId, str]:
    """A reader of ``source``, the scan SCAN names (the newest when None) and the day it
    began (the date in its files' names)."""
    reader = source.reader() if isinstance(source, Store) else source
    scan = reader.resolve_scan(scan_ref)
    info = reader.scan(scan)
    assert info is not None
    return reader, scan, info.started_at.date().isoformat()


def export_reports(
    source: Store | Reader,
    scan_ref: str | None,
    *,
    out_dir: Path | None = None,
    report: str | None = None,
    out: BinaryIO | None = None,
    zip_to: BinaryIO | None = None,
    where: Filter | None = None,
    force: bool = False,
) -> Written:
    """The exposed services of a scan (narrowed by ``where``) as Shadowserver files: one per
    report type into ``out_dir`` (published together, as ``notify``'s) or as the entries of
    a zip archive streamed to ``zip_to``, or the one ``report`` into ``out``."""
    check_report(report)
    reader, scan, day = scan_day(source, scan_ref)
    f = (
        Filter(scans=(scan,), exposed=True)
        if where is None
        else replace(where, scans=(scan,), exposed=True)
    )
    with reader.bounded_memory(), reader.snapshot() as snap:
        counts, unreported = _export_counts(snap, f)
        if report is not None:
            counts = {report: counts.get(report, 0)}
        names = {t: file_name(day, t, scan, "export") for t in counts}
        batches = snap.shadow_rows(f, APPS, per=EVERYONE)
        rows = rows_with_transcripts(snap, batches, scan)
        wanted = ((r, c) for r, c in rows if r.report_type in counts)
        groups = groupby(wanted, key=lambda rc: rc[0].report_type)
        if report is not None:
            if out is None:
                raise UsageError("--report: give the stream to write to")
            cols = columns_for(report)
            n = write_csv(out, cols, (pick(c, cols) for _, g in groups for _, c in g))
            _check(report, n, counts[report])
            return Written(counts, {}, unreported)
        if zip_to is not None:
            with zipfile.ZipFile(zip_to, "w", zipfile.ZIP_DEFLATED) as zf:
                for rtype, group in groups:
                    cols = columns_for(rtype)
                    with zf.open(names[rtype], "w") as entry:
                        fh = cast(BinaryIO, entry)
                        _check(rtype, write_csv(fh, cols, (pick(c, cols) for _, c in group)),
                               counts[rtype])  # fmt: skip
            return Written(counts, names, unreported)
        if out_dir is None:
            raise UsageError(
                "--format shadowserver writes one file per report type: give -o DIR,"
                " or --report TYPE for one report on stdout"
            )
        for name in names.values():
            refuse_database(out_dir / name, source.path, force=force)
        with FileSet(out_dir, "shadowserver export") as fileset:
            for rtype, group in groups:
                cols = columns_for(rtype)
                with fileset.file(names[rtype]) as fh:
                    _check(rtype, write_csv(fh, cols, (pick(c, cols) for _, c in group)),
                           counts[rtype])  # fmt: skip
            fileset.commit()
    return Written(counts, names, unreported)


def check_report(report: str | None) -> None:
    """A report type asked for by name must be one Shadowserver has."""
    if report is not None and report not in REPORTS:
        raise UsageError(f"--report {report!r}: choose from {', '.join(sorted(REPORTS))}")


def _check(report: str, written: int, counted: int) -> None:
    if written != counted:
        raise ExportError(f"shadowserver: {report} has {written} rows, counted {counted}")
