"""The entry points of ``mxcensus report`` and ``mxcensus trend``: written to a binary
stream as the document is rendered (the breakdown's rows stream from the store), or
returned as bytes."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import BinaryIO, Unpack

from mxcensus.report.document import Document
from mxcensus.report.fields import Field, parse_by
from mxcensus.report.formats import Look, get_format
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
    **look: Unpack[Look],
) -> None:
    """``mxcensus report``: the HTML format adds the full picture (EoL per product line,
    per CVE, per continent and country with the world map, services at risk)."""

    def build(reader: Reader, fields: tuple[Field, ...]) -> Document:
        return build_report(reader, reader.resolve_scan(scan_ref), fields, full=fmt == "html")

    _write(source, by, fmt, out, look, build)


def write_trend(
    source: Store | Reader,
    from_: str | None,
    to: str | None,
    by: str,
    fmt: str,
    out: BinaryIO,
    **look: Unpack[Look],
) -> None:
    def build(reader: Reader, fields: tuple[Field, ...]) -> Document:
        return build_trend(reader, series(reader, from_, to), fields)

    _write(source, by, fmt, out, look, build)


def _write(
    source: Store | Reader,
    by: str,
    fmt: str,
    out: BinaryIO,
    look: Look,
    build: Callable[[Reader, tuple[Field, ...]], Document],
) -> None:
    """The format and the fields checked first, then the document built and written under
    the report's memory bound."""
    formatter = get_format(fmt, **look)
    fields = parse_by(by)
    reader = reader_of(source)
    with reader.bounded_memory(REPORT_MEMORY, threads=None):
        formatter.write(build(reader, fields), out)


def render_report(
    source: Store | Reader, scan_ref: str | None, by: str, fmt: str, **look: Unpack[Look]
) -> bytes:
    """:func:`write_report` into bytes."""
    buf = io.BytesIO()
    write_report(source, scan_ref, by, fmt, buf, **look)
    return buf.getvalue()
