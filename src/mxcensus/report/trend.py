"""Trends: the same counts over a series of scans, with change and host churn, in DuckDB.

The series is every finished scan that started inside the window ``--from``..``--to``
(a scan bounds the window by its start time and is always included; a date YYYY-MM-DD
bounds it by that UTC day, inclusive). Changes compare the first and the last scan of the
series; intermediate scans are shown as counts.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from mxcensus.errors import UsageError
from mxcensus.report.document import Chart, Document, Section, Value
from mxcensus.report.fields import Field
from mxcensus.report.query import AT_RISK_SQL, DEFINITIONS, base_sql, group_sql
from mxcensus.store.db import Store

TREND_DEFINITIONS: tuple[str, ...] = (
    "Change: count in the last scan − count in the first scan of the series. Relative "
    "change: that change / the count in the first scan × 100 (the denominator is always "
    "the first scan's count of the same row); empty when the first count is 0.",
    "Scans may cover different address space or sources: a change in counts can come from "
    "coverage as well as from patching. Churn compares the hosts seen in the first and the "
    "last scan.",
    "Churn (hosts, first vs last scan): fixed = at risk in the first, seen and not at risk "
    "in the last; still exposed = at risk in both; newly at risk = seen in both, at risk "
    "only in the last; not at risk = seen in both, at risk in neither; newly seen = only in "
    "the last; gone = only in the first (a host that disappeared is not counted as fixed).",
)
CHURN_ORDER = (
    "fixed",
    "still exposed",
    "newly at risk",
    "not at risk",
    "newly seen",
    "gone",
)


def _bound(store: Store, ref: str, *, upper: bool) -> tuple[datetime, str | None]:
    """A window bound from SCAN or DATE; returns (instant, scan id if a scan)."""
    found = store.find_scan(ref)
    if found is not None:
        started: datetime = found["started_at"]
        return started, str(found["id"])
    try:
        day = date.fromisoformat(ref)
    except ValueError:
        flag = "--to" if upper else "--from"
        raise UsageError(
            f"{flag} {ref!r}: neither a scan id or name in {store.path} nor a date YYYY-MM-DD"
        ) from None
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return (start + timedelta(days=1) - timedelta(microseconds=1) if upper else start), None


def series(store: Store, from_: str | None, to: str | None) -> list[dict[str, Any]]:
    """The scans of the window, oldest first; at least two, or a UsageError."""
    lo, lo_scan = _bound(store, from_, upper=False) if from_ else (None, None)
    hi, hi_scan = _bound(store, to, upper=True) if to else (None, None)
    if lo is not None and hi is not None and lo > hi:
        raise UsageError(f"--from {from_!r} is later than --to {to!r}")
    rows = store.con.execute(
        "SELECT id, name, started_at, status, source FROM scans ORDER BY started_at, id"
    ).fetchall()
    out = []
    for sid, name, started, status, source in rows:
        explicit = sid in (lo_scan, hi_scan)
        if not explicit and status != "finished":
            continue
        if lo is not None and started < lo:
            continue
        if hi is not None and started > hi:
            continue
        out.append({"id": sid, "name": name, "started_at": started, "source": source})
    if len(out) < 2:
        window = f"between {from_ or 'the first scan'} and {to or 'the last scan'}"
        raise UsageError(
            f"trend needs at least two finished scans {window}; {store.path} has {len(out)}"
        )
    return out


def _label(scan: dict[str, Any]) -> str:
    day = scan["started_at"].date().isoformat()
    return f"{scan['name'] or scan['id']} ({day})"


def _change(first: int, last: int) -> tuple[int, float | None]:
    return last - first, (round(100.0 * (last - first) / first, 2) if first else None)


def build_trend(store: Store, scans: list[dict[str, Any]], by: tuple[Field, ...]) -> Document:
    ids = [s["id"] for s in scans]
    params = {f"s{i}": sid for i, sid in enumerate(ids)}
    in_list = "s.scan IN (" + ", ".join(f"${k}" for k in params) + ")"
    n = len(by)
    counts: dict[tuple[Value, ...], dict[str, tuple[int, int]]] = {}
    for row in store.con.execute(group_sql(by, per_scan=True, scans=in_list), params).fetchall():
        scan, keys, hosts, services = row[0], tuple(row[1 : 1 + n]), row[1 + n], row[2 + n]
        counts.setdefault(keys, {})[scan] = (int(hosts), int(services))
    first, last = ids[0], ids[-1]
    labels = [_label(s) for s in scans]

    def last_services(item: tuple[tuple[Value, ...], dict[str, tuple[int, int]]]) -> Any:
        keys, per = item
        return (-per.get(last, (0, 0))[1], -per.get(first, (0, 0))[1], [str(k) for k in keys])

    rows: list[tuple[Value, ...]] = []
    for keys, per in sorted(counts.items(), key=last_services):
        hosts = [per.get(sid, (0, 0))[0] for sid in ids]
        h_abs, h_rel = _change(hosts[0], hosts[-1])
        s_first, s_last = per.get(first, (0, 0))[1], per.get(last, (0, 0))[1]
        s_abs, s_rel = _change(s_first, s_last)
        rows.append((*keys, *hosts, h_abs, h_rel, s_first, s_last, s_abs, s_rel))
    first_l, last_l = labels[0], labels[-1]
    columns = (
        *(f.name for f in by),
        *(f"hosts {lab}" for lab in labels),
        "hosts change",
        "hosts change %",
        f"services {first_l}",
        f"services {last_l}",
        "services change",
        "services change %",
    )
    changes = Section(
        key="changes",
        title="Change by " + ", ".join(f.label for f in by) + f": {first_l} → {last_l}",
        columns=columns,
        rows=tuple(rows),
        notes=(
            "hosts change % = (hosts in the last scan − hosts in the first) / hosts in the "
            "first × 100; services change % likewise with services.",
            "A host counts once in each row any of its exposed services falls into (under "
            "its most severe verdict when grouping by verdict).",
        ),
        chart=Chart("bars", by[0].name, (f"hosts {last_l}",), also=tuple(f.name for f in by[1:])),
    )
    return Document(
        kind="trend",
        title=f"mxcensus trend — {first_l} → {last_l} ({len(scans)} scans)",
        meta=(
            ("from", str(first)),
            ("to", str(last)),
            ("scans", ", ".join(str(i) for i in ids)),
            ("generated", datetime.now(UTC).replace(microsecond=0).isoformat()),
        ),
        definitions=DEFINITIONS + TREND_DEFINITIONS,
        sections=(
            changes,
            _sentences(by, rows, first_l, last_l),
            _totals(store, scans, params, in_list),
            _churn(store, first, last),
        ),
    )


def _totals(
    store: Store, scans: list[dict[str, Any]], params: dict[str, str], in_list: str
) -> Section:
    got = {
        r[0]: r[1:]
        for r in store.con.execute(
            f"""
            SELECT scan, count(*) AS hosts, sum(services)::BIGINT, count(*) FILTER (WHERE risk)
            FROM (SELECT scan, ip, count(*) AS services,
                         max(sev) >= 3 OR bool_or(eol IS TRUE) AS risk
                  FROM ({base_sql((), scans=in_list)}) GROUP BY scan, ip)
            GROUP BY scan
            """,
            params,
        ).fetchall()
    }
    rows: list[tuple[Value, ...]] = []
    for s in scans:
        hosts, services, risk = got.get(s["id"], (0, 0, 0))
        rows.append(
            (
                s["id"],
                s["name"],
                s["started_at"].isoformat(),
                s["source"],
                hosts,
                services,
                risk,
                round(100.0 * risk / hosts, 2) if hosts else None,
            )
        )
    return Section(
        key="scans",
        title="Scans in the series (the denominators)",
        columns=(
            "scan",
            "name",
            "started",
            "source",
            "hosts",
            "services",
            "at-risk hosts",
            "% at risk",
        ),
        rows=tuple(rows),
        notes=("% at risk: at-risk hosts / hosts of that scan.",),
    )


def _churn(store: Store, first: str, last: str) -> Section:
    base = base_sql((), scans="s.scan IN ($first, $last)")
    got = {
        r[0]: r[1:]
        for r in store.con.execute(
            f"""
            WITH h AS (SELECT scan, ip, max(sev) AS sev, bool_or(eol IS TRUE) AS eol
                       FROM ({base}) GROUP BY scan, ip),
                 a AS (SELECT ip, {AT_RISK_SQL} AS risk FROM h WHERE scan = $first),
                 b AS (SELECT ip, {AT_RISK_SQL} AS risk FROM h WHERE scan = $last)
            SELECT CASE WHEN b.ip IS NULL THEN 'gone'
                        WHEN a.ip IS NULL THEN 'newly seen'
                        WHEN a.risk AND NOT b.risk THEN 'fixed'
                        WHEN a.risk AND b.risk THEN 'still exposed'
                        WHEN b.risk THEN 'newly at risk'
                        ELSE 'not at risk' END AS category,
                   count(*), count(*) FILTER (WHERE a.risk), count(*) FILTER (WHERE b.risk)
            FROM a FULL OUTER JOIN b ON a.ip = b.ip
            GROUP BY category
            """,
            {"first": first, "last": last},
        ).fetchall()
    }
    return Section(
        key="churn",
        title="Host churn, first vs last scan",
        columns=("category", "hosts", "at risk in the first scan", "at risk in the last scan"),
        rows=tuple((c, *got.get(c, (0, 0, 0))) for c in CHURN_ORDER),
        notes=(
            "At risk: at least one exposed service vulnerable, potentially vulnerable or end "
            "of support. Hosts are matched by IP address.",
        ),
        chart=Chart("bars", "category", ("hosts",)),
    )


SENTENCES = 25


def _words(f: Field, v: Value) -> str:
    if v is None:
        return f"{f.label} unknown"
    if isinstance(v, bool):
        return f"{f.label} {'yes' if v else 'no'}"
    return f"{f.label} {v}"


def _sentences(
    by: tuple[Field, ...], rows: list[tuple[Value, ...]], first: str, last: str
) -> Section:
    """The changes in words, ready to quote, each with its unit and denominator."""
    out: list[tuple[Value, ...]] = []
    n = len(by)
    for r in rows[:SENTENCES]:
        what = ", ".join(_words(f, v) for f, v in zip(by, r[:n], strict=True))
        h_first, h_last, h_rel = int(r[n] or 0), int(r[-7] or 0), r[-5]
        verb = "rose" if h_last > h_first else "fell" if h_last < h_first else "stayed"
        rel = f" ({h_rel:+.2f}% of the {h_first} in {first})" if h_rel is not None else ""
        if verb == "stayed":
            verb, rel = "stayed at", ""
        out.append(
            (
                f"Hosts with {what}: {verb} from {h_first} to {h_last}{rel} between {first} "
                f"and {last}."
                if verb != "stayed at"
                else f"Hosts with {what}: stayed at {h_last} between {first} and {last}.",
            )
        )
    return Section(
        key="in_words",
        title="In words",
        columns=("statement",),
        rows=tuple(out),
        notes=(
            "A host is an IP address with at least one exposed service in the row's "
            "category; relative change is against the first scan's count of the same row.",
        ),
    )
