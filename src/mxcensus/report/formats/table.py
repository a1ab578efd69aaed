"""Terminal tables with rich. Every cell is a plain ``Text`` (never markup) with control
characters and ANSI escapes shown as visible escapes."""

from __future__ import annotations

import io

from rich.console import Console
from rich.table import Table
from rich.text import Text

from mxcensus.report.document import IDENTIFIERS, Document, Value
from mxcensus.report.text import visible


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


class TableFormat:
    name = "table"

    def __init__(self, *, width: int = 120, color: bool = False) -> None:
        self.width = width
        self.color = color

    def render(self, doc: Document) -> bytes:
        buf = io.StringIO()
        console = Console(
            file=buf,
            width=self.width,
            color_system="standard" if self.color else None,
            force_terminal=self.color,
            no_color=not self.color,
            highlight=False,
            emoji=False,
            markup=False,
        )
        console.print(Text(visible(doc.title, 300), style="bold"))
        for k, v in doc.meta:
            console.print(Text(f"{k}: ") + cell(v))
        for s in doc.sections:
            t = Table(title=Text(visible(s.title, 300)), title_justify="left", expand=False)
            for c in s.columns:
                t.add_column(Text(visible(c)), overflow="fold")
            for r in s.rows:
                t.add_row(*(cell(v, c) for v, c in zip(r, s.columns, strict=True)))
            console.print()
            console.print(t)
            for n in s.notes:
                console.print(Text("  " + visible(n, 2000), style="dim"))
        console.print()
        console.print(Text("Definitions", style="bold"))
        for d in doc.definitions:
            console.print(Text("- " + visible(d, 2000)))
        return buf.getvalue().encode("utf-8")
