"""How the CLI shows an import: a rich progress bar (only on a terminal) and a one-screen
summary. Rendering only; it returns text and never decides anything."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from mxcensus.importers.run import ImportProgress, ImportResult, Progress
from mxcensus.model import printable

SHOWN_PROBLEMS = 5


@contextmanager
def rich_progress(*, enabled: bool = True) -> Iterator[Progress | None]:
    """A progress callback drawing a bar on stderr, or None when stderr is not a terminal."""
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[what]}"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    task = bar.add_task("importing", total=None, what="")
    analysing = None

    def update(p: ImportProgress) -> None:
        nonlocal analysing
        if p.phase == "analyse":
            if analysing is None:
                bar.update(task, visible=False)
                analysing = bar.add_task("analysing", total=None, what="")
            bar.update(analysing, total=max(p.transcripts, 1), completed=p.services,
                       what=f"{p.services:>12,} of {p.transcripts:,} services")  # fmt: skip
            return
        size = f"{p.bytes_done / 1e6:,.1f}/{p.bytes_total / 1e6:,.1f} MB"
        bar.update(task, total=max(p.bytes_total, 1), completed=p.bytes_done,
                   what=f"{size} {p.records:>12,} records")  # fmt: skip

    with bar:
        yield update


def _where(r: ImportResult) -> str:
    """ "   (first at f.json:17, f.json:500 …)" — the first malformed records' places."""
    if not r.malformed:
        return ""
    shown = ", ".join(f"{p.path.rsplit('/', 1)[-1]}:{p.line}" for p in r.problems[:3])
    more = " …" if r.malformed > 3 else ""
    return f"   (first at {printable(shown.encode(), 200)}{more})"


def render_summary(r: ImportResult) -> tuple[str, str]:
    """(summary for stdout, malformed-record report for stderr — empty when none)."""
    files = f"{len(r.files)} file" + ("s" if len(r.files) != 1 else "")
    rate = r.records / r.seconds if r.seconds > 0 else 0.0
    mb = r.bytes_read / 1e6
    lines = [
        f"imported {r.fmt} ({files}, {mb:.1f} MB) into scan {r.scan}",
        f"  records      {r.records:>12,}",
        f"  transcripts  {r.transcripts:>12,}",
        f"  skipped      {r.skipped:>12,}   (no mail or web service)",
        f"  malformed    {r.malformed:>12,}" + _where(r),
    ]
    if r.analyzed:
        lines.append(f"  services     {r.services:>12,}   (identified, assessed, enriched)")
    else:
        lines.append("  services     not analysed")
    lines.append(f"  time         {r.seconds:>12.1f} s ({rate:,.0f} records/s)")
    warn: list[str] = []
    if r.malformed:
        shown = r.problems[:SHOWN_PROBLEMS]
        warn.append(f"mxcensus: warning: {r.malformed:,} malformed record(s) skipped; the first:")
        warn.extend(f"  {printable(str(p).encode(), 300)}" for p in shown)
        if r.malformed > len(shown):
            warn.append(f"  … and {r.malformed - len(shown):,} more")
    return "\n".join(lines), "\n".join(warn)
