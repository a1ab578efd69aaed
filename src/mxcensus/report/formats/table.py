"""Terminal tables with rich. Every cell is a plain ``Text`` (never markup) with control and
formatting characters shown as visible escapes (:mod:`mxcensus.text`). A table longer
than :data:`MAX_ROWS` shows its top rows and says how many more there are and how to get
them, so a breakdown by three fields stays a page, not hundreds of thousands of lines."""

from __future__ import annotations

import io
from itertools import islice
from typing import BinaryIO

from rich.console import Console
from rich.table import Table
from rich.text import Text

from mxcensus.report.document import IDENTIFIERS, Document, Section, Value
from mxcensus.report.interface import Renders
from mxcensus.text import visible

MAX_ROWS = 100


def cell(value: Value, column: str = "") -> Text:
    if value is None:
        return Text("—", style="dim")
    if isinstance(value, bool):
        return Text("yes" if value else "no")
    if isinstance(value, float):
        return Text(f"{value:.2f}")
    if isinstance(value, int):
        return Text(str(value) if column in IDENTIFIERS else f"{value:,}")
    return Text(visible(str(value)))


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
        t = Table(title=Text(visible(s.title, 300)), title_justify="left", expand=False)
        for c in s.columns:
            t.add_column(Text(visible(c)), overflow="fold")
        rows = iter(s.rows)
        for r in islice(rows, self.max_rows):
            t.add_row(*(cell(v, c) for v, c in zip(r, s.columns, strict=True)))
        more = sum(1 for _ in rows)
        console.print()
        console.print(t)
        if more:
            console.print(
                Text(
                    f"  … and {more:,} more rows, not shown (the first {self.max_rows} are); "
                    "--format csv or --format json writes them all (-o FILE to a file).",
                    style="bold",
                )
            )
        for n in s.notes:
            console.print(Text("  " + visible(n, 2000), style="dim"))
