"""The SQL that exports read: flat service rows with their findings, streamed in batches."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from mxcensus.model import ScanId
from mxcensus.store.db import Store

BATCH = 10_000

FLAT_COLUMNS = (
    "scan", "ip", "port", "protocol", "transport", "observed_at", "outcome", "source",
    "hostname", "vendor", "product", "product_line", "version", "precision", "release",
    "confidence", "distro", "verdict", "kev", "eol", "eol_line", "eol_date", "cves",
    "country", "continent", "region", "asn", "org", "city", "banner",
)  # fmt: skip

FINDINGS_CTE = """
    fnd AS (
        SELECT ip, port,
               string_agg(cve || ':' || status, ';' ORDER BY cve) AS cves,
               list({'id': cve, 'status': status, 'kev': kev, 'cvss': cvss,
                     'fixed_in': fixed_in} ORDER BY cve) AS cve_list,
               bool_or(kev AND status = 'vulnerable') AS vuln_kev,
               bool_or(kev AND status = 'potentially-vulnerable') AS pot_kev,
               string_agg(CASE WHEN status IN ('vulnerable', 'potentially-vulnerable')
                          THEN lower(cve) END, ';' ORDER BY cve) AS risky_cves,
               string_agg(CASE WHEN status IN ('vulnerable', 'potentially-vulnerable')
                          THEN array_to_string(tags, ';') END, ';' ORDER BY cve) AS risky_tags
        FROM findings WHERE scan = $scan GROUP BY ip, port)
"""

FLAT_SQL = f"""
    WITH {FINDINGS_CTE}
    SELECT s.scan, s.ip, s.port, s.protocol, s.transport,
           strftime(s.observed_at AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%SZ') AS observed_at,
           s.outcome, s.source, s.hostname, s.vendor, s.product, s.product_line, s.version,
           s.precision, s.release, s.confidence, s.distro, s.worst_status AS verdict, s.kev,
           s.eol, s.eol_line, s.eol_date, fnd.cves, s.country, s.continent, s.region, s.asn,
           s.org, s.city, s.banner
    FROM services s LEFT JOIN fnd ON fnd.ip = s.ip AND fnd.port = s.port
    WHERE s.scan = $scan
    ORDER BY s.ip, s.port, s.protocol
"""


def stream(store: Store, sql: str, scan: ScanId, **params: Any) -> Iterator[tuple[Any, ...]]:
    cur = store.con.cursor()
    cur.execute(sql, {"scan": scan, **params})
    while rows := cur.fetchmany(BATCH):
        yield from rows
