"""How the CLI shows a scan: a rich progress bar fed by the engine's callback, and a summary.

The engine never prints; the CLI builds a :class:`ProgressView` on its console and passes
``view.update`` as the progress callback.
"""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.progress import (
    Progress as RichProgress,
)

from mxcensus.engine.run import Progress, ScanResult
from mxcensus.targets import Targets


def outcome_text(outcomes: dict[str, int]) -> str:
    return " · ".join(f"{k} {v}" for k, v in sorted(outcomes.items(), key=lambda kv: -kv[1]))


class ProgressView:
    def __init__(self, console: Console, total: int) -> None:
        self.bar = RichProgress(
            TextColumn("scanning"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]:>8.0f}/s"),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[outcomes]}"),
            console=console,
            transient=True,
        )
        self.task: TaskID = self.bar.add_task("scan", total=total, rate=0.0, outcomes="")

    def __enter__(self) -> ProgressView:
        self.bar.start()
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.bar.stop()

    def update(self, p: Progress) -> None:
        self.bar.update(self.task, completed=p.done, rate=p.rate, outcomes=outcome_text(p.outcomes))


class AnalysisView:
    """A bar for the identify/assess/enrich phase that follows the scan."""

    def __init__(self, console: Console, total: int) -> None:
        self.bar = RichProgress(
            TextColumn("analysing"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self.task: TaskID = self.bar.add_task("analyse", total=total)

    def __enter__(self) -> AnalysisView:
        self.bar.start()
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.bar.stop()

    def update(self, written: int) -> None:
        self.bar.update(self.task, completed=written)


def summary(
    result: ScanResult, targets: Targets, ports: int, services: int, status: str
) -> list[str]:
    """One screen: what was scanned, found, and how fast."""
    ok = result.outcomes.get("ok", 0)
    return [
        f"scan       {result.scan}  ({status})",
        f"targets    {result.total} endpoints = {targets.addresses.size} addresses × {ports} "
        f"port(s); {targets.blocked} blocklisted, {targets.excluded} excluded",
        f"services   {services} stored, {ok} answered the full dialogue",
        f"outcomes   {outcome_text(result.outcomes) or '-'}",
        f"duration   {result.duration:.2f} s, {result.rate:.0f} targets/s "
        f"({result.probed} probed in this run)",
    ]
