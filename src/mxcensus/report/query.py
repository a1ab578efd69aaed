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

from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime

from mxcensus.model import VERDICTS, ScanId
from mxcensus.report.document import Chart, Document, Section, StreamedRows, Value
from mxcensus.report.fields import Field, names
from mxcensus.store.db import Store
from mxcensus.store.filters import Filter
from mxcensus.store.queries import Reader
from mxcensus.store.results import AtRiskService, CveCount, PlaceRow, Totals

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


def _columns(fields: tuple[str, ...], **named: str) -> tuple[str, ...]:
    """A section's columns for rows of the store's ``fields``, in their order: a field's
    own name, or the column name ``named`` gives it (only to fields the rows have)."""
    if stray := named.keys() - set(fields):
        raise ValueError(f"no such field in {fields}: {', '.join(sorted(stray))}")
    return tuple(named.get(name, name) for name in fields)


def _pct(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 2) if whole else None


def reader_of(source: Store | Reader) -> Reader:
    return source.reader() if isinstance(source, Store) else source


def build_report(
    source: Store | Reader,
    scan: ScanId,
    by: tuple[Field, ...],
    *,
    full: bool = False,
    where: Filter | None = None,
) -> Document:
    """The report of ``scan`` grouped by ``by``; ``full`` adds the HTML report's sections
    (end of support per product line, per CVE, per continent, per country with the map).
    ``where`` narrows the services counted (its scans are replaced by ``scan``). The
    breakdown's rows are streamed from the store when a format writes them: the store must
    stay open until then."""
    reader = reader_of(source)
    f = Filter(scans=(scan,)) if where is None else replace(where, scans=(scan,))
    meta = reader.scan(scan)
    assert meta is not None
    tot = reader.totals(f, geo=full)
    unit = "service × CVE pairs" if any(x.needs_findings for x in by) else "services"
    sections = [
        Section(
            key="groups",
            title="By " + ", ".join(x.label for x in by),
            columns=(*(x.name for x in by), *MEASURES),
            rows=StreamedRows(lambda: _group_rows(reader, by, f, tot)),
            notes=(
                f"services, vulnerable, potentially-vulnerable, end-of-support count {unit}.",
                f"% of services: services in the row / all {tot.services} exposed services "
                "of the scan.",
                f"% of hosts: hosts in the row / all {tot.hosts} hosts with an exposed "
                "service in the scan.",
            ),
            chart=Chart(
                "bars",
                by[0].name,
                ("vulnerable", "potentially-vulnerable"),
                also=tuple(x.name for x in by[1:]),
            ),
        ),
        _verdict_section(tot),
        _unjudged_section(tot),
    ]
    if full:
        sections += [
            _eol_section(reader, f),
            _cve_section(reader, f),
            _geo_section("continent", tot.places["continent"], tot),
            _geo_section("country", tot.places["country"], tot),
            _at_risk_services(reader, f),
        ]
    return Document(
        kind="report",
        title=f"mxcensus report — scan {meta.name or meta.id}",
        meta=(
            ("scan", str(meta.id)),
            ("name", meta.name),
            ("source", meta.source),
            ("started", meta.started_at.isoformat()),
            ("status", meta.status),
            ("generated", datetime.now(UTC).replace(microsecond=0).isoformat()),
            ("exposed services", tot.services),
            ("hosts", tot.hosts),
            ("not connected (not counted)", tot.rows - tot.services),
            ("could not be judged (verdict unknown)", tot.services_by_verdict.get("unknown", 0)),
        ),
        definitions=DEFINITIONS,
        sections=tuple(sections),
        headline=_headline(tot) if full else (),
    )


def _headline(tot: Totals) -> tuple[tuple[str, Value], ...]:
    """Services, hosts and hosts at risk (the continents' rows add up to every host)."""
    places = tot.places["continent"]
    return (
        ("exposed services", tot.services),
        ("hosts", tot.hosts),
        ("hosts at risk", sum(p.at_risk_hosts for p in places)),
        ("vulnerable hosts", tot.hosts_by_verdict["vulnerable"]),
        ("potentially vulnerable hosts", tot.hosts_by_verdict["potentially-vulnerable"]),
        ("end-of-support hosts", sum(p.eol_hosts for p in places)),
    )


def _group_rows(
    reader: Reader, by: tuple[Field, ...], f: Filter, tot: Totals
) -> Iterator[tuple[Value, ...]]:
    for batch in reader.groups(names(by), f):
        for g in batch:
            yield (
                *g.keys,
                g.hosts,
                g.services,
                g.vulnerable,
                g.potentially,
                g.eol,
                _pct(g.services, tot.services),
                _pct(g.hosts, tot.hosts),
            )


def _verdict_section(tot: Totals) -> Section:
    rows = tuple(
        (
            name,
            tot.hosts_by_verdict[name],
            _pct(tot.hosts_by_verdict[name], tot.hosts),
            tot.services_by_verdict[name],
            _pct(tot.services_by_verdict[name], tot.services),
        )
        for name in VERDICTS
    )
    return Section(
        key="verdicts",
        title="Hosts and services by verdict",
        columns=("verdict", "hosts", "% of hosts", "services", "% of services"),
        rows=rows,
        notes=(
            "A host counts once, under the most severe verdict of its services; host counts "
            f"add up to the {tot.hosts} hosts.",
            f"% of services: / {tot.services} exposed services; % of hosts: / {tot.hosts} hosts.",
        ),
    )


UNJUDGED = (
    "product not identified",
    "product known, verdict unknown (version hidden, disputed, fixes not collected)",
)
"""Why an exposed service could not be judged: its verdict is ``unknown``, never a
not-vulnerable one."""


def _unjudged_section(tot: Totals) -> Section:
    """How many exposed services could not be judged, and why."""
    u = tot.unjudged
    counts = ((u.unidentified, u.unidentified_hosts), (u.product_known, u.product_known_hosts))
    rows = tuple(
        (why, services, hosts, _pct(services, tot.services))
        for why, (services, hosts) in zip(UNJUDGED, counts, strict=True)
    )
    total = u.unidentified + u.product_known
    return Section(
        key="unjudged",
        title=f"Could not be judged: {total} of {tot.services} exposed services",
        columns=("why", "services", "hosts", "% of services"),
        rows=rows,
        notes=(
            "Their verdict is unknown: counted under 'unknown' by verdict, never as "
            "not-vulnerable. A product not identified has no CVE list; a product whose "
            "version is hidden has every CVE of it as unknown ('version hidden').",
            f"% of services: / {tot.services} exposed services.",
        ),
    )


def _eol_section(reader: Reader, f: Filter) -> Section:
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
        rows=tuple(
            (
                r.line,
                r.eol_hosts,
                r.eol_services,
                r.services,
                _pct(r.eol_services, r.services),
                r.unknown,
            )
            for r in reader.eol_lines(f)
        ),
        notes=(
            "% end of support: end-of-support services of the line / all exposed services "
            "identified as that line (those whose support status is unknown included).",
        ),
        chart=Chart("bars", "product_line", ("end-of-support services",)),
    )


def _cve_section(reader: Reader, f: Filter) -> Section:
    return Section(
        key="cves",
        title="Vulnerable and potentially vulnerable services per CVE",
        columns=_columns(
            CveCount._fields,
            potentially="potentially-vulnerable",
            vulnerable_hosts="vulnerable hosts",
            any_hosts="hosts vulnerable or potentially",
            judged="services judged",
        ),
        rows=tuple(tuple(r) for r in reader.cve_counts(f)),
        notes=(
            "Services judged: exposed services whose product the CVE concerns (one verdict "
            "per service and CVE); the verdict columns count services among them.",
        ),
        chart=Chart("bars", "cve", ("vulnerable", "potentially-vulnerable")),
    )


def _geo_section(level: str, places: Sequence[PlaceRow], tot: Totals) -> Section:
    return Section(
        key=f"by_{level}",
        title=f"Hosts per {level}",
        columns=(
            *_columns(
                PlaceRow._fields,
                place=level,
                vulnerable_hosts="vulnerable hosts",
                potentially_hosts="potentially-vulnerable hosts",
                eol_hosts="end-of-support hosts",
                at_risk_hosts="at-risk hosts",
            ),
            "% at risk",
        ),
        rows=tuple((*r, _pct(r.at_risk_hosts, r.hosts)) for r in places),
        notes=(
            "Host columns count each host once, under its most severe verdict "
            "(vulnerable, potentially-vulnerable); end-of-support hosts run at least one "
            "end-of-support service.",
            f"% at risk: at-risk hosts of the {level} / hosts of the {level}.",
            f"Location is that of the IP address ({tot.hosts} hosts in all).",
        ),
        chart=Chart("map", "country", ("% at risk",))
        if level == "country"
        else Chart("bars", level, ("at-risk hosts",)),
    )


AT_RISK_LIMIT = 200


def _at_risk_services(reader: Reader, f: Filter) -> Section:
    return Section(
        key="at_risk_services",
        title=f"Services at risk (the first {AT_RISK_LIMIT}, most severe first)",
        columns=AtRiskService._fields,
        rows=tuple(tuple(r) for r in reader.at_risk(f, AT_RISK_LIMIT)),
        notes=(
            "Vulnerable, potentially vulnerable or end-of-support services; the full list "
            "is in `mxcensus export` and one file per network owner in `mxcensus notify`.",
            "Banners are shown as received, control characters escaped.",
        ),
    )
