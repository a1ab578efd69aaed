"""Which services a read is about: one typed :class:`Filter` (and a token's :class:`Scope`)
compiled to a parameterised SQL condition over ``services s``.

Every value travels as a query parameter (``$w0``, ``$w1`` …), never inside the SQL text;
only column names and constants of this module are written into it. A :class:`Scope` is the
part a web-service token may not widen: a reader bound to one adds it to every query.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from mxcensus.errors import UsageError
from mxcensus.model import NOT_CONNECTED, VERDICTS, ScanId, Status

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def severity_sql(column: str) -> str:
    """``column`` (a verdict) as its severity, from :attr:`Status.severity`: 4 vulnerable …
    1 not-vulnerable, 0 ``none`` and anything else."""
    whens = " ".join(f"WHEN '{s.value}' THEN {s.severity}" for s in Status)
    return f"CASE {column} {whens} ELSE 0 END"


READABLE = "status <> 'failed' AND NOT (kind = 'import' AND status <> 'finished')"
"""SQL over ``scans``: a scan readers are shown. A failed import, or one still being written
or killed, holds nothing a reader may see (a scan's analysis switches in whole: a running
or interrupted scan shows what it had)."""

AT_RISK_SEVERITY = Status.POTENTIALLY_VULNERABLE.severity
"""At risk: a verdict at least this severe (or end of support)."""

EXPOSED_SQL = "s.outcome NOT IN (" + ", ".join(f"'{o.value}'" for o in sorted(NOT_CONNECTED)) + ")"
"""An exposed service: its port accepted a connection (:data:`model.NOT_CONNECTED`)."""


def ipv6_hextets_sql(ip: str) -> str:
    """The eight hextets (text, as written) of the canonical IPv6 text ``ip``, ``::``
    expanded to zeros. (A dotted IPv4 tail is not expanded: callers exclude it.)"""
    head, tail = f"split_part({ip}, '::', 1)", f"split_part({ip}, '::', 2)"
    hs = f"(CASE WHEN {head} = '' THEN []::VARCHAR[] ELSE string_split({head}, ':') END)"
    ts = f"(CASE WHEN {tail} = '' THEN []::VARCHAR[] ELSE string_split({tail}, ':') END)"
    fill = f"list_transform(range(8 - len({hs}) - len({ts})), lambda i: '0')"
    return (
        f"(CASE WHEN contains({ip}, '::') THEN {hs} || {fill} || {ts}"
        f" ELSE string_split({ip}, ':') END)"
    )


def _ipv4_int_sql(ip: str) -> str:
    parts = [f"TRY_CAST(split_part({ip}, '.', {i}) AS BIGINT)" for i in range(1, 5)]
    return f"(({parts[0]} * 256 + {parts[1]}) * 256 + {parts[2]}) * 256 + {parts[3]}"


def _ipv6_key_sql(ip: str) -> str:
    """32 lower-case hex digits of an IPv6 address: compared as text, ordered as numbers."""
    return f"array_to_string(list_transform({ipv6_hextets_sql(ip)}, lambda h: lpad(h, 4, '0')), '')"


class _Params:
    """Names for values: ``add(v)`` returns ``$wN`` and keeps ``v`` under ``wN``."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.values: dict[str, Any] = {}

    def add(self, value: Any) -> str:
        name = f"{self.prefix}{len(self.values)}"
        self.values[name] = value
        return "$" + name

    def one_of(self, column: str, values: tuple[Any, ...]) -> str:
        if len(values) == 1:
            return f"{column} = {self.add(values[0])}"
        return f"{column} IN ({', '.join(self.add(v) for v in values)})"

    def networks(self, column: str, nets: tuple[Network, ...]) -> str:
        """``column`` (canonical IP text) inside one of ``nets``."""
        out = []
        for net in nets:
            lo, hi = int(net.network_address), int(net.broadcast_address)
            if net.version == 4:
                out.append(
                    f"(NOT contains({column}, ':') AND {_ipv4_int_sql(column)} "
                    f"BETWEEN {self.add(lo)} AND {self.add(hi)})"
                )
            else:
                out.append(
                    f"(contains({column}, ':') AND NOT contains({column}, '.') AND "
                    f"{_ipv6_key_sql(column)} BETWEEN {self.add(f'{lo:032x}')} "
                    f"AND {self.add(f'{hi:032x}')})"
                )
        return "(" + " OR ".join(out) + ")"


def _matched(column: str) -> Any:
    """A criterion whose values are matched against ``column``: any of them may match."""
    return field(default=(), metadata={"column": column})


def _matches(criteria: Scope | Filter, p: _Params) -> list[str]:
    """The condition of each criterion of ``criteria`` declared :func:`_matched` and given,
    in the order of its fields."""
    out = []
    for f in fields(criteria):
        values = getattr(criteria, f.name)
        if "column" in f.metadata and values:
            out.append(p.one_of(f.metadata["column"], values))
    return out


def parse_network(text: str) -> Network:
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        raise UsageError(f"{text!r}: not an IP network (CIDR) or address") from None


@dataclass(frozen=True, slots=True)
class Scope:
    """What a token may see: services inside any of its networks, ASNs or countries (an
    empty scope sees nothing)."""

    networks: tuple[Network, ...] = ()
    asns: tuple[int, ...] = _matched("s.asn")
    countries: tuple[str, ...] = _matched("s.country")

    def sql(self, p: _Params) -> str:
        parts = [p.networks("s.ip", self.networks)] if self.networks else []
        parts += _matches(self, p)
        return "(" + " OR ".join(parts) + ")" if parts else "false"


@dataclass(frozen=True, slots=True)
class Filter:
    """Which services: every given criterion must hold (AND), any value of a criterion may
    match (OR). Empty tuples and None mean "any". ``exposed`` keeps to services whose port
    accepted a connection (what reports count); ``verdicts`` are services' verdicts
    (``worst_status``); ``cves``: services with a verdict on one of those CVEs;
    ``at_risk``: vulnerable, potentially vulnerable or end of support; ``seen_from`` /
    ``seen_to``: when the service was observed (inclusive). A criterion matched against
    one column declares it (:func:`_matched`); :meth:`where` reads them from the fields."""

    scans: tuple[ScanId, ...] = ()
    exposed: bool = True
    ips: tuple[str, ...] = _matched("s.ip")
    networks: tuple[Network, ...] = ()
    countries: tuple[str, ...] = _matched("s.country")
    continents: tuple[str, ...] = _matched("s.continent")
    asns: tuple[int, ...] = _matched("s.asn")
    orgs: tuple[str, ...] = _matched("s.org")
    ports: tuple[int, ...] = _matched("s.port")
    protocols: tuple[str, ...] = _matched("s.protocol")
    products: tuple[str, ...] = _matched("s.product")
    product_lines: tuple[str, ...] = _matched("s.product_line")
    versions: tuple[str, ...] = _matched("s.version")
    cves: tuple[str, ...] = ()
    verdicts: tuple[str, ...] = _matched("s.worst_status")
    kev: bool | None = None
    eol: bool | None = None
    at_risk: bool | None = None
    seen_from: datetime | None = None
    seen_to: datetime | None = None

    def __post_init__(self) -> None:
        bad = [v for v in self.verdicts if v not in VERDICTS]
        if bad:
            raise UsageError(f"verdict {bad[0]!r}: choose from {', '.join(VERDICTS)}")
        if any(not 0 <= p <= 65535 for p in self.ports):
            raise UsageError("port: must be in 0-65535")

    def where(self, scopes: tuple[Scope, ...] = (), prefix: str = "w") -> Where:
        """The condition over ``services s`` and its parameters; every scope is ANDed."""
        p = _Params(prefix)
        scans = self._scans(p)
        conds = [scans]
        if self.exposed:
            conds.append(EXPOSED_SQL)
        conds += _matches(self, p)
        if self.networks:
            conds.append(p.networks("s.ip", self.networks))
        if self.cves:
            conds.append(self._cves(p))
        conds.extend(self._flags(p))
        only_scans = len(conds) == 1 + self.exposed and not scopes
        conds.extend(scope.sql(p) for scope in scopes)
        return Where(" AND ".join(conds), p.values, scans, only_scans)

    def _scans(self, p: _Params) -> str:
        """The scans asked for, or every readable one (:data:`READABLE`)."""
        if self.scans:
            return p.one_of("s.scan", self.scans)
        return f"s.scan IN (SELECT id FROM scans WHERE {READABLE})"

    def _cves(self, p: _Params) -> str:
        names = ", ".join(p.add(c) for c in self.cves)
        return (
            f"(CASE WHEN s.pid IS NULL THEN EXISTS (SELECT 1 FROM finding_rows f WHERE "
            f"f.scan = s.scan AND f.ip = s.ip AND f.port = s.port AND f.cve IN ({names})) "
            f"ELSE EXISTS (SELECT 1 FROM verdicts v WHERE v.scan = s.scan AND v.pid = s.pid "
            f"AND v.cve IN ({names})) END)"
        )

    def _flags(self, p: _Params) -> list[str]:
        out = []
        if self.kev is not None:
            out.append(f"s.kev = {p.add(self.kev)}")
        if self.eol is not None:
            out.append("s.eol IS TRUE" if self.eol else "s.eol IS FALSE")
        if self.at_risk is not None:
            risk = f"({severity_sql('s.worst_status')} >= {AT_RISK_SEVERITY} OR s.eol IS TRUE)"
            out.append(risk if self.at_risk else f"NOT {risk}")
        if self.seen_from is not None:
            out.append(f"s.observed_at >= {p.add(self.seen_from)}")
        if self.seen_to is not None:
            out.append(f"s.observed_at <= {p.add(self.seen_to)}")
        return out


@dataclass(frozen=True, slots=True)
class Where:
    """A compiled :class:`Filter`: ``sql`` over ``services s``, its ``params``, and
    ``scans`` — the condition on ``s.scan`` alone (every readable scan when none is
    named), for the per-scan tables a query joins."""

    sql: str
    params: dict[str, Any]
    scans: str = "true"
    only_scans: bool = False
    """Nothing but the scans and exposure is asked (and no scope): a table of the scans'
    findings may then be read alone (findings exist only for services that answered)."""

    def on(self, alias: str) -> str:
        """:attr:`scans` for another table's ``scan`` column (``alias.scan``)."""
        return self.scans.replace("s.scan", f"{alias}.scan")
