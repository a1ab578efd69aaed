"""The export formats: one class each, one registry line each."""

from __future__ import annotations

from typing import BinaryIO

import pyarrow.parquet as pq

from mxcensus.errors import UsageError
from mxcensus.export.interface import ExportError, ExportFormat
from mxcensus.export.rows import BATCH, FINDINGS_CTE, FLAT_COLUMNS, FLAT_SQL, stream
from mxcensus.export.safe import write_csv
from mxcensus.export.shadowserver import SHADOWSERVER_COLUMNS, shadowserver_rows
from mxcensus.model import ScanId
from mxcensus.store.db import Store


class JsonlFormat:
    """One JSON record per line (``Store.iter_record_texts``), the schema of
    ``schema/record.schema.json`` (its ``schema`` field is the version)."""

    name = "jsonl"

    def write(self, store: Store, scan: ScanId, out: BinaryIO) -> int:
        n = 0
        for record in store.iter_record_texts(scan):
            out.write(record + b"\n")
            n += 1
        return n


class CsvFormat:
    """Flat columns, findings as ``CVE:status;…``; formula-leading cells neutralised."""

    name = "csv"

    def write(self, store: Store, scan: ScanId, out: BinaryIO) -> int:
        return write_csv(out, FLAT_COLUMNS, stream(store, FLAT_SQL, scan))


class ParquetFormat:
    """Typed columns (the flat ones, evidence as a list, findings as a list of structs),
    written by pyarrow from DuckDB's Arrow batches, never a row at a time."""

    name = "parquet"

    SQL = f"""
        WITH {FINDINGS_CTE}
        SELECT s.scan, s.ip, s.port, s.protocol, s.transport, s.observed_at, s.outcome,
               s.source, s.hostname, s.vendor, s.product, s.product_line, s.version,
               s.precision, s.release, s.confidence, s.distro, s.evidence,
               s.worst_status AS verdict, s.kev, s.eol, s.eol_line, s.eol_date,
               coalesce(fnd.cve_list, []) AS cves, s.country, s.continent, s.region,
               s.asn, s.org, s.city, s.banner
        FROM services s LEFT JOIN fnd ON fnd.ip = s.ip AND fnd.port = s.port
        WHERE s.scan = $scan
        ORDER BY s.ip, s.port, s.protocol
    """

    def write(self, store: Store, scan: ScanId, out: BinaryIO) -> int:
        reader = store.con.cursor().sql(self.SQL, params={"scan": scan}).to_arrow_reader(BATCH)
        if reader is None:
            raise ExportError(f"scan {scan}: DuckDB returned no Arrow stream")
        n = 0
        with pq.ParquetWriter(out, reader.schema, compression="zstd") as writer:
            for batch in reader:
                writer.write_batch(batch)
                n += batch.num_rows
        return n


class ShadowserverFormat:
    """Shadowserver-compatible CSV: their 14-column common prefix, then ``version``,
    ``servername``, ``url`` (as in their Vulnerable Exchange Server report) and ``banner``
    (as in Accessible/Vulnerable SMTP, IMAP, POP3); exposed services only."""

    name = "shadowserver"

    def write(self, store: Store, scan: ScanId, out: BinaryIO) -> int:
        return write_csv(out, SHADOWSERVER_COLUMNS, shadowserver_rows(store, scan))


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


def export_scan(store: Store, scan_ref: str | None, fmt: str, out: BinaryIO) -> int:
    """Resolve SCAN (id, name, or the newest when None) and write it in ``fmt``."""
    exporter = get_format(fmt)
    scan = store.resolve_scan(scan_ref)
    return exporter.write(store, scan, out)
