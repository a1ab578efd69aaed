"""The entry points of ``mxcensus report`` and ``mxcensus trend``."""

from __future__ import annotations

from mxcensus.report.fields import parse_by
from mxcensus.report.formats import get_format
from mxcensus.report.query import build_report
from mxcensus.report.trend import build_trend, series
from mxcensus.store.db import Store


def render_report(
    store: Store,
    scan_ref: str | None,
    by: str,
    fmt: str,
    *,
    width: int = 120,
    color: bool = False,
) -> bytes:
    """``mxcensus report``: the HTML format adds the full picture (EoL per product line,
    per CVE, per continent and country with the world map, services at risk)."""
    formatter = get_format(fmt, width=width, color=color)
    fields = parse_by(by)
    scan = store.resolve_scan(scan_ref)
    return formatter.render(build_report(store, scan, fields, full=fmt == "html"))


def render_trend(
    store: Store,
    from_: str | None,
    to: str | None,
    by: str,
    fmt: str,
    *,
    width: int = 120,
    color: bool = False,
) -> bytes:
    formatter = get_format(fmt, width=width, color=color)
    fields = parse_by(by)
    return formatter.render(build_trend(store, series(store, from_, to), fields))
