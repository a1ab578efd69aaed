"""The report: counts by the chosen fields, computed inside DuckDB, as a :class:`Document`.

Counting rules (printed in every report, see :data:`DEFINITIONS`):

- a *service* is one row of ``services``: one ip:port (and protocol) of one scan. Ports that
  never accepted a connection (outcome refused, unreachable, connect-timeout, excluded) are
  not exposed services and are not counted anywhere;
- a *host* is one IP address. A host with several services counts once in every group any of
  its services falls into, except for the verdict, where it counts once, under its most
  severe verdict (vulnerable > potentially-vulnerable > unknown > not-vulnerable > none);
- the verdict of a service is its most severe CVE verdict; grouping by CVE counts
  service × CVE pairs, with that CVE's verdict;
- every percentage names its denominator.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from mxcensus.model import ScanId
from mxcensus.report.document import Chart, Document, Section, Value
from mxcensus.report.fields import NOT_CONNECTED, SEVERITY_SQL, Field, field_sql
from mxcensus.store.db import Store

EXPOSED_SQL = "s.outcome NOT IN (" + ", ".join(f"'{o}'" for o in NOT_CONNECTED) + ")"
AT_RISK_SQL = "(sev >= 3 OR eol IS TRUE)"

DEFINITIONS: tuple[str, ...] = (
    "Service: one ip:port (with its protocol) in one scan. Only exposed services count: a "
    "port whose probe ended refused, unreachable, connect-timeout or excluded never accepted "
    "a connection and is not counted.",
    "Host: one IP address. A host with several services counts once in each group any of "
    "them falls into (so host columns of a breakdown may add up to more than the host "
    "total), except by verdict: there a host counts once, under its most severe verdict.",
    "Verdict order, most severe first: vulnerable > potentially-vulnerable > unknown > "
    "not-vulnerable > none (a product with no CVE in our knowledge). A service's verdict is "
    "its most severe CVE verdict; grouped by CVE, each service × CVE pair counts with that "
    "CVE's verdict.",
    "Vulnerable: what was seen is precise enough and lies in the affected range with no "
    "channel shipping the fix invisibly. Potentially vulnerable: in range by what is "
    "visible, but the fix may be there unseen (backports, CU-level builds, configuration).",
    "End of support (EoL): the product line was past its vendor's end-of-support date when "
    "assessed. KEV: a CVE listed in CISA's Known Exploited Vulnerabilities catalog, counted "
    "only where the service is vulnerable or potentially vulnerable to it.",
    "At risk (host): at least one of its exposed services is vulnerable, potentially "
    "vulnerable or end of support.",
)

MEASURES = (
    "hosts",
    "services",
    "vulnerable",
    "potentially-vulnerable",
    "end-of-support",
    "% of services",
    "% of hosts",
)


def base_sql(by: tuple[Field, ...], *, scans: str = "s.scan = $scan") -> str:
    """The rows counted: exposed services (or service × CVE pairs) with the group keys.

    Columns: the ``k0..kN`` keys, ``scan``, ``ip``, ``sev`` (verdict severity), ``eol``.
    """
    with_findings = any(f.needs_findings for f in by)
    keys = "".join(
        f"{field_sql(f, with_findings=with_findings)} AS k{i}, " for i, f in enumerate(by)
    )
    verdict = "f.status" if with_findings else "s.worst_status"
    join = (
        " JOIN findings f ON f.scan = s.scan AND f.ip = s.ip AND f.port = s.port"
        if with_findings
        else ""
    )
    return (
        f"SELECT {keys}s.scan, s.ip, {SEVERITY_SQL.format(col=verdict)} AS sev, s.eol"
        f" FROM services s{join} WHERE {scans} AND {EXPOSED_SQL}"
    )


def group_sql(
    by: tuple[Field, ...], *, per_scan: bool = False, scans: str = "s.scan = $scan"
) -> str:
    """Counts per group; hosts under their most severe verdict when grouping by verdict."""
    keys = ", ".join(f"k{i}" for i in range(len(by)))
    base = base_sql(by, scans=scans)
    by_verdict = any(f.name == "verdict" for f in by)
    if by_verdict:
        part = "scan, ip" + (
            ", k" + str([f.name for f in by].index("cve"))
            if any(f.needs_findings for f in by)
            else ""
        )
        base = f"SELECT *, max(sev) OVER (PARTITION BY {part}) AS host_sev FROM ({base})"
        hosts = "count(DISTINCT ip) FILTER (WHERE sev = host_sev)"
    else:
        hosts = "count(DISTINCT ip)"
    scan_col = "scan, " if per_scan else ""
    return (
        f"SELECT {scan_col}{keys}, {hosts} AS hosts, count(*) AS services,"
        " count(*) FILTER (WHERE sev = 4) AS vulnerable,"
        " count(*) FILTER (WHERE sev = 3) AS potentially,"
        " count(*) FILTER (WHERE eol IS TRUE) AS eol"
        f" FROM ({base}) GROUP BY {scan_col}{keys}"
    )


def _pct(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 2) if whole else None


VERDICT_ORDER = (
    (4, "vulnerable"),
    (3, "potentially-vulnerable"),
    (2, "unknown"),
    (1, "not-vulnerable"),
    (0, "none"),
)


GeoRows = dict[str, list[tuple[Value, ...]]]


def totals(store: Store, scan: ScanId, *, geo: bool = False) -> tuple[dict[str, int], GeoRows]:
    """Hosts, exposed services, and both per verdict, in one pass over the services (one
    GROUP BY ip); ``rows`` also counts the ports that never connected. With ``geo``, the
    same pass also yields hosts per country and per continent (GROUPING SETS), a host
    placed where its IP address is."""
    sev = SEVERITY_SQL.format(col="s.worst_status")
    per_sev = ", ".join(f"count_if(sev = {n}) AS s{n}" for n, _ in VERDICT_ORDER)
    host_cols = ", ".join(f"count_if(ms = {n})" for n, _ in VERDICT_ORDER)
    svc_cols = ", ".join(f"coalesce(sum(s{n}), 0)::BIGINT" for n, _ in VERDICT_ORDER)
    if geo:
        head = "grouping(country), grouping(continent), country, continent"
        tail = "GROUP BY GROUPING SETS ((), (country), (continent))"
    else:
        head, tail = "1, 1, NULL, NULL", ""
    result = store.con.execute(
        f"""
        WITH h AS (SELECT ip, any_value(country) AS country, any_value(continent) AS continent,
                          max(sev) AS ms, count(*) AS n, bool_or(eol IS TRUE) AS eol, {per_sev}
                   FROM (SELECT s.ip, s.country, s.continent, s.eol, {sev} AS sev
                         FROM services s WHERE s.scan = $scan AND {EXPOSED_SQL})
                   GROUP BY ip)
        SELECT {head}, count(*), coalesce(sum(n), 0)::BIGINT, {host_cols}, {svc_cols},
               count_if(eol), count_if(ms >= 3 OR eol)
        FROM h {tail}
        """,
        {"scan": scan},
    ).fetchall()
    row_count = store.con.execute(
        "SELECT count(*) FROM services WHERE scan = $scan", {"scan": scan}
    ).fetchone()
    k = len(VERDICT_ORDER)
    out: dict[str, int] = {"rows": int(row_count[0]) if row_count else 0}
    places: GeoRows = {"country": [], "continent": []}
    for r in result:
        gc, gk, country, continent, hosts, services = r[:6]
        hv, sv = r[6 : 6 + k], r[6 + k : 6 + 2 * k]
        eol, risk = r[-2], r[-1]
        if gc and gk:
            out["hosts"], out["services"] = int(hosts or 0), int(services or 0)
            for i, (_, name) in enumerate(VERDICT_ORDER):
                out[f"hosts:{name}"] = int(hv[i] or 0)  # count_if of no rows is NULL
                out[f"services:{name}"] = int(sv[i] or 0)
        else:
            level, place = ("country", country) if not gc else ("continent", continent)
            places[level].append(
                (place, hosts, services, hv[0], hv[1], eol, risk, _pct(risk, hosts))
            )
    if "hosts" not in out:  # no exposed service at all: GROUPING SETS (()) gave one row
        out.update({"hosts": 0, "services": 0})
    for level in places:
        places[level].sort(key=lambda t: (-int(t[6] or 0), -int(t[1] or 0), str(t[0] or "~")))
    return out, places


def scan_meta(store: Store, scan: ScanId) -> dict[str, Any]:
    found = store.find_scan(scan)
    assert found is not None
    return found


def build_report(
    store: Store, scan: ScanId, by: tuple[Field, ...], *, full: bool = False
) -> Document:
    """The report of ``scan`` grouped by ``by``; ``full`` adds the HTML report's sections
    (end of support per product line, per CVE, per continent, per country with the map)."""
    meta = scan_meta(store, scan)
    tot, places = totals(store, scan, geo=full)
    params = {"scan": scan}
    keys = ", ".join(f"k{i}" for i in range(len(by)))
    rows = store.con.execute(group_sql(by) + f" ORDER BY services DESC, {keys}", params).fetchall()
    groups = tuple(
        (
            *r[: len(by)],
            r[-5],
            r[-4],
            r[-3],
            r[-2],
            r[-1],
            _pct(r[-4], tot["services"]),
            _pct(r[-5], tot["hosts"]),
        )
        for r in rows
    )
    unit = "service × CVE pairs" if any(f.needs_findings for f in by) else "services"
    sections = [
        Section(
            key="groups",
            title="By " + ", ".join(f.label for f in by),
            columns=(*(f.name for f in by), *MEASURES),
            rows=groups,
            notes=(
                f"services, vulnerable, potentially-vulnerable, end-of-support count {unit}.",
                f"% of services: services in the row / all {tot['services']} exposed services "
                "of the scan.",
                f"% of hosts: hosts in the row / all {tot['hosts']} hosts with an exposed "
                "service in the scan.",
            ),
            chart=Chart(
                "bars",
                by[0].name,
                ("vulnerable", "potentially-vulnerable"),
                also=tuple(f.name for f in by[1:]),
            ),
        ),
        _verdict_section(tot),
    ]
    if full:
        sections += [
            _eol_section(store, scan),
            _cve_section(store, scan),
            _geo_section("continent", places["continent"], tot),
            _geo_section("country", places["country"], tot),
            _at_risk_services(store, scan),
        ]
    started = meta["started_at"]
    return Document(
        kind="report",
        title=f"mxcensus report — scan {meta['name'] or meta['id']}",
        meta=(
            ("scan", str(meta["id"])),
            ("name", meta["name"]),
            ("source", meta["source"]),
            ("started", started.isoformat() if isinstance(started, datetime) else None),
            ("status", meta["status"]),
            ("generated", datetime.now(UTC).replace(microsecond=0).isoformat()),
            ("exposed services", tot["services"]),
            ("hosts", tot["hosts"]),
            ("not connected (not counted)", tot["rows"] - tot["services"]),
        ),
        definitions=DEFINITIONS,
        sections=tuple(sections),
    )


def _verdict_section(tot: dict[str, int]) -> Section:
    rows = tuple(
        (
            name,
            tot[f"hosts:{name}"],
            _pct(tot[f"hosts:{name}"], tot["hosts"]),
            tot[f"services:{name}"],
            _pct(tot[f"services:{name}"], tot["services"]),
        )
        for _, name in VERDICT_ORDER
    )
    return Section(
        key="verdicts",
        title="Hosts and services by verdict",
        columns=("verdict", "hosts", "% of hosts", "services", "% of services"),
        rows=rows,
        notes=(
            "A host counts once, under the most severe verdict of its services; host counts "
            f"add up to the {tot['hosts']} hosts.",
            f"% of services: / {tot['services']} exposed services; % of hosts: / "
            f"{tot['hosts']} hosts.",
        ),
    )


def _eol_section(store: Store, scan: ScanId) -> Section:
    rows = store.con.execute(
        f"""
        SELECT coalesce(s.product_line, s.product) AS line,
               count(DISTINCT s.ip) FILTER (WHERE s.eol IS TRUE) AS eol_hosts,
               count(*) FILTER (WHERE s.eol IS TRUE) AS eol_services,
               count(*) AS services,
               count(*) FILTER (WHERE s.eol IS NULL) AS unknown
        FROM services s WHERE s.scan = $scan AND {EXPOSED_SQL} AND s.product <> 'unknown'
        GROUP BY line HAVING count(*) FILTER (WHERE s.eol IS TRUE) > 0
        ORDER BY eol_services DESC, line
        """,
        {"scan": scan},
    ).fetchall()
    return Section(
        key="eol_by_product_line",
        title="End-of-support servers per product line",
        columns=(
            "product_line",
            "end-of-support hosts",
            "end-of-support services",
            "services of the line",
            "% end of support",
            "support unknown",
        ),
        rows=tuple((ln, h, e, n, _pct(e, n), u) for ln, h, e, n, u in rows),
        notes=(
            "% end of support: end-of-support services of the line / all exposed services "
            "identified as that line (those whose support status is unknown included).",
        ),
        chart=Chart("bars", "product_line", ("end-of-support services",)),
    )


def _cve_section(store: Store, scan: ScanId) -> Section:
    # Findings exist only for services that answered (a port that never connected has no
    # banner to identify), so no join with services is needed to keep to exposed services.
    rows = store.con.execute(
        """
        SELECT f.cve, bool_or(f.kev) AS kev,
               count_if(f.status = 'vulnerable') AS vuln,
               count_if(f.status = 'potentially-vulnerable') AS pot,
               count(DISTINCT f.ip) FILTER (WHERE f.status = 'vulnerable') AS vuln_hosts,
               count(DISTINCT f.ip) FILTER (WHERE f.status IN
                   ('vulnerable', 'potentially-vulnerable')) AS any_hosts,
               count(*) AS judged
        FROM findings f
        WHERE f.scan = $scan
        GROUP BY f.cve HAVING vuln + pot > 0
        ORDER BY vuln DESC, pot DESC, f.cve
        """,
        {"scan": scan},
    ).fetchall()
    return Section(
        key="cves",
        title="Vulnerable and potentially vulnerable services per CVE",
        columns=(
            "cve",
            "kev",
            "vulnerable",
            "potentially-vulnerable",
            "vulnerable hosts",
            "hosts vulnerable or potentially",
            "services judged",
        ),
        rows=tuple(tuple(r) for r in rows),
        notes=(
            "Services judged: exposed services whose product the CVE concerns (one verdict "
            "per service and CVE); the verdict columns count services among them.",
        ),
        chart=Chart("bars", "cve", ("vulnerable", "potentially-vulnerable")),
    )


def _geo_section(level: str, rows_out: list[tuple[Value, ...]], tot: dict[str, int]) -> Section:
    return Section(
        key=f"by_{level}",
        title=f"Hosts per {level}",
        columns=(
            level,
            "hosts",
            "services",
            "vulnerable hosts",
            "potentially-vulnerable hosts",
            "end-of-support hosts",
            "at-risk hosts",
            "% at risk",
        ),
        rows=tuple(rows_out),
        notes=(
            "Host columns count each host once, under its most severe verdict "
            "(vulnerable, potentially-vulnerable); end-of-support hosts run at least one "
            "end-of-support service.",
            f"% at risk: at-risk hosts of the {level} / hosts of the {level}.",
            f"Location is that of the IP address ({tot['hosts']} hosts in all).",
        ),
        chart=Chart("map", "country", ("% at risk",))
        if level == "country"
        else Chart("bars", level, ("at-risk hosts",)),
    )


AT_RISK_LIMIT = 200


def _at_risk_services(store: Store, scan: ScanId) -> Section:
    sev = SEVERITY_SQL.format(col="s.worst_status")
    rows = store.con.execute(
        f"""
        WITH top AS (
            SELECT s.ip, s.port, s.protocol, s.product, s.version, s.worst_status, s.eol,
                   s.country, s.asn, s.banner, {sev} AS sev
            FROM services s
            WHERE s.scan = $scan AND {EXPOSED_SQL} AND ({sev} >= 3 OR s.eol IS TRUE)
            ORDER BY sev DESC, s.eol DESC NULLS LAST, s.ip, s.port
            LIMIT {AT_RISK_LIMIT})
        SELECT top.ip, top.port, top.protocol, top.product, top.version, top.worst_status,
               top.eol,
               string_agg(f.cve, ' ' ORDER BY f.cve) FILTER (WHERE f.status IN
                   ('vulnerable', 'potentially-vulnerable')) AS cves,
               top.country, top.asn, top.banner
        FROM top LEFT JOIN findings f
             ON f.scan = $scan AND f.ip = top.ip AND f.port = top.port
        GROUP BY ALL
        ORDER BY any_value(top.sev) DESC, top.eol DESC NULLS LAST, top.ip, top.port
        """,
        {"scan": scan},
    ).fetchall()
    return Section(
        key="at_risk_services",
        title=f"Services at risk (the first {AT_RISK_LIMIT}, most severe first)",
        columns=(
            "ip",
            "port",
            "protocol",
            "product",
            "version",
            "verdict",
            "eol",
            "cves",
            "country",
            "asn",
            "banner",
        ),
        rows=tuple(tuple(r) for r in rows),
        notes=(
            "Vulnerable, potentially vulnerable or end-of-support services; the full list "
            "is in `mxcensus export` and one file per network owner in `mxcensus notify`.",
            "Banners are shown as received, control characters escaped.",
        ),
    )
