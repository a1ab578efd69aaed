"""Running an import: files -> importer -> batches of transcripts -> store and analysis.

Constant memory whatever the file size: files are read as streams (gzip recognised by its
magic bytes, not its name), transcripts are written in batches of :data:`BATCH`, one
transaction every :data:`COMMIT_EVERY` batches, and each batch is analysed from the
documents just written (``pipeline.ImportAnalysis``) instead of being read back. A
malformed record is counted and reported with its line number while the rest imports.
``strict=True`` reads every file through once first and stops at the first malformed
record, so nothing at all is written (no scan row either). A file that is not of the
format, cannot be read or ends early (truncated gzip) raises an
:class:`~mxcensus.importers.interface.ImportInputError` naming the file (and line), and
whatever this import had written is removed again.
"""

from __future__ import annotations

import gc
import gzip
import io
import logging
import os
import tempfile
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import BinaryIO, Generic, TypeVar, cast

import duckdb
import orjson

from mxcensus.enrich.geo import GeoEnricher
from mxcensus.enrich.interface import Enricher
from mxcensus.errors import UsageError
from mxcensus.importers._common import MAX_LINE
from mxcensus.importers.interface import (
    ChunkedImporter,
    DocImporter,
    DocItem,
    ImportInputError,
    ImportProblem,
    Item,
    MalformedRecordError,
    ReadAt,
    Skipped,
    Stager,
    TranscriptDoc,
    UnreadableInputError,
    WrongFormatError,
)
from mxcensus.importers.registry import IMPORTERS
from mxcensus.model import ScanId, Transcript
from mxcensus.pipeline import ImportAnalysis
from mxcensus.serialize import TranscriptDoc as StoredDoc
from mxcensus.serialize import transcript_row
from mxcensus.store.db import Store
from mxcensus.store.staged import StagedChunk, stored

log = logging.getLogger(__name__)
T = TypeVar("T")

BATCH = 5_000
"""Transcripts per store write."""
COMMIT_EVERY = 10
"""Batches per transaction: large enough that DuckDB writes them straight to the file,
small enough that what it holds until the commit stays small (~60 MB)."""
MAX_PROBLEMS_KEPT = 20
"""Malformed records kept with their line and reason; all are counted."""
_PROGRESS_EVERY = 2_000


@dataclass(frozen=True, slots=True)
class ProblemAt(ImportProblem):
    """An importer's malformed record with the file it is in (``path:line: message``)."""

    path: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


@dataclass(frozen=True, slots=True)
class ImportProgress:
    """Reported to the ``progress`` callback every few thousand records and at the end."""

    path: str
    bytes_done: int  # of all files, as stored on disk (compressed bytes for .gz)
    bytes_total: int
    records: int
    transcripts: int
    malformed: int
    phase: str = "import"  # "import": reading files; "analyse": identify/assess/enrich
    services: int = 0  # analysed so far (phase "analyse")


@dataclass(frozen=True, slots=True)
class ImportResult:
    scan: ScanId
    fmt: str
    files: tuple[str, ...]
    records: int  # records read (a Censys host document is one record of many services)
    transcripts: int  # transcripts written
    skipped: int  # well-formed records with no mail or web service
    malformed: int
    problems: tuple[ProblemAt, ...]  # the first MAX_PROBLEMS_KEPT malformed records
    services: int  # service rows the analysis wrote
    analyzed: bool  # False: import_files(analyze=False), transcripts only
    bytes_read: int
    seconds: float
    columnar_chunks: int = 0  # chunks the columnar path imported (the rest record by record)


Progress = Callable[[ImportProgress], None]
"""Called with an ImportProgress every few thousand records and after each file."""


def import_files(
    store: Store,
    fmt: str,
    paths: Sequence[Path | str],
    *,
    name: str | None = None,
    strict: bool = False,
    progress: Progress | None = None,
    enricher: Enricher | None = None,
    analyze: bool = True,
    columnar: bool = True,
) -> ImportResult:
    """Import ``paths`` (all of format ``fmt``) as one scan of kind ``import`` and analyse it.

    ``analyze=False`` stops after the transcripts (benchmarks of the import alone).
    ``columnar=False`` imports a :class:`ChunkedImporter`'s files record by record, as
    other formats are (the reference its columnar path is tested against).
    """
    importer = IMPORTERS.get(fmt)
    if importer is None:
        raise UsageError(f"import: unknown format {fmt!r} (one of: {', '.join(IMPORTERS)})")
    if not paths:
        raise UsageError("import: no file given")
    files = [str(p) for p in paths]
    started = time.perf_counter()
    sizes = [_check_readable(p) for p in files]
    if name is not None and store.name_in_use(name):
        raise UsageError(f"--name {name!r}: a scan with that name exists already")
    read: Read = importer.read_docs if isinstance(importer, DocImporter) else importer.read
    _check_formats(read, files, sizes)
    if strict:
        for p in files:
            _validate(read, p)
    params: dict[str, object] = {"files": [os.path.abspath(p) for p in files], "strict": strict}
    if isinstance(enricher, GeoEnricher):
        params["enrichment"] = enricher.provenance()
    scan = store.create_scan(name=name, kind="import", source=fmt, params=params)
    run = _Import(store, scan, sum(sizes), progress)
    try:
        with store.memory_limited(IMPORT_MEMORY), store.transaction():
            if analyze:
                run.analysis = ImportAnalysis(store, scan, enricher)
            chunked = importer if columnar and isinstance(importer, ChunkedImporter) else None
            services = run.files(files, sizes, read, chunked)
            store.finish_scan(scan)
    except BaseException:
        _discard(store, scan)
        raise
    c = run.counts
    return ImportResult(
        scan=scan,
        fmt=fmt,
        files=tuple(files),
        records=c.records,
        transcripts=c.transcripts,
        skipped=c.skipped,
        malformed=c.malformed,
        problems=tuple(c.problems),
        services=services or 0,
        analyzed=services is not None,
        bytes_read=run.total,
        seconds=time.perf_counter() - started,
        columnar_chunks=c.columnar,
    )


IMPORT_MEMORY = "1GiB"
"""DuckDB's memory limit while an import runs (on the store's connection, through
:meth:`Store.memory_limited`, and the staging one). DuckDB keeps the blocks it writes in its
buffer pool up to its limit, 80% of RAM by default, so an import's resident memory grew
with the file; under this limit it evicts them, and spills to disk what a query needs beyond
it (bench/README.md has the figures)."""

Read = Callable[[BinaryIO, str], Iterator[Item | DocItem]]


def _check_formats(read: Read, files: Sequence[str], sizes: Sequence[int]) -> None:
    """The first record of each file says whether it is this format at all; a file without
    any is refused (an empty scan would become the reports' default)."""
    for p, size in zip(files, sizes, strict=True):
        with _opened(p) as (stream, _raw):
            if not _first_item(read(stream, p), p):
                why = "the file is empty" if size == 0 else "only blank lines or comments"
                raise WrongFormatError(p, f"no record to import ({why})")


class _Counts:
    def __init__(self) -> None:
        self.records = 0
        self.transcripts = 0
        self.skipped = 0
        self.malformed = 0
        self.problems: list[ProblemAt] = []
        self.batches = 0
        self.columnar = 0  # chunks imported by the columnar path
        self.seq = 0  # the next transcript's place in the import (transcripts.seq)


class _Batch(Generic[T]):
    """Items gathered for one store write, written by ``write`` at :data:`BATCH` and at the
    end (:meth:`flush`)."""

    def __init__(self, write: Callable[[list[T]], None]) -> None:
        self.items: list[T] = []
        self.write = write

    def add(self, item: T) -> None:
        self.items.append(item)
        if len(self.items) >= BATCH:
            self.flush()

    def flush(self) -> None:
        if self.items:
            self.write(self.items)
            self.items = []


class _Import:
    """One import's run: its files written batch by batch (or chunk by chunk) into the
    open transaction, each analysed as it is written, with the counts and progress."""

    def __init__(self, store: Store, scan: ScanId, total: int, progress: Progress | None):
        self.store = store
        self.scan = scan
        self.total = total
        self.progress = progress
        self.counts = _Counts()
        self.analysis: ImportAnalysis | None = None

    def files(
        self,
        files: Sequence[str],
        sizes: Sequence[int],
        read: Read,
        chunked: ChunkedImporter | None,
    ) -> int | None:
        """Import every file; the services the analysis wrote (None: no analysis)."""
        done_before = 0
        with ExitStack() as stack, _no_cyclic_gc():
            stager = None
            if chunked is not None:
                tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="mxcensus-import-"))
                threads = int(self.store.setting("threads"))
                now = datetime.now(UTC)  # the time of a record without one
                stager = stack.enter_context(
                    chunked.stager(threads=threads, memory=IMPORT_MEMORY, tmp=tmp, now=now)
                )
                # one file reused for every chunk, for DuckDB to read (see _Chunk.write)
                chunk_path = os.path.join(tmp, "chunk.json")
                chunk_file = stack.enter_context(open(chunk_path, "w+b"))
            for p, size in zip(files, sizes, strict=True):
                if chunked is not None and stager is not None:
                    _Chunked(self, chunked, stager, chunk_file, now).file(p, done_before)
                else:
                    self.one_file(read, p, done_before)
                done_before += size
        if self.analysis is None:
            return None
        return _finish_analysis(self.analysis, self.progress, self.counts, self.total)

    def one_file(self, read: Read, path: str, done_before: int) -> None:
        with _opened(path) as (stream, raw):
            report = self.reporter(path, done_before, raw)
            good, bad = self.consume(_guarded(read(stream, path), path), path, report)
            _check_file(path, good, bad)
            if report is not None:
                report(0)

    def reporter(self, path: str, done_before: int, raw: BinaryIO) -> Callable[[int], None] | None:
        """The progress callback for reading ``path`` (None: no progress asked for)."""
        if self.progress is None:
            return None
        return partial(_report, self.progress, path, done_before, self.total, self.counts, raw)

    def consume(
        self, items: Iterator[Item | DocItem], path: str, report: Callable[[int], None] | None
    ) -> tuple[int, ProblemAt | None]:
        """Write and analyse an importer's items; (records that imported or were skipped,
        the first malformed one)."""
        counts = self.counts
        batch = _Batch[Transcript](self.write)
        docs = _Batch[TranscriptDoc](self.write_docs)  # the same from a DocImporter
        last_line = -1
        file_good = 0
        file_bad: ProblemAt | None = None
        since = 0
        for line, item in items:
            if line != last_line:
                counts.records += 1
                last_line = line
                since += 1
            if isinstance(item, dict):
                docs.add(item)
                file_good += 1
            elif isinstance(item, Transcript):
                batch.add(item)
                file_good += 1
            elif isinstance(item, ImportProblem):
                at = self.problem(path, item)
                file_bad = file_bad or at
            elif isinstance(item, Skipped):
                counts.skipped += 1
                file_good += 1
            if report is not None and since >= _PROGRESS_EVERY:
                since = 0
                report(len(batch.items) + len(docs.items))
        batch.flush()
        docs.flush()
        return file_good, file_bad

    def problem(self, path: str, item: ImportProblem) -> ProblemAt:
        """Count a malformed record (and keep the first few)."""
        self.counts.malformed += 1
        at = ProblemAt(path=path, line=item.line, message=item.message)
        if len(self.counts.problems) < MAX_PROBLEMS_KEPT:
            self.counts.problems.append(at)
        return at

    def write_docs(self, docs: list[TranscriptDoc]) -> None:
        """One batch of transcripts in their stored form: written, then analysed."""
        stored = cast("list[StoredDoc]", docs)  # an importer writes serialize's form
        self.store.write_transcript_docs(self.scan, stored, seq=self.counts.seq)
        if self.analysis is not None:
            self.analysis.add(stored)
        self.written(len(docs))

    def write(self, batch: list[Transcript]) -> None:
        """One batch of transcripts: written, then analysed from the very JSON stored."""
        rows = [transcript_row(t) for t in batch]
        self.store.write_transcript_rows(self.scan, rows, seq=self.counts.seq)
        if self.analysis is not None:
            loads = orjson.loads
            self.analysis.add([loads(r[-1]) for r in rows])
        self.written(len(rows))

    def written(self, n: int) -> None:
        counts = self.counts
        counts.transcripts += n
        counts.seq += n
        counts.batches += 1
        if counts.batches % COMMIT_EVERY == 0:
            self.store.commit_point()

    def staged(self, staged: StagedChunk) -> None:
        """A staged chunk's transcripts, their fresh parts and services."""
        with stored(self.store, self.scan, staged, self.counts.seq) as queries:
            if staged.transcripts and self.analysis is not None:
                self.analysis.add_staged(queries)


def _report(
    progress: Progress,
    path: str,
    done_before: int,
    total: int,
    counts: _Counts,
    raw: BinaryIO,
    pending: int,
) -> None:
    progress(_progress(path, done_before + raw.tell(), total, counts, pending))


def _check_file(path: str, good: int, bad: ProblemAt | None) -> None:
    if good == 0 and bad is not None:
        raise WrongFormatError(
            path, f"no record could be imported; the first: line {bad.line}: {bad.message}"
        )


CHUNK_BYTES = 64 * 1024 * 1024
"""Bytes of a file the columnar path stages at a time (whole lines; ~50,000 Shodan
banners): large enough that per-chunk costs vanish, small enough for constant memory."""
COMMIT_CHUNKS = 4
"""Staged chunks per transaction (~200,000 records): enough rows that DuckDB writes each
table's appends straight to the file (from 122,880 rows on) instead of through its log.
Each commit is followed by a checkpoint, so the store's close has no whole import to fold
in at once."""


class _Chunked:
    """One file of a :class:`ChunkedImporter`, a chunk of whole lines at a time: each
    staged (and analysed) by SQL or, when it holds a record SQL cannot take exactly as the
    record-by-record path would, read record by record with its line numbers."""

    def __init__(
        self,
        run: _Import,
        importer: ChunkedImporter,
        stager: Stager,
        chunk_file: BinaryIO,
        now: datetime,
    ) -> None:
        self.run = run
        self.importer = importer
        self.stager = stager
        self.chunk_file = chunk_file
        self.now = now
        self.good = 0
        self.bad: ProblemAt | None = None
        self.seen = False  # a record was read (the first decides the format: read_json_lines)

    def file(self, path: str, done_before: int) -> None:
        line = 0
        with _opened(path) as (stream, raw):
            report = self.run.reporter(path, done_before, raw)
            buf = bytearray(CHUNK_BYTES)
            while True:
                chunk, rest = _read_chunk(stream, path, buf, self.importer)
                if not chunk.n and rest is None:
                    break
                staged = None
                # a byte order mark: DuckDB reads past one that starts its file, orjson not
                if rest is None and not chunk.has_bom():
                    chunk.write(self.chunk_file)
                    staged = self.stager.stage(self.chunk_file.name)
                if staged is not None:
                    self.columnar(staged)
                elif self.by_record(chunk, rest, stream, path, line, report):
                    break
                line += chunk.lines()
                if report is not None:
                    report(0)
        _check_file(path, self.good, self.bad)

    def columnar(self, staged: StagedChunk) -> None:
        run, counts = self.run, self.run.counts
        run.staged(staged)
        self.stager.stored()
        counts.columnar += 1
        if counts.columnar % COMMIT_CHUNKS == 0:
            run.store.commit_point(checkpoint=True)
        counts.records += staged.records
        counts.transcripts += staged.transcripts
        counts.seq += staged.records  # its rids count every record of the chunk
        counts.skipped += staged.records - staged.transcripts
        self.good += staged.records
        self.seen = self.seen or staged.records > 0

    def by_record(
        self,
        chunk: _Chunk,
        rest: bytes | None,
        stream: BinaryIO,
        path: str,
        line: int,
        report: Callable[[int], None] | None,
    ) -> bool:
        """Import ``chunk`` record by record; whether the file ends with it (``rest``: a
        line longer than MAX_LINE follows, read line by line with the rest of the file)."""
        data = chunk.data()
        stream_of: BinaryIO = io.BytesIO(data)
        if rest is not None:
            stream_of = cast(BinaryIO, _Chained(data + rest, stream))
        first = not self.seen
        items = self.importer.read_docs(stream_of, path, ReadAt(line, first, self.now))
        g, b = self.run.consume(_guarded(items, path), path, report)
        self.good += g
        self.bad = self.bad or b
        self.seen = self.seen or g > 0 or b is not None
        return rest is not None


_BOM = b"\xef\xbb\xbf"


@dataclass(slots=True)
class _Chunk:
    """Whole lines of a file: the first ``n`` bytes of ``buf``, one buffer reused from chunk
    to chunk, then ``tail``, the rest of the last line. A fresh 64 MB object per chunk, and
    another to append the tail, cost ~1.5 µs a record in allocation and copies."""

    buf: bytearray
    n: int
    tail: bytes

    def lines(self) -> int:
        return self.buf.count(b"\n", 0, self.n) + self.tail.count(b"\n")

    def has_bom(self) -> bool:
        """A byte order mark anywhere. Found by its first byte first (memchr: ~0.1 µs a
        record, where searching for the whole mark costs ~1 µs), which text escaped to
        ASCII, as Shodan writes it, never holds."""
        i = self.buf.find(b"\xef", 0, self.n)
        if i >= 0 and self.buf.find(_BOM, i, self.n) >= 0:
            return True
        return _BOM in bytes(self.buf[max(0, self.n - 2) : self.n]) + self.tail[:2] or (
            _BOM in self.tail
        )

    def write(self, fh: BinaryIO) -> None:
        """Overwrite ``fh`` with the chunk (the same file for every chunk: its pages are
        reused, not freed and allocated again)."""
        fh.seek(0)
        fh.write(memoryview(self.buf)[: self.n])
        fh.write(self.tail)
        fh.truncate()
        fh.flush()

    def data(self) -> bytes:
        return bytes(memoryview(self.buf)[: self.n]) + self.tail


def _read_chunk(
    stream: BinaryIO, path: str, buf: bytearray, importer: DocImporter
) -> tuple[_Chunk, bytes | None]:
    """The next whole lines of ``stream``, about :data:`CHUNK_BYTES` of them, read into
    ``buf``; and, as a rule None, the start of a line longer than MAX_LINE that follows
    them. A read error is the import error the record-by-record path gives for it (the
    file is read again to find its line)."""
    try:
        n = cast(io.BufferedIOBase, stream).readinto(buf)
        if n == 0 or buf[n - 1] == 0x0A:
            return _Chunk(buf, n, b""), None
        tail = stream.readline(MAX_LINE)
    except (EOFError, OSError, zlib.error):
        _raise_read_error(path, importer)
        raise
    if len(tail) >= MAX_LINE and not tail.endswith(b"\n"):
        cut = buf.rfind(b"\n", 0, n) + 1
        return _Chunk(buf, cut, b""), bytes(buf[cut:n]) + tail
    return _Chunk(buf, n, tail), None


def _raise_read_error(path: str, importer: DocImporter) -> None:
    """Raise the error :func:`_guarded` raises reading ``path`` record by record."""
    with _opened(path) as (stream, _raw):
        for _ in _guarded(importer.read_docs(stream, path), path):
            pass


class _Chained:
    """``head`` then the rest of ``stream``, for :func:`read_json_lines`' readline."""

    def __init__(self, head: bytes, stream: BinaryIO) -> None:
        self._head = io.BytesIO(head)
        self._stream = stream

    def readline(self, limit: int = -1) -> bytes:
        got = self._head.readline(limit)
        if got.endswith(b"\n") or (limit >= 0 and len(got) >= limit):
            return got
        more = self._stream.readline(limit - len(got) if limit >= 0 else -1)
        return got + more


@contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """The cycle collector paused while records stream in: a batch holds thousands of
    acyclic containers (parsed JSON, documents) that reference counting frees, and the
    collector walking them again and again cost ~12% of the import (bench/import_speed.py).
    Restored, and a collection run, afterwards."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()
            gc.collect()


def _progress(path: str, done: int, total: int, counts: _Counts, pending: int) -> ImportProgress:
    return ImportProgress(
        path=path,
        bytes_done=min(done, total),
        bytes_total=total,
        records=counts.records,
        transcripts=counts.transcripts + pending,
        malformed=counts.malformed,
    )


def _validate(read: Callable[[BinaryIO, str], Iterator[Item | DocItem]], path: str) -> None:
    """--strict: the whole file, parsed and thrown away; the first malformed record stops it."""
    with _opened(path) as (stream, _raw):
        for _line, item in _guarded(read(stream, path), path):
            if isinstance(item, ImportProblem):
                raise MalformedRecordError(
                    path, f"{item.message} (--strict: nothing was imported)", item.line
                )


def _first_item(items: Iterator[Item | DocItem], path: str) -> bool:
    """Whether the importer yields anything at all (a record, a problem or a skip)."""
    for _ in _guarded(items, path):
        return True
    return False


def _guarded(items: Iterator[Item | DocItem], path: str) -> Iterator[Item | DocItem]:
    """The importer's items, with read failures of the underlying file as import errors."""
    line = 0
    try:
        for item in items:
            line = item[0]
            yield item
    except EOFError as exc:
        raise UnreadableInputError(
            path, f"truncated gzip: the file ends early after line {line} ({exc})", line + 1
        ) from exc
    except (gzip.BadGzipFile, zlib.error) as exc:
        raise UnreadableInputError(path, f"corrupt gzip data: {exc}", line + 1) from exc
    except OSError as exc:
        raise UnreadableInputError(path, f"cannot read: {exc.strerror or exc}", line + 1) from exc


def _check_readable(path: str) -> int:
    p = Path(path)
    try:
        st = p.stat()
    except FileNotFoundError as exc:
        raise UnreadableInputError(path, "no such file") from exc
    except OSError as exc:
        raise UnreadableInputError(path, f"cannot read: {exc.strerror}") from exc
    if not p.is_file():
        raise UnreadableInputError(path, "not a regular file")
    if not os.access(p, os.R_OK):
        raise UnreadableInputError(path, "permission denied")
    return st.st_size


@contextmanager
def _opened(path: str) -> Iterator[tuple[BinaryIO, BinaryIO]]:
    """(stream of the content, the raw file for progress): gzip is recognised by magic."""
    try:
        raw = io.BufferedReader(io.FileIO(path, "rb"), buffer_size=1 << 20)
    except OSError as exc:
        raise UnreadableInputError(path, f"cannot open: {exc.strerror}") from exc
    try:
        magic = raw.peek(2)[:2]
        if magic == b"\x1f\x8b":
            # GzipFile buffers little, so a truncated file fails near the line it cuts
            with gzip.GzipFile(fileobj=raw, mode="rb") as gz:
                yield cast(BinaryIO, gz), raw
        else:
            yield raw, raw
    finally:
        raw.close()


def _finish_analysis(
    analysis: ImportAnalysis, progress: Progress | None, counts: _Counts, total: int
) -> int:
    """The hosts an import spread over several batches, analysed again as wholes."""

    def analysed(done: int) -> None:
        if progress is not None:
            progress(
                ImportProgress(
                    path="",
                    bytes_done=total,
                    bytes_total=total,
                    records=counts.records,
                    transcripts=counts.transcripts,
                    malformed=counts.malformed,
                    phase="analyse",
                    services=done,
                )
            )

    return analysis.finish(progress=analysed)


def _discard(store: Store, scan: ScanId) -> None:
    """Remove what the committed parts of a failed import wrote: the store is as it was.
    When that fails too (a full disk invalidates the database), the error that failed the
    import is the one to report: the next open for writing marks the import failed and
    removes its rows (:meth:`Store.open`), so this says so at debug level only."""
    try:
        store.discard_scan(scan)
    except duckdb.Error as exc:
        log.debug("could not remove the unfinished import %s now: %s", scan, exc)


__all__ = [
    "BATCH",
    "ImportInputError",
    "ImportProgress",
    "ImportResult",
    "ProblemAt",
    "import_files",
]
