"""The web service's one door to the store: every page, API answer and download reads
through :class:`View`, a read-only view bound to the requester's :class:`Scope`\\ s.

- Which services: a :class:`Filter` compiled to a parameterised condition over
  ``services s`` (values travel as parameters, never in the SQL text); every scope of the
  view is ANDed into every query — aggregates, service lists, host pages, CVE pages,
  diffs, events and downloads alike — so a scoped token cannot reach a service outside it.
- Concurrency: each call runs on its own cursor of the one connection the service holds
  (``con.cursor()``), so requests read in parallel while a background job writes on its
  own cursor; a committed scan is visible to the next call.
- The counting rules are the report's (``report.query``): a service is an exposed ip:port,
  a host counts once under its most severe verdict, at risk means vulnerable, potentially
  vulnerable or end of support.

This module is the seam to the store's read surface: the filter and the queries here
follow ``store/filters.py`` and ``store/queries.py`` field for field, so that the service
moves onto that surface without touching its pages.
"""

from __future__ import annotations

import contextlib
import ipaddress
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, NamedTuple

import duckdb

from mxcensus.errors import StoreError, UsageError
from mxcensus.model import ScanId
from mxcensus.report.fields import NOT_CONNECTED, SEVERITY_SQL, VERDICTS
from mxcensus.store.db import Store

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
SEV = SEVERITY_SQL.format(col="s.worst_status")
EXPOSED_SQL = "s.outcome NOT IN (" + ", ".join(f"'{o}'" for o in NOT_CONNECTED) + ")"
RISK_SQL = f"({SEV} >= 3 OR s.eol IS TRUE)"


def parse_network(text: str) -> Network:
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        raise UsageError(f"{text!r}: not an IP network (CIDR) or address") from None


def _ipv4_int(col: str) -> str:
    p = [f"TRY_CAST(split_part({col}, '.', {i}) AS BIGINT)" for i in range(1, 5)]
    return f"((({p[0]} * 256 + {p[1]}) * 256 + {p[2]}) * 256 + {p[3]})"


def _ipv6_key(ip: str) -> str:
    """32 hex digits of the canonical IPv6 text ``ip`` (``::`` expanded)."""
    head, tail = f"split_part({ip}, '::', 1)", f"split_part({ip}, '::', 2)"
    hs = f"(CASE WHEN {head} = '' THEN []::VARCHAR[] ELSE string_split({head}, ':') END)"
    ts = f"(CASE WHEN {tail} = '' THEN []::VARCHAR[] ELSE string_split({tail}, ':') END)"
    fill = f"list_transform(range(8 - len({hs}) - len({ts})), lambda i: '0')"
    parts = (
        f"(CASE WHEN contains({ip}, '::') THEN {hs} || {fill} || {ts}"
        f" ELSE string_split({ip}, ':') END)"
    )
    return f"array_to_string(list_transform({parts}, lambda h: lpad(h, 4, '0')), '')"


class _Params:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.values: dict[str, Any] = {}

    def add(self, value: Any) -> str:
        name = f"{self.prefix}{len(self.values)}"
        self.values[name] = value
        return "$" + name

    def one_of(self, column: str, values: Sequence[Any]) -> str:
        return f"{column} IN ({', '.join(self.add(v) for v in values)})"

    def networks(self, column: str, nets: Sequence[Network]) -> str:
        out = []
        for net in nets:
            if net.version == 4:
                lo, hi = int(net.network_address), int(net.broadcast_address)
                out.append(
                    f"(NOT contains({column}, ':') AND {_ipv4_int(column)} "
                    f"BETWEEN {self.add(lo)} AND {self.add(hi)})"
                )
            else:  # IPv6: the 32 hex digits of the address, compared as text
                lo, hi = int(net.network_address), int(net.broadcast_address)
                out.append(
                    f"(contains({column}, ':') AND NOT contains({column}, '.') AND "
                    f"{_ipv6_key(column)} BETWEEN {self.add(f'{lo:032x}')} "
                    f"AND {self.add(f'{hi:032x}')})"
                )
        return "(" + " OR ".join(out) + ")"


@dataclass(frozen=True, slots=True)
class Scope:
    """What a token may see: services inside any of its networks, ASNs or countries."""

    networks: tuple[Network, ...] = ()
    asns: tuple[int, ...] = ()
    countries: tuple[str, ...] = ()

    @classmethod
    def parse(cls, items: Sequence[str]) -> Scope:
        """``--scope`` values: ``AS3320`` or ``3320`` (ASN), ``DE`` (country), CIDR or IP."""
        nets: list[Network] = []
        asns: list[int] = []
        countries: list[str] = []
        for raw in items:
            text = raw.strip()
            digits = text[2:] if text[:2].upper() == "AS" else text
            if digits.isdigit() and "." not in text:
                asn = int(digits)
                if not 0 < asn < 2**32:
                    raise UsageError(f"--scope {raw!r}: an ASN is 1 to 4294967295")
                asns.append(asn)
            elif len(text) == 2 and text.isalpha() and text.isascii():
                countries.append(text.upper())
            else:
                try:
                    nets.append(parse_network(text))
                except UsageError:
                    raise UsageError(
                        f"--scope {raw!r}: not a CIDR, an ASN (AS3320) or a country (DE)"
                    ) from None
        return cls(tuple(nets), tuple(asns), tuple(countries))

    def items(self) -> list[str]:
        return [
            *(str(n) for n in self.networks),
            *(f"AS{a}" for a in self.asns),
            *self.countries,
        ]

    def sql(self, p: _Params) -> str:
        parts = []
        if self.networks:
            parts.append(p.networks("s.ip", self.networks))
        if self.asns:
            parts.append(p.one_of("s.asn", self.asns))
        if self.countries:
            parts.append(p.one_of("s.country", self.countries))
        return "(" + " OR ".join(parts) + ")" if parts else "false"


@dataclass(frozen=True, slots=True)
class Filter:
    """Which services: every given criterion must hold (AND), any value of one criterion
    may match (OR); empty means any. ``exposed``: only ports that accepted a connection
    (what every count counts)."""

    scans: tuple[ScanId, ...] = ()
    exposed: bool = True
    ips: tuple[str, ...] = ()
    networks: tuple[Network, ...] = ()
    countries: tuple[str, ...] = ()
    continents: tuple[str, ...] = ()
    asns: tuple[int, ...] = ()
    orgs: tuple[str, ...] = ()
    ports: tuple[int, ...] = ()
    protocols: tuple[str, ...] = ()
    products: tuple[str, ...] = ()
    product_lines: tuple[str, ...] = ()
    versions: tuple[str, ...] = ()
    cves: tuple[str, ...] = ()
    verdicts: tuple[str, ...] = ()
    kev: bool | None = None
    eol: bool | None = None
    at_risk: bool | None = None
    seen_from: datetime | None = None
    seen_to: datetime | None = None

    def __post_init__(self) -> None:
        bad = [v for v in self.verdicts if v not in VERDICTS]
        if bad:
            raise UsageError(f"verdict {bad[0]!r}: choose from {', '.join(VERDICTS)}")

    def where(self, scopes: Sequence[Scope] = (), prefix: str = "w") -> Where:
        p = _Params(prefix)
        conds = []
        if self.scans:
            conds.append(p.one_of("s.scan", self.scans))
        if self.exposed:
            conds.append(EXPOSED_SQL)
        for column, values in (
            ("s.ip", self.ips),
            ("s.country", self.countries),
            ("s.continent", self.continents),
            ("s.asn", self.asns),
            ("s.org", self.orgs),
            ("s.port", self.ports),
            ("s.protocol", self.protocols),
            ("s.product", self.products),
            ("s.product_line", self.product_lines),
            ("s.version", self.versions),
            ("s.worst_status", self.verdicts),
        ):
            if values:
                conds.append(p.one_of(column, values))
        if self.networks:
            conds.append(p.networks("s.ip", self.networks))
        if self.cves:
            names = ", ".join(p.add(c) for c in self.cves)
            conds.append(
                f"EXISTS (SELECT 1 FROM findings f WHERE f.scan = s.scan AND f.ip = s.ip "
                f"AND f.port = s.port AND f.cve IN ({names}))"
            )
        if self.kev is not None:
            conds.append(f"s.kev = {p.add(self.kev)}")
        if self.eol is not None:
            conds.append("s.eol IS TRUE" if self.eol else "s.eol IS NOT TRUE")
        if self.at_risk is not None:
            conds.append(RISK_SQL if self.at_risk else f"NOT {RISK_SQL}")
        if self.seen_from is not None:
            conds.append(f"s.observed_at >= {p.add(self.seen_from)}")
        if self.seen_to is not None:
            conds.append(f"s.observed_at <= {p.add(self.seen_to)}")
        conds.extend(scope.sql(p) for scope in scopes)
        return Where(" AND ".join(conds) if conds else "true", p.values)


@dataclass(frozen=True, slots=True)
class Where:
    sql: str
    params: dict[str, Any] = field(default_factory=dict)


# -- rows ----------------------------------------------------------------------------------


class ScanInfo(NamedTuple):
    id: ScanId
    name: str | None
    kind: str
    source: str
    started_at: datetime
    finished_at: datetime | None
    status: str
    targets_total: int | None


class PlaceRow(NamedTuple):
    place: str | None
    hosts: int
    services: int
    vulnerable_hosts: int
    potentially_hosts: int
    eol_hosts: int
    at_risk_hosts: int


@dataclass(frozen=True, slots=True)
class Totals:
    rows: int
    hosts: int
    services: int
    hosts_by_verdict: Mapping[str, int]
    services_by_verdict: Mapping[str, int]
    eol_hosts: int
    at_risk_hosts: int
    kev_services: int
    eol_services: int
    places: Mapping[str, Sequence[PlaceRow]]


class GroupRow(NamedTuple):
    keys: tuple[Any, ...]
    hosts: int
    services: int
    vulnerable: int
    potentially: int
    eol: int


class CveCount(NamedTuple):
    cve: str
    kev: bool
    vulnerable: int
    potentially: int
    vulnerable_hosts: int
    any_hosts: int
    judged: int


class ServiceRow(NamedTuple):
    scan: str
    ip: str
    port: int
    protocol: str
    transport: str
    observed_at: datetime
    outcome: str
    product: str
    product_line: str | None
    version: str | None
    release: str | None
    precision: str
    verdict: str
    kev: bool
    eol: bool | None
    country: str | None
    continent: str | None
    asn: int | None
    org: str | None
    hostname: str | None
    banner: str | None


class ServiceKey(NamedTuple):
    scan: str
    ip: str
    port: int
    protocol: str


class FindingRow(NamedTuple):
    port: int
    cve: str
    status: str
    kev: bool
    cvss: float | None
    reason: str
    fixed_in: str | None


class ScanTotal(NamedTuple):
    scan: ScanId
    hosts: int
    services: int
    at_risk_hosts: int


class ChurnCount(NamedTuple):
    category: str
    hosts: int
    at_risk_first: int
    at_risk_last: int


class ChurnHost(NamedTuple):
    ip: str
    category: str
    first: str | None  # the host's worst verdict in the first scan
    last: str | None


class EventRow(NamedTuple):
    id: int
    watch: str
    created_at: datetime
    kind: str
    ip: str | None
    port: int | None
    cve: str | None
    summary: str
    state: str


GROUP_KEYS = {
    "product": "s.product",
    "product_line": "s.product_line",
    "version": "s.version",
    "release": "s.release",
    "cve": "f.cve",
    "verdict": "s.worst_status",
    "kev": "s.kev",
    "eol": "s.eol",
    "country": "s.country",
    "continent": "s.continent",
    "asn": "s.asn",
    "org": "s.org",
    "port": "s.port",
    "protocol": "s.protocol",
}
"""What an aggregate can group by (``group_by``); ``cve`` counts service × CVE pairs, with
that CVE's verdict."""

_SERVICE_COLS = (
    "s.scan, s.ip, s.port, s.protocol, s.transport, s.observed_at, s.outcome, s.product,"
    " s.product_line, s.version, s.release, s.precision, s.worst_status, s.kev, s.eol,"
    " s.country, s.continent, s.asn, s.org, s.hostname, s.banner"
)
CHURN = ("fixed", "still exposed", "newly at risk", "not at risk", "newly seen", "gone")


class Cache:
    """Answers of read queries, kept while the store does not change.

    The service is the store's only writer, so the store changes only through its own
    jobs (which call :meth:`invalidate` as they start and end) and through scans that the
    scans table shows: an answer is kept under the store's *version* — the service's
    generation and the scans table's fingerprint — and nothing is kept while a scan is
    running (its rows grow as its import commits). The census is mostly finished scans,
    which never change: the overview of ten million services is computed once, not per
    request. Concurrent misses of one question compute it once (the others wait)."""

    ENTRIES = 512
    ROWS = 5000  # larger answers are not kept

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._answers: OrderedDict[Hashable, list[tuple[Any, ...]]] = OrderedDict()
        self._computing: dict[Hashable, threading.Lock] = {}
        self.generation = 0

    def invalidate(self) -> None:
        with self._lock:
            self.generation += 1
            self._answers.clear()

    def get(
        self, key: Hashable, compute: Callable[[], list[tuple[Any, ...]]]
    ) -> list[tuple[Any, ...]]:
        with self._lock:
            if key in self._answers:
                self._answers.move_to_end(key)
                return self._answers[key]
            gate = self._computing.setdefault(key, threading.Lock())
        with gate:
            with self._lock:
                if key in self._answers:
                    return self._answers[key]
            rows = compute()
            with self._lock:
                self._computing.pop(key, None)
                if len(rows) <= self.ROWS:
                    self._answers[key] = rows
                    while len(self._answers) > self.ENTRIES:
                        self._answers.popitem(last=False)
            return rows


class Census:
    """The store the service holds: one DuckDB connection, a cursor per call."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.path = store.path
        self._con = store.con
        self.cache = Cache()

    def view(self, scopes: Sequence[Scope] = ()) -> View:
        return View(self._con, self.path, tuple(scopes), self.cache)

    def writer(self) -> Store:
        """A :class:`Store` on a cursor of its own: what a background job writes through
        (its transactions do not disturb the readers')."""
        return Store(self._con.cursor(), self.path)


class View:
    """Read-only queries bound to ``scopes`` (ANDed into every query)."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        path: Path,
        scopes: tuple[Scope, ...],
        cache: Cache | None = None,
    ) -> None:
        self._con = con
        self.path = path
        self.scopes = scopes
        self._cache = cache
        self._version: tuple[Any, ...] | None = None

    @property
    def scoped(self) -> bool:
        return bool(self.scopes)

    @contextlib.contextmanager
    def _cursor(self) -> Iterator[duckdb.DuckDBPyConnection]:
        cur = self._con.cursor()
        try:
            yield cur
        except duckdb.Error as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else "error"
            raise StoreError(f"{self.path}: reading the store failed: {first}") from exc
        finally:
            cur.close()

    def _run(self, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        with self._cursor() as cur:
            return cur.execute(sql, dict(params or {})).fetchall()

    def _all(self, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        """The query's rows, from the cache while the store is as it was."""
        if self._cache is None:
            return self._run(sql, params)
        version = self._store_version()
        if version is None:
            return self._run(sql, params)
        key = (version, sql, tuple(sorted((params or {}).items(), key=lambda kv: kv[0])))
        try:
            hash(key)
        except TypeError:
            return self._run(sql, params)
        return self._cache.get(key, lambda: self._run(sql, params))

    def _store_version(self) -> tuple[Any, ...] | None:
        """The store's version for this request (None while a scan runs)."""
        if self._version is None:
            assert self._cache is not None
            generation = self._cache.generation
            ((n, running, started, finished),) = self._run(
                "SELECT count(*), count_if(status = 'running'), max(started_at),"
                " max(finished_at) FROM scans"
            )
            self._version = (generation, n, running, started, finished)
        return None if self._version[2] else self._version

    def _where(self, f: Filter, prefix: str = "w") -> Where:
        return f.where(self.scopes, prefix)

    # -- scans ---------------------------------------------------------------------------

    _SCAN_COLS = "id, name, kind, source, started_at, finished_at, status, targets_total"

    def scans(self) -> list[ScanInfo]:
        """Every scan, newest first. (A scoped view lists scans too: they say when the
        census looked, not what it found.)"""
        rows = self._all(f"SELECT {self._SCAN_COLS} FROM scans ORDER BY started_at DESC, id")
        return [ScanInfo._make(r) for r in rows]

    def scan(self, ref: str) -> ScanInfo | None:
        rows = self._all(
            f"SELECT {self._SCAN_COLS} FROM scans WHERE id = $r OR name = $r"
            " ORDER BY started_at DESC LIMIT 1",
            {"r": ref},
        )
        return ScanInfo._make(rows[0]) if rows else None

    def resolve_scan(self, ref: str | None) -> ScanId | None:
        """SCAN (id or name) or, when None, the newest finished scan (None: no scan)."""
        if ref:
            found = self.scan(ref)
            if found is None:
                raise UsageError(f"scan {ref!r}: no scan with that id or name")
            return found.id
        rows = self._all(
            "SELECT id FROM scans ORDER BY (status = 'finished') DESC, started_at DESC LIMIT 1"
        )
        return ScanId(rows[0][0]) if rows else None

    def finished_scans(self) -> list[ScanInfo]:
        return [s for s in self.scans() if s.status == "finished"]

    # -- counts --------------------------------------------------------------------------

    def totals(self, f: Filter) -> Totals:
        """Hosts and exposed services, per verdict, and hosts per country and continent —
        one GROUP BY ip, GROUPING SETS for the places."""
        w = self._where(f)
        levels = (
            (4, "vulnerable"),
            (3, "potentially-vulnerable"),
            (2, "unknown"),
            (1, "not-vulnerable"),
            (0, "none"),
        )
        per_sev = ", ".join(f"count_if(sev = {n}) AS s{n}" for n, _ in levels)
        host_cols = ", ".join(f"count_if(ms = {n})" for n, _ in levels)
        svc_cols = ", ".join(f"coalesce(sum(s{n}), 0)::BIGINT" for n, _ in levels)
        result = self._all(
            f"""
            WITH h AS (SELECT ip, any_value(country) AS country,
                              any_value(continent) AS continent, max(sev) AS ms,
                              count(*) AS n, bool_or(eol IS TRUE) AS eol,
                              count_if(eol IS TRUE) AS neol, count_if(kev) AS nkev, {per_sev}
                       FROM (SELECT s.ip, s.country, s.continent, s.eol, s.kev, {SEV} AS sev
                             FROM services s WHERE {w.sql})
                       GROUP BY ip)
            SELECT grouping(country), grouping(continent), country, continent, count(*),
                   coalesce(sum(n), 0)::BIGINT, {host_cols}, {svc_cols}, count_if(eol),
                   count_if(ms >= 3 OR eol), coalesce(sum(nkev), 0)::BIGINT,
                   coalesce(sum(neol), 0)::BIGINT
            FROM h GROUP BY GROUPING SETS ((), (country), (continent))
            """,
            w.params,
        )
        every = self._where(replace(f, exposed=False))
        ((rows,),) = self._all(f"SELECT count(*) FROM services s WHERE {every.sql}", every.params)
        k = len(levels)
        out: dict[str, Any] = {"hosts": 0, "services": 0, "eol": 0, "risk": 0, "kev": 0}
        by_host = {name: 0 for _, name in levels}
        by_service = dict(by_host)
        places: dict[str, list[PlaceRow]] = {"country": [], "continent": []}
        for r in result:
            gc, gk, country, continent, hosts, services = r[:6]
            hv, sv = r[6 : 6 + k], r[6 + k : 6 + 2 * k]
            eol, risk, kev, neol = r[-4:]
            if gc and gk:
                out.update(hosts=hosts, services=services, eol=eol, risk=risk, kev=kev)
                out["neol"] = neol
                for i, (_, name) in enumerate(levels):
                    by_host[name] = int(hv[i] or 0)
                    by_service[name] = int(sv[i] or 0)
            else:
                level, place = ("country", country) if not gc else ("continent", continent)
                places[level].append(
                    PlaceRow(place, hosts, services, hv[0] or 0, hv[1] or 0, eol, risk)
                )
        for level in places:
            places[level].sort(key=lambda t: (-t.at_risk_hosts, -t.hosts, str(t.place or "~")))
        return Totals(
            rows=int(rows),
            hosts=int(out["hosts"]),
            services=int(out["services"]),
            hosts_by_verdict=by_host,
            services_by_verdict=by_service,
            eol_hosts=int(out["eol"] or 0),
            at_risk_hosts=int(out["risk"] or 0),
            kev_services=int(out["kev"] or 0),
            eol_services=int(out.get("neol") or 0),
            places=places,
        )

    def groups(self, keys: Sequence[str], f: Filter, limit: int = 100) -> list[GroupRow]:
        """Counts per group of ``keys`` (names of :data:`GROUP_KEYS`), most services
        first: hosts (under their most severe verdict when grouped by verdict), services
        (or service × CVE pairs), vulnerable, potentially vulnerable, end of support."""
        for k in keys:
            if k not in GROUP_KEYS:
                raise UsageError(f"group_by {k!r}: choose from {', '.join(GROUP_KEYS)}")
        w = self._where(f)
        per_cve = "cve" in keys
        verdict = "f.status" if per_cve else "s.worst_status"
        cols = "".join(
            f"{'f.status' if (k == 'verdict' and per_cve) else GROUP_KEYS[k]} AS k{i}, "
            for i, k in enumerate(keys)
        )
        join = " JOIN findings f ON f.scan = s.scan AND f.ip = s.ip AND f.port = s.port"
        base = (
            f"SELECT {cols}s.scan, s.ip, {SEVERITY_SQL.format(col=verdict)} AS sev, s.eol"
            f" FROM services s{join if per_cve else ''} WHERE {w.sql}"
        )
        names = ", ".join(f"k{i}" for i in range(len(keys)))
        if "verdict" in keys:
            part = "scan, ip" + (f", k{list(keys).index('cve')}" if per_cve else "")
            base = f"SELECT *, max(sev) OVER (PARTITION BY {part}) AS host_sev FROM ({base})"
            hosts = "count(DISTINCT ip) FILTER (WHERE sev = host_sev)"
        else:
            hosts = "count(DISTINCT ip)"
        rows = self._all(
            f"SELECT {names}, {hosts} AS hosts, count(*) AS services,"
            " count(*) FILTER (WHERE sev = 4), count(*) FILTER (WHERE sev = 3),"
            f" count(*) FILTER (WHERE eol IS TRUE) FROM ({base}) GROUP BY {names}"
            f" ORDER BY services DESC, {names} LIMIT {int(limit)}",
            w.params,
        )
        n = len(keys)
        return [GroupRow(tuple(r[:n]), *r[n:]) for r in rows]

    def cve_counts(self, f: Filter, limit: int = 100) -> list[CveCount]:
        w = self._where(f)
        rows = self._all(
            f"""
            SELECT f.cve, bool_or(f.kev), count_if(f.status = 'vulnerable') AS vuln,
                   count_if(f.status = 'potentially-vulnerable') AS pot,
                   count(DISTINCT f.ip) FILTER (WHERE f.status = 'vulnerable'),
                   count(DISTINCT f.ip) FILTER (WHERE f.status IN
                       ('vulnerable', 'potentially-vulnerable')),
                   count(*)
            FROM services s JOIN findings f ON f.scan = s.scan AND f.ip = s.ip
                 AND f.port = s.port
            WHERE {w.sql}
            GROUP BY f.cve HAVING vuln + pot > 0
            ORDER BY vuln DESC, pot DESC, f.cve LIMIT {int(limit)}
            """,
            w.params,
        )
        return [CveCount._make(r) for r in rows]

    def scan_totals(self, f: Filter) -> list[ScanTotal]:
        """Per scan: hosts, exposed services, hosts at risk (the trend)."""
        w = self._where(f)
        rows = self._all(
            f"""
            SELECT scan, count(*), sum(n)::BIGINT, count_if(risk)
            FROM (SELECT s.scan, s.ip, count(*) AS n, bool_or({RISK_SQL}) AS risk
                  FROM services s WHERE {w.sql} GROUP BY s.scan, s.ip)
            GROUP BY scan
            """,
            w.params,
        )
        return [ScanTotal(ScanId(r[0]), int(r[1]), int(r[2]), int(r[3])) for r in rows]

    def outcomes(self, f: Filter) -> dict[str, list[tuple[str, int]]]:
        """Per scan: how each probed port ended (ok, refused, timeout …), most first."""
        w = self._where(replace(f, exposed=False))
        rows = self._all(
            f"SELECT s.scan, s.outcome, count(*) AS n FROM services s WHERE {w.sql}"
            " GROUP BY s.scan, s.outcome ORDER BY s.scan, n DESC, s.outcome",
            w.params,
        )
        out: dict[str, list[tuple[str, int]]] = {}
        for scan, outcome, n in rows:
            out.setdefault(scan, []).append((outcome, int(n)))
        return out

    # -- services ------------------------------------------------------------------------

    def services(
        self, f: Filter, *, after: ServiceKey | None = None, limit: int = 100
    ) -> list[ServiceRow]:
        """A page of services in (scan, ip, port, protocol) order after ``after``."""
        w = self._where(f)
        params = dict(w.params)
        cond = w.sql
        if after is not None:
            cond += " AND (s.scan, s.ip, s.port, s.protocol) > ($a0, $a1, $a2, $a3)"
            params.update({f"a{i}": v for i, v in enumerate(after)})
        rows = self._all(
            f"SELECT {_SERVICE_COLS} FROM services s WHERE {cond}"
            f" ORDER BY s.scan, s.ip, s.port, s.protocol LIMIT {int(limit)}",
            params,
        )
        return [ServiceRow._make(r) for r in rows]

    def at_risk_by(self, cve: str, f: Filter, limit: int = 100) -> list[ServiceRow]:
        """Services vulnerable or potentially vulnerable to ``cve``, most severe first."""
        w = self._where(f)
        rows = self._all(
            f"SELECT {_SERVICE_COLS} FROM services s JOIN findings f ON f.scan = s.scan"
            " AND f.ip = s.ip AND f.port = s.port"
            f" WHERE {w.sql} AND f.cve = $cve"
            " AND f.status IN ('vulnerable', 'potentially-vulnerable')"
            f" ORDER BY {SEVERITY_SQL.format(col='f.status')} DESC, s.ip, s.port"
            f" LIMIT {int(limit)}",
            {**w.params, "cve": cve},
        )
        return [ServiceRow._make(r) for r in rows]

    def host_services(self, ip: str) -> list[ServiceRow]:
        """Every service of ``ip`` in every scan (in scope), ports that never connected
        included: one query, however many scans."""
        w = self._where(Filter(ips=(ip,), exposed=False))
        rows = self._all(
            f"SELECT {_SERVICE_COLS} FROM services s WHERE {w.sql}"
            " ORDER BY s.scan, s.port, s.protocol",
            w.params,
        )
        return [ServiceRow._make(r) for r in rows]

    def host_findings(self, ip: str) -> list[tuple[str, FindingRow]]:
        """(scan, verdict) of every CVE verdict on ``ip``'s services (in scope)."""
        w = self._where(Filter(ips=(ip,), exposed=False))
        rows = self._all(
            f"""
            SELECT f.scan, f.port, f.cve, f.status, f.kev, f.cvss, f.reason, f.fixed_in
            FROM services s JOIN findings f ON f.scan = s.scan AND f.ip = s.ip
                 AND f.port = s.port
            WHERE {w.sql}
            ORDER BY f.scan, f.port, {SEVERITY_SQL.format(col="f.status")} DESC, f.cve
            """,
            w.params,
        )
        return [(r[0], FindingRow._make(r[1:])) for r in rows]

    # -- diffs ---------------------------------------------------------------------------

    def _churn_cte(self, first: ScanId, last: ScanId, f: Filter) -> tuple[str, dict[str, Any]]:
        w = self._where(replace(f, scans=(first, last)))
        sql = f"""
            h AS (SELECT s.scan, s.ip, max({SEV}) AS sev, bool_or(s.eol IS TRUE) AS eol
                  FROM services s WHERE {w.sql} GROUP BY s.scan, s.ip),
            a AS (SELECT ip, sev, (sev >= 3 OR eol) AS risk FROM h WHERE scan = $first),
            b AS (SELECT ip, sev, (sev >= 3 OR eol) AS risk FROM h WHERE scan = $last),
            c AS (SELECT coalesce(a.ip, b.ip) AS ip, a.sev AS asev, b.sev AS bsev,
                         a.risk AS arisk, b.risk AS brisk,
                         CASE WHEN b.ip IS NULL THEN 'gone'
                              WHEN a.ip IS NULL THEN 'newly seen'
                              WHEN a.risk AND NOT b.risk THEN 'fixed'
                              WHEN a.risk AND b.risk THEN 'still exposed'
                              WHEN b.risk THEN 'newly at risk'
                              ELSE 'not at risk' END AS category
                  FROM a FULL OUTER JOIN b ON a.ip = b.ip)
        """
        return sql, {**w.params, "first": first, "last": last}

    def churn(self, first: ScanId, last: ScanId, f: Filter) -> list[ChurnCount]:
        """Hosts of two scans matched by address, per category (fixed, still exposed, newly
        at risk, not at risk, newly seen, gone)."""
        cte, params = self._churn_cte(first, last, f)
        rows = self._all(
            f"WITH {cte} SELECT category, count(*), coalesce(count_if(arisk), 0),"
            " coalesce(count_if(brisk), 0)"
            " FROM c GROUP BY category",
            params,
        )
        got = {r[0]: ChurnCount._make(r) for r in rows}
        return [got.get(c, ChurnCount(c, 0, 0, 0)) for c in CHURN]

    def churn_hosts(
        self, first: ScanId, last: ScanId, f: Filter, category: str, limit: int = 100
    ) -> list[ChurnHost]:
        if category not in CHURN:
            raise UsageError(f"category {category!r}: choose from {', '.join(CHURN)}")
        cte, params = self._churn_cte(first, last, f)
        names = {n: v for n, v in ((4, "vulnerable"), (3, "potentially-vulnerable"),
                                   (2, "unknown"), (1, "not-vulnerable"), (0, "none"))}  # fmt: skip
        rows = self._all(
            f"WITH {cte} SELECT ip, category, asev, bsev FROM c WHERE category = $cat"
            f" ORDER BY ip LIMIT {int(limit)}",
            {**params, "cat": category},
        )
        return [
            ChurnHost(
                r[0],
                r[1],
                names.get(r[2]) if r[2] is not None else None,
                names.get(r[3]) if r[3] is not None else None,
            )
            for r in rows
        ]

    # -- events --------------------------------------------------------------------------

    def events(self, limit: int = 100, watch: str | None = None) -> list[EventRow]:
        """Watch events, newest first; a scoped view sees only events about an address
        with a service in its scope (never the ones without an address)."""
        params: dict[str, Any] = {}
        cond = "true"
        if watch is not None:
            cond = "e.watch = $watch"
            params["watch"] = watch
        if self.scopes:
            w = self._where(Filter(exposed=False))
            cond += f" AND EXISTS (SELECT 1 FROM services s WHERE s.ip = e.ip AND {w.sql})"
            params.update(w.params)
        rows = self._all(
            "SELECT e.id, e.watch, e.created_at, e.kind, e.ip, e.port, e.cve, e.summary,"
            f" e.state FROM watch_events e WHERE {cond} ORDER BY e.id DESC LIMIT {int(limit)}",
            params,
        )
        return [EventRow._make(r) for r in rows]

    # -- host evidence -------------------------------------------------------------------

    def explain(self, ip: str, scan: str) -> list[str]:
        """The evidence chain of ``ip`` in ``scan`` (``mxcensus explain``); callers check
        first that the host has a service in scope (:meth:`host_services`)."""
        from mxcensus.explain import explain

        cur = self._con.cursor()
        try:
            return explain(Store(cur, self.path), ip, scan)
        finally:
            cur.close()

    # -- downloads -----------------------------------------------------------------------

    def check_download(self, f: Filter) -> None:
        """Refuse, before a byte is sent, a download the writers cannot filter."""
        if self.scopes or replace(f, scans=(), exposed=False) != Filter(exposed=False):
            raise UsageError("downloads of a filtered or scoped view need the store's filters")
        if len(f.scans) != 1:
            raise UsageError("a download is of one scan")

    def download(self, fmt: str, f: Filter, out: BinaryIO) -> int:
        """Every service of ``f`` in export format ``fmt``, through the export writers."""
        from mxcensus.export.formats import get_format

        self.check_download(f)
        cur = self._con.cursor()
        try:
            return get_format(fmt).write(Store(cur, self.path), f.scans[0], out)
        finally:
            cur.close()
