"""Writing a scan's derived rows: the one write path for services.

A :class:`DerivedWriter` writes one generation of one scan's derived rows (see
:mod:`mxcensus.store.db` for generations): each :class:`~mxcensus.store.rows.AnalysisBatch`
in one transaction — its services with their profile's and location's columns (the ones
reports group by, copied in by a join), each profile and location the batch uses that is
not stored yet, and the verdicts of those profiles. Every analysis writes this way: a scan's
and a reassessment (``pipeline.analyze_scan``), an import's in flight (its services may also
come from a query over a staged chunk, :mod:`mxcensus.store.staged`), and the reference
analysis of :class:`~mxcensus.model.ServiceRecord`\\ s (:meth:`DerivedWriter.write_records`).

For an import it also keeps, in a temporary table, the addresses each batch held, so that
the hosts a file spread over several batches can be analysed again as wholes.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import orjson

from mxcensus.enrich.interface import Geo
from mxcensus.model import ScanId, ServiceRecord
from mxcensus.serialize import TranscriptDoc
from mxcensus.store.rows import (
    LOCATION_COLUMNS,
    PROFILE_COLUMNS,
    SERVICE_COLUMNS,
    VERDICT_COLUMNS,
    AnalysisBatch,
    Locations,
    Profiles,
)

if TYPE_CHECKING:
    import pyarrow as pa

    from mxcensus.store.db import Store

_SEEN = "_import_seen"
_SPLIT = "_import_split"


class DerivedWriter:
    """One generation ``gen`` of ``scan``'s derived rows, written batch by batch."""

    def __init__(self, store: Store, scan: ScanId, gen: int) -> None:
        self.store = store
        self.scan = scan
        self.gen = gen

    @classmethod
    def of(cls, store: Store, scan: ScanId, gen: int | None = None) -> DerivedWriter:
        """The writer of ``scan``'s generation ``gen`` (default: the one readers see; an
        import writes its own, unseen while it runs)."""
        return cls(store, scan, store.live_gen(scan) if gen is None else gen)

    def write(self, batch: AnalysisBatch, *, note_hosts: bool = False, query: str = "") -> int:
        """Write ``batch`` in one transaction (or the open one it joins) and mark its
        profiles and locations stored; the services written. ``query``: SQL giving the
        services (:data:`~mxcensus.store.rows.SERVICE_COLUMNS`) instead of ``batch.rows``,
        over tables of the store's connection (a staged chunk's). ``note_hosts``: and note
        the batch's addresses for :meth:`split_hosts`."""
        if not query and not batch.rows:
            return 0
        tables = _batch_tables(batch)
        if not query:
            tables["_svc"] = _table(batch.rows, SERVICE_COLUMNS)
        con = self.store.con
        count = len(batch.rows)
        try:
            with self.store._writing():
                for name, table in tables.items():
                    con.register(name, table)
                if query:
                    con.execute(f"CREATE OR REPLACE TEMP TABLE _svc AS {query}")
                    count = int(con.execute("SELECT count(*) FROM _svc").fetchall()[0][0])
                for sql in _INSERTS:
                    self.store._exec(sql, [self.scan, self.gen])
                if note_hosts:
                    self.store._exec(f"INSERT INTO {_SEEN} SELECT DISTINCT ip FROM _svc")
        finally:
            for name in tables:
                con.unregister(name)
            if query:
                con.execute("DROP TABLE IF EXISTS _svc")
        for prof in batch.profiles.values():  # only once the transaction holds them
            prof.stored = True
        for loc in batch.locations.values():
            loc.stored = True
        return count

    def write_records(
        self, records: Iterable[ServiceRecord], profiles: Profiles, locations: Locations
    ) -> int:
        """Write analysed :class:`ServiceRecord`\\ s (the reference analysis, tests' hand-
        built stores): their profiles and locations found in ``profiles`` and ``locations``
        (kept by the caller for every batch of the generation)."""
        batch = AnalysisBatch()
        dumps = orjson.dumps
        for r in records:
            t = r.transcript
            prof = profiles.get(r.identification, r.assessment)
            loc = locations.get(
                Geo(r.country, r.continent, r.region, r.asn, r.org, r.city, r.geo_source)
            )
            batch.profiles[prof.pid] = prof
            batch.locations[loc.gid] = loc
            batch.rows.append(
                (
                    prof.pid,
                    loc.gid,
                    t.ip,
                    t.port,
                    t.protocol,
                    t.transport.value,
                    t.observed_at.isoformat(),
                    t.outcome.value,
                    t.source,
                    t.hostname or None,
                    r.banner,
                    dumps(r.merged.to_json()).decode() if r.merged is not None else None,
                )
            )
        return self.write(batch)

    def memos(self) -> tuple[Profiles, Locations]:
        """Profile and location memos for writing more of this generation: numbered after
        the ones it holds."""
        row = self.store.row(
            "SELECT (SELECT max(pid) FROM profile_rows WHERE scan = $s AND gen = $g),"
            " (SELECT max(gid) FROM location_rows WHERE scan = $s AND gen = $g)",
            {"s": self.scan, "g": self.gen},
        )
        return Profiles(row[0] or 0), Locations(row[1] or 0)

    # -- an import's hosts split over batches --------------------------------------------

    def track_hosts(self) -> None:
        """Start noting the addresses of every batch written with ``note_hosts``."""
        self.store.con.execute(f"CREATE OR REPLACE TEMP TABLE {_SEEN} (ip VARCHAR NOT NULL)")

    def split_hosts(self) -> int:
        """The hosts noted in more than one batch (numbered for :meth:`split_host_docs`),
        their services removed; how many. Ends the noting."""
        con = self.store.con
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {_SPLIT} AS SELECT ip,"
            f" row_number() OVER (ORDER BY ip) AS k FROM {_SEEN} GROUP BY ip HAVING count(*) > 1"
        )
        con.execute(f"DROP TABLE {_SEEN}")
        split = int(con.execute(f"SELECT count(*) FROM {_SPLIT}").fetchall()[0][0])
        if split:
            self.store._exec(
                "DELETE FROM service_rows WHERE scan = ? AND gen = ?"
                f" AND ip IN (SELECT ip FROM {_SPLIT})",
                [self.scan, self.gen],
            )
        return split

    def split_host_docs(self, first: int, last: int) -> Iterator[TranscriptDoc]:
        """The stored transcripts of split hosts ``first`` < k <= ``last``, host by host."""
        rows = self.store.con.execute(
            "SELECT data FROM transcript_docs WHERE scan = ? AND ip IN"
            f" (SELECT ip FROM {_SPLIT} WHERE k > ? AND k <= ?) ORDER BY ip, port, seq",
            [self.scan, first, last],
        ).fetchall()
        loads = orjson.loads
        for (data,) in rows:
            yield loads(data)

    def end_split(self, *, prune: bool) -> None:
        """The split hosts are analysed again; ``prune``: drop the profiles and locations
        only the services they replaced used."""
        self.store.con.execute(f"DROP TABLE IF EXISTS {_SPLIT}")
        if not prune:
            return
        for table, key in (
            ("profile_rows", "pid"),
            ("verdict_rows", "pid"),
            ("location_rows", "gid"),
        ):
            self.store._exec(
                f"DELETE FROM {table} WHERE scan = $scan AND gen = $gen AND {key} NOT IN"
                f" (SELECT {key} FROM service_rows WHERE scan = $scan AND gen = $gen"
                f" AND {key} IS NOT NULL)",
                {"scan": self.scan, "gen": self.gen},
            )

    def count(self) -> int:
        """The services of this generation."""
        row = self.store.row(
            "SELECT count(*) FROM service_rows WHERE scan = ? AND gen = ?", [self.scan, self.gen]
        )
        return int(row[0]) if row else 0


def _batch_tables(batch: AnalysisBatch) -> dict[str, pa.Table]:
    """The profiles, verdicts and locations of ``batch`` as Arrow tables (``fresh``: not
    yet stored for this generation; the verdicts of fresh profiles only)."""
    profiles = list(batch.profiles.values())
    locations = list(batch.locations.values())
    verdicts = [(p.pid, *v) for p in profiles if not p.stored for v in p.verdicts]
    return {
        "_prof": _table(
            [(p.pid, not p.stored, *p.row) for p in profiles], ("pid", "fresh", *PROFILE_COLUMNS)
        ),
        "_verd": _table(verdicts, ("pid", *VERDICT_COLUMNS)),
        "_geo": _table(
            [(g.gid, not g.stored, *g.row) for g in locations],
            ("gid", "fresh", *LOCATION_COLUMNS),
        ),
    }


@functools.cache
def _types() -> dict[str, pa.DataType]:
    """Arrow types of the derived columns that are not text. pyarrow is imported when
    analysis first writes, not with the store: a scan's parent never needs it."""
    import pyarrow as pa

    return {
        "pid": pa.int64(),
        "gid": pa.int64(),
        "fresh": pa.bool_(),
        "port": pa.int32(),
        "evidence": pa.list_(pa.string()),
        "eol": pa.bool_(),
        "eol_date": pa.date32(),
        "kev": pa.bool_(),
        "asn": pa.int32(),
        "ransomware": pa.bool_(),
        "cvss": pa.float64(),
        "tags": pa.list_(pa.string()),
    }


def _table(rows: Sequence[tuple[Any, ...]], names: Sequence[str]) -> pa.Table:
    """``rows`` (tuples in the order of ``names``) as an Arrow table: text but for
    :func:`_types` (``observed_at`` is the ISO text DuckDB casts on insert)."""
    import pyarrow as pa

    types = _types()
    columns: Iterable[Sequence[Any]] = zip(*rows, strict=True) if rows else ([] for _ in names)
    return pa.table(
        {
            # the record's parts are orjson's bytes, valid UTF-8: text without a second check
            k: pa.array(col, pa.binary()).view(pa.string())
            if k == "part"
            else pa.array(col, types.get(k, pa.string()))
            for k, col in zip(names, columns, strict=True)
        }
    )


_PROFILE_ONLY = ", ".join(f"p.{c}" for c in PROFILE_COLUMNS[:-1])
_LOCATION_ONLY = ", ".join(f"g.{c}" for c in LOCATION_COLUMNS[:-1])
_INSERTS = (
    # the services, with their profile's and location's columns (the readers' columns);
    # rows in a table have no order (every reader sorts or aggregates): no ORDER BY
    f"""
    INSERT INTO service_rows BY NAME
    SELECT $1 AS scan, $2 AS gen, s.ip, s.port, s.protocol, s.transport,
           CAST(s.observed_at AS TIMESTAMPTZ) AS observed_at, s.outcome,
           s.source, s.hostname, {_PROFILE_ONLY}, {_LOCATION_ONLY}, s.banner,
           s.pid, s.gid, s.merged
    FROM _svc s JOIN _prof p ON p.pid = s.pid JOIN _geo g ON g.gid = s.gid
    """,
    "INSERT INTO profile_rows BY NAME SELECT $1 AS scan, $2 AS gen, pid, part FROM _prof"
    " WHERE fresh",
    "INSERT INTO location_rows BY NAME SELECT $1 AS scan, $2 AS gen, gid, part FROM _geo"
    " WHERE fresh",
    """
    INSERT INTO verdict_rows BY NAME
    SELECT $1 AS scan, $2 AS gen, pid, cve, status, kev, ransomware, cvss, reason, fixed_in,
           tags
    FROM _verd
    """,
)
