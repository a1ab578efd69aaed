"""The SQL the store's reader runs (``store/queries.py``), built from constants of this
package and the compiled filter (:class:`~mxcensus.store.filters.Where`); values always
travel as parameters.

A service's findings are stored once per profile (``verdicts``, by ``pid``) or, in rows of
older stores and of the reference path, per service (``finding_rows``). The service-row
queries sort the services narrow and leave a profile's findings to be looked up per batch
(:data:`PROFILE_FINDINGS`): carrying each row's findings through the sort was most of an
export's time and memory.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mxcensus.errors import UsageError
from mxcensus.model import NO_FINDINGS, Status
from mxcensus.store.filters import AT_RISK_SEVERITY, Where, ipv6_hextets_sql, severity_sql


@dataclass(frozen=True, slots=True)
class Key:
    """A group key: SQL over ``services s``; ``finding``: over the finding ``f`` when the
    unit is service × CVE; ``per_finding``: the key is the finding's (the unit becomes
    service × CVE); ``placed``: the key says where the host is, so every service of a host
    in a scan has the same value (the analysis locates a host once)."""

    service: str
    finding: str = ""
    per_finding: bool = False
    placed: bool = False

    def sql(self, with_findings: bool) -> str:
        return self.finding if with_findings and self.finding else self.service


KEYS: dict[str, Key] = {
    "product": Key("s.product"),
    "product_line": Key("s.product_line"),
    "version": Key("s.version"),
    "release": Key("s.release"),
    "cve": Key("f.cve", per_finding=True),
    "verdict": Key("s.worst_status", "f.status"),
    "kev": Key("s.kev", "f.kev"),
    "eol": Key("s.eol"),
    "country": Key("s.country", placed=True),
    "continent": Key("s.continent", placed=True),
    "asn": Key("s.asn", placed=True),
    "org": Key("s.org", placed=True),
    "port": Key("s.port"),
    "protocol": Key("s.protocol"),
}


def counted_rows_sql(keys: Sequence[str], where: Where) -> str:
    """The rows counted: exposed services (or service × CVE pairs) with the group keys.

    Columns: ``k0..kN``, ``scan``, ``ip``, ``sev`` (verdict severity), ``eol``. A service's
    CVE verdicts are its profile's (``verdicts``, joined by ``pid``: a small table) or, for
    older rows, its own (``finding_rows``).
    """
    ks = [KEYS[k] for k in keys]
    with_findings = any(k.per_finding for k in ks)
    cols = "".join(f"{k.sql(with_findings)} AS k{i}, " for i, k in enumerate(ks))
    verdict = "f.status" if with_findings else "s.worst_status"
    select = f"SELECT {cols}s.scan, s.ip, {severity_sql(verdict)} AS sev, s.eol FROM services s"
    if not with_findings:
        return f"{select} WHERE {where.sql}"
    return (
        f"{select} JOIN finding_rows f ON f.scan = s.scan AND f.ip = s.ip AND f.port = s.port"
        f" WHERE s.pid IS NULL AND {where.sql}"
        f" UNION ALL {select} JOIN verdicts f ON f.scan = s.scan AND f.pid = s.pid"
        f" WHERE {where.sql}"
    )


def group_sql(keys: Sequence[str], where: Where, *, per_scan: bool = False) -> str:
    """Counts per group (:class:`GroupRow` columns); hosts under their most severe verdict
    when grouping by verdict."""
    cols = ", ".join(f"k{i}" for i in range(len(keys)))
    base = counted_rows_sql(keys, where)
    if "verdict" in keys:
        part = "scan, ip" + (f", k{list(keys).index('cve')}" if "cve" in keys else "")
        base = f"SELECT *, max(sev) OVER (PARTITION BY {part}) AS host_sev FROM ({base})"
        hosts = "count(DISTINCT ip) FILTER (WHERE sev = host_sev)"
    else:
        hosts = "count(DISTINCT ip)"
    scan_col = "scan, " if per_scan else ""
    vuln, pot = Status.VULNERABLE.severity, Status.POTENTIALLY_VULNERABLE.severity
    return (
        f"SELECT {scan_col}{cols}, {hosts} AS hosts, count(*) AS services,"
        f" count(*) FILTER (WHERE sev = {vuln}) AS vulnerable,"
        f" count(*) FILTER (WHERE sev = {pot}) AS potentially,"
        " count(*) FILTER (WHERE eol IS TRUE) AS eol"
        f" FROM ({base}) GROUP BY {scan_col}{cols}"
    )


def placed_group_sql(keys: Sequence[str], where: Where, *, per_scan: bool = False) -> str | None:
    """:func:`group_sql`'s counts without its window, when the keys are the verdict and
    keys that say where a host is (``Key.placed``), or None when they are not.

    A host then falls in one group of the other keys, so its most severe verdict is one
    aggregate per host (``arg_max``) instead of a window over every service — under the
    report's memory cap the window spills, and this runs in a fifth of its time. The last
    column, ``exact``, is false when some host's services disagree on such a key after all
    (a store written otherwise): then :func:`group_sql` must give the counts."""
    ks = [KEYS[k] for k in keys]
    if "verdict" not in keys or any(k.per_finding for k in ks):
        return None
    vi = list(keys).index("verdict")
    others = [i for i, k in enumerate(ks) if i != vi]
    if not all(ks[i].placed for i in others):
        return None
    cols = ", ".join(f"k{i}" for i in range(len(keys)))
    scan_col = "scan, " if per_scan else ""
    place = "".join(f"min(k{i}) AS k{i}, " for i in others)
    same = " AND ".join(
        f"min(k{i}) IS NOT DISTINCT FROM max(k{i}) AND count(k{i}) IN (0, count(*))" for i in others
    )
    base = counted_rows_sql(keys, where)
    on = " AND ".join(
        (["h.scan = s.scan"] if per_scan else [])
        + [f"h.k{i} IS NOT DISTINCT FROM s.k{i}" for i in range(len(keys))]
    )
    vuln, pot = Status.VULNERABLE.severity, Status.POTENTIALLY_VULNERABLE.severity
    return f"""
        WITH h AS MATERIALIZED (
            SELECT {scan_col}{cols}, count(DISTINCT ip) AS hosts, bool_and(same) AS exact
            FROM (SELECT {place}scan, ip, arg_max(k{vi}, sev) AS k{vi}, {same or "true"} AS same
                  FROM ({base}) GROUP BY scan, ip)
            GROUP BY {scan_col}{cols}),
        s AS (
            SELECT {scan_col}{cols}, count(*) AS services,
                   count(*) FILTER (WHERE sev = {vuln}) AS vulnerable,
                   count(*) FILTER (WHERE sev = {pot}) AS potentially,
                   count(*) FILTER (WHERE eol IS TRUE) AS eol
            FROM ({base}) GROUP BY {scan_col}{cols})
        SELECT {"s.scan, " if per_scan else ""}{", ".join(f"s.k{i}" for i in range(len(keys)))},
               coalesce(h.hosts, 0) AS hosts, s.services, s.vulnerable, s.potentially, s.eol,
               coalesce((SELECT bool_and(exact) FROM h), true) AS exact
        FROM s LEFT JOIN h ON {on}"""


AT_RISK_SQL = f"(sev >= {AT_RISK_SEVERITY} OR eol IS TRUE)"
"""A host's or service's risk over :func:`counted_rows_sql`'s columns."""
SEVERITIES = (*((s.severity, s.value) for s in Status), (0, NO_FINDINGS))
"""(severity, verdict), most severe first: (4, vulnerable) … (0, none)."""


_V, _P = Status.VULNERABLE.value, Status.POTENTIALLY_VULNERABLE.value
AT_RISK_STATUS = f"('{_V}', '{_P}')"
FINDING_AGGREGATES = f"""
    string_agg(cve || ':' || status, ';' ORDER BY cve) AS cves,
    list({{'id': cve, 'status': status, 'kev': kev, 'cvss': cvss,
          'fixed_in': fixed_in}} ORDER BY cve) AS cve_list,
    bool_or(kev AND status = '{_V}') AS vuln_kev,
    bool_or(kev AND status = '{_P}') AS pot_kev,
    string_agg(CASE WHEN status IN {AT_RISK_STATUS} THEN lower(cve) END, ';'
               ORDER BY cve) AS risky_cves,
    string_agg(CASE WHEN status IN {AT_RISK_STATUS} THEN array_to_string(tags, ';') END,
               ';' ORDER BY cve) AS risky_tags
"""
"""A service's findings aggregated, in the columns of :data:`FINDING_COLUMNS`."""
FINDING_COLUMNS = ("cves", "cve_list", "vuln_kev", "pot_kev", "risky_cves", "risky_tags")

PROFILE_FINDINGS = f"""
    SELECT pid, {FINDING_AGGREGATES} FROM verdicts
    WHERE scan = $scan AND pid IN (SELECT unnest($keys::BIGINT[])) GROUP BY pid
"""
"""The aggregated findings of some profiles of one scan (``$keys``)."""


def service_findings_sql(w: Where, cols: str, services: str = "services") -> str:
    """The findings of the services of ``w`` (``scan, ip, port`` and ``cols`` of
    ``findings``), from either place they are stored."""
    fcols = ", ".join(f"f.{c.strip()}" for c in cols.split(","))
    vcols = ", ".join(f"v.{c.strip()}" for c in cols.split(","))
    return (
        f"SELECT s.scan, s.ip, s.port, {fcols} FROM {services} s JOIN finding_rows f"
        f" ON f.scan = s.scan AND f.ip = s.ip AND f.port = s.port"
        f" WHERE s.pid IS NULL AND {w.sql}"
        f" UNION ALL SELECT s.scan, s.ip, s.port, {vcols} FROM {services} s JOIN verdicts v"
        f" ON v.scan = s.scan AND v.pid = s.pid WHERE {w.sql}"
    )


def _per_service_findings(w: Where) -> str:
    """``fr``: the findings of older rows aggregated per service (joined by
    :data:`_PER_SERVICE_JOIN`; empty in stores the analysis wrote)."""
    return (
        f"fr AS (SELECT scan, ip, port, {FINDING_AGGREGATES} FROM finding_rows f"
        f" WHERE {w.on('f')} GROUP BY scan, ip, port)"
    )


_PER_SERVICE_JOIN = (
    " LEFT JOIN fr ON s.pid IS NULL AND fr.scan = s.scan AND fr.ip = s.ip AND fr.port = s.port"
)
_ORDER = " ORDER BY s.scan, s.ip, s.port, s.protocol"


def flat_sql(w: Where, cond: str) -> str:
    """The flat rows (``results.FlatRow``, ``cves`` of older rows only) and ``pid`` last."""
    return f"""
        WITH {_per_service_findings(w)}
        SELECT s.scan, s.ip, s.port, s.protocol, s.transport,
               strftime(s.observed_at AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%SZ') AS observed_at,
               s.outcome, s.source, s.hostname, s.vendor, s.product, s.product_line,
               s.version, s.precision, s.release, s.confidence, s.distro,
               s.worst_status AS verdict, s.kev, s.eol, s.eol_line, s.eol_date,
               fr.cves, s.country, s.continent, s.region, s.asn, s.org, s.city, s.banner,
               {HOSTNAME_SOURCE_SQL} AS hostname_source, s.pid
        FROM services s{_PER_SERVICE_JOIN} {_names_join(w)}
        WHERE {cond}{_ORDER}
    """


def arrow_sql(w: Where) -> str:
    """The typed columns Parquet writes (``cves`` a list of structs: of older rows only
    here) and ``pid`` last."""
    return f"""
        WITH {_per_service_findings(w)}
        SELECT s.scan, s.ip, s.port, s.protocol, s.transport, s.observed_at, s.outcome,
               s.source, s.hostname, s.vendor, s.product, s.product_line, s.version,
               s.precision, s.release, s.confidence, s.distro, s.evidence,
               s.worst_status AS verdict, s.kev, s.eol, s.eol_line, s.eol_date,
               CASE WHEN s.pid IS NULL THEN coalesce(fr.cve_list, []) END AS cves,
               s.country, s.continent, s.region, s.asn, s.org, s.city, s.banner,
               {HOSTNAME_SOURCE_SQL} AS hostname_source, s.pid
        FROM services s{_PER_SERVICE_JOIN} {_names_join(w)}
        WHERE {w.sql}{_ORDER}
    """


def records_sql(w: Where) -> str:
    """What a JSONL record is made of: the whole record (older rows), or the service's own
    columns, its profile's and location's ids, its host name with where the name came
    from (``scan_names``: a watched domain's MX), and ``merged`` (the record's field as
    JSON text: the observations of its endpoint merged into this one, or NULL)."""
    return f"""
        SELECT s.scan, s.record, s.ip, s.port, s.protocol, s.transport, s.observed_at,
               s.outcome, s.source, s.banner, s.pid, s.gid, s.hostname,
               {HOSTNAME_SOURCE_SQL} AS hostname_source, s.merged
        FROM services s {_names_join(w)}
        WHERE {w.sql}{_ORDER}
    """


HOSTNAME_SOURCE_SQL = (
    "CASE WHEN coalesce(s.hostname, '') = '' THEN NULL"
    " ELSE coalesce(n.source, CASE WHEN s.source = 'scan' THEN 'target' ELSE s.source END) END"
)
"""Where a service's host name came from (NULL without one), over :func:`_names_join`'s
``n``: a watched domain's MX as ``scan_names`` says, else ``model.hostname_source`` of the
row's source (``tests/store/test_queries.py`` holds the two to the same answers). Every
reader's rows take it from here: flat, Parquet, JSONL records, Shadowserver."""


def _names_join(w: Where) -> str:
    """``n.source``: where a service's host name came from when ``scan_names`` says (a
    watched domain's MX), else NULL (``model.hostname_source`` then names it)."""
    return f"""
        LEFT JOIN (SELECT scan, ip, hostname, min(source) AS source FROM scan_names s
                   WHERE {w.scans} GROUP BY scan, ip, hostname) n
             ON n.scan = s.scan AND n.ip = s.ip AND n.hostname = s.hostname
    """


# -- Shadowserver-format rows -------------------------------------------------------------

_SHADOW_SEVERITY = f"""
    CASE WHEN s.worst_status = '{_V}' AND coalesce(fk.vuln_kev, fr.vuln_kev, false)
              THEN 'critical'
         WHEN s.worst_status = '{_V}' THEN 'high'
         WHEN s.worst_status = '{_P}' AND coalesce(fk.pot_kev, fr.pot_kev, false) THEN 'high'
         WHEN s.eol IS TRUE THEN 'high'
         WHEN s.worst_status = '{_P}' THEN 'medium'
         ELSE 'info' END
"""
"""Shadowserver's severity scale: critical = vulnerable to a CVE in KEV; high = vulnerable,
potentially vulnerable to a KEV CVE, or end of support; medium = potentially vulnerable;
info = nothing known against it."""
SHADOW_SEVERITY_RANK = {"critical": 4, "high": 3, "medium": 2, "low": 1, "info": 0}


@dataclass(frozen=True, slots=True)
class Apps:
    """How Shadowserver-format rows name a service's application: ``families`` maps a
    protocol to its family (``submission`` → ``smtp``; others keep their own name), and a
    family in ``vulnerable`` gets a ``_vulnerable`` report type when something is known
    against the service. The export layer hands them down (the probes' protocol table)."""

    families: Mapping[str, str]
    vulnerable: frozenset[str]


def safe_token_sql(text: str) -> str:
    """``notify.safe_token`` in SQL: runs of characters other than ``[A-Za-z0-9_]`` as one
    ``_``, lower case, ``_`` trimmed at both ends, at most 80, or ``unknown``."""
    token = f"left(trim(lower(regexp_replace({text}, '[^A-Za-z0-9_]+', '_', 'g')), '_'), 80)"
    return f"coalesce(nullif({token}, ''), 'unknown')"


HEXTETS = f"CASE WHEN contains(s.ip, ':') THEN {ipv6_hextets_sql('s.ip')} END AS h6"
"""The column ``h6`` that :func:`owner_sql` reads for an IPv6 address: its eight hextets."""


EVERYONE = "all"
"""``per`` for one owner of every service (``export --format shadowserver``'s files)."""


def owner_sql(per: str) -> str:
    """A service's owner for ``notify --per``: ``as3320``, ``de``, ``192_0_2_0_24`` (IPv4
    /24, IPv6 /48 as Python's ``ipaddress`` writes the network, over :data:`HEXTETS`, as a
    file-name token), ``unknown``; for :data:`EVERYONE`, ``all``."""
    if per == EVERYONE:
        return f"'{EVERYONE}'"
    if per == "asn":
        return "CASE WHEN s.asn IS NULL THEN 'unknown' ELSE 'as' || s.asn END"
    if per == "country":
        return (
            "CASE WHEN coalesce(s.country, '') = '' THEN 'unknown' ELSE "
            f"{safe_token_sql('s.country')} END"
        )
    if per != "prefix":
        raise UsageError(f"--per {per!r}: choose from asn, country, prefix")
    v6 = (
        "CASE WHEN s.h6[3] <> '0' THEN s.h6[1] || ':' || s.h6[2] || ':' || s.h6[3] || '::'"
        " WHEN s.h6[2] <> '0' THEN s.h6[1] || ':' || s.h6[2] || '::'"
        " WHEN s.h6[1] <> '0' THEN s.h6[1] || '::' ELSE '::' END || '_48'"
    )
    v4 = safe_token_sql(r"regexp_extract(s.ip, '^(\d+\.\d+\.\d+)\.\d+$', 1) || '.0_24'")
    return (
        f"CASE WHEN contains(s.ip, ':') THEN {safe_token_sql(v6)}"
        f" WHEN regexp_matches(s.ip, '^\\d+\\.\\d+\\.\\d+\\.\\d+$') THEN {v4}"
        " ELSE 'unknown' END"
    )


def shadow_sql(w: Where, apps: Apps, per: str | None) -> tuple[str, dict[str, Any]]:
    """The rows of ``results.ShadowSource`` (at-risk CVEs and tags of older rows only: a
    profile's are looked up by ``pid``), then ``pid`` and ``sev_rank``, for the services of
    ``w``; ``apps`` names the applications (as parameters)."""
    params = dict(w.params)
    families = apps.families
    whens = []
    for i, (proto, fam) in enumerate(sorted(families.items())):
        params[f"fp{i}"], params[f"ff{i}"] = proto, fam
        whens.append(f"WHEN $fp{i} THEN $ff{i}")
    family = f"(CASE s.protocol {' '.join(whens)} ELSE s.protocol END)" if whens else "s.protocol"
    severity = _SHADOW_SEVERITY
    for i, name in enumerate(sorted(apps.vulnerable)):
        params[f"fv{i}"] = name
    vulnerable = ", ".join(f"$fv{i}" for i in range(len(apps.vulnerable))) or "NULL"
    app = (
        "(CASE WHEN fam = 'http' AND s.product = 'ms-exchange'"
        f" AND {severity} <> 'info' THEN 'exchange' ELSE fam END)"
    )  # Shadowserver's Exchange report holds servers at risk; a patched one is plain HTTP
    report_type = (
        f"'scan' || CASE WHEN contains(s.ip, ':') THEN '6' ELSE '' END || '_' || {app}"
        f" || CASE WHEN {app} <> 'exchange' AND {severity} <> 'info' AND fam IN ({vulnerable})"
        " THEN '_vulnerable' ELSE '' END"
    )
    ranks = " ".join(f"WHEN '{k}' THEN {v}" for k, v in SHADOW_SEVERITY_RANK.items())
    owner = owner_sql(per) if per is not None else "NULL"
    hextets = f", {HEXTETS}" if per == "prefix" else ""
    sql = f"""
        WITH fk AS (SELECT scan, pid, bool_or(kev AND status = '{_V}') AS vuln_kev,
                           bool_or(kev AND status = '{_P}') AS pot_kev
                    FROM verdicts v WHERE {w.on("v")} GROUP BY scan, pid),
             {_per_service_findings(w)}
        SELECT {owner} AS owner, {report_type} AS report_type, {app} AS app,
               strftime(s.observed_at AT TIME ZONE 'UTC', '%Y-%m-%d %H:%M:%S') AS ts,
               {severity} AS severity, s.ip, s.port, s.protocol, s.hostname, s.product,
               s.eol, s.asn, s.country, s.region, s.city, s.version, s.banner,
               fr.risky_cves, fr.risky_tags, s.org, s.worst_status AS status,
               {HOSTNAME_SOURCE_SQL} AS hostname_source, s.pid,
               CASE {severity} {ranks} END AS sev_rank
        FROM (SELECT *, {family} AS fam{hextets} FROM services s) s
             LEFT JOIN fk ON s.pid IS NOT NULL AND fk.scan = s.scan AND fk.pid = s.pid
             {_PER_SERVICE_JOIN} {_names_join(w)}
        WHERE {w.sql}
    """
    return sql, params
