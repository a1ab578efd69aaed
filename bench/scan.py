"""Scan throughput and memory: mxcensus vs nmap -sV vs a minimal uvloop SMTP client, on the lab.

Prints medians of ``--reps`` repetitions and ratios measured in the same run:

1. plaintext SMTP (lab hosts on port 25 without STARTTLS, all healthy): sessions/s of
   mxcensus (``mxcensus scan``, engine phase as its summary reports it), of a minimal
   single-process uvloop client doing greeting, EHLO, QUIT, and of ``nmap -sV -Pn -n -p25``
   (on ``--nmap-hosts`` of the same hosts: nmap is slow); the lab's own CPU time during each
   mxcensus run, so the lab is shown not to be the bottleneck; mxcensus's peak memory.
2. healthy-host throughput of a full port-25 scan of an all-healthy lab vs a lab with 10%
   hostile hosts (tarpits, silent, resets …): healthy hosts done per second until the last
   healthy host is done.
3. peak memory of the engine walking ``--walk`` (default 127.16.0.0/12, nothing listening:
   refused fast), as the sum of RSS and of PSS over the scan's process tree.

Run: ``python bench/scan.py`` (``--quick`` for a short run while developing).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

import duckdb  # noqa: E402

from mxcensus.lab.api import Lab  # noqa: E402

ENV = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
_CLK = os.sysconf("SC_CLK_TCK")


# -- process-tree accounting -------------------------------------------------------------


def _children(pid: int) -> list[int]:
    out = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as fh:
                out.extend(int(c) for c in fh.read().split())
    except OSError:
        pass
    return out


def tree(pid: int) -> list[int]:
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        todo.extend(_children(p))
    return pids


def _kb(path: str, key: str) -> int:
    try:
        with open(path) as fh:
            for line in fh:
                if line.startswith(key):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            total += sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
        except OSError:
            pass
    return total / _CLK


def _own_cpu(pid: int) -> float:
    """utime + stime of ``pid`` alone (not of its reaped children)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _CLK
    except OSError:
        return 0.0


class MemorySampler:
    """Peak sum of RSS (and of PSS when ``pss``) over a process tree, sampled every
    ``period`` s, with the root's and the other processes' shares at the peak sample.
    Reading smaps_rollup takes the target's mmap lock, so throughput runs sample RSS only,
    and seldom."""

    def __init__(self, pid: int, period: float = 0.25, pss: bool = False) -> None:
        self.pid = pid
        self.period = period
        self.pss = pss
        self.peak_rss_kb = 0
        self.peak_pss_kb = 0
        self.at_peak: tuple[int, int, int] = (0, 0, 0)  # root kB, others kB, processes
        self.peak_root_kb = 0
        self.peak_others_kb = 0
        self.samples = 0
        self.cpu: dict[int, float] = {}  # CPU seconds per process, as last seen alive
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            pids = tree(self.pid)
            each = {p: _kb(f"/proc/{p}/status", "VmRSS:") for p in pids}
            rss = sum(each.values())
            pss = sum(_kb(f"/proc/{p}/smaps_rollup", "Pss:") for p in pids) if self.pss else 0
            root = each.get(self.pid, 0)
            if rss > self.peak_rss_kb:
                self.peak_rss_kb = rss
                self.at_peak = (root, rss - root, sum(1 for v in each.values() if v))
            self.peak_root_kb = max(self.peak_root_kb, root)
            self.peak_others_kb = max(self.peak_others_kb, rss - root)
            self.peak_pss_kb = max(self.peak_pss_kb, pss)
            self.samples += 1
            for p in pids:
                c = _own_cpu(p)
                if c:
                    self.cpu[p] = c
            self._stop.wait(self.period)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


# -- the three clients ---------------------------------------------------------------------


_DURATION = re.compile(r"duration\s+([0-9.]+) s")


def run_mxcensus(
    hosts: list[str], port: int, workdir: Path, lab: Lab, extra: tuple[str, ...] = ()
) -> dict[str, Any]:
    targets = workdir / "targets.txt"
    targets.write_text("\n".join(hosts) + "\n")
    db = workdir / f"mx-{time.monotonic_ns()}.duckdb"
    cmd = [
        sys.executable, "-m", "mxcensus", "scan", "-iL", str(targets), "-p", str(port),
        "--allow-reserved", "--db", str(db), "--rate", "1000000", "--concurrency", "2000",
        "--per-net", "2000", "-q", *extra,
    ]  # fmt: skip
    lab_pids = tree(lab.pid)
    lab_cpu0 = cpu_seconds(lab_pids)
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    with MemorySampler(proc.pid) as mem:
        out, err = proc.communicate()
    wall = time.monotonic() - t0
    lab_cpu = cpu_seconds(tree(lab.pid)) - lab_cpu0
    if proc.returncode != 0:
        raise SystemExit(f"mxcensus scan failed: {err.decode().strip()}")
    m = _DURATION.search(out.decode())
    if m is None:
        raise SystemExit(f"no duration in the summary: {out.decode()}")
    seconds = float(m.group(1))
    return {
        "seconds": seconds,
        "wall": wall,
        "rate": len(hosts) / seconds,
        "lab_cpu": lab_cpu,
        "rss_mb": mem.peak_rss_kb / 1024,
        "db": db,
    }


MINIMAL_CLIENT = r"""
import asyncio, sys, time, uvloop

async def session(ip, port, sem, ok):
    async with sem:
        try:
            r, w = await asyncio.wait_for(asyncio.open_connection(ip, port), 10)
        except OSError:
            return
        try:
            async def reply():
                while True:
                    line = await asyncio.wait_for(r.readline(), 10)
                    if len(line) < 4 or line[3:4] != b"-":
                        return line
            await reply()
            w.write(b"EHLO bench.invalid\r\n")
            await reply()
            w.write(b"QUIT\r\n")
            await reply()
            ok.append(1)
        except (OSError, asyncio.TimeoutError):
            pass
        finally:
            w.close()

async def main(hosts, port):
    sem = asyncio.Semaphore(1000)
    ok = []
    t0 = time.perf_counter()
    await asyncio.gather(*(session(h, port, sem, ok) for h in hosts))
    print(len(ok), time.perf_counter() - t0)

hosts = open(sys.argv[1]).read().split()
uvloop.run(main(hosts, int(sys.argv[2])))
"""


def run_minimal(hosts: list[str], port: int, workdir: Path) -> dict[str, Any]:
    targets = workdir / "minimal.txt"
    targets.write_text("\n".join(hosts) + "\n")
    res = subprocess.run(
        [sys.executable, "-c", MINIMAL_CLIENT, str(targets), str(port)],
        capture_output=True,
        text=True,
        check=True,
    )
    ok, seconds = res.stdout.split()
    return {"ok": int(ok), "seconds": float(seconds), "rate": len(hosts) / float(seconds)}


def run_nmap(hosts: list[str], port: int, workdir: Path) -> dict[str, Any]:
    targets = workdir / "nmap.txt"
    targets.write_text("\n".join(hosts) + "\n")
    t0 = time.monotonic()
    res = subprocess.run(
        ["nmap", "-sV", "-Pn", "-n", "-p", str(port), "-iL", str(targets), "-oX", "-"],
        capture_output=True,
        text=True,
        check=True,
    )
    seconds = time.monotonic() - t0
    found = res.stdout.count('<service name="smtp"')
    return {"ok": found, "seconds": seconds, "rate": len(hosts) / seconds}


# -- scenarios -------------------------------------------------------------------------------


def median(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def repeat(n: int, fn: Callable[[], dict[str, Any]]) -> list[dict[str, Any]]:
    return [fn() for _ in range(n)]


def plaintext(args: argparse.Namespace, workdir: Path) -> None:
    with Lab(
        size=args.plaintext_size,
        seed=args.seed,
        hostile_fraction=0.0,
        ports=(25,),
        base=args.base,
    ) as lab:
        hosts = [
            a
            for a, h in lab.truth["hosts"].items()
            if h["ports"].get("25", {}).get("tls") == "none"
            and h["ports"]["25"].get("handler") == "smtp"
        ]
        print(f"\n## plaintext SMTP: {len(hosts)} lab hosts on port 25 without STARTTLS")
        mx, mini = [], []
        for _ in range(args.reps):  # interleaved, so load from elsewhere hits both alike
            mx.append(run_mxcensus(hosts, 25, workdir, lab))
            mini.append(run_minimal(hosts, 25, workdir))
        small = [run_mxcensus(hosts[:10], 25, workdir, lab) for _ in range(args.reps)]
        nmap_hosts = hosts[: args.nmap_hosts]
        nm = repeat(max(1, args.reps // 2), lambda: run_nmap(nmap_hosts, 25, workdir))
    mx_rate, mini_rate, nm_rate = median(mx, "rate"), median(mini, "rate"), median(nm, "rate")
    print(f"mxcensus        {mx_rate:9.0f} sessions/s  (median of {len(mx)}; engine phase)")
    print(f"minimal client  {mini_rate:9.0f} sessions/s  (median of {len(mini)}; one process)")
    print(
        f"nmap -sV        {nm_rate:9.1f} hosts/s     (median of {len(nm)}; {len(nmap_hosts)} hosts)"
    )
    print(f"ratio mxcensus / nmap            {mx_rate / nm_rate:7.1f}x  (target >= 20)")
    print(
        f"mxcensus fixed start             {median(small, 'seconds'):.2f} s engine time for 10 "
        "hosts (fresh worker interpreters: it weighs on small scans, so the rate above "
        "is measured on thousands of hosts)"
    )
    print(f"ratio mxcensus / minimal client  {mx_rate / mini_rate:7.2f}x  (target >= 1)")
    print(
        f"lab CPU during mxcensus runs     {median(mx, 'lab_cpu'):.2f} s of "
        f"{median(mx, 'seconds'):.2f} s engine time, {median(mx, 'wall'):.2f} s wall "
        f"(lab = {100 * median(mx, 'lab_cpu') / median(mx, 'wall') / (os.cpu_count() or 1):.0f}% "
        "of the machine)"
    )
    print(
        f"mxcensus peak memory             {max(r['rss_mb'] for r in mx):.0f} MB RSS summed "
        "over parent + workers (shared pages counted in each)"
    )


def healthy_rate(db: Path, healthy: set[str]) -> tuple[float, int]:
    con = duckdb.connect(str(db), read_only=True)
    rows = con.execute("SELECT ip, data FROM transcripts").fetchall()
    con.close()
    starts, ends, n = [], [], 0
    for ip, data in rows:
        d = json.loads(data)
        t = datetime.fromisoformat(d["observed_at"]).timestamp()
        starts.append(t)
        if ip in healthy:
            ends.append(t + d["duration_ms"] / 1000)
            n += 1
    return n / (max(ends) - min(starts)), n


def hostile(args: argparse.Namespace, workdir: Path) -> None:
    print(f"\n## healthy-host throughput, port 25, {args.size} hosts, all healthy vs 10% hostile")
    out = {}
    for fraction in (0.0, 0.10):
        with Lab(
            size=args.size, seed=args.seed, hostile_fraction=fraction, ports=(25,), base=args.base
        ) as lab:
            healthy = {a for a, h in lab.truth["hosts"].items() if not h["hostile"]}
            hosts = list(lab.truth["hosts"])
            rates = []
            for _ in range(args.reps):
                r = run_mxcensus(hosts, 25, workdir, lab)
                rate, n = healthy_rate(r["db"], healthy)
                rates.append(rate)
            out[fraction] = statistics.median(rates)
            print(
                f"hostile {fraction:4.0%}: {n} healthy hosts, {out[fraction]:7.0f} healthy/s "
                f"(median of {len(rates)})"
            )
    change = out[0.10] / out[0.0] - 1
    print(
        f"healthy-host throughput with 10% hostile vs all healthy: {100 * change:+.1f}% "
        "(target: no worse than -15%)"
    )


WALK_CHILD = r"""
import sys
from mxcensus.engine import ScanPlan, run_scan
from mxcensus.store.db import Store
from mxcensus.targets import load_targets
with Store.open(sys.argv[2]) as store:
    plan = ScanPlan(targets=load_targets([sys.argv[1]], allow_reserved=True),
                    ports=((int(sys.argv[3]), "smtp"),), seed=1, rate=1e6,
                    concurrency=2000, per_net=256, workers=%d)
    scan = store.create_scan(name=None, kind="scan", source="scan")
    r = run_scan(store, scan, plan)
    print(r.done, r.duration)  # the last line is what the bench reads
"""


def walk(args: argparse.Namespace, workdir: Path) -> None:
    print(f"\n## engine walking {args.walk} on a closed port (refused fast)")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    db = workdir / "walk.duckdb"
    code = WALK_CHILD % (os.cpu_count() or 1)
    t0 = time.monotonic()
    cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.Popen(
        [sys.executable, "-c", code, args.walk, str(db), "9"],
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    with MemorySampler(proc.pid, period=0.5, pss=True) as mem:
        out, err = proc.communicate()
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)  # the scan's whole tree, reaped
    if proc.returncode != 0:
        raise SystemExit(f"walk failed: {err.strip()}")
    done, seconds = out.strip().splitlines()[-1].split()
    n, secs = int(done), float(seconds)
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    root, others, nproc = mem.at_peak
    print(
        f"{n} targets in {secs:.0f} s: {n / secs:.0f} targets/s, wall {time.monotonic() - t0:.0f} s"
        f"; CPU {cpu:.0f} s over all processes ({1e6 * cpu / n:.0f} CPU-µs per target)"
    )
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(
        f"peak RSS summed over all {nproc} processes (parent + workers; shared pages counted "
        f"in each): {mem.peak_rss_kb / 1024:.0f} MB  (target <= 250 MB)"
    )
    print(
        f"  at that sample: parent {root / 1024:.0f} MB, workers {others / 1024:.0f} MB; "
        f"peaks on their own: parent {mem.peak_root_kb / 1024:.0f} MB, workers "
        f"{mem.peak_others_kb / 1024:.0f} MB ({mem.samples} samples, every 0.5 s)"
    )
    if mem.peak_pss_kb:
        print(f"peak PSS summed over all processes: {mem.peak_pss_kb / 1024:.0f} MB")
    parent_cpu = mem.cpu.get(proc.pid, 0.0)
    print(
        f"CPU as last sampled: parent {parent_cpu:.0f} s, workers "
        f"{sum(mem.cpu.values()) - parent_cpu:.0f} s"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=3000, help="lab hosts (hostile section)")
    ap.add_argument(
        "--plaintext-size",
        type=int,
        default=12000,
        help="lab hosts of the plaintext section (about a fifth serve plain SMTP on 25)",
    )
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--nmap-hosts", type=int, default=100)
    ap.add_argument("--walk", default="127.16.0.0/12")
    ap.add_argument("--base", default="auto", help="first lab address (auto: a free range)")
    ap.add_argument("--quick", action="store_true", help="small sizes while developing")
    ap.add_argument("--only", choices=("plaintext", "hostile", "walk"), action="append")
    args = ap.parse_args()
    if args.quick:
        args.size, args.reps, args.nmap_hosts, args.walk = 3000, 1, 20, "127.16.0.0/18"
        args.plaintext_size = 3000
    if shutil.which("nmap") is None:
        raise SystemExit("nmap is not installed (scripts/system-deps.sh installs it)")
    print(f"# bench/scan.py on {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory(prefix="mxcensus-bench-") as tmp:
        workdir = Path(tmp)
        for name, fn in (("plaintext", plaintext), ("hostile", hostile), ("walk", walk)):
            if not args.only or name in args.only:
                fn(args, workdir)


if __name__ == "__main__":
    main()
