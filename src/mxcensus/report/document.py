"""What every report format renders: a titled document of sections, each one table.

Reports and trends build a :class:`Document` from SQL results; formats (table, json, csv,
html) only render it. Values are plain Python scalars (str, int, float, bool, None) — any
text in them may come from a server banner and is hostile until a format escapes it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Value = str | int | float | bool | None

IDENTIFIERS = frozenset({"asn", "port"})
"""Integer columns that are names, not counts: shown without thousands separators."""


@dataclass(frozen=True, slots=True)
class Chart:
    """How the HTML format draws a section: horizontal bars or a country choropleth.

    ``label`` names the column that labels a bar (or holds the ISO country code for a map);
    ``values`` the numeric columns drawn (stacked bars, or the one value a map shades by).
    """

    kind: Literal["bars", "map"]
    label: str
    values: tuple[str, ...]
    also: tuple[str, ...] = ()  # further key columns joined into a bar's label


@dataclass(frozen=True, slots=True)
class Section:
    key: str  # machine name, stable: "groups", "eol_by_product_line", "churn" …
    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Value, ...], ...]
    notes: tuple[str, ...] = ()  # definitions and denominators for this table
    chart: Chart | None = None

    def as_dicts(self) -> list[dict[str, Value]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


@dataclass(frozen=True, slots=True)
class Document:
    kind: str  # "report" or "trend"
    title: str
    meta: tuple[tuple[str, Value], ...]  # scan ids, dates, totals, shown first
    definitions: tuple[str, ...]  # the counting rules, printed with every format
    sections: tuple[Section, ...] = field(default=())

    @property
    def primary(self) -> Section:
        """The table the user asked for (``--by``); CSV writes this one."""
        return self.sections[0]
