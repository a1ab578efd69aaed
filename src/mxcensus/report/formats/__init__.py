"""Report formats: one module each, one registry line each."""

from __future__ import annotations

from typing import TypedDict, Unpack

from mxcensus.errors import UsageError
from mxcensus.report.formats.csv import CsvFormat
from mxcensus.report.formats.html import HtmlFormat
from mxcensus.report.formats.json import JsonFormat
from mxcensus.report.formats.table import TableFormat
from mxcensus.report.interface import ReportFormat

FORMATS: dict[str, type[CsvFormat] | type[HtmlFormat] | type[JsonFormat] | type[TableFormat]] = {
    f.name: f for f in (TableFormat, JsonFormat, CsvFormat, HtmlFormat)
}


class Look(TypedDict, total=False):
    """How the table format draws (its defaults when absent); the other formats ignore it."""

    width: int
    color: bool


def get_format(name: str, **look: Unpack[Look]) -> ReportFormat:
    if name == "table":
        return TableFormat(**look)
    cls = FORMATS.get(name)
    if cls is None:
        raise UsageError(
            f"--format {name!r}: unknown report format; choose from {', '.join(FORMATS)}"
        )
    return cls()
