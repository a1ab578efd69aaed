"""What the store keeps of sharded scans besides their results (migration 10).

- Attempts: each attempt of each stream of a cluster scan (:mod:`mxcensus.engine.
  ray_executor`), numbered on across the scan's runs, with where it ran, how it ended and
  how many results the store kept from it.
- Ingested parts: each Parquet part ``mxcensus ingest`` brought in (:mod:`mxcensus.engine.
  ingest`), recorded in the transaction that stored its rows: a part is in the store whole
  or not at all, and never twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from mxcensus.errors import PartsError
from mxcensus.model import ScanId
from mxcensus.store.db import Store

if TYPE_CHECKING:
    import pyarrow as pa


@dataclass(frozen=True, slots=True)
class IngestedPart:
    shard: int
    part: str
    sha256: str
    rows: int


def next_attempts(store: Store, scan: ScanId) -> dict[str, int]:
    """Per stream, the number its next attempt takes (1 for a stream never attempted)."""
    rows = store.con.execute(
        "SELECT stream, max(attempt) FROM shard_attempts WHERE scan = ? GROUP BY stream", [scan]
    ).fetchall()
    return {str(stream): int(n) + 1 for stream, n in rows}


def attempt_started(store: Store, scan: ScanId, stream: str, attempt: int) -> None:
    store.con.execute(
        "INSERT INTO shard_attempts (scan, stream, attempt, started_at, status)"
        " VALUES (?, ?, ?, ?, 'running')",
        [scan, stream, attempt, datetime.now(UTC)],
    )


def attempt_node(store: Store, scan: ScanId, stream: str, attempt: int, node: str) -> None:
    store.con.execute(
        "UPDATE shard_attempts SET node = ? WHERE scan = ? AND stream = ? AND attempt = ?",
        [node, scan, stream, attempt],
    )


def attempt_ended(
    store: Store,
    scan: ScanId,
    stream: str,
    attempt: int,
    *,
    status: str,
    probed: int,
    error: str | None = None,
) -> None:
    store.con.execute(
        "UPDATE shard_attempts SET ended_at = ?, status = ?, probed = ?, error = ?"
        " WHERE scan = ? AND stream = ? AND attempt = ?",
        [datetime.now(UTC), status, probed, error, scan, stream, attempt],
    )


def close_attempts(store: Store, scan: ScanId) -> None:
    """Attempts a run left ``running`` (its driver was killed) are stopped: a resume starts
    new ones."""
    store.con.execute(
        "UPDATE shard_attempts SET status = 'stopped' WHERE scan = ? AND status = 'running'",
        [scan],
    )


def attempts(store: Store, scan: ScanId) -> list[tuple[str, int, str | None, str, int]]:
    """(stream, attempt, node, status, probed) of every attempt, in order."""
    rows = store.con.execute(
        "SELECT stream, attempt, node, status, probed FROM shard_attempts WHERE scan = ?"
        " ORDER BY stream, attempt",
        [scan],
    ).fetchall()
    return [(str(s), int(a), n, str(st), int(p)) for s, a, n, st, p in rows]


def ingested_parts(store: Store, scan: ScanId) -> dict[tuple[int, str], IngestedPart]:
    rows = store.con.execute(
        "SELECT shard, part, sha256, rows FROM parts_ingested WHERE scan = ?", [scan]
    ).fetchall()
    return {(int(s), str(p)): IngestedPart(int(s), str(p), str(h), int(r)) for s, p, h, r in rows}


def ingest_part(
    store: Store, scan: ScanId, part: IngestedPart, batches: Iterable[pa.RecordBatch]
) -> int:
    """Store a part's rows (record batches of the transcripts columns) and record the part,
    in one transaction: all of it, or nothing when reading it fails. Returns the rows."""
    n = 0
    con = store.con
    with store.transaction():
        for batch in batches:
            con.register("_part", batch)
            try:
                con.execute(
                    "INSERT INTO transcripts BY NAME SELECT ?::VARCHAR AS scan, ip, port, protocol,"
                    " transport, observed_at, outcome, source, data FROM _part",
                    [scan],
                )
            finally:
                con.unregister("_part")
            n += batch.num_rows
        if n != part.rows:  # rolled back: nothing of the part stays
            raise PartsError(f"shard {part.shard} {part.part}: {n} rows read, {part.rows} listed")
        con.execute(
            "INSERT INTO parts_ingested VALUES (?, ?, ?, ?, ?, ?)",
            [scan, part.shard, part.part, part.sha256, n, datetime.now(UTC)],
        )
    return n
