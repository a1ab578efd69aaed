"""CSV cells that spreadsheets will not execute (OWASP "CSV injection") and that show every
unsafe character as a visible escape; rows streamed to a binary file."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any, BinaryIO

from mxcensus.text import escape

FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")


_LEADS = frozenset(FORMULA_LEADS)


def csv_cell(value: Any) -> str:
    """Text starting with = + - @ TAB or CR gets a leading apostrophe, so no spreadsheet
    reads it as a formula; control and format characters (ANSI escapes, bidi overrides,
    zero-width marks: :mod:`mxcensus.text`) are written as visible escapes (``\\x1b``,
    ``\\u200f``); numbers stay numbers, None is the empty cell, booleans are
    ``true``/``false``."""
    if value.__class__ is str:  # the common cell: printable text, no formula lead
        if value.isprintable() and value[:1] not in _LEADS:
            return value
        lead = value.startswith(FORMULA_LEADS)
        text = escape(value)
        return "'" + text if lead or text.startswith(FORMULA_LEADS) else text
    if value is None:
        return ""
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return csv_cell(str(value))


FLUSH_ROWS = 10_000


def write_csv(
    out: BinaryIO, header: Sequence[str], rows: Iterable[Sequence[Any]], *, delimiter: str = ","
) -> int:
    """Header and rows as UTF-8 CSV (RFC 4180 quoting, CRLF), every cell neutralised,
    written every :data:`FLUSH_ROWS` rows; returns the number of rows. A tab ``delimiter``
    is safe too: a tab inside a cell is written as its escape (``\\t``)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n", delimiter=delimiter)
    w.writerow([csv_cell(h) for h in header])
    n = 0
    cell = csv_cell
    for row in rows:
        w.writerow([v if v is None else cell(v) for v in row])  # csv writes None as ""
        n += 1
        if n % FLUSH_ROWS == 0:
            out.write(buf.getvalue().encode("utf-8"))
            buf.seek(0)
            buf.truncate()
    out.write(buf.getvalue().encode("utf-8"))
    return n
