"""Report formats: one module each, one registry line each."""

from __future__ import annotations

from mxcensus.errors import UsageError
from mxcensus.report.formats.csv import CsvFormat
from mxcensus.report.formats.html import HtmlFormat
from mxcensus.report.formats.json import JsonFormat
from mxcensus.report.formats.table import TableFormat
from mxcensus.report.interface import ReportFormat

FORMATS: dict[str, type[CsvFormat] | type[HtmlFormat] | type[JsonFormat] | type[TableFormat]] = {
    f.name: f for f in (TableFormat, JsonFormat, CsvFormat, HtmlFormat)
}


def get_format(name: str, *, width: int = 120, color: bool = False) -> ReportFormat:
    if name == "table":
        return TableFormat(width=width, color=color)
    cls = FORMATS.get(name)
    if cls is None:
        raise UsageError(
            f"--format {name!r}: unknown report format; choose from {', '.join(FORMATS)}"
        )
    return cls()
