"""Trends: the same counts over a series of scans, with change and host churn, in DuckDB.

The series is every finished scan that started inside the window ``--from``..``--to``
(a scan bounds the window by its start time and is always included; a date YYYY-MM-DD
bounds it by that UTC day, inclusive). Changes compare the first and the last scan of the
series; intermediate scans are shown as counts.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from mxcensus.errors import UsageError
from mxcensus.model import ScanId
from mxcensus.report.document import Chart, Document, Section, Value
from mxcensus.report.fields import Field, names
from mxcensus.report.query import DEFINITIONS, reader_of
from mxcensus.store.db import Store
from mxcensus.store.filters import Filter
from mxcensus.store.queries import Reader
from mxcensus.store.results import ScanInfo

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


def _bound(reader: Reader, ref: str, *, upper: bool) -> tuple[datetime, str | None]:
    """A window bound from SCAN or DATE; returns (instant, scan id if a scan)."""
    found = reader.scan(ref)
    flag = "--to" if upper else "--from"
    if found is not None and not found.readable:
        raise UsageError(
            f"{flag} {ref!r}: the {found.kind} {found.id} did not finish (it failed or was killed);"
            " nothing of it is kept"
        )
    if found is not None:
        return found.started_at, str(found.id)
    try:
        day = date.fromisoformat(ref)
    except ValueError:
        raise UsageError(
            f"{flag} {ref!r}: neither a scan id or name in {reader.path} nor a date YYYY-MM-DD"
        ) from None
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return (start + timedelta(days=1) - timedelta(microseconds=1) if upper else start), None


def series(source: Store | Reader, from_: str | None, to: str | None) -> list[ScanInfo]:
    """The scans of the window, oldest first; at least two, or a UsageError."""
    reader = reader_of(source)
    lo, lo_scan = _bound(reader, from_, upper=False) if from_ else (None, None)
    hi, hi_scan = _bound(reader, to, upper=True) if to else (None, None)
    if lo is not None and hi is not None and lo > hi:
        raise UsageError(f"--from {from_!r} is later than --to {to!r}")
    out = []
    for scan in reader.scans():
        explicit = scan.id in (lo_scan, hi_scan)
        if not explicit and scan.status != "finished":
            continue
        if lo is not None and scan.started_at < lo:
            continue
        if hi is not None and scan.started_at > hi:
            continue
        out.append(scan)
    if len(out) < 2:
        window = f"between {from_ or 'the first scan'} and {to or 'the last scan'}"
        raise UsageError(
            f"trend needs at least two finished scans {window}; {reader.path} has {len(out)}"
        )
    return out


def _label(scan: ScanInfo) -> str:
    return f"{scan.name or scan.id} ({scan.started_at.date().isoformat()})"


def _headers(columns: tuple[str, ...], labels: list[str], short: list[str]) -> tuple[str, ...]:
    """A terminal's names of the columns: scans by name alone (the title has the dates)."""
    plain = dict(zip(labels, short, strict=True))
    out = []
    for c in columns:
        head, _, rest = c.partition(" ")
        out.append(f"{head} {plain[rest]}" if rest in plain else c.replace("_", " "))
    return tuple(out)


def _change(first: int, last: int) -> tuple[int, float | None]:
    return last - first, (round(100.0 * (last - first) / first, 2) if first else None)


def build_trend(
    source: Store | Reader,
    scans: list[ScanInfo],
    by: tuple[Field, ...],
    where: Filter | None = None,
) -> Document:
    """The trend over ``scans`` (:func:`series`) grouped by ``by``; ``where`` narrows the
    services counted (its scans are replaced by ``scans``)."""
    reader = reader_of(source)
    ids = [s.id for s in scans]
    f = Filter(scans=tuple(ids)) if where is None else replace(where, scans=tuple(ids))
    counts: dict[tuple[Value, ...], dict[str, tuple[int, int]]] = {}
    for g in reader.scan_groups(names(by), f):
        counts.setdefault(g.keys, {})[g.scan] = (g.hosts, g.services)
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
        headers=_headers(columns, labels, [str(s.name or s.id) for s in scans]),
        optional=frozenset(
            {"hosts change %", "services change %", *(f"hosts {lab}" for lab in labels[1:-1])}
        ),
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
            _totals(reader, scans, f),
            _churn(reader, first, last, f),
        ),
    )


def _totals(reader: Reader, scans: list[ScanInfo], f: Filter) -> Section:
    got = {t.scan: t for t in reader.scan_totals(f)}
    rows: list[tuple[Value, ...]] = []
    for s in scans:
        t = got.get(s.id)
        hosts, services, risk = (t.hosts, t.services, t.at_risk_hosts) if t else (0, 0, 0)
        rows.append(
            (
                s.id,
                s.name,
                s.started_at.isoformat(),
                s.source,
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
        optional=frozenset({"scan"}),  # the name is there, the id in json, csv and html
    )


def _churn(reader: Reader, first: ScanId, last: ScanId, f: Filter) -> Section:
    got = {
        c.category: (c.hosts, c.at_risk_first, c.at_risk_last) for c in reader.churn(first, last, f)
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
