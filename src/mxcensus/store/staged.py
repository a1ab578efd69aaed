"""A chunk of transcripts an importer staged as columns (its columnar fast path), and the SQL
the store and the analysis run over it.

An importer with a columnar path (``importers.interface.ChunkedImporter``) hands over each
chunk as a :class:`StagedChunk`: an Arrow table with one row per transcript, the distinct
banners its rows refer to, the transcript parts not stored yet, and which of its columns
hold the location hint (and under which ``extra`` keys). :func:`stored` writes the
chunk's transcripts and parts and gives the analysis a :class:`StagedQueries` over the
chunk: the analysis works once per distinct banner, (banner, day), hint and host of several
services, and SQL joins what it found back to the rows (:meth:`StagedQueries.write_services`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol

from mxcensus.model import ScanId
from mxcensus.serialize import StepDoc
from mxcensus.store.derived import DerivedWriter
from mxcensus.store.rows import AnalysisBatch

if TYPE_CHECKING:
    import pyarrow as pa

    from mxcensus.store.db import Store

HintValues = tuple[str | None, ...]
"""A location hint: the values of the chunk's hint columns (None: absent)."""
StagedRow = tuple[int, str, int, str, int, HintValues]
"""A row of a host with several services: rid, ip, bk, obs, port, its hint."""


class StagedBanner(Protocol):
    """One distinct banner of a chunk: what every row that carries it shares."""

    @property
    def port(self) -> int: ...
    @property
    def protocol(self) -> str: ...
    @property
    def transport(self) -> str: ...
    @property
    def steps(self) -> list[StepDoc]: ...


@dataclass(slots=True)
class StagedChunk:
    """A chunk of an import, staged: ``rows`` holds one row per transcript — ``rid`` (its
    order in the chunk), ``bk`` (its banner in ``banners``), ``ip``, ``port``,
    ``protocol``, ``transport``, ``obs`` (the time as stored, ISO 8601), ``day`` (its first
    ten characters), ``hostname``, ``data`` (the transcript's own JSON, its parts named by
    ``steps_part`` and ``tls_part``) and the hint columns. Its ``extra`` holds no field
    identify reads: the analysis identifies per banner."""

    records: int  # records the chunk held (the skipped ones too)
    transcripts: int  # rows
    rows: pa.Table
    banners: Sequence[StagedBanner]
    source: str  # every transcript's source: the format's name
    hints: tuple[tuple[str, str], ...]  # (column, its extra key), in extra's order
    outcome: str = "ok"  # every transcript's outcome: a banner was seen
    part_ids: list[int] = field(default_factory=list)  # transcript parts to store now
    part_texts: list[bytes] = field(default_factory=list)  # their JSON text (UTF-8)


@dataclass(slots=True)
class StagedMaps:
    """What the analysis found for a chunk, for SQL to join to its rows."""

    banners: list[str]  # the display banner of each banner (by bk)
    profiles: list[tuple[int, str, int]] = field(default_factory=list)  # bk, day -> pid
    hint_locations: list[tuple[HintValues, int]] = field(default_factory=list)  # -> gid
    address_locations: list[tuple[str, int]] = field(default_factory=list)  # ip -> gid
    hosts: list[tuple[int, int | None, int | None, str | None]] = field(default_factory=list)
    """Rows of hosts with several services: rid, pid, gid, merged; pid None: an observation
    merged into a newer one of its port (no service of its own)."""


_ROWS = "_st_rows"
_MULTI = "_st_multi"


@contextmanager
def stored(store: Store, scan: ScanId, chunk: StagedChunk, seq: int) -> Iterator[StagedQueries]:
    """Write ``chunk``'s transcripts (the import's ``seq`` continues at its first) and
    fresh parts, in the open transaction; the block analyses it."""
    import pyarrow as pa

    con = store.con
    con.register(_ROWS, chunk.rows)
    try:
        store._exec(
            "INSERT INTO transcripts BY NAME SELECT ? AS scan, ip, port, protocol, transport,"
            f" CAST(obs AS TIMESTAMPTZ) AS observed_at, {_literal(chunk.outcome)} AS outcome,"
            f" {_literal(chunk.source)} AS source, data, steps_part, tls_part, ? + rid AS seq"
            f" FROM {_ROWS}",
            [scan, seq],
        )
        if chunk.part_ids:
            parts = pa.table(
                {
                    "id": pa.array(chunk.part_ids, pa.int64()),
                    # orjson's bytes, valid UTF-8: text without a second check
                    "part": pa.array(chunk.part_texts, pa.binary()).view(pa.string()),
                }
            )
            con.register("_st_parts", parts)
            try:
                store._exec(
                    "INSERT INTO transcript_parts SELECT ? AS scan, id, part FROM _st_parts",
                    [scan],
                )
            finally:
                con.unregister("_st_parts")
        yield StagedQueries(store, chunk, scan)
    finally:
        con.unregister(_ROWS)
        con.execute(f"DROP TABLE IF EXISTS {_MULTI}")


class StagedQueries:
    """The staged chunk on the store's connection, and the queries the analysis runs."""

    def __init__(self, store: Store, chunk: StagedChunk, scan: ScanId) -> None:
        self.store = store
        self.chunk = chunk
        self.scan = scan
        self._hint = "".join(f"t.{c}, " for c, _ in chunk.hints)  # "": no hint
        self._multi = False

    def _single(self) -> str:
        """SQL: the rows of hosts with one service in the chunk."""
        if not self._multi:
            self.store.con.execute(
                f"CREATE OR REPLACE TEMP TABLE {_MULTI} AS SELECT ip FROM {_ROWS}"
                " GROUP BY ip HAVING count(*) > 1"
            )
            self._multi = True
        return f"{_ROWS} t ANTI JOIN {_MULTI} m ON m.ip = t.ip"

    def _all(self, sql: str) -> list[tuple[Any, ...]]:
        return self.store.con.execute(sql).fetchall()

    def single_keys(self) -> list[tuple[int, str, str, str]]:
        """For hosts of one service, per (bk, day): bk, day, an observed time and address
        of that day (what assess reads)."""
        return self._all(
            f"SELECT t.bk, t.day, min(t.obs), min(t.ip) FROM {self._single()} GROUP BY t.bk, t.day"
        )

    def single_hints(self) -> list[tuple[HintValues, str]]:
        """For hosts of one service: each distinct hint, with an address that has it."""
        return [
            (tuple(r[:-1]), r[-1])
            for r in self._all(f"SELECT {self._hint}min(t.ip) FROM {self._single()} GROUP BY ALL")
            if r[-1] is not None  # no hint columns and no such host: one empty group
        ]

    def hint_addresses(self) -> list[tuple[HintValues, str]]:
        """For hosts of one service: every distinct (hint, address)."""
        return [
            (tuple(r[:-1]), r[-1])
            for r in self._all(f"SELECT DISTINCT {self._hint}t.ip FROM {self._single()}")
        ]

    def multi_rows(self) -> list[StagedRow]:
        """The rows of hosts with several services, in (ip, port, rid) order."""
        self._single()
        return [
            (r[0], r[1], r[2], r[3], r[4], tuple(r[5:-1]))
            for r in self._all(
                f"SELECT t.rid, t.ip, t.bk, t.obs, t.port, {self._hint}0 FROM {_ROWS} t"
                f" SEMI JOIN {_MULTI} m ON m.ip = t.ip ORDER BY t.ip, t.port, t.rid"
            )
        ]

    def tls_parts(self) -> list[int]:
        """The distinct TLS parts the chunk's rows name."""
        return [
            p
            for (p,) in self._all(
                f"SELECT DISTINCT tls_part FROM {_ROWS} WHERE tls_part IS NOT NULL"
            )
        ]

    def leaves(self, parts: Sequence[int]) -> list[tuple[int, str, str]]:
        """Each TLS part's leaf certificate: part, subject, issuer ("" when absent)."""
        rows = self.store.con.execute(
            "SELECT id, json_extract_string(part, '$.chain[0].subject'),"
            " json_extract_string(part, '$.chain[0].issuer') FROM transcript_parts"
            " WHERE scan = $scan AND id IN (SELECT unnest($ids))",
            {"scan": self.scan, "ids": list(parts)},
        ).fetchall()
        return [(p, str(subject or ""), str(issuer or "")) for p, subject, issuer in rows]

    def banner_parts(self, parts: Sequence[int]) -> list[tuple[int, int]]:
        """The distinct (banner, TLS part) pairs of the rows naming one of ``parts``."""
        return self.store.con.execute(
            f"SELECT DISTINCT bk, tls_part FROM {_ROWS} WHERE tls_part IN (SELECT unnest($ids))"
            " ORDER BY ALL",
            {"ids": list(parts)},
        ).fetchall()

    def rebank(
        self, remap: Sequence[tuple[int, int, int]], banners: Sequence[StagedBanner]
    ) -> None:
        """Give the rows of each (banner, TLS part) of ``remap`` the banner index its third
        value names, among ``banners`` (the chunk's, grown): a banner whose certificate says
        what runs is identified apart from the same banner without it."""
        import pyarrow as pa

        con = self.store.con
        cols = _columns(remap, 3)
        con.register(
            "_st_cert",
            pa.table(
                {
                    k: pa.array(v, pa.int64())
                    for k, v in zip(("bk", "part", "nbk"), cols, strict=True)
                }
            ),
        )
        try:
            rows = con.sql(
                f"SELECT t.* REPLACE (coalesce(m.nbk, t.bk) AS bk) FROM {_ROWS} t"
                " LEFT JOIN _st_cert m ON m.bk = t.bk AND m.part = t.tls_part ORDER BY t.rid"
            ).to_arrow_table()
        finally:
            con.unregister("_st_cert")
        con.unregister(_ROWS)
        con.register(_ROWS, rows)
        self.chunk = replace(self.chunk, rows=rows, banners=banners)

    def write_services(self, writer: DerivedWriter, batch: AnalysisBatch, maps: StagedMaps) -> int:
        """Write the chunk's services — each row with its pid and gid from ``maps`` (a host
        of several services: only its chosen rows) — and what ``batch`` uses."""
        import pyarrow as pa

        hint_cols = [c for c, _ in self.chunk.hints]
        hl = list(zip(*(v for v, _ in maps.hint_locations), strict=True)) or [()] * len(hint_cols)
        tables = {
            "_st_pmap": pa.table(
                dict(zip(("bk", "day", "pid"), _columns(maps.profiles, 3), strict=True)),
                schema=pa.schema([("bk", pa.int64()), ("day", pa.string()), ("pid", pa.int64())]),
            ),
            "_st_ghint": pa.table(
                {
                    **{
                        c: pa.array(list(v), pa.string())
                        for c, v in zip(hint_cols, hl, strict=True)
                    },
                    "gid": pa.array([g for _, g in maps.hint_locations], pa.int64()),
                }
            ),
            "_st_gip": pa.table(
                dict(zip(("ip", "gid"), _columns(maps.address_locations, 2), strict=True)),
                schema=pa.schema([("ip", pa.string()), ("gid", pa.int64())]),
            ),
            "_st_hmap": pa.table(
                dict(zip(("rid", "pid", "gid", "merged"), _columns(maps.hosts, 4), strict=True)),
                schema=pa.schema(
                    [
                        ("rid", pa.int64()),
                        ("pid", pa.int64()),
                        ("gid", pa.int64()),
                        ("merged", pa.string()),
                    ]
                ),
            ),
            "_st_banner": pa.table(
                {
                    "bk": pa.array(range(len(maps.banners)), pa.int64()),
                    "banner": pa.array(maps.banners, pa.string()),
                }
            ),
        }
        con = self.store.con
        try:
            for name, table in tables.items():
                con.register(name, table)
            return writer.write(batch, note_hosts=True, query=self._rows_sql())
        finally:
            for name in tables:
                con.unregister(name)

    def _rows_sql(self) -> str:
        """SQL: the chunk's services (:data:`~mxcensus.store.rows.SERVICE_COLUMNS`)."""
        hint_join = (
            " AND ".join(f"g.{c} IS NOT DISTINCT FROM t.{c}" for c, _ in self.chunk.hints) or "true"
        )
        outcome, source = (_literal(self.chunk.outcome), _literal(self.chunk.source))
        return f"""
            SELECT coalesce(h.pid, p.pid) AS pid, coalesce(h.gid, g.gid, a.gid) AS gid,
                   t.ip, t.port, t.protocol, t.transport, t.obs AS observed_at,
                   {outcome} AS outcome, {source} AS source,
                   nullif(t.hostname, '') AS hostname, b.banner, h.merged
            FROM {_ROWS} t
            JOIN _st_banner b ON b.bk = t.bk
            LEFT JOIN _st_hmap h ON h.rid = t.rid
            LEFT JOIN _st_pmap p ON h.rid IS NULL AND p.bk = t.bk AND p.day = t.day
            LEFT JOIN _st_ghint g ON h.rid IS NULL AND {hint_join}
            LEFT JOIN _st_gip a ON h.rid IS NULL AND a.ip = t.ip
            WHERE h.rid IS NULL OR h.pid IS NOT NULL  -- observations merged away: no service
        """


def _columns(rows: Sequence[tuple[Any, ...]], width: int) -> list[list[Any]]:
    """``rows`` as ``width`` columns (empty ones when there is no row)."""
    return [list(c) for c in zip(*rows, strict=True)] if rows else [[] for _ in range(width)]


def _literal(text: str) -> str:
    """SQL: ``text`` as a string literal."""
    return "'" + text.replace("'", "''") + "'"
