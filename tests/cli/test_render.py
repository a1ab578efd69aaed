"""What the CLI draws: progress bars fed by the library's events, and summaries that
escape what files and servers said."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

from mxcensus.cli.render import ScanDisplay, import_summary, scan_summary
from mxcensus.engine import Progress, ScanPlan
from mxcensus.engine.run import ScanResult
from mxcensus.engine.session import Analysing, ScanDone, Started
from mxcensus.importers.run import ImportResult, ProblemAt
from mxcensus.model import ScanId
from mxcensus.targets import load_targets


def test_import_summary_escapes_what_files_said() -> None:
    r = ImportResult(
        scan=ScanId("s1"), fmt="shodan", files=("f.json",), records=10, transcripts=8,
        skipped=1, malformed=7,
        problems=tuple(
            ProblemAt(path="f.json", line=n, message="bad \x1b[31mred\x07") for n in range(1, 8)
        ),
        services=8, analyzed=True, bytes_read=1000, seconds=0.5,
    )  # fmt: skip
    out, warn = import_summary(r)
    assert "records" in out and "services" in out and "identified" in out
    assert "(first at f.json:1, f.json:2, f.json:3 …)" in out
    assert "\x1b" not in warn and "\\x1b[31mred\\x07" in warn
    assert "f.json:1: bad" in warn and "… and 2 more" in warn


def _done() -> ScanDone:
    plan = ScanPlan(
        targets=load_targets(["127.0.21.0/30"], allow_reserved=True),
        ports=((25, "smtp"), (587, "smtp")),
        seed=1,
    )
    result = ScanResult(ScanId("s1"), 8, 8, 5, {"ok": 2, "refused": 6}, duration=2.0)
    return ScanDone(ScanId("s1"), plan, result, 2, Path("x.duckdb"))


def test_scan_summary() -> None:
    lines = scan_summary(_done())
    assert lines[0] == "scan       s1  (finished)"
    assert "8 endpoints = 4 addresses × 2 port(s); 0 blocklisted, 0 excluded" in lines[1]
    assert lines[2] == "services   2 stored, 2 answered the full dialogue"
    assert lines[3] == "outcomes   refused 6 · ok 2"
    assert lines[4] == "duration   2.00 s, 2 targets/s (5 probed in this run)"


def test_scan_display_draws_each_phase_and_stops() -> None:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=120)
    with ScanDisplay(True, console=console) as display:
        display(Started(ScanId("s1"), 8))
        display(Progress(5, 8, {"ok": 2, "refused": 3}, 1.0, 5))
        display(Analysing(1, 2))
        display(Analysing(2, 2))
    assert display._bar is None
    assert "scanning" in out.getvalue() and "analysing" in out.getvalue()
    quiet = ScanDisplay(False)
    quiet(Started(ScanId("s1"), 8))
    assert quiet._bar is None


def test_only_the_cli_draws() -> None:
    """rich and typer are the CLI's: the library reports through callbacks and returns
    text (the report's table format is the one library output drawn with rich)."""
    import ast

    src = Path(__file__).resolve().parents[2] / "src" / "mxcensus"
    allowed = {src / "report" / "formats" / "table.py"}
    drawing = []
    for path in src.rglob("*.py"):
        if src / "cli" in path.parents or path in allowed:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [a.name for a in node.names] if isinstance(node, ast.Import)
                else [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            )  # fmt: skip
            if any(n.split(".")[0] in ("rich", "typer") for n in names):
                drawing.append(str(path.relative_to(src)))
    assert drawing == []
