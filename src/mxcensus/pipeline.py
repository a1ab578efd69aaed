"""From stored transcripts to service records: identify, combine per host, assess, enrich.

Pure stages wired together; the network is never touched, so a stored scan can be analysed
again with newer rules and knowledge (``mxcensus reassess``).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

import orjson

from mxcensus.assess import EHLO_PRODUCTS, assess, assess_on
from mxcensus.assess.ehlo import EHLO_STEPS
from mxcensus.enrich.geo import GeoEnricher, hint_from_extra
from mxcensus.enrich.interface import Enricher, Geo
from mxcensus.identify import combine, identify
from mxcensus.identify.engine import combine_shared, identify_doc
from mxcensus.model import (
    Assessment,
    Identification,
    Merged,
    Outcome,
    ScanId,
    ServiceRecord,
    Status,
    Step,
    Transcript,
    Transport,
    printable,
    printable_stored,
    record_geo,
    record_identity,
    text_to_bytes,
)
from mxcensus.store.db import (
    ANALYSIS_SERVICE_COLUMNS,
    GEO_COLUMNS,
    PROFILE_COLUMNS,
    VERDICT_COLUMNS,
    Store,
    worst_status,
)
from mxcensus.versions import version_key

BATCH = 5_000
T = TypeVar("T")


Progress = Callable[[int], None]


def banner_of(t: Transcript) -> str:
    """The display banner of a service: its greeting, or an HTTP status line and headers."""
    greeting = t.step("greeting")
    if greeting is not None and greeting.received:
        return printable(greeting.received)
    for step in t.steps:
        if step.code is not None and step.headers:
            head = f"HTTP {step.code}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in step.headers)
            if head.isascii():  # its UTF-8 bytes are its latin-1 bytes
                return printable_stored(head)
            return printable(head.encode("utf-8", "replace"))
    return ""


def merge_endpoints(
    items: Sequence[T], port: Callable[[T], int], when: Callable[[T], datetime]
) -> Iterator[tuple[T, Merged | None]]:
    """One service per endpoint: ``items`` (observations of one host, in (port, file)
    order) grouped by port, each group as its newest observation (on equal times the last
    read) and, when the group held several, what :class:`~mxcensus.model.Merged` records
    of the others. Every analysis path (this module's three, ``explain``) merges here."""
    start, n = 0, len(items)
    while start < n:
        end = start + 1
        here = port(items[start])
        while end < n and port(items[end]) == here:
            end += 1
        if end == start + 1:
            yield items[start], None
        else:
            times = [when(x) for x in items[start:end]]
            best = max(range(len(times)), key=lambda k: (times[k], k))
            others = sorted((t for k, t in enumerate(times) if k != best), reverse=True)
            yield items[start + best], Merged(tuple(others))
        start = end


def _merge_docs(docs: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str | None]]:
    """:func:`merge_endpoints` of stored documents: the chosen ones and each one's
    ``merged`` field as stored (JSON text, or None)."""
    chosen = list(merge_endpoints(docs, _port, _doc_time))
    return [d for d, _ in chosen], [
        orjson.dumps(m.to_json()).decode() if m is not None else None for _, m in chosen
    ]


def _doc_time(doc: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(doc["observed_at"])


def _transcript_port(t: Transcript) -> int:
    return t.port


def _transcript_time(t: Transcript) -> datetime:
    return t.observed_at


def _service_ident(own: Identification, host: Identification) -> Identification:
    """A service takes the host's best identification when both name the same product."""
    if own.is_known and host.product == own.product and host.precision > own.precision:
        return host
    return own


def analyze_host(
    scan: ScanId, transcripts: list[Transcript], enricher: Enricher | None = None
) -> Iterator[ServiceRecord]:
    """The services of one host from its transcripts in (port, file) order: one per port
    (:func:`merge_endpoints`), identified together (``combine``), assessed, located."""
    chosen = list(merge_endpoints(transcripts, _transcript_port, _transcript_time))
    transcripts = [t for t, _ in chosen]
    idents = [identify(t) for t in transcripts]
    host = combine(idents)
    geo = enricher.lookup(transcripts[0].ip, transcripts[0]) if enricher else None
    for (t, merged), own in zip(chosen, idents, strict=True):
        ident = _service_ident(own, host)
        yield ServiceRecord(
            scan=scan,
            transcript=t,
            identification=ident,
            assessment=assess(ident, t),
            country=geo.country if geo else "",
            continent=geo.continent if geo else "",
            region=geo.region if geo else "",
            asn=geo.asn if geo else None,
            org=geo.org if geo else "",
            city=geo.city if geo else "",
            geo_source=geo.source if geo else "",
            banner=banner_of(t),
            merged=merged,
        )


def analyze(
    scan: ScanId, transcripts: Iterable[Transcript], enricher: Enricher | None = None
) -> Iterator[ServiceRecord]:
    """Records for transcripts sorted by ip (as the store returns them)."""
    for _ip, group in itertools.groupby(transcripts, key=lambda t: t.ip):
        yield from analyze_host(scan, list(group), enricher)


def analyze_scan(
    store: Store,
    scan: ScanId,
    enricher: Enricher | None = None,
    progress: Progress | None = None,
) -> int:
    """Identify, assess and enrich every stored transcript of ``scan``; write the services.

    Replaces earlier services/findings of the scan, so it doubles as re-assessment.
    Returns the number of service records written. Streams in batches of :data:`BATCH`
    services (constant memory). Writes exactly what :func:`analyze_scan_reference` writes
    (the tests compare both), but per service it is mostly dict lookups: transcripts are read
    as their stored JSON (``identify_doc``), and everything that follows from a service's
    identification and assessment — the columns, the findings rows, that part of the
    exported record — is worked out and stored once per distinct pair (:class:`_Profiles`).
    """
    with store.replacing_derived(scan) as gen:  # all or nothing, however large the scan
        batch = _Batch(scan, gen, _Profiles(), _Geos())
        return _analyse_hosts(store, batch, store.iter_transcript_docs(scan), enricher, progress)


def _analyse_hosts(
    store: Store,
    batch: _Batch,
    docs: Iterable[dict[str, Any]],
    enricher: Enricher | None,
    progress: Progress | None,
) -> int:
    """Analyse ``docs`` (stored transcripts sorted by ip) host by host; write in batches."""
    written = 0
    host: list[dict[str, Any]] = []
    for doc in docs:
        if host and doc["ip"] != host[0]["ip"]:
            batch.add_host(host, enricher)
            host = []
            if batch.size >= BATCH:
                written += batch.write(store)
                if progress:
                    progress(written)
        host.append(doc)
    if host:
        batch.add_host(host, enricher)
    written += batch.write(store)
    if progress:
        progress(written)
    return written


class ImportAnalysis:
    """:func:`analyze_scan` of an import while it is written: each batch of transcripts is
    analysed from the documents just stored, never read back (``mxcensus import``).

    A host's services are combined (``identify.combine``) when they are in one batch. The
    few hosts whose records a file spreads over several batches are analysed again from
    their stored transcripts by :meth:`finish`, so the result is what :func:`analyze_scan`
    writes (the tests compare both). The addresses each batch held are kept in a temporary
    DuckDB table, not in Python: memory stays constant whatever the file size.
    """

    _SEEN = "_import_seen"

    def __init__(self, store: Store, scan: ScanId, enricher: Enricher | None = None) -> None:
        self.store = store
        self.scan = scan
        self.enricher = enricher
        self.written = 0
        self.gen = store.live_gen(scan)  # the import's own: no reader sees it until it ends
        self._batch = _Batch(scan, self.gen, _Profiles(), _Geos())
        store.con.execute(f"CREATE OR REPLACE TEMP TABLE {self._SEEN} (ip VARCHAR NOT NULL)")

    def add(self, docs: Sequence[dict[str, Any]]) -> int:
        """Analyse and write the services of one batch of stored transcript documents."""
        if not docs:
            return 0
        hosts: dict[str, list[dict[str, Any]]] = {}
        for doc in docs:
            host = hosts.get(doc["ip"])
            if host is None:
                hosts[doc["ip"]] = [doc]
            else:
                host.append(doc)
        batch, enricher = self._batch, self.enricher
        for host in hosts.values():
            if len(host) > 1:
                host.sort(key=_port)  # (ip, port) order, as analyze_scan reads them
            batch.add_host(host, enricher)
        # the addresses of this batch, noted in the same statement batch (the rows' table
        # is still registered): a list parameter of thousands of strings cost 1.5 us each
        n = batch.write(
            self.store, after=(f"INSERT INTO {self._SEEN} SELECT DISTINCT ip FROM _svc",)
        )
        self.written += n
        return n

    def add_staged(self, table: str, banners: Sequence[StagedBanner]) -> int:
        """Analyse and write the services of a chunk staged in the temporary DuckDB table
        ``table``, one row per transcript: ``rid`` (its order in the chunk), ``bk`` (its
        banner in ``banners``), ``ip``, ``port``, ``protocol``, ``transport``, ``obs`` (the
        stored time, ISO 8601), ``day`` (its first ten characters), ``hostname`` and the
        ``geo.*`` values of its ``extra`` (``g_country``, ``g_city``, ``g_asn``, ``g_org``,
        NULL when absent); ``extra`` must hold no field identify reads.

        Python works once per banner (identify), per (banner, day) (assess), per location
        hint, and per service only for hosts with several services in the chunk; SQL joins
        the results to the rows. What it writes is what :meth:`add` writes for the same
        transcripts (the tests compare both)."""
        import pyarrow as pa

        con, batch, enricher = self.store.con, self._batch, self.enricher
        own = [
            identify_doc({"protocol": b.protocol, "steps": b.steps, "outcome": _OK, "port": b.port})
            for b in banners
        ]
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE _st_multi AS SELECT ip FROM {table}"
            " GROUP BY ip HAVING count(*) > 1"
        )
        single = f"{table} t ANTI JOIN _st_multi m ON m.ip = t.ip"
        pmap: dict[str, list[Any]] = {"bk": [], "day": [], "pid": []}
        for bk, day, obs, ip in con.execute(
            f"SELECT t.bk, t.day, min(t.obs), min(t.ip) FROM {single} GROUP BY t.bk, t.day"
        ).fetchall():
            b = banners[bk]
            prof = batch.profile_for(own[bk], _assess_doc(b, ip, obs))
            pmap["bk"].append(bk)
            pmap["day"].append(day)
            pmap["pid"].append(prof.pid)
        ghint: dict[str, list[Any]] = {k: [] for k in (*_HINT, "gid")}
        gip: dict[str, list[Any]] = {"ip": [], "gid": []}
        hints = con.execute(
            f"SELECT {', '.join('t.' + k for k in _HINT)}, min(t.ip) FROM {single} GROUP BY ALL"
        ).fetchall()
        per_address: set[tuple[Any, ...]] = set()  # hints the enricher answers per address
        for *values, ip in hints:
            gid, everywhere = batch.location_for(ip, _hint_pairs(values), "shodan", enricher)
            if everywhere:
                for k, v in zip(_HINT, values, strict=True):
                    ghint[k].append(v)
                ghint["gid"].append(gid)
            else:
                per_address.add(tuple(values))
        if per_address:  # one query for them all, not one per hint (an MMDB: every hint)
            for *values, addr in con.execute(
                f"SELECT DISTINCT {', '.join('t.' + k for k in _HINT)}, t.ip FROM {single}"
            ).fetchall():
                if tuple(values) in per_address:
                    gip["ip"].append(addr)
                    hint = _hint_pairs(values)
                    gip["gid"].append(batch.location_for(addr, hint, "shodan", enricher)[0])
        hmap: dict[str, list[Any]] = {"rid": [], "pid": [], "gid": [], "merged": []}
        rows = con.execute(
            f"SELECT t.rid, t.ip, t.bk, t.obs, t.port, {', '.join('t.' + k for k in _HINT)}"
            f" FROM {table} t SEMI JOIN _st_multi m ON m.ip = t.ip ORDER BY t.ip, t.port, t.rid"
        ).fetchall()
        for ip, group in itertools.groupby(rows, key=lambda r: r[1]):
            chosen = list(merge_endpoints(list(group), _row_port, _row_time))
            host = [r for r, _ in chosen]
            found = [own[r[2]] for r in host]
            combined = combine_shared(found)
            gid = batch.location_for(ip, _hint_pairs(host[0][5:]), "shodan", enricher)[0]
            for (r, merged), ident in zip(chosen, found, strict=True):
                b = banners[r[2]]
                prof = batch.profile_for(_service_ident(ident, combined), _assess_doc(b, ip, r[3]))
                hmap["rid"].append(r[0])
                hmap["pid"].append(prof.pid)
                hmap["gid"].append(gid)
                hmap["merged"].append(orjson.dumps(merged.to_json()).decode() if merged else None)
        tables = {
            "_st_pmap": pa.table(
                {
                    "bk": pa.array(pmap["bk"], pa.int64()),
                    "day": pa.array(pmap["day"], pa.string()),
                    "pid": pa.array(pmap["pid"], pa.int64()),
                }
            ),
            "_st_ghint": pa.table(
                {
                    **{k: pa.array(ghint[k], pa.string()) for k in _HINT},
                    "gid": pa.array(ghint["gid"], pa.int64()),
                }
            ),
            "_st_gip": pa.table(
                {"ip": pa.array(gip["ip"], pa.string()), "gid": pa.array(gip["gid"], pa.int64())}
            ),
            "_st_hmap": pa.table(
                {
                    **{k: pa.array(hmap[k], pa.int64()) for k in ("rid", "pid", "gid")},
                    "merged": pa.array(hmap["merged"], pa.string()),
                }
            ),
            "_st_banner": pa.table(
                {
                    "bk": pa.array(range(len(banners)), pa.int64()),
                    "banner": pa.array([_banner(b.steps) for b in banners], pa.string()),
                }
            ),
        }
        hint_join = " AND ".join(f"g.{k} IS NOT DISTINCT FROM t.{k}" for k in _HINT)
        rows_sql = f"""
            SELECT coalesce(h.pid, p.pid) AS pid, coalesce(h.gid, g.gid, a.gid) AS gid,
                   t.ip, t.port, t.protocol, t.transport, t.obs AS observed_at,
                   '{_OK}' AS outcome, 'shodan' AS source, nullif(t.hostname, '') AS hostname,
                   b.banner, h.merged
            FROM {table} t
            JOIN _st_banner b ON b.bk = t.bk
            LEFT JOIN _st_hmap h ON h.rid = t.rid
            LEFT JOIN _st_pmap p ON h.rid IS NULL AND p.bk = t.bk AND p.day = t.day
            LEFT JOIN _st_ghint g ON h.rid IS NULL AND {hint_join}
            LEFT JOIN _st_gip a ON h.rid IS NULL AND a.ip = t.ip
            LEFT JOIN _st_multi m ON m.ip = t.ip
            WHERE h.rid IS NOT NULL OR m.ip IS NULL  -- a host's observations not chosen: none
        """
        try:
            for name, arrow in tables.items():
                con.register(name, arrow)
            n = batch.write(
                self.store,
                after=(f"INSERT INTO {self._SEEN} SELECT DISTINCT ip FROM _svc",),
                rows_sql=rows_sql,
            )
        finally:
            for name in tables:
                con.unregister(name)
            con.execute("DROP TABLE IF EXISTS _st_multi")
        self.written += n
        return n

    def finish(self, progress: Progress | None = None) -> int:
        """Analyse again the hosts that were in more than one batch; the services written."""
        con, scan = self.store.con, self.scan
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _import_split AS SELECT ip,"
            f" row_number() OVER (ORDER BY ip) AS k FROM {self._SEEN}"
            " GROUP BY ip HAVING count(*) > 1"
        )
        con.execute(f"DROP TABLE {self._SEEN}")
        row = self.store.row("SELECT count(*) FROM _import_split")
        split = int(row[0]) if row else 0
        if split:
            con.execute(
                "DELETE FROM service_rows WHERE scan = ? AND gen = ?"
                " AND ip IN (SELECT ip FROM _import_split)",
                [scan, self.gen],
            )
            self.written = self._count_services()
            loads = orjson.loads
            for first in range(0, split, _SPLIT_CHUNK):  # a chunk of hosts at a time
                rows = con.execute(
                    "SELECT data FROM transcript_docs WHERE scan = ? AND ip IN"
                    " (SELECT ip FROM _import_split WHERE k > ? AND k <= ?) ORDER BY ip, port, seq",
                    [scan, first, first + _SPLIT_CHUNK],
                ).fetchall()
                self.written += _analyse_hosts(
                    self.store, self._batch, (loads(d) for (d,) in rows), self.enricher, None
                )
                if progress:
                    progress(self.written)
            self._drop_unused()
        con.execute("DROP TABLE _import_split")
        if progress:
            progress(self.written)
        return self.written

    def _count_services(self) -> int:
        row = self.store.row(
            "SELECT count(*) FROM service_rows WHERE scan = ? AND gen = ?", [self.scan, self.gen]
        )
        return int(row[0]) if row else 0

    def _drop_unused(self) -> None:
        """Profiles and locations only the replaced services used."""
        con, scan = self.store.con, self.scan
        for table, key in (
            ("profile_rows", "pid"),
            ("verdict_rows", "pid"),
            ("location_rows", "gid"),
        ):
            con.execute(
                f"DELETE FROM {table} WHERE scan = $scan AND gen = $gen AND {key} NOT IN"
                f" (SELECT {key} FROM service_rows WHERE scan = $scan AND gen = $gen"
                f" AND {key} IS NOT NULL)",
                {"scan": scan, "gen": self.gen},
            )


_SPLIT_CHUNK = 2_000
"""Hosts whose stored transcripts :meth:`ImportAnalysis.finish` reads at a time."""


def _port(doc: dict[str, Any]) -> int:
    port: int = doc["port"]
    return port


class StagedBanner(Protocol):
    """One distinct banner of a staged chunk (``importers.shodan_columnar.Banner``)."""

    @property
    def port(self) -> int: ...
    @property
    def protocol(self) -> str: ...
    @property
    def transport(self) -> str: ...
    @property
    def steps(self) -> list[dict[str, Any]]: ...


_OK = Outcome.OK.value
_HINT = ("g_country", "g_city", "g_asn", "g_org")
_HINT_KEYS = ("geo.country", "geo.city", "geo.asn", "geo.org")
"""importers.interface.GEO_KEYS, in the order the Shodan importer writes them into ``extra``
(``_located`` remembers a location by that sequence); not imported from there, whose
package imports this module."""


def _row_port(row: tuple[Any, ...]) -> int:
    """The port of a staged row (``add_staged``: rid, ip, bk, obs, port, hint...)."""
    port: int = row[4]
    return port


def _row_time(row: tuple[Any, ...]) -> datetime:
    return datetime.fromisoformat(row[3])


def _hint_pairs(values: Sequence[Any]) -> list[tuple[str, str]]:
    """The ``geo.*`` pairs of ``extra`` from the staged hint columns, in ``extra``'s order."""
    return [(k, v) for k, v in zip(_HINT_KEYS, values, strict=True) if v is not None]


def _assess_doc(b: StagedBanner, ip: str, observed: str) -> dict[str, Any]:
    """What :meth:`_Batch.profile_for` reads of a staged service."""
    return {
        "ip": ip,
        "port": b.port,
        "protocol": b.protocol,
        "transport": b.transport,
        "observed_at": observed,
        "outcome": _OK,
        "steps": b.steps,
    }


def analyze_scan_reference(
    store: Store,
    scan: ScanId,
    enricher: Enricher | None = None,
    progress: Progress | None = None,
) -> int:
    """:func:`analyze_scan` one :class:`ServiceRecord` at a time (``analyze`` and
    ``Store.write_services``): the plain statement of what the analysis writes, kept as the
    reference the fast path is tested against."""
    with store.replacing_derived(scan) as gen:
        written = 0
        batch: list[ServiceRecord] = []
        for record in analyze(scan, store.iter_transcripts(scan), enricher):
            batch.append(record)
            if len(batch) >= BATCH:
                written += store.write_services(scan, batch, gen)
                batch.clear()
                if progress:
                    progress(written)
        written += store.write_services(scan, batch, gen)
        if progress:
            progress(written)
        return written


_MEMO_MAX = 65_536


class _Profile:
    """What one (identification, assessment) pair puts into the store: the services
    columns and its part of the record (PROFILE_COLUMNS but ``pid`` and ``fresh``) and the
    findings rows."""

    __slots__ = ("findings", "pid", "row", "stored")

    def __init__(self, pid: int, ident: Identification, a: Assessment) -> None:
        self.pid = pid
        self.stored = False  # its part and findings are in the store (for this scan)
        eol = a.eol
        self.row: tuple[Any, ...] = (
            ident.vendor or None,
            ident.product,
            a.product_line or None,
            ident.version or None,
            version_key(ident.product, ident.version) if ident.version else None,
            ident.precision.label,
            a.release or None,
            a.confidence or None,
            ident.distro or None,
            [e.field for e in ident.evidence],
            eol.eol,
            eol.line or None,
            eol.date,
            any(f.kev and f.status in _AT_RISK for f in a.findings),
            worst_status(ident, a),
            orjson.dumps(record_identity(ident, a))[1:-1],  # the record's part
        )
        self.findings = tuple(
            (
                f.cve,
                str(f.status),
                f.kev,
                f.ransomware,
                f.cvss,
                f.reason,
                f.fixed_in or None,
                list(f.tags),
            )
            for f in a.findings
        )


_AT_RISK = (Status.VULNERABLE, Status.POTENTIALLY_VULNERABLE)


class _Profiles:
    """Profiles by the identity of their (identification, assessment) objects — identify and
    assess hand out shared objects — and, on a miss, by the values a profile reads."""

    def __init__(self) -> None:
        self._by_id: dict[tuple[int, int], tuple[Identification, Assessment, _Profile]] = {}
        self._by_value: dict[tuple[Any, ...], _Profile] = {}
        self._count = 0

    def get(self, ident: Identification, a: Assessment) -> _Profile:
        hit = self._by_id.get((id(ident), id(a)))
        if hit is not None:
            return hit[2]
        key = (
            ident.vendor,
            ident.product,
            ident.version,
            ident.precision,
            ident.distro,
            tuple(e.field for e in ident.evidence),
            a,
        )
        prof = self._by_value.get(key)
        if prof is None:
            if len(self._by_value) >= _MEMO_MAX:
                self._by_value.clear()
            self._count += 1
            prof = self._by_value[key] = _Profile(self._count, ident, a)
        if len(self._by_id) >= _MEMO_MAX:
            self._by_id.clear()
        self._by_id[(id(ident), id(a))] = (ident, a, prof)  # objects kept: ids stay theirs
        return prof


class _Geos:
    """Location columns and record part, once per distinct :class:`Geo`."""

    def __init__(self) -> None:
        self._by_value: dict[Geo | None, tuple[int, tuple[Any, ...]]] = {}
        self._count = 0
        self.stored: set[int] = set()  # gids whose part is in the store (for this scan)

    def get(self, geo: Geo | None) -> tuple[int, tuple[Any, ...]]:
        hit = self._by_value.get(geo)
        if hit is not None:
            return hit
        if len(self._by_value) >= _MEMO_MAX:
            self._by_value.clear()
        self._count += 1
        g = geo or Geo()
        row = (
            g.country or None,
            g.continent or None,
            g.region or None,
            g.asn,
            g.org or None,
            g.city or None,
            g.source or None,
            orjson.dumps(record_geo(g.country, g.continent, g.asn, g.org))[1:-1],
        )
        out = self._by_value[geo] = (self._count, row)
        return out


class _Batch:
    """The rows of up to :data:`BATCH` services, column by column, with the profiles and
    locations they use."""

    def __init__(self, scan: ScanId, gen: int, profiles: _Profiles, geos: _Geos) -> None:
        self.scan = scan
        self.gen = gen
        self.profiles = profiles
        self.geos = geos
        # (identification, day[, EHLO replies, transport]) -> its assessment and profile;
        # per analysis run, so a knowledge update between runs is always seen
        self._assessed: dict[tuple[Any, ...], tuple[Identification, _Profile]] = {}
        self._days: dict[str, date] = {}
        self._banners: dict[str, str] = {}  # a greeting as stored -> its display banner
        self._hosts_at: dict[tuple[Any, ...], tuple[int, tuple[Any, ...]]] = {}
        self._clear()

    def _clear(self) -> None:
        self.rows: list[tuple[Any, ...]] = []  # ANALYSIS_SERVICE_COLUMNS
        self.used: dict[int, _Profile] = {}
        self.used_geo: dict[int, tuple[Any, ...]] = {}

    @property
    def size(self) -> int:
        return len(self.rows)

    def add_host(self, docs: list[dict[str, Any]], enricher: Enricher | None) -> None:
        """The services of one host (its stored transcripts, in (ip, port) order; several
        of one port are one service, :func:`merge_endpoints`)."""
        merged: list[str | None] | None = None
        if len(docs) > 1 and len({d["port"] for d in docs}) < len(docs):
            docs, merged = _merge_docs(docs)
        own = [identify_doc(d) for d in docs]
        first = docs[0]
        if len(own) > 1:
            host = combine_shared(own)
            idents = [_service_ident(i, host) for i in own]
        else:
            idents = own  # a host of one service: combine gives nothing the service lacks
        if enricher is None:
            gid, grow = self.geos.get(None)
        else:
            gid, grow = self._located(first, enricher)
        self.used_geo[gid] = grow
        append = self.rows.append
        profile_for = self.profile_for
        banner = self._banner
        for i, (doc, ident) in enumerate(zip(docs, idents, strict=True)):
            append(
                (
                    profile_for(ident, doc).pid,
                    gid,
                    doc["ip"],
                    doc["port"],
                    doc["protocol"],
                    doc["transport"],
                    doc["observed_at"],  # ISO 8601 with its offset; DuckDB casts it on insert
                    doc["outcome"],
                    doc.get("source", "scan"),
                    doc.get("hostname") or None,
                    banner(doc["steps"]),
                    merged[i] if merged is not None else None,
                )
            )

    def profile_for(self, ident: Identification, doc: dict[str, Any]) -> _Profile:
        """The profile of a service identified as ``ident`` (``doc``: what ``assess`` reads of
        it, as in :meth:`add_host`), noted as used by this batch."""
        observed = doc["observed_at"]
        key: tuple[Any, ...]
        # an ISO 8601 time starts with its own (local) date: when.date()
        if ident.product in EHLO_PRODUCTS:
            key = (id(ident), observed[:10], doc["transport"], *_ehlo_replies(doc["steps"]))
        else:
            key = (id(ident), observed[:10])
        hit = self._assessed.get(key)
        prof = self._profile(ident, doc, key) if hit is None else hit[1]
        self.used[prof.pid] = prof
        return prof

    def location_for(
        self, ip: str, hint: Sequence[tuple[str, str]], source: str, enricher: Enricher | None
    ) -> tuple[int, bool]:
        """The gid of a host at ``ip`` whose first service's ``extra`` held the ``geo.*``
        pairs ``hint``, as :meth:`add_host` finds it, noted as used; and whether every address
        with that hint has the same location (the enricher looks nothing up per address)."""
        if enricher is None:
            gid, grow = self.geos.get(None)
            everywhere = True
        else:
            gid, grow = self._located({"ip": ip, "source": source, "extra": list(hint)}, enricher)
            everywhere = isinstance(enricher, GeoEnricher) and enricher.same_everywhere(
                hint_from_extra(hint, source)
            )
        self.used_geo[gid] = grow
        return gid, everywhere

    def _located(self, first: dict[str, Any], enricher: Enricher) -> tuple[int, tuple[Any, ...]]:
        """The location of a host (``first``: its first service), remembered by the
        importer's ``geo.*`` values when the enricher answers the same for every address
        with them (a Shodan file repeats a few thousand locations over millions of hosts)."""
        extra = first.get("extra")
        source = first.get("source", "scan")
        if not extra or source == "scan":
            return self.geos.get(enricher.lookup(first["ip"], None))
        parts = [source]
        for k, v in extra:
            if k[:4] == "geo.":
                parts += (k, v)
        key = tuple(parts)
        try:
            hit = self._hosts_at.get(key)
        except TypeError:  # a value that is not text: no memo
            return self.geos.get(enricher.lookup(first["ip"], hint_from_extra(extra, source)))
        if hit is not None:
            return hit
        hint = hint_from_extra(extra, source)
        out = self.geos.get(enricher.lookup(first["ip"], hint))
        if isinstance(enricher, GeoEnricher) and enricher.same_everywhere(hint):
            if len(self._hosts_at) >= _MEMO_MAX:
                self._hosts_at.clear()
            self._hosts_at[key] = out
        return out

    def _banner(self, steps: list[dict[str, Any]]) -> str:
        """:func:`_banner`, remembered for greetings (the same few software's banners, or
        at worst one lookup more per service)."""
        first = steps[0] if steps else None
        if first is None or first["name"] != "greeting" or not first["received"]:
            return _banner(steps)
        text: str = first["received"]
        got = self._banners.get(text)
        if got is None:
            if len(self._banners) >= _MEMO_MAX:
                self._banners.clear()
            got = self._banners[text] = printable_stored(text)
        return got

    def _profile(
        self, ident: Identification, doc: dict[str, Any], key: tuple[Any, ...]
    ) -> _Profile:
        """Assess one service (the memo in :meth:`add_host` missed under ``key``) and find
        its profile."""
        day: str = key[1]
        on = self._days.get(day)
        if on is None:
            on = self._days[day] = date.fromisoformat(day)
        if ident.product in EHLO_PRODUCTS:
            when = datetime.fromisoformat(doc["observed_at"])
            a = assess(ident, _transcript_for_assess(doc, when))
        else:
            a = assess_on(ident, on)
        prof = self.profiles.get(ident, a)
        if len(self._assessed) >= _MEMO_MAX:
            self._assessed.clear()
        self._assessed[key] = (ident, prof)  # ident kept alive: its id stays its own
        return prof

    def write(self, store: Store, after: Sequence[str] = (), rows_sql: str | None = None) -> int:
        """Write the batch's services (``rows_sql``: a query giving them, the
        ANALYSIS_SERVICE_COLUMNS, instead of :attr:`rows`) and what they use."""
        if rows_sql is None and not self.size:
            return 0
        profiles: dict[str, list[Any]] = {c: [] for c in PROFILE_COLUMNS}
        verdicts: dict[str, list[Any]] = {c: [] for c in VERDICT_COLUMNS}
        fresh = [prof for prof in self.used.values() if not prof.stored]
        for pid, prof in self.used.items():
            profiles["pid"].append(pid)
            profiles["fresh"].append(not prof.stored)
            for c, v in zip(PROFILE_COLUMNS[2:], prof.row, strict=True):
                profiles[c].append(v)
        for prof in fresh:
            for row in prof.findings:
                verdicts["pid"].append(prof.pid)
                for c, v in zip(VERDICT_COLUMNS[1:], row, strict=True):
                    verdicts[c].append(v)
        geos: dict[str, list[Any]] = {c: [] for c in GEO_COLUMNS}
        stored = self.geos.stored
        for gid, grow in self.used_geo.items():
            geos["gid"].append(gid)
            geos["fresh"].append(gid not in stored)
            for c, v in zip(GEO_COLUMNS[2:], grow, strict=True):
                geos[c].append(v)
        services: dict[str, list[Any]] | str
        if rows_sql is None:
            columns = map(list, zip(*self.rows, strict=True))
            services = dict(zip(ANALYSIS_SERVICE_COLUMNS, columns, strict=True))
        else:
            services = rows_sql
        written = store.write_analysis(
            self.scan, self.gen, services, profiles, verdicts, geos, after
        )
        for prof in fresh:  # only once the transaction holds them
            prof.stored = True
        stored.update(self.used_geo)
        self._clear()
        return written


def _transcript_for_assess(doc: dict[str, Any], when: datetime) -> Transcript:
    """What ``assess`` reads of a transcript, from the doc: its day, its transport and its
    EHLO replies (``assess.ehlo.ehlo_facts`` reads no other step)."""
    return Transcript(
        ip=doc["ip"],
        port=int(doc["port"]),
        protocol=doc["protocol"],
        transport=Transport(doc["transport"]),
        observed_at=when,
        outcome=Outcome(doc["outcome"]),
        steps=tuple(
            Step(s["name"], received=text_to_bytes(s["received"]))
            for s in doc["steps"]
            if s["name"] in EHLO_STEPS
        ),
    )


def _ehlo_replies(steps: list[dict[str, Any]]) -> tuple[str, str]:
    """The EHLO replies ``assess`` reads (``assess.ehlo.ehlo_facts``), as stored."""
    first = second = ""
    for step in steps:
        name = step["name"]
        if name == "ehlo":
            first = step["received"]
        elif name == "ehlo-tls":
            second = step["received"]
    return first, second


def _banner(steps: list[dict[str, Any]]) -> str:
    """:func:`banner_of` of the stored steps."""
    for step in steps:
        if step["name"] == "greeting":
            if step["received"]:
                return printable_stored(step["received"])
            break
    for step in steps:
        if step["code"] is not None and step["headers"]:
            head = f"HTTP {step['code']}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in step["headers"])
            if head.isascii():  # its UTF-8 bytes are its latin-1 bytes
                return printable_stored(head)
            return printable(head.encode("utf-8", "replace"))
    return ""


def analyze_scan_with_geo(
    store: Store,
    scan: ScanId,
    mmdb: Sequence[Path | str] = (),
    progress: Progress | None = None,
) -> int:
    """``analyze_scan`` with the standard enrichment: iptocc, plus the given MMDB files."""
    enricher = GeoEnricher(mmdb)
    try:
        return analyze_scan(store, scan, enricher=enricher, progress=progress)
    finally:
        enricher.close()
