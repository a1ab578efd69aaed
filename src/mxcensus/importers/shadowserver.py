"""Shadowserver: the CSV reports ``scan_smtp``, ``scan_smtp_vulnerable``, ``scan_exchange``,
``scan_imap``, ``scan_pop3``, ``scan_http`` (and their ``scan6_`` IPv6 twins).

Columns are read by name from the header, so both layouts import: the old one
(``timestamp, ip, protocol, port, hostname, tag, asn, geo, region, city, naics, sic, …``) and
the one used since 2023 (``timestamp, severity, ip, protocol, port, hostname, tag, asn, geo,
region, city, naics, hostname_source, sector, …``). The report is named by the file
(``2024-01-02-scan_smtp-country-geo.csv``) or, failing that, by its columns and tag.

What each report carries becomes the step a live probe would have produced: ``banner`` /
``smtp_banner`` (Shadowserver writes line breaks as ``|``) the ``greeting`` (and ``ehlo``
when present); ``scan_http``'s ``http_code`` and header columns (``server``, ``content_type``,
``set_cookie`` …) a ``GET /`` step. ``scan_exchange``'s ``version`` is what their scanner read
from the Outlook Web App; it is given to identification in the form it has on the wire — a
three-part build as the ``/owa/auth/<build>/`` resource path of the logon page, a four-part
build as the ``X-OWA-Version`` header — in a ``GET /owa/auth/logon.aspx`` step whose ``sent``
is empty, because it was reconstructed from the report, not received. Every column is kept in
``extra`` as ``shadowserver.<column>``; ``geo``/``city``/``asn`` are the location hint.
"""

from __future__ import annotations

import csv
import io
import re
import sys
from collections.abc import Iterator
from contextlib import suppress
from datetime import UTC, datetime
from typing import BinaryIO

from mxcensus.importers import _common as c
from mxcensus.importers.interface import ImportProblem, Item, Skipped, WrongFormatError
from mxcensus.model import Certificate, Outcome, Step, TlsInfo, Transcript

REPORTS = {
    "scan_smtp": "smtp",
    "scan_smtp_vulnerable": "smtp",
    "scan_exchange": "http",
    "scan_imap": "imap",
    "scan_pop3": "pop3",
    "scan_http": "http",
    "scan_http_vulnerable": "http",
}
_REPORT_IN_NAME = re.compile(r"(scan6?_[a-z0-9_]+?)(?=[-.]|$)")
_BANNER_COLUMNS = ("smtp_banner", "banner", "imap_banner", "pop3_banner", "response")
_HTTP_HEADER_COLUMNS = {
    "server": "Server",
    "content_type": "Content-Type",
    "set_cookie": "Set-Cookie",
    "www_authenticate": "WWW-Authenticate",
    "connection": "Connection",
    "content_length": "Content-Length",
    "transfer_encoding": "Transfer-Encoding",
    "http_date": "Date",
    "x_owa_version": "X-OWA-Version",
}
_SKIP_EXTRA = {"ip", "port", "timestamp", "protocol", "hostname"}

csv.field_size_limit(min(sys.maxsize, 16 * 1024 * 1024))
MAX_RECORD = 32 * 1024 * 1024
"""Characters of one CSV record at most (its lines together): a longer one (a stray quote
that swallows the rest of the file, a line of nothing but commas) is one malformed record,
read past without holding it, so memory stays flat whatever the file holds."""
MAX_HEADER = 64 * 1024
"""Characters of the header at most (Shadowserver's widest has ~100 columns, ~2,000)."""


class _RecordTooLong(Exception):
    pass


class _Lines:
    """The physical lines of ``text`` for :func:`csv.reader`; raises :class:`_RecordTooLong`
    (after reading past the rest of that line) once the current record passes ``limit``
    characters (:data:`MAX_HEADER`, then :data:`MAX_RECORD`). ``held`` is reset by the
    reader's user at each record; ``n`` counts the physical lines read."""

    def __init__(self, text: io.TextIOWrapper) -> None:
        self.text = text
        self.held = 0
        self.n = 0
        self.limit = MAX_HEADER

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        line = self.text.readline(self.limit - self.held + 1)
        if not line:
            raise StopIteration
        self.held += len(line)
        self.n += 1
        if self.held > self.limit:
            while line and not line.endswith("\n"):
                line = self.text.readline(MAX_RECORD)
            self.held = 0
            raise _RecordTooLong
        return line


def report_of(path: str) -> str:
    """The report a file name says it is ("" when it says none)."""
    name = path.replace("\\", "/").rsplit("/", 1)[-1].lower()
    for m in _REPORT_IN_NAME.finditer(name):
        report = m.group(1).replace("scan6_", "scan_")
        if report in REPORTS:
            return report
    return ""


class ShadowserverImporter:
    name = "shadowserver"
    feed_suffixes = (".csv",)
    """The daily report files Shadowserver sends, as a watch feed receives them."""

    def read(self, stream: BinaryIO, path: str) -> Iterator[Item]:
        text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="replace", newline="")
        try:
            yield from _rows(_Lines(text), path, datetime.now(UTC))
        finally:
            with suppress(ValueError):  # the caller owns (and may have closed) the stream
                text.detach()


def _rows(lines: _Lines, path: str, now: datetime) -> Iterator[Item]:
    reader = csv.reader(lines)
    try:
        header = next(reader)
    except StopIteration:
        raise WrongFormatError(path, "empty file: no Shadowserver CSV header", 1) from None
    except csv.Error as exc:
        raise WrongFormatError(path, f"not a Shadowserver CSV report: {exc}", 1) from exc
    except _RecordTooLong:
        raise WrongFormatError(
            path, f"not a Shadowserver CSV report: a header longer than {MAX_HEADER} characters", 1
        ) from None
    lines.limit = MAX_RECORD
    cols = [h.strip().lower() for h in header]
    missing = {"timestamp", "ip", "port"} - set(cols)
    if missing:
        raise WrongFormatError(
            path,
            "not a Shadowserver CSV report: the header lacks " + ", ".join(sorted(missing)),
            1,
        )
    report = report_of(path) or _guess(cols)
    line = lines.n
    while True:
        start = line + 1
        lines.held = 0
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            line = lines.n
            yield start, ImportProblem(start, f"bad CSV: {exc}")
            continue
        except _RecordTooLong:
            line = lines.n
            yield start, ImportProblem(start, f"a record longer than {MAX_RECORD} characters")
            continue
        line = lines.n
        if not row or (len(row) == 1 and not row[0].strip()):
            continue
        if len(row) != len(cols):
            yield start, ImportProblem(start, f"{len(row)} fields where the header has {len(cols)}")
            continue
        rec = dict(zip(cols, row, strict=True))
        try:
            item = _row(rec, report, now)
        except ValueError as exc:
            yield start, ImportProblem(start, str(exc))
            continue
        yield start, item if item is not None else Skipped("not a mail or web service")


def _guess(cols: list[str]) -> str:
    if "servername" in cols or ("version" in cols and "url" in cols):
        return "scan_exchange"
    if "http_code" in cols:
        return "scan_http"
    return ""  # decided per row by tag and port


def _row(rec: dict[str, str], report: str, now: datetime) -> Transcript | None:
    ip = c.address(rec["ip"])
    port_s = rec["port"].strip()
    if not port_s.isdigit() or not 0 < int(port_s) < 65536:
        raise ValueError(f"bad port {port_s!r}")
    port = int(port_s)
    if rec.get("protocol", "tcp").strip().lower() not in ("tcp", ""):
        return None
    try:
        observed = c.parse_time(rec["timestamp"].strip(), now)
    except ValueError as exc:
        raise ValueError(f"bad timestamp {rec['timestamp']!r}") from exc
    tag = rec.get("tag", "").lower()
    family = REPORTS.get(report) or _family_from_tag(tag) or c.family_of(port)
    if family is None:
        return None
    tls = _tls(rec)
    starttls = tls is not None and port in (25, 587, 143, 110)
    protocol = c.protocol_of(family, port, tls=None if tls is None else not starttls)
    steps: tuple[Step, ...] = ()
    banner_raw = next((rec[k] for k in _BANNER_COLUMNS if rec.get(k)), "")
    banner = banner_raw.replace("|", "\r\n").encode("utf-8", "surrogateescape")
    if not c.is_http(family):
        steps = c.banner_steps(family, banner)
    elif report == "scan_exchange" or rec.get("servername") is not None:
        steps = _exchange_steps(rec)
    else:
        steps = _http_steps(rec)
    extra: list[tuple[str, str]] = []
    for k, v in rec.items():
        if k not in _SKIP_EXTRA and v.strip():
            c.keep(extra, f"shadowserver.{k}", v.strip())
    c.keep(extra, "shadowserver.report", report)
    country = rec.get("geo", "").strip().upper()
    if len(country) == 2 and country.isalpha() and country not in ("ZZ", "XX"):
        extra.append(("geo.country", country))
    c.keep(extra, "geo.city", rec.get("city", "").strip().title())
    asn = c.parse_asn(rec.get("asn"))
    if asn is not None:
        extra.append(("geo.asn", str(asn)))
    return Transcript(
        ip=ip,
        port=port,
        protocol=protocol,
        transport=c.transport_of(protocol, starttls=starttls),
        observed_at=observed,
        outcome=Outcome.OK,
        steps=steps,
        tls=tls,
        hostname=rec.get("hostname", "").strip(),
        source="shadowserver",
        extra=tuple(extra),
    )


def _family_from_tag(tag: str) -> str | None:
    for part in re.split(r"[;,]", tag):
        part = part.strip()
        if part == "exchange" or part.startswith("exchange"):
            return "http"
        f = c.family_of(0, part)
        if f is not None:
            return f
    return None


def _exchange_steps(rec: dict[str, str]) -> tuple[Step, ...]:
    version = rec.get("version", "").strip()
    if not re.fullmatch(r"\d+\.\d+\.\d+(\.\d+)?", version):
        version = rec.get("build", "").strip()
    if not re.fullmatch(r"\d+\.\d+\.\d+(\.\d+)?", version):
        return ()
    if version.count(".") == 3:
        return (
            c.step(
                "GET /owa/auth/logon.aspx",
                b"",
                headers=(("X-OWA-Version", version),),
                limit=c.MAX_BODY,
            ),
        )
    body = f'<link rel="shortcut icon" href="/owa/auth/{version}/themes/resources/favicon.ico">'
    return (c.step("GET /owa/auth/logon.aspx", body.encode(), limit=c.MAX_BODY),)


def _http_steps(rec: dict[str, str]) -> tuple[Step, ...]:
    code_s = rec.get("http_code", "").strip()
    code = int(code_s) if code_s.isdigit() else None
    headers = tuple(
        (name, rec[col].strip()) for col, name in _HTTP_HEADER_COLUMNS.items() if rec.get(col)
    )
    if code is None and not headers:
        return ()
    return (c.http_step("/", code, headers, b""),)


def _tls(rec: dict[str, str]) -> TlsInfo | None:
    version = rec.get("ssl_version", "") or rec.get("handshake", "")
    cipher = rec.get("cipher_suite", "")
    subject = rec.get("subject_common_name", "")
    if not (version or cipher or subject):
        return None

    def when(v: str) -> datetime | None:
        try:
            return c.parse_time(v, datetime(1970, 1, 1, tzinfo=UTC)) if v else None
        except ValueError:
            return None

    chain: tuple[Certificate, ...] = ()
    if subject or rec.get("sha256_fingerprint"):
        issuer = rec.get("issuer_common_name", "")
        chain = (
            c.cert_from_fields(
                subject=f"CN={subject}" if subject else "",
                issuer=f"CN={issuer}" if issuer else "",
                not_before=when(rec.get("cert_issue_date", "")),
                not_after=when(rec.get("cert_expiration_date", "")),
                serial=rec.get("cert_serial_number", ""),
                sha256=rec.get("sha256_fingerprint", ""),
            ),
        )
    return c.tls_info(version, cipher, chain)
