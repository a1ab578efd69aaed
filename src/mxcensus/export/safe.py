"""CSV cells that spreadsheets will not execute (OWASP "CSV injection")."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any, BinaryIO

from mxcensus.report.text import visible

FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> str:
    """Text starting with = + - @ TAB or CR gets a leading apostrophe, so no spreadsheet
    reads it as a formula; control characters (ANSI escapes included) are written as
    visible escapes (``\\x1b``); numbers stay numbers, None is the empty cell, booleans
    are ``true``/``false``."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    text = str(value)
    lead = text.startswith(FORMULA_LEADS)
    text = visible(text, limit=None)
    return "'" + text if lead or text.startswith(FORMULA_LEADS) else text


def write_csv(out: BinaryIO, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """Header and rows as UTF-8 CSV (RFC 4180 quoting, CRLF), every cell neutralised."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow([csv_cell(h) for h in header])
    n = 0
    for row in rows:
        w.writerow([csv_cell(v) for v in row])
        n += 1
        if n % 10_000 == 0:
            out.write(buf.getvalue().encode("utf-8"))
            buf.seek(0)
            buf.truncate()
    out.write(buf.getvalue().encode("utf-8"))
    return n
