"""A cluster scan as the CLI draws it: one bar with the shards' counts, and a per-shard
summary that says whether the shards' targets add up to the scan's."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

from mxcensus.cli.render import ScanDisplay, scan_summary, shard_summary, shard_text
from mxcensus.engine import Progress, ScanPlan
from mxcensus.engine.run import ScanResult, ShardState
from mxcensus.engine.session import ScanDone, Started
from mxcensus.model import ScanId
from mxcensus.targets import load_targets

SHARDS = (
    ShardState("shard0of3-worker0of1", 3, 3, 1, "done", "node-a" * 8, 1.5),
    ShardState("shard1of3-worker0of1", 3, 1, 2, "running", "node-b" * 8, 2.0),
    ShardState("shard2of3-worker0of1", 2, 0, 0, "waiting", "", 0.0),
)


def test_the_bar_counts_shards_running_done_retried() -> None:
    assert shard_text(SHARDS) == "shards 2 running · 1 done · 1 retried"
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=160)
    with ScanDisplay(True, console=console) as display:
        display(Started(ScanId("s"), 8))
        display(Progress(4, 8, {"ok": 4}, 1.0, 4, shards=SHARDS))
    assert "shards 2 running · 1 done · 1 retried" in out.getvalue()


def test_the_summary_lists_every_shard_and_checks_the_sum() -> None:
    plan = ScanPlan(
        targets=load_targets(["127.0.21.0/29"], allow_reserved=True), ports=((25, "smtp"),),
        seed=1, shards=3, shard=None,
    )  # fmt: skip
    result = ScanResult(ScanId("s"), 8, 4, 4, {"ok": 4}, 1.0, SHARDS)
    lines = scan_summary(ScanDone(ScanId("s"), plan, result, 4, Path("x")))
    assert "shards     3: 3 + 3 + 2 = 8 targets (every target in one shard)" in lines
    assert any(
        line.split()[:5] == ["shard1of3-worker0of1", "1/3", "running", "2", "attempts"]
        for line in lines
    )
    wrong = shard_summary(SHARDS, 9)
    assert "= 8 targets (NOT the scan's 9)" in wrong[0]


def test_many_shards_show_the_retried_and_the_slowest() -> None:
    many = tuple(
        ShardState(f"shard{i}of100-worker0of1", 10, 10, 2 if i == 7 else 1, "done", "", i / 10)
        for i in range(100)
    )
    lines = shard_summary(many, 1000)
    assert "(the retried and the 10 slowest of 100)" in lines[2]
    shown = [line.split()[0] for line in lines[3:]]
    assert shown[0] == "shard7of100-worker0of1" and len(shown) == 11
    assert "shard99of100-worker0of1" in shown
