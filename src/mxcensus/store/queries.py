"""The store's read side: every query that report, trend, export, notify, explain and the
demo run (and next the web service and watches), behind the typed methods of
:class:`Reader` (``Store.reader()``).

- Which services: a :class:`~mxcensus.store.filters.Filter` (and the reader's
  :class:`~mxcensus.store.filters.Scope`\\ s, ANDed into every query) compiled to a
  parameterised condition; the SQL itself is in ``store/sql.py``.
- Concurrency: each call runs on its own cursor (``con.cursor()``), so threads may share
  one reader; :meth:`Reader.snapshot` runs several calls in one transaction (one view of
  the data while a writer goes on).
- Results are typed (``store/results.py``); large ones come as iterators of batches
  (``fetchmany``), and what rows share (a profile's findings and record part, a
  location's part) is fetched per batch into bounded caches, so no reader holds a census
  in Python.
- Memory: :meth:`Reader.bounded_memory` caps DuckDB's own memory for a long read (the
  ordered exports sort under it, spilling to disk).

The counting rules are those printed with every report (``report.query.DEFINITIONS``).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import UTC
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import duckdb
import orjson

from mxcensus.errors import StoreError, UsageError
from mxcensus.model import (
    SCHEMA_VERSION,
    VERDICTS,
    ScanId,
    Status,
    Transcript,
)
from mxcensus.serialize import transcript_from_dict
from mxcensus.store import sql
from mxcensus.store.filters import (
    AT_RISK_SEVERITY,
    READABLE,
    Filter,
    Scope,
    Where,
    severity_sql,
)
from mxcensus.store.results import (
    CHURN,
    NONE_UNJUDGED,
    AtRiskService,
    ChurnCount,
    ChurnHost,
    CveCount,
    EolLine,
    EventRow,
    FindingRow,
    FlatRow,
    GroupRow,
    Outcome,
    OwnerFile,
    PlaceRow,
    ScanGroupRow,
    ScanInfo,
    ScanTotal,
    ServiceKey,
    ShadowSource,
    Totals,
    Unjudged,
)
from mxcensus.store.sql import Apps

if TYPE_CHECKING:
    import pyarrow as pa

Row = TypeVar("Row")
V = TypeVar("V")
BATCH = 10_000
"""Rows fetched at a time by the streaming methods."""
MEMORY_LIMIT = "160MB"
"""DuckDB's memory for a long read (:meth:`Reader.bounded_memory`), with one thread: a
sort of ten million services then spills to disk instead of holding them (two threads
need more than twice the memory to sort the same rows)."""

PRODUCT_KNOWN_UNJUDGED_SQL = "(s.product <> 'unknown' AND s.worst_status = 'unknown')"
"""A service whose product is known but whose verdict stays unknown (version hidden,
disputed, fixes not collected)."""


class Reader:
    """Typed, read-only queries over one store; every service query holds ``scopes``."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        path: Path,
        scopes: tuple[Scope, ...] = (),
        *,
        cursor: duckdb.DuckDBPyConnection | None = None,
    ) -> None:
        self._con = con
        self.path = path
        self.scopes = scopes
        self._shared = cursor

    def scoped(self, scope: Scope) -> Reader:
        """This reader, narrowed to ``scope`` too (scopes only ever narrow)."""
        return Reader(self._con, self.path, (*self.scopes, scope), cursor=self._shared)

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[Reader]:
        """A reader whose calls share one cursor and one transaction: they see the store as
        it was when the block began. A streamed result must be read to its end before the
        next call."""
        if self._shared is not None:
            yield self
            return
        cur = self._con.cursor()
        try:
            cur.execute("BEGIN TRANSACTION")
            yield Reader(self._con, self.path, self.scopes, cursor=cur)
        finally:
            with contextlib.suppress(duckdb.Error):
                cur.execute("ROLLBACK")
            cur.close()

    @contextlib.contextmanager
    def bounded_memory(
        self, limit: str = MEMORY_LIMIT, *, threads: int | None = 1
    ) -> Iterator[None]:
        """DuckDB limited to ``limit`` of memory (and ``threads``, unless None) for the block
        — settings of the whole database instance: every cursor of this process — large
        sorts and aggregates spilling to DuckDB's temporary directory (beside the store, or
        under ``TMPDIR`` when the store's directory is not writable); the settings before
        are restored. Output commands use it: their memory then stays flat however large the
        census."""
        cur = self._con.cursor()
        try:
            before, was, spill = cur.execute(
                "SELECT current_setting('memory_limit'), current_setting('threads'),"
                " current_setting('temp_directory')"
            ).fetchall()[0]
            if spill and not os.access(Path(spill).parent, os.W_OK):
                _spill_elsewhere(cur)
            cur.execute("SET memory_limit = $m", {"m": limit})
            if threads is not None:
                cur.execute(f"SET threads = {int(threads)}")
            try:
                yield
            finally:  # DuckDB's default again, or the limit set before (its text rounds)
                cur.execute("RESET memory_limit")
                if cur.execute("SELECT current_setting('memory_limit')").fetchall()[0][0] != before:
                    cur.execute("SET memory_limit = $m", {"m": before})
                cur.execute(f"SET threads = {int(was)}")
        finally:
            cur.close()

    # -- running queries -----------------------------------------------------------------

    @contextlib.contextmanager
    def _cursor(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor for one call (or the snapshot's); DuckDB's errors (a disk full while
        spilling, the memory limit) become a one-line :class:`StoreError`."""
        cur = self._con.cursor() if self._shared is None else self._shared
        try:
            yield cur
        except duckdb.Error as exc:
            raise read_error(self.path, exc) from exc
        finally:
            if cur is not self._shared:
                cur.close()

    def _all(self, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        with self._cursor() as cur:
            return cur.execute(sql, dict(params or {})).fetchall()

    def _batches(
        self,
        sql: str,
        params: Mapping[str, Any],
        make: Callable[[tuple[Any, ...]], Row],
        size: int = BATCH,
    ) -> Iterator[list[Row]]:
        with self._cursor() as cur:
            cur.execute(sql, dict(params))
            while rows := cur.fetchmany(size):
                yield list(map(make, rows))

    def _where(self, f: Filter, prefix: str = "w") -> Where:
        return f.where(self.scopes, prefix)

    # -- scans ---------------------------------------------------------------------------

    _SCAN_COLUMNS = (
        f"id, name, kind, source, started_at, finished_at, status, targets_total, {READABLE}"
    )

    def scan(self, ref: str, scans: Sequence[ScanInfo] | None = None) -> ScanInfo | None:
        """A scan by id or name (of that name, the newest that did not fail, else the newest
        that did), or None; from ``scans`` (:meth:`scans`, read once by a caller asking
        several questions) when given."""
        found = [s for s in (self.scans() if scans is None else scans) if ref in (s.id, s.name)]
        return max(found, key=lambda s: (s.id == ref, s.status != "failed", s.started_at),
                   default=None)  # fmt: skip

    def resolve_scan(
        self, ref: str | None, ours: Collection[str] = (), scans: Sequence[ScanInfo] | None = None
    ) -> ScanId:
        """SCAN as the user wrote it (id or name) or, when None, the newest readable scan
        (:data:`READABLE`), a finished one first. A named scan that is not readable — a
        failed import, or one still being written — is refused, but for an unfinished one
        of ``ours`` (the scans this process is writing). ``scans``: as for :meth:`scan`."""
        scans = self.scans() if scans is None else scans
        if ref is None:
            newest = max((s for s in scans if s.readable), default=None,
                         key=lambda s: (s.status == "finished", s.started_at))  # fmt: skip
            if newest is None:
                raise UsageError(f"{self.path}: the database holds no scan yet")
            return newest.id
        found = self.scan(ref, scans)
        if found is None:
            raise UsageError(f"--scan {ref!r}: no scan with that id or name in {self.path}")
        if not found.readable and (found.status == "failed" or found.id not in ours):
            raise UsageError(
                f"--scan {ref!r}: the {found.kind} {found.id} did not finish (it failed or was"
                " killed); nothing of it is kept (mxcensus scans delete removes its entry)"
            )
        return found.id

    def scans(self, *, services: bool = False) -> list[ScanInfo]:
        """Every scan, oldest first; with ``services``, each with the services readers see
        of it."""
        if not services:
            rows = self._all(f"SELECT {self._SCAN_COLUMNS} FROM scans ORDER BY started_at, id")
            return [ScanInfo(*r) for r in rows]
        rows = self._all(
            f"SELECT {self._SCAN_COLUMNS}, coalesce(c.n, 0) FROM scans"
            " LEFT JOIN (SELECT scan, count(*) AS n FROM services GROUP BY scan) c"
            " ON c.scan = scans.id ORDER BY started_at, id"
        )
        return [ScanInfo(*r) for r in rows]

    # -- counts --------------------------------------------------------------------------

    def totals(self, f: Filter, *, geo: bool = False) -> Totals:
        """Hosts and exposed services, both per verdict, and those that could not be judged
        (:class:`Unjudged`), in one pass over the services (one GROUP BY ip); with ``geo``,
        the same pass also yields hosts per country and per continent (GROUPING SETS), a
        host placed where its IP address is. ``rows`` counts the filter's rows with the ports
        that never connected."""
        w = self._where(f)
        sev = severity_sql("s.worst_status")
        per_sev = ", ".join(f"count_if(sev = {n}) AS s{n}" for n, _ in sql.SEVERITIES)
        host_cols = ", ".join(f"count_if(ms = {n})" for n, _ in sql.SEVERITIES)
        svc_cols = ", ".join(f"coalesce(sum(s{n}), 0)::BIGINT" for n, _ in sql.SEVERITIES)
        if geo:
            head = "grouping(country), grouping(continent), country, continent"
            tail = "GROUP BY GROUPING SETS ((), (country), (continent))"
        else:
            head, tail = "1, 1, NULL, NULL", ""
        result = self._all(
            f"""
            WITH h AS (SELECT ip, any_value(country) AS country,
                              any_value(continent) AS continent, max(sev) AS ms,
                              count(*) AS n, bool_or(eol IS TRUE) AS eol,
                              count_if(eol IS TRUE) AS neol, count_if(kev) AS nkev,
                              count_if(unidentified) AS nunid, count_if(unjudged) AS nunj,
                              {per_sev}
                       FROM (SELECT s.ip, s.country, s.continent, s.eol, s.kev, {sev} AS sev,
                                    s.product = 'unknown' AS unidentified,
                                    {PRODUCT_KNOWN_UNJUDGED_SQL} AS unjudged
                             FROM services s WHERE {w.sql})
                       GROUP BY ip)
            SELECT {head}, count(*), coalesce(sum(n), 0)::BIGINT, {host_cols}, {svc_cols},
                   coalesce(sum(nunid), 0)::BIGINT, count_if(nunid > 0),
                   coalesce(sum(nunj), 0)::BIGINT, count_if(nunj > 0),
                   coalesce(sum(nkev), 0)::BIGINT, coalesce(sum(neol), 0)::BIGINT,
                   count_if(eol), count_if(ms >= {AT_RISK_SEVERITY} OR eol)
            FROM h {tail}
            """,
            w.params,
        )
        every = self._where(replace(f, exposed=False))
        (rows,) = self._all(f"SELECT count(*) FROM services s WHERE {every.sql}", every.params)
        return _totals(int(rows[0]), result)

    def groups(self, keys: Sequence[str], f: Filter) -> Iterator[list[GroupRow]]:
        """Counts per group of ``keys`` (names of :data:`KEYS`), most services first."""
        w = self._where(f)
        order = f" ORDER BY services DESC, {', '.join(f'k{i}' for i in range(len(keys)))}"
        n = len(keys)
        placed = self._placed_groups(keys, w, order)
        if placed is not None:  # a group per place and verdict: few rows, one batch
            yield [GroupRow(tuple(r[:n]), *r[n:-1]) for r in placed]
            return
        yield from self._batches(
            sql.group_sql(keys, w) + order, w.params, lambda r: GroupRow(tuple(r[:n]), *r[n:])
        )

    def scan_groups(self, keys: Sequence[str], f: Filter) -> list[ScanGroupRow]:
        """Hosts and services per scan and group (unordered): the trend's counts."""
        w = self._where(f)
        n = len(keys)
        rows = self._placed_groups(keys, w, "", per_scan=True)
        if rows is None:
            rows = self._all(sql.group_sql(keys, w, per_scan=True), w.params)
        return [
            ScanGroupRow(ScanId(r[0]), tuple(r[1 : 1 + n]), int(r[1 + n]), int(r[2 + n]))
            for r in rows
        ]

    def _placed_groups(
        self, keys: Sequence[str], w: Where, order: str, *, per_scan: bool = False
    ) -> list[tuple[Any, ...]] | None:
        """The rows of :func:`sql.placed_group_sql` when it applies and its answer is exact
        (every host's services agree on where it is), else None."""
        query = sql.placed_group_sql(keys, w, per_scan=per_scan)
        if query is None:
            return None
        rows = self._all(query + order, w.params)
        return rows if all(r[-1] for r in rows[:1]) else None

    def eol_lines(self, f: Filter) -> list[EolLine]:
        """End-of-support services per product line (lines with at least one)."""
        w = self._where(f)
        rows = self._all(
            f"""
            SELECT coalesce(s.product_line, s.product) AS line,
                   count(DISTINCT s.ip) FILTER (WHERE s.eol IS TRUE) AS eol_hosts,
                   count(*) FILTER (WHERE s.eol IS TRUE) AS eol_services,
                   count(*) AS services,
                   count(*) FILTER (WHERE s.eol IS NULL) AS unknown
            FROM services s WHERE {w.sql} AND s.product <> 'unknown'
            GROUP BY line HAVING count(*) FILTER (WHERE s.eol IS TRUE) > 0
            ORDER BY eol_services DESC, line
            """,
            w.params,
        )
        return [EolLine._make(r) for r in rows]

    def cve_counts(self, f: Filter) -> list[CveCount]:
        """Per CVE with any vulnerable or potentially vulnerable service: the counts."""
        w = self._where(f)
        v, p = Status.VULNERABLE.value, Status.POTENTIALLY_VULNERABLE.value
        findings = (
            f"SELECT ip, cve, status, kev FROM findings s WHERE {w.scans}"
            if w.only_scans  # no criterion on the services: their findings alone
            else sql.service_findings_sql(w, "cve, status, kev")
        )
        rows = self._all(
            f"""
            SELECT f.cve, bool_or(f.kev) AS kev,
                   count_if(f.status = '{v}') AS vuln,
                   count_if(f.status = '{p}') AS pot,
                   count(DISTINCT f.ip) FILTER (WHERE f.status = '{v}') AS vuln_hosts,
                   count(DISTINCT f.ip) FILTER (WHERE f.status IN ('{v}', '{p}')) AS any_hosts,
                   count(*) AS judged
            FROM ({findings}) f
            GROUP BY f.cve HAVING vuln + pot > 0
            ORDER BY vuln DESC, pot DESC, f.cve
            """,
            w.params,
        )
        return [CveCount._make(r) for r in rows]

    def at_risk(self, f: Filter, limit: int) -> list[AtRiskService]:
        """The first ``limit`` services at risk, most severe first (then end of support,
        then by address), with the CVEs each is at risk by."""
        w = self._where(f)
        sev = severity_sql("s.worst_status")
        risky = f"('{Status.VULNERABLE.value}', '{Status.POTENTIALLY_VULNERABLE.value}')"
        rows = self._all(
            f"""
            WITH top AS (
                SELECT s.scan, s.ip, s.port, s.pid, s.protocol, s.product, s.version,
                       s.worst_status, s.eol, s.country, s.asn, s.banner, {sev} AS sev
                FROM services s
                WHERE {w.sql} AND ({sev} >= {AT_RISK_SEVERITY} OR s.eol IS TRUE)
                ORDER BY sev DESC, s.eol DESC NULLS LAST, s.ip, s.port
                LIMIT {int(limit)}),
            fnd AS ({sql.service_findings_sql(Where("true", {}), "cve, status", services="top")})
            SELECT top.ip, top.port, top.protocol, top.product, top.version, top.worst_status,
                   top.eol,
                   string_agg(fnd.cve, ' ' ORDER BY fnd.cve) FILTER (WHERE fnd.status IN
                       {risky}) AS cves,
                   top.country, top.asn, top.banner
            FROM top LEFT JOIN fnd
                 ON fnd.scan = top.scan AND fnd.ip = top.ip AND fnd.port = top.port
            GROUP BY ALL
            ORDER BY any_value(top.sev) DESC, top.eol DESC NULLS LAST, top.ip, top.port
            """,
            w.params,
        )
        return [AtRiskService._make(r) for r in rows]

    def scan_totals(self, f: Filter) -> list[ScanTotal]:
        """Per scan: hosts, exposed services and hosts at risk."""
        w = self._where(f)
        rows = self._all(
            f"""
            SELECT scan, count(*) AS hosts, sum(services)::BIGINT, count(*) FILTER (WHERE risk)
            FROM (SELECT scan, ip, count(*) AS services,
                         max(sev) >= {AT_RISK_SEVERITY} OR bool_or(eol IS TRUE) AS risk
                  FROM ({sql.counted_rows_sql((), w)}) GROUP BY scan, ip)
            GROUP BY scan
            """,
            w.params,
        )
        return [ScanTotal(ScanId(r[0]), int(r[1]), int(r[2]), int(r[3])) for r in rows]

    def _churn(self, first: ScanId, last: ScanId, f: Filter) -> tuple[str, dict[str, Any]]:
        """``c``: each host of the first or last scan (``ip``), its ``category`` and, per
        scan, its most severe verdict's severity (``asev``, ``bsev``) and risk."""
        w = self._where(replace(f, scans=(first, last)))
        cte = f"""
            h AS (SELECT scan, ip, max(sev) AS sev, bool_or(eol IS TRUE) AS eol
                  FROM ({sql.counted_rows_sql((), w)}) GROUP BY scan, ip),
            a AS (SELECT ip, sev, {sql.AT_RISK_SQL} AS risk FROM h WHERE scan = $first),
            b AS (SELECT ip, sev, {sql.AT_RISK_SQL} AS risk FROM h WHERE scan = $last),
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
        return cte, {**w.params, "first": first, "last": last}

    def churn(self, first: ScanId, last: ScanId, f: Filter) -> list[ChurnCount]:
        """Hosts of the first and last scan matched by address, per category (fixed, still
        exposed, newly at risk, not at risk, newly seen, gone)."""
        cte, params = self._churn(first, last, f)
        rows = self._all(
            f"WITH {cte} SELECT category, count(*), count(*) FILTER (WHERE arisk),"
            " count(*) FILTER (WHERE brisk) FROM c GROUP BY category",
            params,
        )
        return [ChurnCount._make(r) for r in rows]

    def churn_hosts(
        self, first: ScanId, last: ScanId, f: Filter, category: str, limit: int = 100
    ) -> list[ChurnHost]:
        """The first ``limit`` hosts of one :meth:`churn` category, by address."""
        if category not in CHURN:
            raise UsageError(f"category {category!r}: choose from {', '.join(CHURN)}")
        cte, params = self._churn(first, last, f)
        rows = self._all(
            f"WITH {cte} SELECT ip, category, asev, bsev FROM c WHERE category = $cat"
            f" ORDER BY ip LIMIT {int(limit)}",
            {**params, "cat": category},
        )
        names: dict[int | None, str | None] = {**dict(sql.SEVERITIES), None: None}
        return [ChurnHost(ip, cat, names[a], names[b]) for ip, cat, a, b in rows]

    def outcomes(self, f: Filter) -> list[Outcome]:
        """Per scan: how its probed ports ended (ok, refused, timeout …), most first."""
        w = self._where(replace(f, exposed=False))
        rows = self._all(
            f"SELECT s.scan, s.outcome, count(*) AS n FROM services s WHERE {w.sql}"
            " GROUP BY s.scan, s.outcome ORDER BY s.scan, n DESC, s.outcome",
            w.params,
        )
        return [Outcome._make(r) for r in rows]

    # -- services, one by one ------------------------------------------------------------

    def services(
        self, f: Filter, *, after: ServiceKey | None = None, limit: int = 100
    ) -> list[FlatRow]:
        """One page of services in (scan, ip, port, protocol) order, after ``after`` (the
        previous page's :func:`service_key` of its last row): keyset pagination."""
        w = self._where(f)
        params = dict(w.params)
        cond = w.sql
        if after is not None:
            cond += " AND (s.scan, s.ip, s.port, s.protocol) > ($a0, $a1, $a2, $a3)"
            params.update({f"a{i}": v for i, v in enumerate(after)})
        rows = self._all(f"{sql.flat_sql(w, cond)} LIMIT {int(limit)}", params)
        findings = _ProfileFindings(self)
        findings.need(rows, scan_at=0, key_at=-1)
        return [_flat(r, findings) for r in rows]

    def at_risk_by(self, cve: str, f: Filter, limit: int = 100) -> list[FlatRow]:
        """The first ``limit`` services of ``f`` vulnerable or potentially vulnerable to
        ``cve`` (that CVE's verdict, not the service's most severe), by address."""
        w = self._where(f)
        risky = sql.service_findings_sql(w, "cve, status")
        cond = (
            f"{w.sql} AND (s.scan, s.ip, s.port) IN (SELECT scan, ip, port FROM ({risky})"
            f" WHERE cve = $cve AND status IN {sql.AT_RISK_STATUS})"
        )
        rows = self._all(f"{sql.flat_sql(w, cond)} LIMIT {int(limit)}", {**w.params, "cve": cve})
        findings = _ProfileFindings(self)
        findings.need(rows, scan_at=0, key_at=-1)
        return [_flat(r, findings) for r in rows]

    def host_services(self, ip: str) -> list[FlatRow]:
        """Every service of ``ip`` in every scan (in scope), ports that never connected
        included, by scan and port: one query however many scans."""
        w = self._where(Filter(ips=(ip,), exposed=False))
        rows = self._all(sql.flat_sql(w, w.sql), w.params)
        findings = _ProfileFindings(self)
        findings.need(rows, scan_at=0, key_at=-1)
        return [_flat(r, findings) for r in rows]

    def host_findings(self, ip: str) -> list[FindingRow]:
        """Every CVE verdict on ``ip``'s services in every scan (in scope), by scan, port
        and severity (most severe first)."""
        w = self._where(Filter(ips=(ip,), exposed=False))
        found = sql.service_findings_sql(w, "cve, status, kev, cvss, reason, fixed_in")
        rows = self._all(
            f"SELECT scan, port, cve, status, kev, cvss, reason, fixed_in FROM ({found})"
            f" ORDER BY scan, port, {severity_sql('status')} DESC, cve",
            w.params,
        )
        return [FindingRow._make(r) for r in rows]

    def flat_rows(self, f: Filter, size: int = BATCH) -> Iterator[list[FlatRow]]:
        """Every service of the filter as :class:`FlatRow`, by address, in batches."""
        w = self._where(f)
        findings = _ProfileFindings(self)
        for rows in self._batches(sql.flat_sql(w, w.sql), w.params, tuple, size):
            findings.need(rows, scan_at=0, key_at=-1)
            yield [_flat(r, findings) for r in rows]

    def arrow_batches(self, f: Filter, size: int = BATCH) -> pa.RecordBatchReader:
        """The services as typed Arrow batches (findings a list of structs, evidence a
        list), by address: what Parquet writes."""
        import pyarrow as pa

        w = self._where(f)
        cur = self._con.cursor() if self._shared is None else self._shared
        source = cur.sql(sql.arrow_sql(w), params=dict(w.params)).to_arrow_reader(size)
        schema = source.schema.remove(source.schema.get_field_index("pid"))
        findings = _ProfileFindings(self)

        def batches() -> Iterator[pa.RecordBatch]:
            try:
                for batch in source:
                    yield findings.arrow(batch, schema)
            except (duckdb.Error, pa.ArrowException) as exc:
                raise read_error(self.path, exc) from exc

        return pa.RecordBatchReader.from_batches(schema, batches())

    def record_texts(self, f: Filter, size: int = BATCH) -> Iterator[list[bytes]]:
        """The exported JSONL records (``schema/record.schema.json``) as JSON text, by
        address, in batches: a service's own columns around its profile's and location's
        parts (stored once per scan, fetched as batches need them, held in a bounded
        cache), or the whole record that older rows stored."""
        w = self._where(f)
        profiles = _Fetched(self, _PART_SQL.format(table="profiles", key="pid"), _part)
        places = _Fetched(self, _PART_SQL.format(table="locations", key="gid"), _part)
        record = _Records()
        for rows in self._batches(sql.records_sql(w), w.params, tuple, size):
            new = [r for r in rows if r[1] is None]
            profiles.need(new, scan_at=0, key_at=10)
            places.need(new, scan_at=0, key_at=11)
            yield [record(r, profiles, places) for r in rows]

    def shadow_rows(
        self,
        f: Filter,
        apps: Apps,
        *,
        per: str | None = None,
        size: int = BATCH,
    ) -> Iterator[list[ShadowSource]]:
        """The services as Shadowserver-format rows, by address — or, with ``per``
        (``asn``, ``country``, ``prefix``), by owner, report type, severity (most severe
        first) and address: one owner's file after another. ``apps``: how the
        applications are named (:class:`~mxcensus.store.sql.Apps`)."""
        w = self._where(f)
        query, params = sql.shadow_sql(w, apps, per)
        order = (
            "owner, report_type, sev_rank DESC, s.ip, s.port, s.protocol"
            if per is not None
            else "s.ip, s.port, s.protocol"
        )
        findings = _ProfileFindings(self)
        scan = _only_scan(f)
        ordered = f"SELECT * EXCLUDE (sev_rank) FROM ({query}) s ORDER BY {order}"
        for rows in self._batches(ordered, params, tuple, size):
            findings.need(rows, scan_at=None, key_at=-1, scan=scan)
            yield [_shadow(r, findings, scan) for r in rows]

    def owner_files(self, f: Filter, apps: Apps, per: str) -> list[OwnerFile]:
        """Per owner and report type (``notify``'s files, in their order): the counts."""
        w = self._where(f)
        query, params = sql.shadow_sql(w, apps, per)
        rows = self._all(
            f"""
            WITH r AS ({query}),
                 o AS (SELECT owner, first(org ORDER BY ip, port, protocol)
                                     FILTER (WHERE coalesce(org, '') <> '') AS org
                       FROM r GROUP BY owner)
            SELECT owner, report_type, count(*), count(DISTINCT ip),
                   count_if(severity = 'critical'), count_if(severity = 'high'),
                   count_if(severity = 'medium'), any_value(o.org)
            FROM r JOIN o USING (owner)
            GROUP BY owner, report_type ORDER BY owner, report_type
            """,
            params,
        )
        return [OwnerFile._make(r) for r in rows]

    # -- one host ------------------------------------------------------------------------

    def newest_scan_with(self, ip: str) -> ScanId | None:
        """The newest scan holding a transcript of ``ip`` (in scope)."""
        visible, params = self._host_visible("t.scan", "$ip")
        rows = self._all(
            "SELECT t.scan FROM transcripts t JOIN scans s ON s.id = t.scan"
            f" WHERE t.ip = $ip AND {visible}"
            f" AND t.scan IN (SELECT id FROM scans WHERE {READABLE})"
            " ORDER BY s.started_at DESC LIMIT 1",
            {**params, "ip": ip},
        )
        return ScanId(rows[0][0]) if rows else None

    def host_transcripts(self, scan: ScanId, ip: str) -> list[Transcript]:
        """Every transcript of ``ip`` in ``scan``, by port (none when out of scope)."""
        visible, params = self._host_visible("$scan", "$ip")
        rows = self._all(
            "SELECT data FROM transcript_docs WHERE scan = $scan AND ip = $ip"
            f" AND {visible} ORDER BY port, seq",
            {**params, "scan": scan, "ip": ip},
        )
        return [transcript_from_dict(orjson.loads(r[0])) for r in rows]

    def endpoint_transcripts(
        self, scan: ScanId, keys: Sequence[tuple[str, int, str]]
    ) -> dict[tuple[str, int, str], Transcript]:
        """The transcript of each (ip, port, protocol) of ``scan`` that has one — the last
        observed where an endpoint has several — read on a cursor of its own, so it may be
        called beside a stream (per batch: the Shadowserver writers' TLS columns)."""
        if not keys:
            return {}
        ips, ports, protocols = (list(col) for col in zip(*set(keys), strict=True))
        side = Reader(self._con, self.path)
        rows = side._all(
            """
            WITH k AS (SELECT unnest($ips) AS ip, unnest($ports) AS port,
                              unnest($protocols) AS protocol)
            SELECT d.ip, d.port, d.protocol, d.data
            FROM transcript_docs d JOIN k USING (ip, port, protocol)
            WHERE d.scan = $scan ORDER BY d.observed_at, d.seq NULLS FIRST
            """,
            {"scan": scan, "ips": ips, "ports": ports, "protocols": protocols},
        )
        return {(r[0], r[1], r[2]): transcript_from_dict(orjson.loads(r[3])) for r in rows}

    def _host_visible(self, scan: str, ip: str) -> tuple[str, dict[str, Any]]:
        """Unscoped: every host. Scoped: a host with a service in scope in that scan."""
        if not self.scopes:
            return "true", {}
        w = Filter(exposed=False).where(self.scopes, "h")
        return (
            f"EXISTS (SELECT 1 FROM services s WHERE s.scan = {scan} AND s.ip = {ip} AND {w.sql})",
            w.params,
        )

    # -- watch events --------------------------------------------------------------------

    def events(self, limit: int = 100, watch: str | None = None) -> list[EventRow]:
        """Watch events, newest first; a scoped reader sees only events about an address
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


def read_error(path: Path, exc: Exception) -> StoreError:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return StoreError(f"{path}: reading the store failed: {first}")


def _spill_elsewhere(cur: duckdb.DuckDBPyConnection) -> None:
    """Point DuckDB's temporary directory (settable once) into ``TMPDIR``, removed at exit."""
    spill = tempfile.mkdtemp(prefix="mxcensus-spill-")
    atexit.register(shutil.rmtree, spill, True)
    with contextlib.suppress(duckdb.NotImplementedException):  # already used: keep it
        cur.execute("SET temp_directory = $d", {"d": spill})


def service_key(row: FlatRow) -> ServiceKey:
    return ServiceKey(row.scan, row.ip, row.port, row.protocol)


def _totals(rows: int, result: list[tuple[Any, ...]]) -> Totals:
    """:meth:`Reader.totals` from its GROUPING SETS rows."""
    k = len(sql.SEVERITIES)
    hosts = services = kev = eol_services = eol_hosts = at_risk = 0
    unjudged = NONE_UNJUDGED
    by_host: dict[str, int] = {}
    by_service: dict[str, int] = {}
    places: dict[str, list[PlaceRow]] = {"country": [], "continent": []}
    for r in result:
        gc, gk, country, continent, n_hosts, n_services = r[:6]
        hv, sv = r[6 : 6 + k], r[6 + k : 6 + 2 * k]
        eol, risk = r[-2], r[-1]
        if gc and gk:
            hosts, services = int(n_hosts or 0), int(n_services or 0)
            unjudged = Unjudged._make(int(v or 0) for v in r[6 + 2 * k : 10 + 2 * k])
            kev, eol_services = int(r[-4] or 0), int(r[-3] or 0)
            eol_hosts, at_risk = int(eol or 0), int(risk or 0)
            for i, (_, name) in enumerate(sql.SEVERITIES):
                by_host[name] = int(hv[i] or 0)  # count_if of no rows is NULL
                by_service[name] = int(sv[i] or 0)
        else:
            level, place = ("country", country) if not gc else ("continent", continent)
            places[level].append(
                PlaceRow(place, n_hosts, n_services, hv[0], hv[1], int(eol), int(risk))
            )
    for name in VERDICTS:
        by_host.setdefault(name, 0)
        by_service.setdefault(name, 0)
    for level in places:
        places[level].sort(key=lambda t: (-t.at_risk_hosts, -t.hosts, str(t.place or "~")))
    return Totals(
        rows,
        hosts,
        services,
        by_host,
        by_service,
        places,
        eol_hosts,
        at_risk,
        kev,
        eol_services,
        unjudged,
    )


# -- what rows share, fetched per batch ---------------------------------------------------


class _Fetched(Generic[V]):
    """Values by (scan, id) — a profile's record part or findings, a location's part —
    fetched per batch for the ids not held yet, on their own cursor (beside a stream); at
    most :data:`LIMIT` bytes are held (then it starts afresh), so memory stays bounded
    however many profiles a scan has."""

    LIMIT = 64 * 1024 * 1024

    def __init__(
        self, reader: Reader, query: str, make: Callable[[tuple[Any, ...]], tuple[V, int]]
    ) -> None:
        self._reader = Reader(reader._con, reader.path)
        self._query = query  # $scan, $keys → (id, ...) rows
        self._make = make  # a row → (value, its size)
        self._held = 0
        self.values: dict[tuple[str, int], V] = {}
        self.missing: V | None = None  # for an id without a row

    def need(
        self,
        rows: Sequence[tuple[Any, ...]],
        *,
        scan_at: int | None,
        key_at: int,
        scan: str | None = None,
    ) -> None:
        """Fetch what ``rows`` (ids at ``key_at``, scans at ``scan_at`` or ``scan``) need."""
        want: dict[str, set[int]] = {}
        for r in rows:
            key = r[key_at]
            if key is not None:
                sid = str(r[scan_at] if scan_at is not None else scan)
                if (sid, key) not in self.values:
                    want.setdefault(sid, set()).add(key)
        if not want:
            return
        if self._held > self.LIMIT:
            self.values.clear()
            self._held = 0
            self.need(rows, scan_at=scan_at, key_at=key_at, scan=scan)
            return
        for sid, keys in want.items():
            got = self._reader._all(self._query, {"scan": sid, "keys": sorted(keys)})
            for row in got:
                value, size = self._make(row)
                self.values[(sid, row[0])] = value
                self._held += size
                keys.discard(row[0])
            for key in keys:
                self.values[(sid, key)] = self.missing  # type: ignore[assignment]


_PART_SQL = (
    "SELECT {key}, part FROM {table} WHERE scan = $scan"
    " AND {key} IN (SELECT unnest($keys::BIGINT[]))"
)


def _part(row: tuple[Any, ...]) -> tuple[bytes, int]:
    data: bytes = row[1].encode()
    return data, len(data)


class _Records:
    """A JSONL record from :func:`sql.records_sql`'s row and the parts it names."""

    def __init__(self) -> None:
        self.heads: dict[str, bytes] = {}

    def __call__(
        self, r: tuple[Any, ...], profiles: _Fetched[bytes], places: _Fetched[bytes]
    ) -> bytes:
        scan, record, ip, port, proto, transport, when, outcome, source, banner, p, g = r[:12]
        if record is not None:
            return bytes(record.encode())
        dumps = orjson.dumps
        head = self.heads.get(scan) or self.heads.setdefault(
            scan, dumps({"schema": SCHEMA_VERSION, "scan": scan})[:-1] + b","
        )
        fields = {
            "ip": ip,
            "port": port,
            "protocol": proto,
            "transport": transport,
            "observed_at": when.astimezone(UTC).isoformat(),
            "outcome": outcome,
            "source": source,
        }
        name, name_from, merged = r[12:]
        if name:
            fields["hostname"] = name
            fields["hostname_source"] = name_from
        own = dumps(fields)
        return b"".join(
            (
                head,
                own[1:-1],
                b",",
                profiles.values[(scan, p)],
                b",",
                places.values[(scan, g)],
                b',"banner":',
                dumps(banner or ""),
                b',"merged":' + merged.encode() if merged is not None else b"",
                b"}",
            )
        )


class _ProfileFindings(_Fetched[tuple[Any, ...]]):
    """The aggregated findings of the profiles a batch of service rows uses
    (:data:`sql.PROFILE_FINDINGS`, columns :data:`sql.FINDING_COLUMNS` after ``pid``)."""

    def __init__(self, reader: Reader) -> None:
        super().__init__(
            reader, sql.PROFILE_FINDINGS, lambda r: (r[1:], 64 + sum(len(str(v)) for v in r))
        )
        self.missing = (None,) * len(sql.FINDING_COLUMNS)

    def of(self, scan: str, pid: int, column: str) -> Any:
        return self.values[(scan, pid)][sql.FINDING_COLUMNS.index(column)]

    def arrow(self, batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
        """``batch`` (:func:`sql.arrow_sql`) with each profile's findings in ``cves`` and
        without ``pid``."""
        import pyarrow as pa

        scans, pids = batch.column("scan").to_pylist(), batch.column("pid").to_pylist()
        keys = [(s, p) for s, p in zip(scans, pids, strict=True) if p is not None]
        if keys:
            lists = self._lists(keys)
            cves = batch.column("cves").to_pylist()
            for i, p in enumerate(pids):
                if p is not None:
                    cves[i] = lists[(scans[i], p)]
            column = pa.array(cves, schema.field("cves").type)
        else:
            column = batch.column("cves")
        columns = [column if name == "cves" else batch.column(name) for name in schema.names]
        return pa.RecordBatch.from_arrays(columns, schema=schema)

    def _lists(self, keys: list[tuple[str, int]]) -> dict[tuple[str, int], list[Any]]:
        rows = [(s, p) for s, p in keys]
        self.need(rows, scan_at=0, key_at=1)
        col = sql.FINDING_COLUMNS.index("cve_list")
        return {k: self.values[k][col] or [] for k in set(keys)}


def _flat(r: tuple[Any, ...], findings: _ProfileFindings) -> FlatRow:
    """A :class:`FlatRow` from :func:`sql.flat_sql`'s row (its profile's ``cves``)."""
    pid = r[-1]
    if pid is None:
        return FlatRow._make(r[:-1])
    return FlatRow._make((*r[:22], findings.of(r[0], pid, "cves"), *r[23:-1]))


def _shadow(r: tuple[Any, ...], findings: _ProfileFindings, scan: str) -> ShadowSource:
    """A :class:`ShadowSource` from :func:`sql.shadow_sql`'s row."""
    *own, pid = r
    if pid is not None:
        own[17] = findings.of(scan, pid, "risky_cves")
        own[18] = findings.of(scan, pid, "risky_tags")
    return ShadowSource._make(own)


def _only_scan(f: Filter) -> str:
    """The one scan of a Shadowserver read (their rows carry no scan column)."""
    if len(f.scans) != 1:
        raise UsageError("Shadowserver rows are read one scan at a time")
    return f.scans[0]
