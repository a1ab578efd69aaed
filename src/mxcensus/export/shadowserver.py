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
from typing import Any

from mxcensus.export.rows import FINDINGS_CTE, stream
from mxcensus.model import ScanId
from mxcensus.probes import TABLE
from mxcensus.report.fields import NOT_CONNECTED
from mxcensus.store.db import Store

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

SEVERITY_SQL = """
    CASE WHEN s.worst_status = 'vulnerable' AND coalesce(fnd.vuln_kev, false) THEN 'critical'
         WHEN s.worst_status = 'vulnerable' THEN 'high'
         WHEN s.worst_status = 'potentially-vulnerable' AND coalesce(fnd.pot_kev, false)
              THEN 'high'
         WHEN s.eol IS TRUE THEN 'high'
         WHEN s.worst_status = 'potentially-vulnerable' THEN 'medium'
         ELSE 'info' END
"""
SEVERITY_RANK = {"critical": 4, "high": 3, "medium": 2, "low": 1, "info": 0}

ROWS_SQL = f"""
    WITH {FINDINGS_CTE}
    SELECT strftime(s.observed_at AT TIME ZONE 'UTC', '%Y-%m-%d %H:%M:%S') AS ts,
           {SEVERITY_SQL} AS severity,
           s.ip, s.port, s.protocol, s.hostname, s.product, s.eol, s.asn, s.country,
           s.region, s.city, s.version, s.banner, fnd.risky_cves, fnd.risky_tags, s.org
    FROM services s LEFT JOIN fnd ON fnd.ip = s.ip AND fnd.port = s.port
    WHERE s.scan = $scan
      AND s.outcome NOT IN ({", ".join(f"'{o}'" for o in NOT_CONNECTED)})
      AND ({{at_risk}})
    ORDER BY s.ip, s.port, s.protocol
"""


@dataclass(frozen=True, slots=True)
class ShadowRow:
    report_type: str  # scan_exchange, scan_smtp_vulnerable, scan6_pop3 …
    severity: str
    ip: str
    asn: int | None
    country: str | None
    org: str | None
    values: dict[str, Any]  # by Shadowserver column name

    def row(self, columns: tuple[str, ...]) -> tuple[Any, ...]:
        return tuple(self.values.get(c) for c in columns)


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


def shadowserver_rows(
    store: Store, scan: ScanId, *, at_risk_only: bool = False
) -> Iterator[tuple[Any, ...]]:
    """Rows of ``export --format shadowserver`` (the union columns)."""
    for r in shadow_records(store, scan, at_risk_only=at_risk_only):
        yield r.row(SHADOWSERVER_COLUMNS)


def shadow_records(store: Store, scan: ScanId, *, at_risk_only: bool) -> Iterator[ShadowRow]:
    at_risk = (
        "s.worst_status IN ('vulnerable', 'potentially-vulnerable') OR s.eol IS TRUE"
        if at_risk_only
        else "true"
    )
    for (
        ts, severity, ip, port, protocol, hostname, product, eol, asn, country, region, city,
        version, banner, cves, tags, org,
    ) in stream(store, ROWS_SQL.replace("{at_risk}", at_risk), scan):  # fmt: skip
        family = FAMILY.get(protocol, protocol)
        if product == "ms-exchange" and family == "http":
            family = "exchange"
        v6 = "6" if ":" in ip else ""
        if family == "exchange":
            report_type = f"scan{v6}_exchange"
        else:
            vulnerable = severity != "info" and family in TABLE.families
            report_type = f"scan{v6}_{family}" + ("_vulnerable" if vulnerable else "")
        host = f"[{ip}]" if v6 else ip
        url = f"{protocol}://{host}:{port}/owa/" if family == "exchange" else None
        values = {
            "timestamp": ts,
            "severity": severity,
            "ip": ip,
            "protocol": "tcp",
            "port": port,
            "hostname": hostname,
            "tag": _tag(family, product, eol, cves, tags),
            "asn": asn,
            "geo": country,
            "region": region,
            "city": city,
            "naics": None,
            "hostname_source": None,  # we do not know how the name was found (PTR, cert …)
            "sector": None,
            "version": version,
            "servername": None,
            "url": url,
            "banner": banner,
        }
        yield ShadowRow(report_type, severity, ip, asn, country, org, values)
