"""The Ray executor against the local one, on the same lab and the same cores.

    python bench/cluster.py [--hosts 3000] [--reps 3] [--walk 127.16.0.0/12] [--quick]

1. Ray's fixed start: a private local Ray (``RayExecutor``: ``ray.init`` with 2 CPUs, no
   dashboard, 256 MB object store), on its own line, with a 2-target scan through it and
   through the local workers.
2. SMTP dialogues per second (every lab host serving port 25: greeting, EHLO, STARTTLS where
   offered, EHLO, QUIT), the local executor (2 worker processes) vs the Ray executor with
   two shards, alternated ``--reps`` times, medians and their ratio (goal: Ray >= 0.85 of
   local once started). Ray's workers run at ``RAY_worker_niceness=0`` like the local ones
   (Ray's default, 15, leaves the lab on the same cores more CPU and flatters Ray).
3. The driver's peak memory (VmHWM of a fresh process that joins the same Ray and writes
   every batch to a real store) walking a /16 and ``--walk`` (a /12, nothing listening:
   refused at once), to show it flat in the number of targets (goal <= 300 MB).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ["RAY_worker_niceness"] = "0"  # noqa: SIM112 - Ray's own spelling

WALK = r"""
import sys, tempfile, threading, time
from pathlib import Path
from mxcensus.engine.ray_executor import RayExecutor
from mxcensus.engine.request import ScanRequest
from mxcensus.engine.session import new_plan, start
from mxcensus.store.db import Store

def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0

cidr, address = sys.argv[1], sys.argv[2]
ex = RayExecutor(address)
req = ScanRequest(targets=(cidr,), ports="9", allow_reserved=True, rate=1_000_000, shards=2,
                  seed=5)
with tempfile.TemporaryDirectory() as d, Store.open(Path(d) / "w.duckdb") as store:
    plan = new_plan(req, executor=ex)
    sid = start(store, plan, None)
    base = hwm()
    t0 = time.perf_counter()
    r = ex.run(store, sid, plan, None)
    dt = time.perf_counter() - t0
    n = store.count("transcripts", sid)
ex.close()
print(r.done, n, f"{dt:.1f}", f"{base:.0f}", f"{hwm():.0f}")
"""


def scan_once(executor: Any, hosts: list[str], db: Path) -> float:
    """Dialogues per second of one scan's probing (analysis not counted)."""
    from mxcensus.engine.request import ScanRequest
    from mxcensus.engine.session import new_plan, start
    from mxcensus.store.db import Store

    shards = 2 if executor.name == "ray" else None
    req = ScanRequest(targets=tuple(hosts), ports="25", allow_reserved=True,
                      rate=1_000_000, shards=shards, seed=11)  # fmt: skip
    with Store.open(db) as store:
        plan = new_plan(req, executor=executor)
        sid = start(store, plan, None)
        result = executor.run(store, sid, plan, None)
    assert result.done == len(hosts), (result.done, len(hosts))
    return result.rate


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hosts", type=int, default=3000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--walk", default="127.16.0.0/12")
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    if args.quick:
        args.hosts, args.reps, args.walk = 600, 1, "127.16.0.0/16"
    from mxcensus.engine.executor import LocalExecutor
    from mxcensus.engine.ray_executor import RayExecutor
    from mxcensus.lab.api import Lab

    print(f"# bench/cluster.py  {time.strftime('%Y-%m-%d %H:%M')}  load {os.getloadavg()}")
    work = Path(tempfile.mkdtemp(prefix="mxbench-cluster-"))
    t0 = time.perf_counter()
    ray_ex = RayExecutor(num_cpus=2)  # before anything imports ray: it reads its env then
    start_cost = time.perf_counter() - t0
    import ray

    nice = os.environ["RAY_worker_niceness"]  # noqa: SIM112
    print(f"ray {ray.__version__}; RAY_worker_niceness={nice}; {os.cpu_count()} CPUs")
    try:
        with Lab(size=args.hosts, seed=1, hostile_fraction=0.0, ports=(25,)) as lab:
            hosts = lab.serving(25)
            with LocalExecutor() as local:
                scan_once(local, hosts[:300], work / "warm.duckdb")  # the lab's TLS, caches
                t = time.perf_counter()
                scan_once(local, hosts[:2], work / "l2.duckdb")
                local_two = time.perf_counter() - t
                t = time.perf_counter()
                scan_once(ray_ex, hosts[:2], work / "r1.duckdb")
                ray_first = time.perf_counter() - t
                t = time.perf_counter()
                scan_once(ray_ex, hosts[:2], work / "r2.duckdb")
                ray_two = time.perf_counter() - t
                print(f"ray start: {start_cost:.2f} s (a private local Ray of 2 CPUs, once); "
                      f"its first scan (2 targets, the lease actor starts) {ray_first:.2f} s; "
                      f"a 2-target scan after: ray {ray_two:.2f} s, "
                      f"local {local_two:.2f} s")  # fmt: skip
                loc, ray_rates = [], []
                print(f"lab: {len(hosts)} SMTP hosts on port 25")
                for rep in range(args.reps):
                    order = ("local", "ray") if rep % 2 == 0 else ("ray", "local")
                    got = {}
                    for which in order:
                        ex = local if which == "local" else ray_ex
                        got[which] = scan_once(ex, hosts, work / f"{which}{rep}.duckdb")
                    loc.append(got["local"])
                    ray_rates.append(got["ray"])
                    print(f"  rep {rep + 1}: local {got['local']:7.0f}/s  ray {got['ray']:7.0f}/s"
                          f"  (load {os.getloadavg()[0]:.1f})")  # fmt: skip
        ml, mr = statistics.median(loc), statistics.median(ray_rates)
        print(f"median SMTP dialogues/s: local {ml:.0f}, ray (2 shards) {mr:.0f}; "
              f"ray/local {mr / ml:.2f} (goal >= 0.85)")  # fmt: skip
        walks = ["127.16.0.0/16", args.walk] if args.walk != "127.16.0.0/16" else [args.walk]
        for cidr in walks:
            out = subprocess.run([sys.executable, "-c", WALK, cidr, ray_ex.address],
                                 capture_output=True, text=True, check=False)  # fmt: skip
            if out.returncode != 0:
                raise SystemExit(f"walk {cidr} failed: {out.stderr.strip()[-500:]}")
            done, stored, secs, base, peak = out.stdout.split()[-5:]
            print(f"driver walking {cidr} through Ray: {int(done):,} targets ({int(stored):,} "
                  f"stored) in {secs} s; peak {peak} MB (VmHWM; {base} MB once joined, store "
                  "open) (goal <= 300 MB, flat)")  # fmt: skip
    finally:
        ray_ex.close()
        import shutil

        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
