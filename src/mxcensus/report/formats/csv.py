"""CSV: the primary table (the one ``--by`` asked for), formula cells neutralised."""

from __future__ import annotations

import csv
import io

from mxcensus.export.safe import csv_cell
from mxcensus.report.document import Document, Value


def write_csv_rows(
    out: io.StringIO, columns: tuple[str, ...], rows: list[tuple[Value, ...]]
) -> None:
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow([csv_cell(c) for c in columns])
    for r in rows:
        w.writerow([csv_cell(v) for v in r])


class CsvFormat:
    name = "csv"

    def __init__(self) -> None:
        pass

    def render(self, doc: Document) -> bytes:
        out = io.StringIO()
        s = doc.primary
        write_csv_rows(out, s.columns, list(s.rows))
        return out.getvalue().encode("utf-8")
