"""CSV: the primary table (the one ``--by`` asked for), formula cells neutralised."""

from __future__ import annotations

import csv
import io

from mxcensus.report.document import Document, Value

FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Value) -> str:
    """A cell spreadsheets will not run: text starting with = + - @ TAB or CR gets a leading
    apostrophe (OWASP's CSV-injection advice); numbers stay numbers, None is empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    text = str(value)
    if text.startswith(FORMULA_LEADS):
        return "'" + text
    return text


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
