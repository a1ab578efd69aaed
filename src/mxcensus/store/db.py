"""The DuckDB store: one file holds every scan, its raw transcripts and its verdicts.

Only one process may hold the file open for writing (DuckDB's rule); scan workers send their
transcripts to the process that owns the store. A finished scan is immutable: writing its
transcripts raises.

Every change is atomic: a kill at any instant (SIGKILL, SIGTERM, Ctrl-C, a full disk) leaves
the store as it was before the change or as after it, and memory stays flat whatever the
size of the change. How:

- A write that fits one transaction is one (a scan's batch of transcripts with its resume
  checkpoint; a migration; the switch below; deleting a scan's row).
- A scan's derived rows (services, findings, profiles, locations, verdicts) belong to a
  *generation* (``gen``); ``scans.gen`` names the one readers see, through views named as
  the tables were (schema migration 8: ``services`` shows ``service_rows`` of the live
  generation). Re-analysis (``mxcensus reassess``, a scan's analysis) writes a new
  generation batch by batch, each batch committed (memory stays flat over 10 million
  services), and then switches ``scans.gen`` in one short transaction
  (:meth:`Store.replacing_derived`). Killed before the switch, readers still see the old
  rows; after it, the new ones.
- What no reader sees any more is noted in the table ``stale`` in the same transaction
  that hides it — the generation being written (noted before its first row), the one a
  switch replaced, every row of a deleted scan or of an import that never finished — and
  removed right after, or when the store is next opened for writing if the process died
  first (:meth:`Store.collect_stale`; after a deletion or a failed import a checkpoint
  frees the space for reuse at once).
- An import writes under its scan's row, ``running`` until its last commit; readers do not
  see a running import, and a store opened for writing marks the ones a dead process left:
  since DuckDB lets one process write, every other ``running`` scan belongs to a dead one
  (:meth:`Store.open`): a scan becomes ``interrupted`` (resumable), an import ``failed``,
  its rows stale and its name free.

Writing services: :mod:`mxcensus.store.derived` is the one write path (over the typed rows
of :mod:`mxcensus.store.rows`), :mod:`mxcensus.store.staged` the SQL over an importer's
staged chunk.

:attr:`Store.fault` is the test seam for all this: called before every write statement and
every commit, it lets the tests kill the process at the n-th write.
"""

from __future__ import annotations

import logging
import operator
import os
import secrets
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import duckdb
import orjson
import platformdirs

from mxcensus.errors import StoreError, UsageError
from mxcensus.model import (
    NO_FINDINGS,
    Assessment,
    Identification,
    ScanId,
    ServiceRecord,
    Status,
    Transcript,
)
from mxcensus.serialize import (
    TranscriptDoc,
    TranscriptRow,
    transcript_from_dict,
    transcript_row,
)
from mxcensus.store.filters import Filter, Scope
from mxcensus.store.queries import Reader
from mxcensus.store.results import ScanInfo
from mxcensus.store.schema import LATEST, MIGRATIONS

if TYPE_CHECKING:
    import pyarrow as pa

log = logging.getLogger(__name__)

_INSERT_ROWS = "INSERT INTO transcripts BY NAME SELECT ?::VARCHAR AS scan, " + ", ".join(
    f"unnest(?::{t}[]) AS {c}"
    for c, t in (
        ("ip", "VARCHAR"),
        ("port", "INTEGER"),
        ("protocol", "VARCHAR"),
        ("transport", "VARCHAR"),
        ("observed_at", "TIMESTAMPTZ"),
        ("outcome", "VARCHAR"),
        ("source", "VARCHAR"),
        ("data", "VARCHAR"),
    )
)
"""One batch of :data:`TranscriptRow` columns as list parameters: no pyarrow, which a scan's
parent then never imports (~50 MB of its resident memory while it walks a /12)."""
_INSERT_ROWS_SEQ = _INSERT_ROWS + ", unnest(?::BIGINT[]) AS seq"
""":data:`_INSERT_ROWS` with each transcript's place in an import (``seq``)."""


def _doc_column(key: str, docs: Sequence[TranscriptDoc]) -> list[Any]:
    return list(map(operator.itemgetter(key), docs))


def _observed_at(texts: list[str]) -> tuple[pa.Array, bool]:
    """The ISO 8601 times (with their offsets) as a TIMESTAMPTZ column, parsed by Arrow
    (C++, ~1 us per row less than DuckDB's cast on insert); and whether DuckDB must cast
    them still: a batch with any form Arrow refuses (no offset, an offset with seconds,
    nanoseconds, a blank) goes as text to DuckDB's cast, as before. Where Arrow parses a
    form it gives DuckDB's instant (tests compare both)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    text = pa.array(texts, pa.string())
    try:
        return pc.cast(text, pa.timestamp("us", tz="UTC")), False
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return text, True


@contextmanager
def _interruptible() -> Iterator[None]:
    """Ctrl-C as KeyboardInterrupt: DuckDB catches SIGINT while it runs a statement and
    raises a RuntimeError of its own instead."""
    try:
        yield
    except RuntimeError as exc:
        if str(exc) == "Query interrupted":
            raise KeyboardInterrupt from exc
        raise


def default_db_path() -> Path:
    env = os.environ.get("MXCENSUS_DB")
    if env:
        return Path(env)
    return Path(platformdirs.user_data_dir("mxcensus")) / "mxcensus.duckdb"


DEMO_DB = "mxcensus-demo.duckdb"
"""Where ``mxcensus demo`` stores its scans (in the current directory)."""


def missing_hint(defaulted: bool) -> str:
    """What to do when no store is found: name the one the demo made, if it is here."""
    if defaulted and Path(DEMO_DB).exists():
        return f"the demo's is --db {DEMO_DB}; or set MXCENSUS_DB"
    if defaulted:
        return (
            "run a scan or an import first, give --db FILE or set MXCENSUS_DB; "
            f"`mxcensus demo` makes {DEMO_DB}"
        )
    return "run a scan or an import first"


def new_scan_id() -> ScanId:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    return ScanId(f"{stamp}-{secrets.token_hex(3)}")


_OURS: set[tuple[str, str]] = set()
"""(store file, scan id) of the scans this process started or resumed and has not finished:
every other scan a store opened for writing finds ``running`` was left by a dead process."""
_GENERATING: set[tuple[str, str, int | None]] = set()
"""(store file, scan id, generation) of the derived rows this process is writing: listed in
``stale`` until they win (a kill leaves them to be collected), but not for another connection
of this process to collect meanwhile — the web service opens the store on several at once
(a watch's import beside a request reading the watches' schedule)."""
_COLLECTING: set[tuple[str, str, int | None]] = set()
"""(store file, scan id, generation or None) of the ``stale`` entries a connection of this
process is removing: another one opening the store meanwhile leaves them to it."""
_CLAIMS = threading.Lock()
_HELD: dict[str, int] = {}
"""How many stores of this process hold each file open: one opened beside another (the web
service's requests and watches beside its own) leaves the housekeeping of an open — marking
runs a dead process left, removing stale rows — to the first, which did it for the process."""
FaultHook = Callable[[str], None]
"""Called with each write statement (or ``COMMIT``) before it runs (:attr:`Store.fault`)."""


class Store:
    fault: ClassVar[FaultHook | None] = None
    """The tests' seam for killing a write at any point: when set, called before every
    write statement and every commit the store runs (never set outside tests)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, path: Path) -> None:
        self.con = con
        self.path = path
        self._key = str(path.resolve())
        self._in_transaction = False
        self._held = False

    def row(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> Any:
        """The first row of a query, or None. The result is read to its end: DuckDB allows
        no other statement on the connection while a result is unfinished."""
        with _interruptible():
            rows = self.con.execute(sql, params).fetchall()
        return rows[0] if rows else None

    def _exec(
        self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None
    ) -> duckdb.DuckDBPyConnection:
        """Run one write statement (the :attr:`fault` seam sees it first)."""
        if Store.fault is not None:
            Store.fault(sql)
        with _interruptible():
            return self.con.execute(sql, params)

    def _rollback(self) -> None:
        with suppress(duckdb.Error):
            self.con.execute("ROLLBACK")

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Many writes as one transaction: every write inside joins it, and an exception
        rolls back what was written since the last :meth:`commit_point`. DuckDB writes the
        large appends of one transaction straight to the file instead of through its log,
        which halves the cost of storing an import's transcripts (bench/data.py)."""
        if self._in_transaction:
            raise StoreError("a transaction is already open")
        self._in_transaction = True
        try:
            with self._committed():
                yield
        finally:
            self._in_transaction = False

    def commit_point(self, *, checkpoint: bool = False) -> None:
        """Inside :meth:`transaction`: commit what is written so far and go on in a new
        one. DuckDB holds a transaction's appends (and the Arrow batches they came from) in
        memory until it commits, so a long import commits every so many rows.
        ``checkpoint``: and fold what is committed into the file now, a little at a time,
        rather than all at once when the store closes (whose checkpoint after a large import
        took ~0.35 GB more memory than the import itself)."""
        if self._in_transaction:
            self._exec("COMMIT")
            if checkpoint:
                self._checkpoint()
            self.con.execute("BEGIN TRANSACTION")

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """One write's own transaction, or the open :meth:`transaction` it joins."""
        if self._in_transaction:
            yield
            return
        with self._committed():
            yield

    @contextmanager
    def _committed(self) -> Iterator[None]:
        """BEGIN … COMMIT; any exception (a failed COMMIT too) rolls back."""
        self.con.execute("BEGIN TRANSACTION")
        try:
            yield
            self._exec("COMMIT")
        except BaseException:
            self._rollback()
            raise

    # -- opening -----------------------------------------------------------------------

    @classmethod
    def open(cls, path: Path | str | None = None, *, read_only: bool = False) -> Store:
        p = Path(path) if path is not None else default_db_path()
        if read_only and not p.exists():
            raise UsageError(f"{p}: no such database ({missing_hint(path is None)})")
        if not read_only:
            try:
                p.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"{p}: cannot create its directory: {exc.strerror}") from exc
            if p.exists() and not os.access(p, os.W_OK):
                raise StoreError(f"{p}: database file is not writable")
            if not p.exists() and not os.access(p.parent, os.W_OK):
                raise StoreError(f"{p}: directory {p.parent} is not writable")
        if p.is_file() and p.stat().st_size == 0 and not p.with_name(p.name + ".wal").exists():
            raise StoreError(
                f"{p}: an empty file (0 bytes), not a DuckDB database; remove it, or give"
                " --db a path that does not exist yet (mxcensus creates the store there)"
            )
        try:
            con = duckdb.connect(str(p), read_only=read_only)
        except duckdb.Error as exc:
            from mxcensus.store.busy import held_by

            msg = str(exc).splitlines()[0]
            busy = held_by(p) if "lock" in msg.lower() else None
            raise StoreError(busy or f"{p}: cannot open database: {msg}") from exc
        store = cls(con, p)
        try:
            store._migrate(read_only=read_only)
            with _CLAIMS:
                first = not _HELD.get(store._key)
                _HELD[store._key] = _HELD.get(store._key, 0) + 1
            store._held = True
            if not read_only and first:  # housekeeping is for the process that opens it first
                store._mark_abandoned()
                store.collect_stale()
        except BaseException:
            store.close()
            raise
        return store

    def close(self) -> None:
        if self._held:
            self._held = False
            with _CLAIMS:
                _HELD[self._key] -= 1
        self.con.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def schema_version(self) -> int:
        tables = {
            r[0] for r in self.con.execute("SELECT table_name FROM duckdb_tables()").fetchall()
        }
        if "meta" not in tables:
            return 0
        row = self.row("SELECT value FROM meta WHERE key = 'schema_version'")
        return int(row[0]) if row else 0

    def _migrate(self, *, read_only: bool) -> None:
        current = self.schema_version()
        if current > LATEST:
            raise StoreError(
                f"{self.path}: schema version {current} is newer than this mxcensus ({LATEST})"
            )
        if current == LATEST:
            return
        if read_only:
            raise StoreError(
                f"{self.path}: schema version {current} needs migrating to {LATEST}; "
                "open it once without read-only"
            )
        for version in range(current + 1, LATEST + 1):  # each one transaction
            try:
                with self._writing():
                    self._exec(MIGRATIONS[version - 1])
                    self._exec(
                        "INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", [str(version)]
                    )
            except duckdb.Error as exc:
                raise StoreError(f"{self.path}: migration {version} failed: {exc}") from exc

    @contextmanager
    def memory_limited(self, limit: str) -> Iterator[None]:
        """DuckDB's memory limit at ``limit`` (a DuckDB size: "1GiB", "32MB") for the block,
        its own value again afterwards, and a checkpoint under the limit when the block
        ends. DuckDB otherwise keeps the blocks a long write produces cached up to 80% of
        RAM, and the store's close would fold in all the block wrote at once, under its
        own limit (an import's peak was ~0.35 GB higher). A checkpoint that fails after the
        block failed is left to the next one: it must not hide the first error; nor does one
        that another connection of this process is writing beside (:meth:`_checkpoint`)."""
        before = self.row("SELECT current_setting('memory_limit')")[0]
        self.con.execute("SET memory_limit = ?", [limit])
        failed = True
        try:
            yield
            failed = False
        finally:
            try:
                self._checkpoint()
            except duckdb.Error:
                if not failed:
                    raise
            finally:  # DuckDB's default again, or the limit set before (its text rounds)
                self.con.execute("RESET memory_limit")
                if self.setting("memory_limit") != before:
                    self.con.execute("SET memory_limit = ?", [before])

    def _checkpoint(self) -> None:
        """Fold what is committed into the file now, unless another connection of this
        process is in a write transaction (the web service's jobs and watches write beside
        each other): DuckDB refuses the checkpoint then, and folds it in at a later one —
        the data is committed either way."""
        try:
            self.con.execute("CHECKPOINT")
        except duckdb.TransactionException as exc:
            log.info("%s: checkpoint left for later: %s", self.path, str(exc).splitlines()[0])

    def set_memory_limit(self, limit: str) -> None:
        """DuckDB's memory limit (a DuckDB size) for the rest of the connection's life: a
        process that holds the store for long (``mxcensus serve``)."""
        self.con.execute("SET memory_limit = ?", [limit])

    def on_own_cursor(self) -> Store:
        """This store on a cursor of its own: a writer beside the readers of one process
        (its transactions do not disturb theirs)."""
        return Store(self.con.cursor(), self.path)

    def setting(self, name: str) -> Any:
        """The value of DuckDB setting ``name`` on the store's connection."""
        return self.row("SELECT current_setting(?)", [name])[0]

    # -- scans -------------------------------------------------------------------------

    def create_scan(
        self,
        *,
        name: str | None,
        kind: str,
        source: str,
        params: dict[str, Any] | None = None,
        targets_total: int | None = None,
        scan_id: ScanId | None = None,
        started_at: datetime | None = None,
    ) -> ScanId:
        sid = scan_id or new_scan_id()
        if name is not None and self.name_in_use(name):
            raise UsageError(f"--name {name!r}: a scan with that name exists already")
        _OURS.add((self._key, sid))  # ours before it shows as running to another connection
        try:
            self._insert_scan(sid, name, kind, source, params, targets_total, started_at)
        except BaseException:
            _OURS.discard((self._key, sid))
            raise
        return sid

    def _insert_scan(
        self,
        sid: ScanId,
        name: str | None,
        kind: str,
        source: str,
        params: dict[str, Any] | None,
        targets_total: int | None,
        started_at: datetime | None,
    ) -> None:
        with self._writing():
            self._exec(
                "INSERT INTO scans BY NAME SELECT ? AS id, ? AS name, ? AS kind, ? AS source,"
                " ? AS started_at, 'running' AS status, ? AS params, ? AS targets_total,"
                " ? AS gen",
                [
                    sid,
                    name,
                    kind,
                    source,
                    started_at or datetime.now(UTC),
                    orjson.dumps(params or {}).decode(),
                    targets_total,
                    self._new_gen(),
                ],
            )

    def name_in_use(self, name: str) -> bool:
        """Whether a scan holds ``name`` (a failed one does not: its name is free again)."""
        return (
            self.row("SELECT 1 FROM scans WHERE name = ? AND status <> 'failed' LIMIT 1", [name])
            is not None
        )

    def find_scan(self, ref: str) -> dict[str, Any] | None:
        """A scan by id or name (the newest of that name that did not fail, else the newest
        that did), or None."""
        row = self.row(
            "SELECT id, name, kind, source, started_at, finished_at, status, params, targets_total"
            " FROM scans WHERE id = ? OR name = ?"
            " ORDER BY id = ? DESC, status <> 'failed' DESC, started_at DESC LIMIT 1",
            [ref, ref, ref],
        )
        if row is None:
            return None
        keys = ("id", "name", "kind", "source", "started_at", "finished_at", "status")
        out = dict(zip(keys, row[:7], strict=True))
        out["params"] = orjson.loads(row[7]) if row[7] else {}
        out["targets_total"] = row[8]
        return out

    def resolve_scan(self, ref: str | None) -> ScanId:
        """SCAN as the user wrote it (id or name) or, when None, the newest readable scan
        (:meth:`Reader.resolve_scan <mxcensus.store.queries.Reader.resolve_scan>`); an
        import this process is writing may be named."""
        ours = [sid for key, sid in _OURS if key == self._key]
        return self.reader().resolve_scan(ref, ours)

    def list_scans(self) -> list[ScanInfo]:
        """Every scan, oldest first, with the services readers see of it."""
        return self.reader().scans(services=True)

    def delete_scan(self, ref: str) -> ScanInfo:
        """Delete the scan ``ref`` (id or name) and everything of it, atomically (see
        :meth:`discard_scan`), and let its space be reused. A scan this process is running
        is refused; any other process that ran one is dead, since this one could open the
        store for writing."""
        found = self.find_scan(ref)
        if found is None:
            raise UsageError(f"scans delete {ref!r}: no scan with that id or name in {self.path}")
        sid = ScanId(found["id"])
        if (self._key, sid) in _OURS:
            raise UsageError(f"scans delete {ref!r}: scan {sid} is running in this process")
        (info,) = [i for i in self.list_scans() if i.id == sid]
        self.discard_scan(sid)
        return info

    def claim_scan(self, scan: ScanId) -> None:
        """``scan`` runs (again) in this process: ``running`` until it finishes (ours before
        another connection of this process can see it running)."""
        _OURS.add((self._key, scan))
        self._exec("UPDATE scans SET status = 'running' WHERE id = ?", [scan])

    def _mark_abandoned(self) -> int:
        """Scans left ``running`` by a process that is gone (this one could open the store
        for writing, so no other holds it): a scan becomes ``interrupted`` (resumable with
        ``scan --resume``), an import ``failed``, its rows removed and its name free. The
        scans marked."""
        rows = self.con.execute("SELECT id, kind FROM scans WHERE status = 'running'").fetchall()
        gone = [(sid, kind) for sid, kind in rows if (self._key, sid) not in _OURS]
        if not gone:
            return 0
        now = datetime.now(UTC)
        with self._writing():
            for sid, kind in gone:
                if kind == "import":
                    self._exec(
                        "UPDATE scans SET status = 'failed', finished_at = ? WHERE id = ?",
                        [now, sid],
                    )
                    self._exec("INSERT INTO stale VALUES (?, NULL)", [sid])
                else:
                    self._exec("UPDATE scans SET status = 'interrupted' WHERE id = ?", [sid])
        for sid, kind in gone:  # `scans list` shows it; the library prints nothing
            log.info(
                "%s: %s %s was left running by a process that ended; marked %s",
                self.path,
                kind,
                sid,
                "failed" if kind == "import" else "interrupted (resume it with scan --resume)",
            )
        return len(gone)

    def _require_open(self, scan: ScanId) -> None:
        row = self.row("SELECT status FROM scans WHERE id = ?", [scan])
        if row is None:
            raise StoreError(f"scan {scan}: no such scan")
        if row[0] == "finished":
            raise StoreError(f"scan {scan}: finished scans are immutable")

    def set_scan_params(self, scan: ScanId, params: dict[str, Any]) -> None:
        """Replace the parameters of a running scan (``--resume`` with a new ``--rate``)."""
        self._require_open(scan)
        self._exec(
            "UPDATE scans SET params = ? WHERE id = ?", [orjson.dumps(params).decode(), scan]
        )

    def finish_scan(self, scan: ScanId, status: str = "finished") -> None:
        self._exec(
            "UPDATE scans SET status = ?, finished_at = ? WHERE id = ?",
            [status, datetime.now(UTC), scan],
        )
        _OURS.discard((self._key, scan))

    def reopen_scan(self, scan: ScanId) -> None:
        """Remove what analysis wrote for ``scan`` (at once: readers see no services)."""
        self.delete_derived(scan)

    def delete_derived(self, scan: ScanId) -> None:
        """Remove what analysis wrote for ``scan``: services, findings and their parts (an
        empty generation replaces them). Transcripts stay."""
        with self.replacing_derived(scan):
            pass

    # -- generations of derived rows (see the module's docstring) ----------------------

    def live_gen(self, scan: ScanId) -> int:
        """The generation of ``scan``'s derived rows that readers see."""
        row = self.row("SELECT gen FROM scans WHERE id = ?", [scan])
        if row is None:
            raise StoreError(f"scan {scan}: no such scan")
        return int(row[0])

    def _new_gen(self) -> int:
        """A generation number no scan, stale or not, uses yet."""
        row = self.row(
            "SELECT greatest((SELECT max(gen) FROM scans), (SELECT max(gen) FROM stale))"
        )
        return int(row[0] or 0) + 1 if row else 1

    @contextmanager
    def replacing_derived(self, scan: ScanId) -> Iterator[int]:
        """A new generation of ``scan``'s derived rows, written inside the block (in as many
        transactions as it likes) and made the one readers see when the block ends, in one
        short transaction; the old one is removed then. An exception (or a kill) in the
        block leaves the old generation in place and the new one to :meth:`collect_stale`."""
        if self._in_transaction:
            raise StoreError("replacing derived rows inside an open transaction")
        old = self.live_gen(scan)
        with self._writing():
            gen = self._new_gen()
            mine = (self._key, str(scan), gen)
            with _CLAIMS:  # before the marker commits: no other connection takes it
                _GENERATING.add(mine)
            self._exec("INSERT INTO stale VALUES (?, ?)", [scan, gen])  # until it wins
        try:
            yield gen
        except BaseException:
            _GENERATING.discard(mine)
            with suppress(duckdb.Error):
                self.collect_stale(checkpoint=False)
            raise
        try:
            with self._writing():
                self._exec("UPDATE scans SET gen = ? WHERE id = ?", [gen, scan])
                self._exec("DELETE FROM stale WHERE scan = ? AND gen = ?", [scan, gen])
                self._exec("INSERT INTO stale VALUES (?, ?)", [scan, old])
        finally:
            _GENERATING.discard(mine)
        self.collect_stale(checkpoint=False)

    def discard_scan(self, scan: ScanId) -> None:
        """Remove ``scan`` and every row of it: its row goes, and the rest is noted stale, in
        one transaction (no reader sees any of it from then on); the rest is removed now,
        or at the next open if the process dies first."""
        with self._writing():
            self._exec("DELETE FROM scans WHERE id = ?", [scan])
            self._exec("INSERT INTO stale VALUES (?, NULL)", [scan])
        self.collect_stale()

    def collect_stale(self, *, checkpoint: bool = True) -> int:
        """Remove the rows ``stale`` lists (no reader sees them), one entry per
        transaction; the entries removed. ``checkpoint``: and checkpoint, so that their
        space is reused now (a deleted scan, a failed import); without it DuckDB reuses it
        at its next checkpoint (a reassessment: checkpointing a whole analysis' rows there
        cost ~10 µs a service, bench/analysis.py)."""
        removed = 0
        for scan, gen in self.con.execute("SELECT DISTINCT scan, gen FROM stale").fetchall():
            entry = (self._key, scan, gen)
            with _CLAIMS:  # another connection of this process writes or removes it
                if entry in _GENERATING or entry in _COLLECTING:
                    continue
                _COLLECTING.add(entry)
            try:
                with self._writing():
                    if not self._still_stale(scan, gen):  # taken or won since listed
                        continue
                    if gen is None:
                        for table in SCAN_TABLES:
                            self._exec(f"DELETE FROM {table} WHERE scan = ?", [scan])
                        self._exec("DELETE FROM stale WHERE scan = ?", [scan])
                    else:
                        for table in GEN_TABLES:
                            self._exec(
                                f"DELETE FROM {table} WHERE scan = ? AND gen = ?", [scan, gen]
                            )
                        self._exec("DELETE FROM stale WHERE scan = ? AND gen = ?", [scan, gen])
            except duckdb.TransactionException:  # another connection of this process
                continue  # changed it meanwhile (rolled back): it is that one's to settle
            finally:
                _COLLECTING.discard(entry)
            removed += 1
        if removed and checkpoint:
            with suppress(duckdb.Error):  # only to reuse the space now; DuckDB will anyway
                self.con.execute("CHECKPOINT")
        return removed

    def _still_stale(self, scan: str, gen: int | None) -> bool:
        """Whether ``stale`` still lists the entry, as this transaction sees it: a list read
        before a generation won (its marker removed in the switch) must not remove it."""
        row = self.row(
            "SELECT count(*) FROM stale WHERE scan = ? AND gen IS NOT DISTINCT FROM ?",
            [scan, gen],
        )
        return bool(row[0])

    # -- transcripts -------------------------------------------------------------------

    def write_transcripts(
        self,
        scan: ScanId,
        transcripts: Sequence[Transcript],
        *,
        progress: Sequence[tuple[str, int, Sequence[int]]] = (),
    ) -> None:
        """One batch, one transaction.

        ``progress`` rows ``(shard, position, pending)`` are saved in the same transaction, so
        a crash never separates results from the checkpoint that counts them (resume relies
        on it: no duplicates, none missing).
        """
        self.write_transcript_rows(
            scan, [transcript_row(t) for t in transcripts], progress=progress
        )

    def write_transcript_rows(
        self,
        scan: ScanId,
        rows: Sequence[TranscriptRow],
        *,
        progress: Sequence[tuple[str, int, Sequence[int]]] = (),
        seq: int | None = None,
    ) -> None:
        """:meth:`write_transcripts` for rows already made by :func:`transcript_row` (scan
        workers serialise in parallel; the one writing process only inserts). ``seq``: the
        first row's place in an import (the rows follow in order)."""
        if not rows and not progress:
            return
        self._require_open(scan)
        with self._writing():
            if rows:
                cols = [list(c) for c in zip(*rows, strict=True)]
                if seq is None:
                    self._exec(_INSERT_ROWS, [scan, *cols])
                else:
                    order = list(range(seq, seq + len(rows)))
                    self._exec(_INSERT_ROWS_SEQ, [scan, *cols, order])
            for shard, position, pending in progress:
                self._exec(
                    "INSERT OR REPLACE INTO progress VALUES (?, ?, ?, ?, ?)",
                    [
                        scan,
                        shard,
                        position,
                        datetime.now(UTC),
                        orjson.dumps(list(pending)).decode(),
                    ],
                )

    def write_transcript_docs(
        self, scan: ScanId, docs: Sequence[TranscriptDoc], seq: int | None = None
    ) -> None:
        """:meth:`write_transcripts` for transcripts already in their stored JSON form
        (``serialize.transcript_to_dict``; importers build it directly, which is far cheaper
        than building the Transcript objects first). One batch, one transaction."""
        if not docs:
            return
        self._require_open(scan)
        import pyarrow as pa

        n = len(docs)
        col = _doc_column
        observed, cast = _observed_at(col("observed_at", docs))
        table = pa.table(
            {
                "scan": pa.array([scan] * n, pa.string()),
                "ip": pa.array(col("ip", docs), pa.string()),
                "port": pa.array(col("port", docs), pa.int32()),
                "protocol": pa.array(col("protocol", docs), pa.string()),
                "transport": pa.array(col("transport", docs), pa.string()),
                "observed_at": observed,
                "outcome": pa.array(col("outcome", docs), pa.string()),
                "source": pa.array(col("source", docs), pa.string()),
                # orjson writes valid UTF-8 only: the bytes become text without a check
                "data": pa.array(list(map(orjson.dumps, docs)), pa.binary()).view(pa.string()),
                "seq": pa.array(range(seq, seq + n) if seq is not None else [None] * n, pa.int64()),
            }
        )
        self._insert_arrow(
            "transcripts",
            table,
            select="* REPLACE (CAST(observed_at AS TIMESTAMPTZ) AS observed_at)" if cast else "*",
        )

    def _insert_arrow(
        self,
        table_name: str,
        table: pa.Table,
        after: Sequence[tuple[str, list[Any]]] = (),
        select: str = "*",
    ) -> None:
        with self._writing():
            if table.num_rows:
                self.con.register("_batch", table)
                self._exec(f"INSERT INTO {table_name} BY NAME SELECT {select} FROM _batch")
                self.con.unregister("_batch")
            for sql, args in after:
                self._exec(sql, args)

    def iter_transcripts(self, scan: ScanId, batch: int = 10_000) -> Iterator[Transcript]:
        cur = self.con.cursor()
        cur.execute(
            "SELECT data FROM transcript_docs WHERE scan = ? ORDER BY ip, port, seq", [scan]
        )
        while rows := cur.fetchmany(batch):
            for (data,) in rows:
                yield transcript_from_dict(orjson.loads(data))

    def iter_transcript_docs(self, scan: ScanId, batch: int = 10_000) -> Iterator[TranscriptDoc]:
        """:meth:`iter_transcripts` in their stored JSON form (``serialize``), without
        building the transcripts: what the analysis reads."""
        cur = self.con.cursor()
        cur.execute(
            "SELECT data FROM transcript_docs WHERE scan = ? ORDER BY ip, port, seq", [scan]
        )
        loads = orjson.loads
        while True:
            with _interruptible():
                rows = cur.fetchmany(batch)
            if not rows:
                return
            for (data,) in rows:
                yield loads(data)

    def count(self, table: str, scan: ScanId) -> int:
        if table not in {"transcripts", "services", "findings"}:
            raise ValueError(table)
        row = self.row(f"SELECT count(*) FROM {table} WHERE scan = ?", [scan])
        return int(row[0]) if row else 0

    # -- services and findings ---------------------------------------------------------

    def write_services(
        self, scan: ScanId, records: Iterable[ServiceRecord], gen: int | None = None
    ) -> int:
        """Write analysed records of ``scan`` (generation ``gen``; default: the live one)
        through the one write path (:class:`~mxcensus.store.derived.DerivedWriter`), their
        profiles and locations numbered after the ones the generation holds."""
        from mxcensus.store.derived import DerivedWriter

        writer = DerivedWriter.of(self, scan, gen)
        return writer.write_records(records, *writer.memos())

    def iter_records(self, scan: ScanId, batch: int = 10_000) -> Iterator[dict[str, Any]]:
        """The exported JSONL records of a scan, in (ip, port) order."""
        loads = orjson.loads
        for text in self.iter_record_texts(scan, batch):
            yield loads(text)

    def iter_record_texts(self, scan: ScanId, batch: int = 10_000) -> Iterator[bytes]:
        """The exported records of a scan as JSON text, in (ip, port, protocol) order
        (:meth:`Reader.record_texts <mxcensus.store.queries.Reader.record_texts>`)."""
        for texts in self.reader().record_texts(Filter(scans=(scan,), exposed=False), batch):
            yield from texts

    def reader(self, scope: Scope | None = None) -> Reader:
        """The typed read-only queries over this store (``store/queries.py``), each on its
        own cursor; with ``scope``, every query keeps to it."""
        return Reader(self.con, self.path, () if scope is None else (scope,))

    # -- resume checkpoints ------------------------------------------------------------

    def outcome_counts(self, scan: ScanId) -> dict[str, int]:
        """The transcripts of ``scan`` per outcome (a resumed scan's progress so far)."""
        rows = self.con.execute(
            "SELECT outcome, count(*) FROM transcripts WHERE scan = ? GROUP BY outcome", [scan]
        ).fetchall()
        return {str(o): int(n) for o, n in rows}

    def save_progress(
        self, scan: ScanId, shard: str, position: int, pending: Sequence[int] = ()
    ) -> None:
        self._exec(
            "INSERT OR REPLACE INTO progress VALUES (?, ?, ?, ?, ?)",
            [scan, shard, position, datetime.now(UTC), orjson.dumps(list(pending)).decode()],
        )

    def load_progress(self, scan: ScanId) -> dict[str, int]:
        rows = self.con.execute(
            "SELECT shard, position FROM progress WHERE scan = ?", [scan]
        ).fetchall()
        return {str(s): int(p) for s, p in rows}

    def load_progress_state(self, scan: ScanId) -> dict[str, tuple[int, tuple[int, ...]]]:
        """Per shard: the position below which all is done but ``pending``, and ``pending``."""
        rows = self.con.execute(
            "SELECT shard, position, pending FROM progress WHERE scan = ?", [scan]
        ).fetchall()
        return {str(s): (int(p), tuple(orjson.loads(pend)) if pend else ()) for s, p, pend in rows}


def worst_status(ident: Identification, a: Assessment) -> str:
    """The most severe CVE status of a service; ``none`` for a known product with no CVE."""
    if not a.findings:
        return str(Status.UNKNOWN) if not ident.is_known else NO_FINDINGS
    return str(Status.worst(f.status for f in a.findings))


GEN_TABLES = ("service_rows", "finding_rows", "verdict_rows", "profile_rows", "location_rows")
"""Where analysis writes, by scan and generation (readers see them through views)."""
SCAN_TABLES = (
    "transcripts", "transcript_parts", "progress", "scan_names", *GEN_TABLES,
    "shard_attempts", "parts_ingested",  # store/cluster.py
)  # fmt: skip
"""Every table with rows of a scan but ``scans`` itself."""
