"""How many plaintext SMTP sessions per second the lab serves, and at what CPU cost.

Starts ``mxcensus lab`` (port 25 only, no hostile hosts), then client processes on uvloop
run complete dialogues (greeting, EHLO, QUIT) against its addresses for a few seconds.
Prints the sessions per second seen, the lab's CPU seconds (its worker processes, from
/proc) and so the sessions per lab-CPU-second: what one core of lab serves. The clients
share the same two cores, so the wall-clock rate is a floor, not the lab's ceiling.

    python bench/lab.py [--hosts 200] [--seconds 5] [--clients 2] [--concurrency 200]
    python bench/lab.py --startup 2000      # time to start a 2,000-host lab, all ports
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import statistics
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from mxcensus.lab.api import Lab
from mxcensus.lab.population import addresses as lab_addresses
from mxcensus.lab.population import free_base

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` and its children that are still running."""
    user, system = cpu_split(pid)
    return user + system


def cpu_split(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of ``pid`` and its running children."""
    user = system = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        ppid = int(fields[1])
        if int(entry) == pid or ppid == pid:
            user += int(fields[11]) / TICKS
            system += int(fields[12]) / TICKS
    return user, system


class Session(asyncio.Protocol):
    def __init__(self, done: asyncio.Future[bool]) -> None:
        self.done = done
        self.buf = b""
        self.step = 0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while b"\n" in self.buf:
            line, _, self.buf = self.buf.partition(b"\n")
            if len(line) >= 4 and line[3:4] == b" ":  # last line of a reply
                assert self.transport is not None
                if self.step == 0:
                    self.transport.write(b"EHLO bench.test\r\n")
                elif self.step == 1:
                    self.transport.write(b"QUIT\r\n")
                else:
                    self.transport.close()
                    if not self.done.done():
                        self.done.set_result(True)
                self.step += 1

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_result(self.step >= 3)


async def client(addresses: list[str], seconds: float, concurrency: int) -> tuple[int, int]:
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    ok = failed = 0

    async def one(i: int) -> None:
        nonlocal ok, failed
        n = i
        while loop.time() < end:
            done: asyncio.Future[bool] = loop.create_future()
            address = addresses[n % len(addresses)]
            n += concurrency
            try:
                await loop.create_connection(partial(Session, done), address, 25)
                good = await asyncio.wait_for(done, 10)
            except (OSError, TimeoutError):
                good = False
            if good:
                ok += 1
            else:
                failed += 1

    await asyncio.gather(*(one(i) for i in range(concurrency)))
    return ok, failed


def client_main(
    addresses: list[str], seconds: float, concurrency: int, out: multiprocessing.Queue[object]
) -> None:
    import resource

    import uvloop

    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    t0 = time.process_time()
    ok, failed = uvloop.run(client(addresses, seconds, concurrency))
    out.put((ok, failed, time.process_time() - t0))


class Baseline(asyncio.Protocol):
    """The least a server can do for the same dialogue: fixed replies, no parsing."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.t: asyncio.Transport = transport  # type: ignore[assignment]
        self.t.write(b"220 baseline.test ESMTP\r\n")

    def data_received(self, data: bytes) -> None:
        if data[:4].upper() == b"EHLO":
            self.t.write(b"250-baseline.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n")
        else:
            self.t.write(b"221 bye\r\n")
            self.t.close()


def baseline_main(addresses: list[str], ready: Any) -> None:
    import uvloop

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        for address in addresses:
            await loop.create_server(Baseline, address, 25, backlog=1024, reuse_address=True)
        ready.set()
        await asyncio.sleep(3600)

    uvloop.run(serve())


def measure(
    pid: int, addresses: list[str], args: argparse.Namespace
) -> tuple[int, int, float, float, float, float]:
    queue: multiprocessing.Queue[object] = multiprocessing.Queue()
    procs = [
        multiprocessing.Process(
            target=client_main,
            args=(addresses[i :: args.clients], args.seconds, args.concurrency, queue),
        )
        for i in range(args.clients)
    ]
    user0, sys0 = cpu_split(pid)
    t0 = time.monotonic()
    for p in procs:
        p.start()
    results = [queue.get(timeout=args.seconds + 60) for _ in procs]
    for p in procs:
        p.join()
    wall = time.monotonic() - t0
    user1, sys1 = cpu_split(pid)
    ok = sum(int(r[0]) for r in results)  # type: ignore[index]
    failed = sum(int(r[1]) for r in results)  # type: ignore[index]
    client_cpu = sum(float(r[2]) for r in results)  # type: ignore[index]
    return ok, failed, wall, user1 - user0, sys1 - sys0, client_cpu


def report(name: str, run: int, m: tuple[int, int, float, float, float, float]) -> float:
    ok, failed, wall, user, system, client_cpu = m
    cpu = user + system
    per_cpu = ok / max(cpu, 1e-9)
    print(
        f"{name} run {run}: {ok} sessions ({failed} failed) in {wall:.2f} s = {ok / wall:,.0f}/s;"
        f" server CPU {cpu:.2f} s (user {user:.2f}, system {system:.2f}; "
        f"{cpu / wall:.2f} cores), clients CPU {client_cpu:.2f} s; "
        f"{per_cpu:,.0f} sessions per server CPU-second"
    )
    return per_cpu


def throughput(args: argparse.Namespace) -> None:
    with Lab(
        size=args.hosts, seed=1, base="auto", hostile_fraction=0.0, ports=(25,),
        workers=args.workers, duration=600,
    ) as lab:  # fmt: skip
        # hosts with a greet pause answer after 5 s by design; they would measure the pause
        addresses = [
            a
            for a in lab.serving(25)
            if not lab.truth["hosts"][a]["ports"]["25"].get("greet_delay")
        ]
        base = free_base(len(addresses), (25,))
        others = lab_addresses(base, len(addresses))
        ready = multiprocessing.Event()
        baseline = multiprocessing.Process(target=baseline_main, args=(others, ready))
        baseline.start()
        try:
            if not ready.wait(60):
                raise SystemExit("baseline server did not start")
            lab_rates, base_rates = [], []
            for run in range(1, args.runs + 1):
                base_rates.append(report("baseline", run, measure(baseline.pid or 0, others, args)))
                lab_rates.append(report("lab     ", run, measure(lab.pid, addresses, args)))
        finally:
            baseline.terminate()
            baseline.join()
        counted = lab.counters()["total"]
        print(f"lab counted {counted} connections")
    lab_median = statistics.median(lab_rates)
    base_median = statistics.median(base_rates)
    print(
        f"median: lab {lab_median:,.0f} sessions per CPU-second, baseline "
        f"{base_median:,.0f}; lab/baseline {lab_median / base_median:.2f} "
        f"(hosts {args.hosts}, lab workers {args.workers}, clients {args.clients} x "
        f"{args.concurrency}; one CPU-second is one core for one second)"
    )


def startup(size: int) -> None:
    times = []
    for _ in range(3):
        t0 = time.monotonic()
        with Lab(size=size, seed=1, base="auto", duration=600) as lab:
            ready = time.monotonic() - t0
            n = sum(len(h["ports"]) for h in lab.truth["hosts"].values())
        times.append(ready)
        print(f"{size} hosts, {n} listening sockets: ready in {ready:.2f} s")
    print(f"median start-up of a {size}-host lab: {statistics.median(times):.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--hosts", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--startup", type=int, default=0, help="time a lab of N hosts instead")
    args = parser.parse_args()
    if args.startup:
        startup(args.startup)
    else:
        throughput(args)


if __name__ == "__main__":
    main()
