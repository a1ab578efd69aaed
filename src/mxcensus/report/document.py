"""What every report format renders: a titled document of sections, each one table.

Reports and trends build a :class:`Document` from SQL results; formats (table, json, csv,
html) only render it. Values are plain Python scalars (str, int, float, bool, None) — any
text in them may come from a server banner and is hostile until a format escapes it. A
section's rows are a tuple, or :class:`StreamedRows` read from the store as a format writes
them (a breakdown may have as many rows as the census has versions × countries × networks).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
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


class StreamedRows:
    """Rows produced afresh each time they are iterated (``produce`` runs the query), so a
    format can stream them to its output; a result of at most :data:`KEEP` rows is kept
    after the first pass and not queried again."""

    KEEP = 10_000

    def __init__(self, produce: Callable[[], Iterable[tuple[Value, ...]]]) -> None:
        self._produce = produce
        self._kept: tuple[tuple[Value, ...], ...] | None = None

    def __iter__(self) -> Iterator[tuple[Value, ...]]:
        if self._kept is not None:
            yield from self._kept
            return
        rows = iter(self._produce())
        head = tuple(islice(rows, self.KEEP + 1))
        if len(head) <= self.KEEP:
            self._kept = head
            yield from head
            return
        yield from head
        yield from rows


Rows = tuple[tuple[Value, ...], ...] | StreamedRows


@dataclass(frozen=True, slots=True)
class Section:
    key: str  # machine name, stable: "groups", "eol_by_product_line", "churn" …
    title: str
    columns: tuple[str, ...]
    rows: Rows
    notes: tuple[str, ...] = ()  # definitions and denominators for this table
    chart: Chart | None = None
    # how a terminal table names the columns (default: from ``columns``), and which
    # columns it may leave out when the terminal is narrow (they stay in json, csv, html)
    headers: tuple[str, ...] = ()
    optional: frozenset[str] = frozenset()

    def dicts(self) -> Iterator[dict[str, Value]]:
        for row in self.rows:
            yield dict(zip(self.columns, row, strict=True))

    def as_dicts(self) -> list[dict[str, Value]]:
        return list(self.dicts())

    def has_rows(self) -> bool:
        return next(iter(self.rows), None) is not None


@dataclass(frozen=True, slots=True)
class Document:
    kind: str  # "report" or "trend"
    title: str
    meta: tuple[tuple[str, Value], ...]  # scan ids, dates, totals, shown first
    definitions: tuple[str, ...]  # the counting rules, printed with every format
    sections: tuple[Section, ...] = field(default=())
    headline: tuple[tuple[str, Value], ...] = ()  # the few numbers a reader wants first

    @property
    def primary(self) -> Section:
        """The table the user asked for (``--by``); CSV writes this one."""
        return self.sections[0]
