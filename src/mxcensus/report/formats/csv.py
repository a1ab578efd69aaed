"""CSV: the primary table (the one ``--by`` asked for), formula cells neutralised, rows
streamed from the store."""

from __future__ import annotations

from typing import BinaryIO

from mxcensus.output.csv import write_csv
from mxcensus.report.document import Document
from mxcensus.report.interface import Renders


class CsvFormat(Renders):
    name = "csv"

    def write(self, doc: Document, out: BinaryIO) -> None:
        s = doc.primary
        write_csv(out, s.columns, s.rows)
