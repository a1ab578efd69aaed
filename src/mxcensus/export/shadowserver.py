"""Shadowserver-compatible rows, so CERT pipelines that parse Shadowserver reports
(IntelMQ's shadowserver parser, AbuseIO …) can take ours.

Columns follow The Shadowserver Foundation's published report schema
(github.com/The-Shadowserver-Foundation/report_schema, ``reports.json``): the 14-column
common prefix ``timestamp … sector``, then the report-specific columns. ``scan_exchange``
("Vulnerable Exchange Server") adds ``version, servername, url``; ``scan_smtp`` /
``scan_smtp_vulnerable`` ("Accessible/Vulnerable SMTP"), ``scan_imap*`` and ``scan_pop3*``
add ``banner`` (then TLS certificate columns, which we leave out: they are optional there).

Severity follows Shadowserver's scale (``severity.md``): critical = vulnerable to a CVE in
CISA KEV (actively exploited); high = vulnerable, or potentially vulnerable to a KEV CVE, or
end of support; medium = potentially vulnerable; info = exposed, nothing known against it.
Tags: the application (``exchange``, ``smtp``, ``imap``, ``pop3``, ``http``), the product for
non-Exchange services (``exim``), every CVE the service is vulnerable or potentially
vulnerable to in lower case (``cve-2021-26855``), the knowledge's short names
(``proxylogon``, ``21nails``), and ``eol`` — e.g. ``exchange;cve-2021-26855;proxylogon``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from mxcensus.model import ScanId
from mxcensus.probes import TABLE
from mxcensus.store.db import Store
from mxcensus.store.filters import Filter
from mxcensus.store.queries import Reader
from mxcensus.store.results import ShadowSource
from mxcensus.store.sql import SHADOW_SEVERITY_RANK, Apps

PREFIX = (
    "timestamp", "severity", "ip", "protocol", "port", "hostname", "tag", "asn", "geo",
    "region", "city", "naics", "hostname_source", "sector",
)  # fmt: skip
EXCHANGE_COLUMNS = (*PREFIX, "version", "servername", "url")
BANNER_COLUMNS = (*PREFIX, "banner")
SHADOWSERVER_COLUMNS = (*PREFIX, "version", "servername", "url", "banner")
"""``export --format shadowserver`` writes every application in one file: the union."""

FAMILY = {name: spec.family for name, spec in TABLE.protocols.items()}
"""protocol -> the application its report is named after (``smtps`` -> ``smtp``), as the
probes declare them. Every family gets a report type ``scan[6]_<family>[_vulnerable]``.
Shadowserver publishes reports for SMTP, IMAP, POP3, HTTP and Exchange only: a service of
another family (ManageSieve) gets a report type of the same pattern under its own name
(``scan_managesieve_vulnerable``), so that it is exported and counted with the rest, never
dropped or folded into another application's report; a consumer that knows only
Shadowserver's types (IntelMQ's parser) sees an unknown report type, not a wrong one."""

APPS = Apps(FAMILY, frozenset(TABLE.families))
"""What the store's Shadowserver rows need to name report types."""

SEVERITY_RANK = SHADOW_SEVERITY_RANK
"""Severity computed in the store's query (``store.queries``), ranked most severe first."""


def columns_for(report_type: str) -> tuple[str, ...]:
    return EXCHANGE_COLUMNS if report_type.endswith("_exchange") else BANNER_COLUMNS


def _tag(family: str, product: str, eol: bool | None, cves: str | None, tags: str | None) -> str:
    parts = [family]
    if family != "exchange" and product != "unknown":
        parts.append(product)
    for chunk in (cves, tags):
        parts.extend(p for p in (chunk or "").split(";") if p)
    if eol:
        parts.append("eol")
    seen: list[str] = []
    for p in parts:
        if p not in seen:
            seen.append(p)
    return ";".join(seen)


def _full(r: ShadowSource) -> tuple[Any, ...]:
    """A service's row in :data:`SHADOWSERVER_COLUMNS` order."""
    url = None
    if r.app == "exchange":
        host = f"[{r.ip}]" if ":" in r.ip else r.ip
        url = f"{r.protocol}://{host}:{r.port}/owa/"
    return (
        r.timestamp, r.severity, r.ip, "tcp", r.port, r.hostname,
        _tag(r.app, r.product, r.eol, r.risky_cves, r.risky_tags),
        r.asn, r.country, r.region, r.city,
        None, r.hostname_source, None,  # naics, hostname_source, sector
        r.version, None, url, r.banner,
    )  # fmt: skip


_PICK: dict[tuple[str, ...], itemgetter[Any]] = {
    cols: itemgetter(*(SHADOWSERVER_COLUMNS.index(c) for c in cols))
    for cols in (EXCHANGE_COLUMNS, BANNER_COLUMNS, SHADOWSERVER_COLUMNS)
}


def row(r: ShadowSource, columns: tuple[str, ...]) -> tuple[Any, ...]:
    """A service's row in ``columns`` (one of this module's column lists)."""
    picked: tuple[Any, ...] = _PICK[columns](_full(r))
    return picked


def shadowserver_rows(reader: Reader, f: Filter) -> Iterator[tuple[Any, ...]]:
    """Rows of ``export --format shadowserver`` (the union columns), by address."""
    for batch in reader.shadow_rows(f, APPS):
        yield from map(_full, batch)


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
        return tuple(self.values.get(c) for c in columns)


def shadow_records(
    source: Store | Reader, scan: ScanId, *, at_risk_only: bool
) -> Iterator[ShadowRow]:
    """The services of ``scan`` (those at risk, or every exposed one) by address."""
    reader = source.reader() if isinstance(source, Store) else source
    f = Filter(scans=(scan,), at_risk=True if at_risk_only else None)
    for batch in reader.shadow_rows(f, APPS):
        for r in batch:
            values = dict(zip(SHADOWSERVER_COLUMNS, _full(r), strict=True))
            yield ShadowRow(r.report_type, r.severity, r.ip, r.asn, r.country, r.org, values)
