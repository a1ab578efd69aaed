"""Watch events: the diff of two runs and storing its events, against bare baselines.

Generates N services per run (Exim hosts with a dozen CVE verdicts each, as exported
records), a second run in which ~8% vanish, ~8% appear and ~20% change version, then:

- ``diff``: events/s of ``watch.events.diff`` over both runs vs a bare loop that only
  walks the two record streams comparing (ip, port) keys (the floor of any merge);
- ``store``: events/s of ``WatchStore.complete_run`` (Arrow batches, one transaction) vs
  inserting the same rows with ``executemany`` (what it replaced);
- peak RSS of the diff at N and 4N services (flat: the diff holds one endpoint at a time).

Usage: python bench/watch.py [--services 100000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mxcensus.store.db import Store
from mxcensus.store.watches import WatchStore
from mxcensus.watch.events import diff, exposed

CVES = [f"CVE-2019-{10000 + i}" for i in range(12)]


def records(n: int, run: int) -> Iterator[dict[str, Any]]:
    """Run 0 or 1 of n services, in the store's order (address text, port): fixed-width
    hextets, so text order is numeric order and nothing is materialised."""
    for i in range(int(n * 1.1)):
        ip = f"fd00::{i // 65536:04x}:{i % 65536:04x}"
        r = random.Random(i)
        roll = r.random()
        if run == 0 and roll > 0.92:
            continue  # appears in run 1
        if run == 1 and roll < 0.08:
            continue  # vanished
        patched = run == 1 and 0.08 <= roll < 0.28
        version = "4.99.4" if patched else r.choice(["4.92", "4.94.2", "4.96"])
        status = "not-vulnerable" if patched else "potentially-vulnerable"
        yield {
            "ip": ip, "port": 25, "protocol": "smtp", "outcome": "ok", "product": "exim",
            "product_line": "Exim", "version": version, "asn": 64500, "country": "DE",
            "eol": {"eol": not patched, "line": "Exim", "date": "2024-01-01"},
            "cves": [{"id": c, "status": status, "reason": "banner version in range",
                      "kev": False, "fixed_in": "4.99.4"} for c in CVES],
            "remediation": ["Upgrade Exim."],
        }  # fmt: skip


def bench_diff(n: int) -> tuple[float, float, int]:
    t = time.perf_counter()
    count = sum(1 for _ in diff(exposed(records(n, 0)), exposed(records(n, 1))))
    full = time.perf_counter() - t
    t = time.perf_counter()
    a, b = records(n, 0), records(n, 1)
    x, y = next(a, None), next(b, None)
    while x is not None or y is not None:  # the floor: walk both streams by key
        if y is None or (x is not None and (x["ip"], x["port"]) < (y["ip"], y["port"])):
            x = next(a, None)
        elif x is None or (y["ip"], y["port"]) < (x["ip"], x["port"]):
            y = next(b, None)
        else:
            x, y = next(a, None), next(b, None)
    floor = time.perf_counter() - t
    return full, floor, count


def bench_store(n: int) -> tuple[float, float, int]:
    events = list(diff(exposed(records(n, 0)), exposed(records(n, 1))))
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory() as tmp, Store.open(Path(tmp) / "b.duckdb") as store:
        ws = WatchStore(store)
        ws.start_run("r", "w", "scan", now, None)
        t = time.perf_counter()
        ws.complete_run("r", "w", iter(events), now=now)
        arrow = time.perf_counter() - t
        sample = events[: min(len(events), 5000)]
        import orjson

        t = time.perf_counter()
        store.con.executemany(
            "INSERT INTO watch_events (id, watch, run, created_at, kind, ip, port, protocol, cve,"
            " hostname, domain, asn, summary, evidence, state) VALUES (nextval('watch_event_ids'),"
            " ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'open')",
            [["w", "r", now, e.kind, e.ip, e.port, e.protocol, e.cve, e.hostname, e.domain,
              e.asn, e.summary, orjson.dumps(e.evidence).decode()] for e in sample],
        )  # fmt: skip
        rowwise = (time.perf_counter() - t) * len(events) / len(sample)
    return arrow, rowwise, len(events)


def peak_rss(n: int) -> int:
    # VmHWM of a fresh process image (ru_maxrss would carry the forking parent's peak)
    code = (
        "import sys; sys.path.insert(0, 'bench'); import watch as w;"
        f"w.bench_diff({n}); print(next(ln.split()[1] for ln in open('/proc/self/status')"
        " if ln.startswith('VmHWM')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={**os.environ, "PYTHONPATH": "src"})  # fmt: skip
    return int(out.stdout.split()[-1]) // 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--services", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    n = args.services
    print(f"load average {os.getloadavg()[0]:.2f}; {n:,} services per run")
    diffs = [bench_diff(n) for _ in range(args.repeat)]
    full = statistics.median(d[0] for d in diffs)
    floor = statistics.median(d[1] for d in diffs)
    events = diffs[0][2]
    print(
        f"diff: {events:,} events in {full:.2f} s ({events / full:,.0f} events/s, "
        f"{2 * n / full:,.0f} records/s); bare walk {floor:.2f} s ({full / floor:.1f}x)"
    )
    stores = [bench_store(n) for _ in range(args.repeat)]
    arrow = statistics.median(s[0] for s in stores)
    rowwise = statistics.median(s[1] for s in stores)
    print(f"store: {events / arrow:,.0f} events/s (Arrow, one transaction) vs "
          f"{events / rowwise:,.0f} events/s executemany ({rowwise / arrow:.0f}x)")  # fmt: skip
    small, large = peak_rss(n), peak_rss(4 * n)
    print(f"peak RSS of the diff: {small} MB at {n:,} services, {large} MB at {4 * n:,}")


if __name__ == "__main__":
    main()
