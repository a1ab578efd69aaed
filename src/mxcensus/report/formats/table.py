"""Terminal tables with rich. Every cell is a plain ``Text`` (never markup) with control and
formatting characters shown as visible escapes (:mod:`mxcensus.text`). A table longer
than :data:`MAX_ROWS` shows its top rows and says how many more there are and how to get
them, so a breakdown by three fields stays a page, not hundreds of thousands of lines.

Tables read at any width down to 80 columns: a header is never split inside a word, and
numbers are right-aligned. The layout is chosen per table (:func:`plan`): the full column
names if every column fits at its narrowest (headers wrapped only at spaces, numbers whole,
text wrapped at spaces); else the short names of :data:`SHORT`, explained in a legend;
else without the section's optional columns (they stay in json, csv and html); else one
block per row (a vertical layout) — never a table squeezed until its words break.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import islice
from typing import BinaryIO

from rich import box
from rich.console import Console
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from mxcensus.report.document import Document, Section, Value
from mxcensus.report.interface import Renders
from mxcensus.report.names import LABELS, UNKNOWN_NOTE, UNKNOWN_PRODUCT, shown
from mxcensus.text import visible

MAX_ROWS = 100
WORD_CAP = 24
"""A text column is at least as wide as its longest word, up to this (longer words — a
hostname, a banner token — are folded, headers never)."""
TEXT_FIRST = 22
GAP = 2
"""Spaces between two columns (the table has no vertical rules)."""

SHORT: dict[str, tuple[str, str]] = {
    "vulnerable": ("vuln", "vulnerable"),
    "potentially-vulnerable": ("pot. vuln", "potentially vulnerable"),
    "end-of-support": ("EoS", "end of support"),
    "% of services": ("% svc", "% of services"),
    "% of hosts": ("% hosts", "% of hosts"),
    "services": ("svc", "services"),
    "at risk in the first scan": ("at risk first", "at risk in the first scan"),
    "at risk in the last scan": ("at risk last", "at risk in the last scan"),
}
"""Short terminal names of long column names, and what the legend says they mean."""


def cell(value: Value, column: str = "") -> Text:
    text = shown(value, column)
    return Text("—", style="dim") if text is None else Text(text)


def display_name(column: str) -> str:
    """A column as a person reads it: ``product_line`` → ``product line``."""
    return column.replace("_", " ")


@dataclass(frozen=True, slots=True)
class Layout:
    columns: tuple[int, ...]  # indices of the columns shown
    headers: tuple[str, ...]
    widths: tuple[int, ...]
    numeric: tuple[bool, ...]
    legend: tuple[str, ...]  # "vuln = vulnerable", … for the short names used
    left_out: tuple[str, ...]  # optional columns not shown


def _longest_word(text: str) -> int:
    return max((len(w) for w in text.split()), default=0)


def plan(s: Section, cells: Sequence[Sequence[Text]], width: int) -> Layout | None:
    """The first layout (see the module) whose narrowest widths fit ``width``; None:
    use the vertical layout."""
    full = s.headers or tuple(display_name(c) for c in s.columns)
    n = len(s.columns)
    numeric = tuple(
        all(isinstance(r[i], int | float) or r[i] is None for r in _raw(s, cells))
        and any(r[i] is not None for r in _raw(s, cells))
        for i in range(n)
    )
    shown = tuple(range(n))
    narrow = tuple(i for i in shown if s.columns[i] not in s.optional)
    short = tuple(SHORT[c][0] if c in SHORT else h for c, h in zip(s.columns, full, strict=True))
    for headers, cols in ((full, shown), (short, shown), (short, narrow)):
        low, high = [], []
        for i in cols:
            texts = [row[i].plain for row in cells]
            natural = max([len(headers[i]), *(len(t) for t in texts)])
            if numeric[i]:
                least = max([_longest_word(headers[i]), *(len(t) for t in texts)])
            else:
                words = max([0, *(min(_longest_word(t), WORD_CAP) for t in texts)])
                least = max(_longest_word(headers[i]), words)
            low.append(least)
            high.append(max(natural, least))
        room = width - GAP * (len(cols) - 1)
        if sum(low) > room:
            continue
        widths = _spread(low, high, room, [numeric[i] for i in cols])
        legend = tuple(
            f"{SHORT[s.columns[i]][0]} = {SHORT[s.columns[i]][1]}"
            for i in cols
            if headers[i] != full[i] and s.columns[i] in SHORT
        )
        left = tuple(full[i] for i in shown if i not in cols)
        return Layout(
            cols, tuple(headers[i] for i in cols), widths,
            tuple(numeric[i] for i in cols), legend, left,
        )  # fmt: skip
    return None


def _raw(s: Section, cells: Sequence[Sequence[Text]]) -> list[tuple[Value, ...]]:
    # the values behind ``cells`` (kept on the section's first rows)
    return list(islice(iter(s.rows), len(cells)))


def _spread(low: list[int], high: list[int], room: int, numeric: Sequence[bool]) -> tuple[int, ...]:
    """Widths from the narrowest towards the natural ones: text columns first grow to
    :data:`TEXT_FIRST` (a product name on one line), then the room left is shared out one
    column at a time, the gap to the natural width first closed where it is smallest (so
    headers come out on one line before a long text column grows)."""
    widths = list(low)
    spare = room - sum(widths)
    for i, num in enumerate(numeric):
        if not num:
            grow = max(0, min(min(high[i], TEXT_FIRST) - widths[i], spare))
            widths[i] += grow
            spare -= grow
    for i in sorted(range(len(widths)), key=lambda k: high[k] - low[k]):
        grow = min(high[i] - widths[i], spare)
        widths[i] += grow
        spare -= grow
    return tuple(widths)


def _note(console: Console, text: str) -> None:
    """A note under a table, indented on every line it wraps to."""
    console.print(Padding(Text(text, style="dim"), (0, 0, 0, 2)))


class TableFormat(Renders):
    name = "table"

    def __init__(self, *, width: int = 120, color: bool = False, max_rows: int = MAX_ROWS):
        self.width = width
        self.color = color
        self.max_rows = max_rows

    def _console(self, buf: io.StringIO) -> Console:
        return Console(
            file=buf,
            width=self.width,
            color_system="standard" if self.color else None,
            force_terminal=self.color,
            no_color=not self.color,
            highlight=False,
            emoji=False,
            markup=False,
        )

    def write(self, doc: Document, out: BinaryIO) -> None:
        buf = io.StringIO()
        console = self._console(buf)

        def flush() -> None:
            out.write(buf.getvalue().encode("utf-8"))
            buf.seek(0)
            buf.truncate()

        console.print(Text(visible(doc.title, 300), style="bold"))
        for k, v in doc.meta:
            console.print(Text(f"{k}: ") + cell(v))
        for s in doc.sections:
            self._section(console, s)
            flush()
        console.print()
        console.print(Text("Definitions", style="bold"))
        for d in doc.definitions:
            console.print(Text("- " + visible(d, 2000)))
        flush()

    def _section(self, console: Console, s: Section) -> None:
        rows = iter(s.rows)
        cells = [
            [cell(v, c) for v, c in zip(r, s.columns, strict=True)]
            for r in islice(rows, self.max_rows)
        ]
        more = sum(1 for _ in rows)
        console.print()
        title = Text(visible(s.title, 300), style="bold")
        layout = plan(s, cells, self.width)
        if layout is None:
            console.print(title)
            self._vertical(console, s, cells)
        else:
            console.print(self._table(title, layout, cells))
        if more:
            console.print(
                Text(
                    f"  … and {more:,} more rows, not shown (the first {self.max_rows} are); "
                    "--format csv or --format json writes them all (-o FILE to a file).",
                    style="bold",
                )
            )
        if layout is not None and layout.legend:
            _note(console, "; ".join(layout.legend) + ".")
        if layout is not None and layout.left_out:
            _note(
                console,
                f"Not shown at this width: {', '.join(layout.left_out)} "
                "(in --format json, csv and html).",
            )
        for n in s.notes:
            _note(console, visible(n, 2000))
        named = [i for i, c in enumerate(s.columns) if c in LABELS]
        if any(row[i].plain == UNKNOWN_PRODUCT for row in cells for i in named):
            _note(console, UNKNOWN_NOTE)

    def _table(self, title: Text, layout: Layout, cells: list[list[Text]]) -> Table:
        t = Table(
            title=title, title_justify="left", expand=False, box=box.SIMPLE_HEAD,
            show_edge=False, pad_edge=False, padding=(0, 1, 0, 1),
            collapse_padding=True,
        )  # fmt: skip
        for header, w, num in zip(layout.headers, layout.widths, layout.numeric, strict=True):
            t.add_column(
                Text(header), width=w, justify="right" if num else "left", overflow="fold",
            )  # fmt: skip
        for row in cells:
            t.add_row(*(row[i] for i in layout.columns))
        return t

    def _vertical(self, console: Console, s: Section, cells: list[list[Text]]) -> None:
        """One block per row: the row's first value, then ``name value`` pairs, wrapped
        between pairs."""
        names = s.headers or tuple(display_name(c) for c in s.columns)
        for row in cells:
            console.print(Text("  ") + row[0])
            pairs = [Text(f"{names[i]} ", style="dim") + row[i] for i in range(1, len(row))]
            line = Text("    ")
            for p in pairs:
                if len(line) > 4 and len(line) + 3 + len(p) > self.width:
                    console.print(line)
                    line = Text("    ")
                line += (Text(" · ") if len(line) > 4 else Text()) + p
            if len(line) > 4:
                console.print(line)
