"""`mxcensus serve` under 50 concurrent clients on a store of 10 million services.

Builds the store with SQL in the form the analysis writes (bench/census.py's generator:
10M services, ~3.3M hosts, 12 countries, 5,000 ASNs, verdicts once per profile), starts
`mxcensus serve` on it as its own process, and measures four endpoints — the overview, a
filtered services page, a host page, a filtered aggregate — with 50 clients at once (a
plain asyncio HTTP/1.1 client, one kept-alive connection each), each request's filter or
host varying (12 countries, 50 ASNs, random hosts). Beside each endpoint: the bare queries
computing the same data (the same calls of the store's reader, no HTTP, no cache, no
rendering) run by 50 threads on one connection under the service's memory limit (one
query per client: the uncached overview takes seconds), and alone. Prints p50/p99, the
service's first (cold) answer and its peak RSS (VmHWM). No assertion: figures.

    python bench/serve.py [--services N] [--requests N] [--keep PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

import census  # noqa: E402  (bench/census.py: the 10M-service generator)

from mxcensus.errors import MxcensusError, UsageError  # noqa: E402
from mxcensus.store.queries import Reader  # noqa: E402
from mxcensus.web import census as c  # noqa: E402
from mxcensus.web.server import MEMORY_LIMIT  # noqa: E402

CLIENTS = 50
COUNTRIES = [cc for cc, _ in census.COUNTRIES]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def host_of(i: int) -> str:
    """The address of generated host ``i`` (bench/census.py's formula)."""
    return f"{1 + (i // 16777216) % 223}.{(i // 65536) % 256}.{(i // 256) % 256}.{i % 256}"


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


def vmhwm(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def requests(name: str, n: int, hosts: int, rng: random.Random) -> list[str]:
    if name == "overview":
        return ["/api/v1/overview"] * n
    if name == "services (filtered)":
        return [f"/api/v1/services?country={rng.choice(COUNTRIES)}&verdict=vulnerable&limit=100"
                for _ in range(n)]  # fmt: skip
    if name == "host":
        return [f"/api/v1/hosts/{host_of(rng.randrange(hosts))}" for _ in range(n)]
    agg = "/api/v1/aggregate?group_by=product_line&group_by=verdict&asn={}"
    return [agg.format(1000 + rng.randrange(50)) for _ in range(n)]


def bare(view: c.View, path: str) -> Callable[[], object]:
    """The queries the endpoint runs for ``path``, straight on DuckDB."""
    from urllib.parse import parse_qs, urlsplit

    u = urlsplit(path)
    q = parse_qs(u.query)
    scan = view.resolve_scan(None)
    assert scan is not None
    if u.path.endswith("/overview"):

        def overview() -> object:
            f = c.Filter(scans=(scan,))
            view.scans()
            view.totals(f)
            view.groups(["product", "product_line"], f, 30)
            view.cve_counts(f, 30)
            return view.scan_totals(f)

        return overview
    if u.path.endswith("/services"):
        f = c.Filter(scans=(scan,), countries=(q["country"][0],), verdicts=("vulnerable",))
        return lambda: view.services(f, limit=100)
    if "/hosts/" in u.path:
        ip = u.path.rsplit("/", 1)[1]

        def host() -> object:
            view.scans()
            rows = view.host_services(ip)
            view.host_findings(ip)
            if rows:  # the evidence chain of the newest scan (none stored here: one query)
                with contextlib.suppress(UsageError):
                    view.explain(ip, rows[-1].scan)
            return rows

        return host
    f = c.Filter(scans=(scan,), asns=(int(q["asn"][0]),))
    return lambda: view.groups(["product_line", "verdict"], f, 100)


async def get(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str, path: str
) -> int:
    """One GET on a kept-alive HTTP/1.1 connection; the status (the body read and dropped)."""
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        (
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        ),
        None,
    )
    if length is None:  # every answer measured here has one; a StopIteration would not do
        raise ConnectionError(f"{path}: an answer without Content-Length")
    await reader.readexactly(length)
    return int(head.split(b" ", 2)[1])


async def load(url: str, paths: list[str]) -> tuple[list[float], int]:
    """Latencies of ``paths`` fetched by CLIENTS concurrent clients, each on its own kept-alive
    connection; failures counted. A plain asyncio client: httpx's own CPU (this machine has
    two cores, shared with the service) doubled the latencies it measured and added a tail."""
    host = url.split("://", 1)[1]
    name, port = host.rsplit(":", 1)
    queue = list(reversed(paths))
    times: list[float] = []
    failed = 0

    async def client() -> None:
        nonlocal failed
        reader, writer = await asyncio.open_connection(name, int(port))
        while queue:
            p = queue.pop()
            t = time.perf_counter()
            try:
                status = await get(reader, writer, host, p)
            except (OSError, asyncio.IncompleteReadError) as exc:
                print(f"  {p}: {exc!r}", flush=True)  # counted, and the run goes on
                failed += 1
                writer.close()
                reader, writer = await asyncio.open_connection(name, int(port))
                continue
            times.append(time.perf_counter() - t)
            if status != 200 and not (status == 404 and "/hosts/" in p):
                failed += 1
        writer.close()

    await asyncio.gather(*(client() for _ in range(CLIENTS)))
    return times, failed


def bare_concurrent(
    con: duckdb.DuckDBPyConnection, db: Path, paths: list[str]
) -> tuple[list[float], int]:
    """Latencies of the bare queries of ``paths`` run by CLIENTS threads at once, and how
    many failed (fifty uncached overviews at once exceed the service's memory limit)."""
    view = c.View(Reader(con, db))
    work = [bare(view, p) for p in paths]
    times: list[float] = []
    failed = 0
    lock = threading.Lock()
    it = iter(work)

    def run() -> None:
        nonlocal failed
        while True:
            with lock:
                job = next(it, None)
            if job is None:
                return
            t = time.perf_counter()
            try:
                job()
            except MxcensusError:
                with lock:
                    failed += 1
                continue
            with lock:
                times.append(time.perf_counter() - t)

    threads = [threading.Thread(target=run) for _ in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return times, failed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--services", type=int, default=10_000_000)
    ap.add_argument("--requests", type=int, default=400, help="per endpoint")
    ap.add_argument("--bare", type=int, default=CLIENTS, help="bare queries per endpoint")
    ap.add_argument("--keep", type=Path, help="Reuse/keep the generated store at PATH.")
    args = ap.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f}; {os.cpu_count()} cores")
    tmp = tempfile.TemporaryDirectory(prefix="mxcensus-serve-bench-")
    db = args.keep or Path(tmp.name) / "census.duckdb"
    if not db.exists():
        took = census.build_census(db, args.services)
        print(f"built {args.services:,} services in {took:.1f} s ({db})")
    hosts = args.services // 3
    port = free_port()
    env = {**os.environ, "MXCENSUS_DB": ""}
    log = db.with_name(db.name + ".serve.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "mxcensus", "serve", "--db", str(db), "--port", str(port),
         "--no-watches"],
        stdout=subprocess.DEVNULL, stderr=log, env=env,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                httpx.get(url + "/api/v1/scans", timeout=5)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        rng = random.Random(1)
        results = []
        for name in ("overview", "services (filtered)", "host", "aggregate (filtered)"):
            paths = requests(name, args.requests, hosts, rng)
            t = time.perf_counter()
            httpx.get(url + paths[0], timeout=300)
            cold = time.perf_counter() - t
            times, failed = asyncio.run(load(url, paths))
            results.append((name, paths, cold, times, failed))
            print(f"{name}: cold {cold * 1e3:.0f} ms, p50 {pct(times, 50) * 1e3:.1f} ms,"
                  f" p99 {pct(times, 99) * 1e3:.1f} ms, {failed} failed", flush=True)  # fmt: skip
        peak = vmhwm(proc.pid)
        if proc.poll() is not None:
            print(f"the service ended ({proc.returncode}): see {log.name}")
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()
    con = duckdb.connect(str(db), read_only=True)
    con.execute("SET memory_limit = ?", [MEMORY_LIMIT])  # the service's own limit
    print()
    print(f"{'endpoint':24} {'cold':>8} {'p50':>8} {'p99':>8} | {'bare p50':>9} {'bare p99':>9}"
          f" {'alone':>8} | {'p50 ×':>6} {'p99 ×':>6} {'×alone':>7}")  # fmt: skip
    for name, paths, cold, times, failed in results:
        concurrent, bare_failed = bare_concurrent(con, db, paths[: args.bare])
        view = c.View(Reader(con, db))
        alone: list[float] = []
        for p in paths[:5]:
            job = bare(view, p)
            t = time.perf_counter()
            job()
            alone.append(time.perf_counter() - t)
        p50, p99, a50 = pct(times, 50), pct(times, 99), statistics.median(alone)
        if concurrent and not bare_failed:
            bp50, bp99 = pct(concurrent, 50), pct(concurrent, 99)
            bare_cols = f" {bp50 * 1e3:8.1f}ms {bp99 * 1e3:8.1f}ms"
            ratios = f" {p50 / bp50:6.2f} {p99 / bp99:6.2f}"
        else:  # the bare queries cannot all run at once: no ratio against them
            bare_cols = f" {f'{bare_failed}/{len(paths[: args.bare])} failed':>19}"
            ratios = f" {'—':>6} {'—':>6}"
        print(f"{name:24} {cold * 1e3:7.0f}ms {p50 * 1e3:7.1f}ms {p99 * 1e3:7.1f}ms |"
              f"{bare_cols} {a50 * 1e3:7.1f}ms |{ratios} {p50 / a50:7.2f}"
              + (f"  ({failed} failed)" if failed else ""))  # fmt: skip
    print(f"\nservice peak RSS (VmHWM): {peak / 2**20:,.0f} MB")
    print(f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
