"""The export formats: one class each, one registry line each. Each streams the services
of a :class:`~mxcensus.store.filters.Filter` from the store's reader in batches, so an
export of any size holds one batch at a time."""

from __future__ import annotations

from itertools import chain
from typing import BinaryIO

from mxcensus.errors import UsageError
from mxcensus.export.interface import ExportError, ExportFormat
from mxcensus.output.csv import write_csv
from mxcensus.store.db import Store
from mxcensus.store.filters import Filter
from mxcensus.store.queries import Reader
from mxcensus.store.results import FLAT_COLUMNS
from mxcensus.text import json_safe


class JsonlFormat:
    """One JSON record per line (``Reader.record_texts``), the schema of
    ``schema/record.schema.json`` (its ``schema`` field is the version); unsafe characters
    in its strings as JSON escapes."""

    name = "jsonl"
    media_type = "application/x-ndjson"
    suffix = "jsonl"

    def write(self, reader: Reader, f: Filter, out: BinaryIO) -> int:
        n = 0
        for batch in reader.record_texts(f):
            out.write(b"".join(json_safe(r) + b"\n" for r in batch))
            n += len(batch)
        return n


class CsvFormat:
    """Flat columns, findings as ``CVE:status;…``; formula-leading cells neutralised."""

    name = "csv"
    media_type = "text/csv; charset=utf-8"
    suffix = "csv"

    def write(self, reader: Reader, f: Filter, out: BinaryIO) -> int:
        return write_csv(out, FLAT_COLUMNS, chain.from_iterable(reader.flat_rows(f)))


class ParquetFormat:
    """Typed columns (the flat ones, evidence as a list, findings as a list of structs),
    written by pyarrow from DuckDB's Arrow batches, never a row at a time."""

    name = "parquet"
    media_type = "application/vnd.apache.parquet"
    suffix = "parquet"

    def write(self, reader: Reader, f: Filter, out: BinaryIO) -> int:
        import pyarrow.parquet as pq

        batches = reader.arrow_batches(f)
        if batches is None:
            raise ExportError("DuckDB returned no Arrow stream")
        n = 0
        with pq.ParquetWriter(out, batches.schema, compression="zstd") as writer:
            for batch in batches:
                writer.write_batch(batch)
                n += batch.num_rows
        return n


class ShadowserverFormat:
    """Shadowserver's report files, one per report type (``shadowserver.export_reports``:
    ``export -o DIR``, or ``--report TYPE`` for one); not a single stream (a download is a
    zip of them)."""

    name = "shadowserver"
    media_type = "application/zip"
    suffix = "shadowserver.zip"

    def write(self, reader: Reader, f: Filter, out: BinaryIO) -> int:
        raise UsageError(
            "--format shadowserver writes one file per report type: give -o DIR,"
            " or --report TYPE for one report on stdout"
        )


FORMATS: dict[str, type[ExportFormat]] = {
    f.name: f for f in (JsonlFormat, CsvFormat, ParquetFormat, ShadowserverFormat)
}


def get_format(name: str) -> ExportFormat:
    cls = FORMATS.get(name)
    if cls is None:
        raise UsageError(
            f"--format {name!r}: unknown export format; choose from {', '.join(FORMATS)}"
        )
    return cls()


def export_scan(
    source: Store | Reader,
    scan_ref: str | None,
    fmt: str,
    out: BinaryIO,
    *,
    all_outcomes: bool = False,
) -> int:
    """Resolve SCAN (id, name, or the newest when None) and write its services in ``fmt``,
    under a bounded DuckDB memory (the ordered read spills to disk). A service is a port
    that accepted a connection, as in Shodan, Censys or Shadowserver data; ``all_outcomes``
    adds a record per port that never did (refused, unreachable, connect-timeout,
    excluded) — the scan's whole coverage."""
    exporter = get_format(fmt)
    reader = source.reader() if isinstance(source, Store) else source
    scan = reader.resolve_scan(scan_ref)
    with reader.bounded_memory():
        return exporter.write(reader, Filter(scans=(scan,), exposed=not all_outcomes), out)
