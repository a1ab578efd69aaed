"""``mxcensus demo``: a first look on the embedded defaults — lab, scan, report.

Starts a seeded lab on loopback (real TLS, Exim/Exchange/Postfix/Dovecot… and a few hostile
hosts), scans it with the real engine and probes into a DuckDB file, analyses it, and
renders the report. Nothing leaves 127.0.0.0/8.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mxcensus.engine.request import ScanRequest
from mxcensus.engine.run import ScanResult
from mxcensus.engine.session import Observer, scan
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
    on_event: Observer | None = None,
    width: int = 120,
    color: bool = False,
) -> DemoResult:
    say(f"starting a lab of {size} simulated mail hosts on loopback (seed {seed}) …")
    with Lab(size=size, seed=seed, hostile_fraction=0.05, duration=900) as lab:
        addresses = lab.addresses
        say(f"lab ready: {len(addresses)} hosts; scanning them into {db} …")
        request = ScanRequest(
            targets=tuple(addresses), allow_reserved=True, rate=5000, concurrency=1000,
            per_net=1000, seed=seed, probe_config=DEMO_PROBES,
        )  # fmt: skip
        done = scan(request, db=db, on_event=on_event)
    with Store.open(db, read_only=True) as store:
        reports = {
            by: render_report(store, done.scan, by, "table", width=width, color=color)
            for by in ("product_line", "verdict", "cve")
        }
        example = _example(store.iter_records(done.scan))
    return DemoResult(done.scan, db, len(addresses), done.result, done.services, reports, example)


def _example(records: Iterable[dict[str, Any]]) -> str:
    """ip:port of the first vulnerable service, one with a KEV CVE first ("" when none)."""
    first = ""
    for r in records:
        cves = r.get("cves") or []
        if not any(c.get("status") == "vulnerable" for c in cves):
            continue
        if any(c.get("kev") and c.get("status") in _AT_RISK for c in cves):
            return f"{r['ip']}:{r['port']}"
        first = first or f"{r['ip']}:{r['port']}"
    return first


_AT_RISK = ("vulnerable", "potentially-vulnerable")
