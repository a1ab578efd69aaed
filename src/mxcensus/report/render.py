"""The entry points of ``mxcensus report`` and ``mxcensus trend``: written to a binary
stream as the document is rendered (the breakdown's rows stream from the store), or
returned as bytes."""

from __future__ import annotations

import io
from typing import BinaryIO

from mxcensus.report.fields import parse_by
from mxcensus.report.formats import get_format
from mxcensus.report.query import build_report, reader_of
from mxcensus.report.trend import build_trend, series
from mxcensus.store.db import Store
from mxcensus.store.queries import Reader

REPORT_MEMORY = "256MB"
"""DuckDB's memory for a report or trend: its aggregations spill beyond it, so a report's
memory does not grow with the census (all threads kept: the counts run in parallel)."""


def write_report(
    source: Store | Reader,
    scan_ref: str | None,
    by: str,
    fmt: str,
    out: BinaryIO,
    *,
    width: int = 120,
    color: bool = False,
) -> None:
    """``mxcensus report``: the HTML format adds the full picture (EoL per product line,
    per CVE, per continent and country with the world map, services at risk)."""
    formatter = get_format(fmt, width=width, color=color)
    fields = parse_by(by)
    reader = reader_of(source)
    scan = reader.resolve_scan(scan_ref)
    with reader.bounded_memory(REPORT_MEMORY, threads=None):
        formatter.write(build_report(reader, scan, fields, full=fmt == "html"), out)


def write_trend(
    source: Store | Reader,
    from_: str | None,
    to: str | None,
    by: str,
    fmt: str,
    out: BinaryIO,
    *,
    width: int = 120,
    color: bool = False,
) -> None:
    formatter = get_format(fmt, width=width, color=color)
    fields = parse_by(by)
    reader = reader_of(source)
    with reader.bounded_memory(REPORT_MEMORY, threads=None):
        formatter.write(build_trend(reader, series(reader, from_, to), fields), out)


def render_report(
    source: Store | Reader,
    scan_ref: str | None,
    by: str,
    fmt: str,
    *,
    width: int = 120,
    color: bool = False,
) -> bytes:
    """:func:`write_report` into bytes."""
    buf = io.BytesIO()
    write_report(source, scan_ref, by, fmt, buf, width=width, color=color)
    return buf.getvalue()
