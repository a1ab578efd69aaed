"""The web service's one door to the store: every page, API answer and download reads
through :class:`View`, the store's typed reader (:class:`~mxcensus.store.queries.Reader`)
bound to the requester's :class:`~mxcensus.store.filters.Scope`\\ s, with a cache in front.

- Which services: the store's :class:`~mxcensus.store.filters.Filter`, the same one report,
  trend, export and notify read through; every scope of the view is ANDed into every query
  — aggregates, service lists, host pages, CVE pages, diffs, events and downloads alike —
  so a scoped token cannot reach a service outside it, and counts are the report's by
  construction (the same methods compute them).
- Concurrency: each call runs on its own cursor of the one connection the service holds,
  so requests read in parallel while a background job writes on its own cursor; a
  committed scan is visible to the next call.
- Downloads stream through the export writers (``export.formats``), filtered and scoped
  like every other answer.

This module holds no SQL: what a page needs and the reader lacked was added to the store's
read surface.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from itertools import chain, islice
from typing import Any, BinaryIO, TypeVar

from mxcensus.errors import UsageError
from mxcensus.model import ScanId
from mxcensus.store.db import Store
from mxcensus.store.filters import Filter, Network, Scope, parse_network
from mxcensus.store.queries import Reader
from mxcensus.store.results import (
    CHURN,
    ChurnCount,
    ChurnHost,
    CveCount,
    EventRow,
    FindingRow,
    FlatRow,
    GroupRow,
    PlaceRow,
    ScanInfo,
    ScanTotal,
    ServiceKey,
    Totals,
)
from mxcensus.store.sql import KEYS

__all__ = [
    "CHURN", "GROUP_KEYS", "Census", "ChurnCount", "ChurnHost", "CveCount", "EventRow",
    "Filter", "FindingRow", "GroupRow", "Network", "PlaceRow", "ScanInfo", "ScanTotal",
    "Scope", "ServiceKey", "ServiceRow", "Totals", "View", "parse_network", "parse_scope",
    "scope_items",
]  # fmt: skip

T = TypeVar("T")
ServiceRow = FlatRow
"""A service as pages and the API show it (the flat export's row)."""
GROUP_KEYS = tuple(KEYS)
"""What an aggregate can group by (``group_by``): the store's keys; ``cve`` counts service
× CVE pairs, with that CVE's verdict."""


def parse_scope(items: Sequence[str]) -> Scope:
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
    return Scope(tuple(nets), tuple(asns), tuple(countries))


def scope_items(scope: Scope) -> list[str]:
    """``scope`` as :func:`parse_scope` reads it."""
    return [
        *(str(n) for n in scope.networks),
        *(f"AS{a}" for a in scope.asns),
        *scope.countries,
    ]


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
    ROWS = 5000  # larger answers (lists) are not kept

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._answers: OrderedDict[Hashable, Any] = OrderedDict()
        self._computing: dict[Hashable, threading.Lock] = {}
        self.generation = 0

    def invalidate(self) -> None:
        with self._lock:
            self.generation += 1
            self._answers.clear()

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        with self._lock:
            if key in self._answers:
                self._answers.move_to_end(key)
                hit: T = self._answers[key]
                return hit
            gate = self._computing.setdefault(key, threading.Lock())
        with gate:
            with self._lock:
                if key in self._answers:
                    answer: T = self._answers[key]
                    return answer
            rows = compute()
            with self._lock:
                self._computing.pop(key, None)
                if not isinstance(rows, list) or len(rows) <= self.ROWS:
                    self._answers[key] = rows
                    while len(self._answers) > self.ENTRIES:
                        self._answers.popitem(last=False)
            return rows


class Census:
    """The store the service holds: one DuckDB connection, a cursor per call."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.path = store.path
        self._reader = store.reader()
        self.cache = Cache()

    def view(self, scopes: Sequence[Scope] = ()) -> View:
        reader = self._reader
        for scope in scopes:
            reader = reader.scoped(scope)
        return View(reader, self.cache)

    def writer(self) -> Store:
        """A :class:`Store` on a cursor of its own: what a background job writes through
        (its transactions do not disturb the readers')."""
        return self.store.on_own_cursor()


class View:
    """The store's reader for one request, bound to its scopes, answers cached while the
    store is as it was."""

    def __init__(self, reader: Reader, cache: Cache | None = None) -> None:
        self.reader = reader
        self.path = reader.path
        self.scopes = reader.scopes
        self._cache = cache
        self._scans: list[ScanInfo] | None = None

    @property
    def scoped(self) -> bool:
        return bool(self.scopes)

    def _cached(self, name: str, args: tuple[Hashable, ...], compute: Callable[[], T]) -> T:
        """``compute()``, from the cache while the store is as it was."""
        if self._cache is None:
            return compute()
        version = self._store_version()
        if version is None:
            return compute()
        key = (version, self.scopes, name, args)
        try:
            hash(key)
        except TypeError:
            return compute()
        return self._cache.get(key, compute)

    def _store_version(self) -> tuple[Hashable, ...] | None:
        """The store's version for this request (None while a scan runs): the service's
        job generation and what the scans table says of every scan."""
        assert self._cache is not None
        scans = self._scan_list()
        if any(s.status == "running" for s in scans):
            return None
        return (self._cache.generation, tuple((s.id, s.status, s.finished_at) for s in scans))

    def _scan_list(self) -> list[ScanInfo]:
        if self._scans is None:
            self._scans = self.reader.scans()
        return self._scans

    # -- scans ---------------------------------------------------------------------------

    def scans(self) -> list[ScanInfo]:
        """Every scan, newest first. (A scoped view lists scans too: they say when the
        census looked, not what it found.)"""
        return self._scan_list()[::-1]

    def scan(self, ref: str) -> ScanInfo | None:
        return self.reader.scan(ref, self._scan_list())

    def resolve_scan(self, ref: str | None) -> ScanId | None:
        """SCAN (id or name) or, when None, the scan a report picks by default (None: the
        store holds no readable scan) — the reader's rule, so pages and reports agree. The
        errors name no file: they go to the service's clients."""
        if not ref:
            if not any(s.readable for s in self._scan_list()):
                return None
            return self.reader.resolve_scan(None, scans=self._scan_list())
        if self.scan(ref) is None:
            raise UsageError(f"scan {ref!r}: no scan with that id or name")
        return self.reader.resolve_scan(ref, scans=self._scan_list())

    def finished_scans(self) -> list[ScanInfo]:
        return [s for s in self.scans() if s.status == "finished"]

    # -- counts --------------------------------------------------------------------------

    def totals(self, f: Filter) -> Totals:
        """Hosts and exposed services, per verdict, and hosts per country and continent."""
        return self._cached("totals", (f,), lambda: self.reader.totals(f, geo=True))

    def groups(self, keys: Sequence[str], f: Filter, limit: int = 100) -> list[GroupRow]:
        """Counts per group of ``keys`` (names of :data:`GROUP_KEYS`), most services first."""
        for k in keys:
            if k not in KEYS:
                raise UsageError(f"group_by {k!r}: choose from {', '.join(KEYS)}")

        def compute() -> list[GroupRow]:
            batches = self.reader.groups(keys, f)
            try:
                return list(islice(chain.from_iterable(batches), limit))
            finally:
                batches.close()  # type: ignore[attr-defined]

        return self._cached("groups", (tuple(keys), f, limit), compute)

    def cve_counts(self, f: Filter, limit: int = 100) -> list[CveCount]:
        return self._cached("cves", (f, limit), lambda: self.reader.cve_counts(f)[:limit])

    def scan_totals(self, f: Filter) -> list[ScanTotal]:
        """Per scan: hosts, exposed services, hosts at risk (the trend)."""
        return self._cached("scan_totals", (f,), lambda: self.reader.scan_totals(f))

    def outcomes(self, f: Filter) -> dict[str, list[tuple[str, int]]]:
        """Per scan: how each probed port ended (ok, refused, timeout …), most first."""
        out: dict[str, list[tuple[str, int]]] = {}
        for o in self._cached("outcomes", (f,), lambda: self.reader.outcomes(f)):
            out.setdefault(o.scan, []).append((o.outcome, o.services))
        return out

    # -- services ------------------------------------------------------------------------

    def services(
        self, f: Filter, *, after: ServiceKey | None = None, limit: int = 100
    ) -> list[ServiceRow]:
        """A page of services in (scan, ip, port, protocol) order after ``after``."""
        return self._cached(
            "services", (f, after, limit), lambda: self.reader.services(f, after=after, limit=limit)
        )

    def at_risk_by(self, cve: str, f: Filter, limit: int = 100) -> list[ServiceRow]:
        """Services vulnerable or potentially vulnerable to ``cve``."""
        return self._cached(
            "at_risk_by", (cve, f, limit), lambda: self.reader.at_risk_by(cve, f, limit)
        )

    def host_services(self, ip: str) -> list[ServiceRow]:
        """Every service of ``ip`` in every scan (in scope), ports that never connected
        included."""
        return self._cached("host_services", (ip,), lambda: self.reader.host_services(ip))

    def host_findings(self, ip: str) -> list[FindingRow]:
        """Every CVE verdict on ``ip``'s services (in scope)."""
        return self._cached("host_findings", (ip,), lambda: self.reader.host_findings(ip))

    # -- diffs ---------------------------------------------------------------------------

    def churn(self, first: ScanId, last: ScanId, f: Filter) -> list[ChurnCount]:
        """Hosts of two scans matched by address, per category, every category listed."""
        got = {
            r.category: r
            for r in self._cached(
                "churn", (first, last, f), lambda: self.reader.churn(first, last, f)
            )
        }
        return [got.get(c, ChurnCount(c, 0, 0, 0)) for c in CHURN]

    def churn_hosts(
        self, first: ScanId, last: ScanId, f: Filter, category: str, limit: int = 100
    ) -> list[ChurnHost]:
        return self._cached(
            "churn_hosts",
            (first, last, f, category, limit),
            lambda: self.reader.churn_hosts(first, last, f, category, limit),
        )

    # -- events --------------------------------------------------------------------------

    def events(self, limit: int = 100, watch: str | None = None) -> list[EventRow]:
        """Watch events, newest first (a scoped view: about its addresses only)."""
        return self.reader.events(limit, watch)

    # -- host evidence -------------------------------------------------------------------

    def explain(self, ip: str, scan: str) -> list[str]:
        """The evidence chain of ``ip`` in ``scan`` (``mxcensus explain``); callers check
        first that the host has a service in scope (:meth:`host_services`)."""
        from mxcensus.explain import explain

        return explain(self.reader, ip, scan)

    # -- downloads -----------------------------------------------------------------------

    def check_download(self, f: Filter, report: str | None = None) -> None:
        """Refuse, before a byte is sent, a download the writers cannot write."""
        from mxcensus.export.shadowserver import check_report

        if len(f.scans) != 1:
            raise UsageError("a download is of one scan")
        check_report(report)

    def download(self, fmt: str, f: Filter, out: BinaryIO, report: str | None = None) -> int:
        """Every service of ``f`` (in scope) in export format ``fmt``, through the export
        writers, streamed in batches. Shadowserver's format is one file per report type:
        the one ``report``, or a zip archive of them all."""
        from mxcensus.export.formats import get_format
        from mxcensus.export.shadowserver import export_reports

        self.check_download(f, report)
        if fmt == "shadowserver":
            scan = f.scans[0]
            written = (
                export_reports(self.reader, scan, where=f, report=report, out=out)
                if report is not None
                else export_reports(self.reader, scan, where=f, zip_to=out)
            )
            return sum(written.rows.values())
        return get_format(fmt).write(self.reader, f, out)
