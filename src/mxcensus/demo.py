"""``mxcensus demo``: the whole story on the embedded defaults, in under a minute.

Starts a seeded lab on loopback (real TLS, Exim/Exchange/Postfix/Dovecot… and a few hostile
hosts) whose hosts sit in simulated networks on six continents (an MMDB the lab writes,
read by the enrichment as ``--geo-db``), scans it with the real engine and probes into a
DuckDB file, then serves the same population 30 simulated days later (the lab's epoch 1:
some hosts patched, some gone, some new) and scans it again. The terminal gets a short
summary (:class:`Summary`); everything else is in the store for report, trend, explain and
notify. Nothing leaves 127.0.0.0/8.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mxcensus.engine.request import ScanRequest
from mxcensus.engine.session import Observer, ScanDone, scan
from mxcensus.errors import MxcensusError, UsageError
from mxcensus.lab.api import Lab
from mxcensus.model import ScanId
from mxcensus.probes.interface import ProbeConfig
from mxcensus.store.db import Store
from mxcensus.store.filters import Filter
from mxcensus.store.results import ChurnCount, GroupRow, Totals

Say = Callable[[str], None]

# hostile hosts (tarpits, silent servers) end at these bounds; a first look should not wait
# half a minute for them, so the demo shortens the production defaults
DEMO_PROBES = ProbeConfig(greeting_timeout=6.0, read_timeout=4.0, total_timeout=10.0)
SCANS = ("day-0", "day-30")
"""The demo's two scans: the lab now, and the same population 30 simulated days later."""
DAYS_LATER = 30


@dataclass(frozen=True, slots=True)
class Summary:
    """What the demo prints at the end: the second scan's numbers and the change."""

    scans: tuple[ScanId, ScanId]
    before: Totals
    after: Totals
    top: tuple[GroupRow, ...]  # product lines with the most services at risk
    churn: tuple[ChurnCount, ...]
    example: str  # ip:port of a service at risk, to try ``explain`` on ("" when none)


@dataclass(frozen=True, slots=True)
class DemoResult:
    db: Path
    geo_db: Path
    hosts: tuple[int, int]  # lab hosts at each scan
    scans: tuple[ScanDone, ScanDone]
    summary: Summary


def run_demo(
    db: Path,
    *,
    size: int = 300,
    seed: int = 1,
    say: Say = lambda _: None,
    on_event: Observer | None = None,
) -> DemoResult:
    """Two scans of the lab into ``db`` (a new file; an earlier demo's file is replaced)."""
    _fresh(db)
    geo_db = db.with_name(db.name.removesuffix(".duckdb") + ".geo.mmdb")
    say(f"lab: {size} simulated mail hosts on loopback (seed {seed}), in simulated networks")
    done: list[ScanDone] = []
    hosts: list[int] = []
    base = "auto"
    for epoch, name in enumerate(SCANS):
        with Lab(size=size, seed=seed, base=base, hostile_fraction=0.05, duration=900,
                 epoch=epoch, geography=True) as lab:  # fmt: skip
            base = lab.config.base  # the same addresses for the second scan
            shutil.copyfile(lab.geo_db, geo_db)  # the later epoch's covers the earlier
            if epoch:
                n = {k: len(v) for k, v in lab.truth.get("changes", {}).items()}
                say(f"{DAYS_LATER} days later (simulated: the lab's epoch {epoch}): "
                    f"{n.get('patched', 0)} hosts patched, {n.get('vanished', 0)} gone, "
                    f"{n.get('appeared', 0)} new")  # fmt: skip
            request = ScanRequest(
                targets=tuple(lab.addresses), allow_reserved=True, rate=5000,
                concurrency=1000, per_net=1000, seed=seed, probe_config=DEMO_PROBES, name=name,
            )  # fmt: skip
            one = scan(request, db=db, on_event=on_event, geo_db=[lab.geo_db])
            say(f"scan {name}: {one.result.done:,} endpoints of {len(lab.addresses)} hosts "
                f"in {one.result.duration:.1f} s, {one.services:,} results stored")  # fmt: skip
            done.append(one)
            hosts.append(len(lab.addresses))
    first, last = done
    return DemoResult(
        db, geo_db, (hosts[0], hosts[1]), (first, last), summarize(db, first.scan, last.scan)
    )


def summarize(db: Path, first: ScanId, last: ScanId) -> Summary:
    with Store.open(db, read_only=True) as store:
        reader = store.reader()
        now = Filter(scans=(last,))
        before = reader.totals(Filter(scans=(first,)), geo=True)
        after = reader.totals(now, geo=True)
        lines = [r for batch in reader.groups(("product_line",), now) for r in batch]
        top = sorted(
            (r for r in lines if r.vulnerable or r.potentially),
            key=lambda r: (-r.vulnerable, -r.potentially, str(r.keys[0])),
        )[:4]
        churn = tuple(reader.churn(first, last, Filter()))
        risky = reader.at_risk(now, 1)
    example = f"{risky[0].ip}:{risky[0].port}" if risky else ""
    return Summary((first, last), before, after, tuple(top), churn, example)


def _fresh(db: Path) -> None:
    """An earlier demo's database is replaced; any other file at ``db`` is refused."""
    if not db.exists():
        return
    try:
        with Store.open(db, read_only=True) as store:
            names = {s.name for s in store.reader().scans()}
    except (MxcensusError, OSError) as exc:
        raise UsageError(f"demo --db {db}: exists and is not a demo database ({exc})") from exc
    if not names <= set(SCANS):
        raise UsageError(
            f"demo --db {db}: exists and holds scans other than the demo's; give another --db"
        )
    for path in (db, db.with_name(db.name + ".wal")):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
