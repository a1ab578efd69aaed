"""``mxcensus demo``: a first look on the embedded defaults — lab, scan, report.

Starts a seeded lab on loopback (real TLS, Exim/Exchange/Postfix/Dovecot… and a few hostile
hosts), scans it with the real engine and probes into a DuckDB file, analyses it, and
renders the report. Nothing leaves 127.0.0.0/8.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mxcensus import engine
from mxcensus.engine.run import ScanResult
from mxcensus.lab.api import Lab
from mxcensus.model import ScanId
from mxcensus.probes.interface import ProbeConfig
from mxcensus.report.render import render_report
from mxcensus.store.db import Store

Say = Callable[[str], None]

# hostile hosts (tarpits, silent servers) end at these bounds; a first look should not wait
# half a minute for them, so the demo shortens the production defaults
DEMO_PROBES = ProbeConfig(greeting_timeout=6.0, read_timeout=4.0, total_timeout=10.0)


@dataclass(frozen=True, slots=True)
class DemoResult:
    scan: ScanId
    db: Path
    hosts: int
    result: ScanResult
    services: int
    reports: dict[str, bytes]
    example: str  # ip:port of a vulnerable service, to try ``explain`` on ("" when none)


def run_demo(
    db: Path,
    *,
    size: int = 300,
    seed: int = 1,
    say: Say = lambda _: None,
    progress: Callable[..., None] | None = None,
    width: int = 120,
    color: bool = False,
) -> DemoResult:
    say(f"starting a lab of {size} simulated mail hosts on loopback (seed {seed}) …")
    with Lab(size=size, seed=seed, hostile_fraction=0.05, duration=900) as lab:
        addresses = lab.addresses
        say(f"lab ready: {len(addresses)} hosts; scanning them into {db} …")
        plan = engine.new_plan(
            addresses,
            allow_reserved=True,
            rate=5000,
            concurrency=1000,
            per_net=1000,
            seed=seed,
            probe_config=DEMO_PROBES,
        )
        with Store.open(db) as store:
            scan = engine.start(store, plan, None)
            result = engine.run_scan(store, scan, plan, progress=progress)
            services = engine.analyze(store, scan) or 0
            store.finish_scan(scan)
    with Store.open(db, read_only=True) as store:
        reports = {
            by: render_report(store, scan, by, "table", width=width, color=color)
            for by in ("product_line", "verdict", "cve")
        }
        row = store.con.execute(
            "SELECT ip, port FROM services WHERE scan = ? AND worst_status = 'vulnerable'"
            " ORDER BY kev DESC, ip, port LIMIT 1",
            [scan],
        ).fetchone()
    example = f"{row[0]}:{row[1]}" if row else ""
    return DemoResult(scan, db, len(addresses), result, services, reports, example)
