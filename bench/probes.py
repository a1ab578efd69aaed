"""How many plaintext SMTP probe sessions per second one core runs, against a baseline.

A minimal SMTP server runs in a child process on 127.0.0.1 (uvloop). In this process, on
uvloop, we run the same number of sessions twice, with the same concurrency:

- baseline: a bare asyncio Protocol that does the same exchange (greeting, EHLO, QUIT)
  and only waits for the last line of each reply — the floor for any probe in Python;
- probe: ``SmtpProbe().run()``, which frames replies, records steps and builds a
  Transcript.

Prints the median sessions/s and client CPU time per session of three rounds each, and
the probe/baseline ratios (CPU per session is the steadier figure on a shared machine).
Usage: python bench/probes.py [--sessions N] [--concurrency C]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import statistics
import sys
import time
from pathlib import Path

import uvloop

# measure this checkout's probes, not whichever mxcensus the venv has installed
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from mxcensus.model import Outcome
from mxcensus.probes.interface import Endpoint, ProbeConfig
from mxcensus.probes.smtp import SmtpProbe

GREETING = b"220 bench.test ESMTP Postfix (Debian/GNU)\r\n"
EHLO = b"250-bench.test\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n"


class _Server(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.t: asyncio.Transport = transport  # type: ignore[assignment]
        self.buf = b""
        self.t.write(GREETING)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while b"\n" in self.buf:
            line, self.buf = self.buf.split(b"\n", 1)
            verb = line[:4].upper()
            if verb == b"EHLO":
                self.t.write(EHLO)
            elif verb == b"QUIT":
                self.t.write(b"221 bye\r\n")
                self.t.close()
            else:
                self.t.write(b"500 no\r\n")


def _serve(port_out: multiprocessing.Queue[int]) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(_Server, "127.0.0.1", 0, backlog=4096)
        port_out.put(server.sockets[0].getsockname()[1])
        await asyncio.sleep(3600)

    uvloop.run(main())


class _Baseline(asyncio.Protocol):
    def __init__(self, done: asyncio.Future[None]) -> None:
        self.done = done
        self.stage = 0
        self.buf = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.t: asyncio.Transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buf += data
        # a reply is complete when its last line has a space after the code
        while True:
            nl = self.buf.find(b"\n")
            if nl < 0:
                return
            line, self.buf = self.buf[: nl + 1], self.buf[nl + 1 :]
            if line[3:4] == b"-":
                continue
            self.stage += 1
            if self.stage == 1:
                self.t.write(b"EHLO bench.invalid\r\n")
            elif self.stage == 2:
                self.t.write(b"QUIT\r\n")
            else:
                self.t.close()
                if not self.done.done():
                    self.done.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_result(None)


async def _baseline_one(port: int) -> None:
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()
    await loop.create_connection(lambda: _Baseline(done), "127.0.0.1", port)
    await done


async def _probe_one(port: int, probe: SmtpProbe, config: ProbeConfig) -> None:
    t = await probe.run(Endpoint("127.0.0.1", port), config)
    if t.outcome is not Outcome.OK:
        raise RuntimeError(f"bench session failed: {t.outcome} {t.error}")


async def _round(kind: str, port: int, sessions: int, concurrency: int) -> tuple[float, float]:
    """(sessions per wall second, client CPU microseconds per session)."""
    probe, config = SmtpProbe(), ProbeConfig()
    sem = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with sem:
            if kind == "baseline":
                await _baseline_one(port)
            else:
                await _probe_one(port, probe, config)

    start, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(one() for _ in range(sessions)))
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    return sessions / wall, cpu / sessions * 1e6


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sessions", type=int, default=3000)
    ap.add_argument("--concurrency", type=int, default=200)
    args = ap.parse_args()
    ctx = multiprocessing.get_context("spawn")
    q: multiprocessing.Queue[int] = ctx.Queue()
    server = ctx.Process(target=_serve, args=(q,), daemon=True)
    server.start()
    try:
        port = q.get(timeout=30)
        rates: dict[str, list[float]] = {"baseline": [], "probe": []}
        cpus: dict[str, list[float]] = {"baseline": [], "probe": []}

        async def run_all() -> None:
            for _ in range(3):
                for kind in rates:
                    rate, cpu = await _round(kind, port, args.sessions, args.concurrency)
                    rates[kind].append(rate)
                    cpus[kind].append(cpu)

        uvloop.run(run_all())
    finally:
        server.terminate()
        server.join(timeout=10)
    base = statistics.median(rates["baseline"])
    probe = statistics.median(rates["probe"])
    rounds = {k: [round(r) for r in v] for k, v in rates.items()}
    base_cpu = statistics.median(cpus["baseline"])
    probe_cpu = statistics.median(cpus["probe"])
    print(f"{args.sessions} sessions per round, concurrency {args.concurrency}, uvloop, 1 core")
    print(f"baseline (bare protocol): {base:8.0f} sessions/s  rounds {rounds['baseline']}")
    print(f"SmtpProbe (plain):        {probe:8.0f} sessions/s  rounds {rounds['probe']}")
    print(f"client CPU per session: baseline {base_cpu:.0f} µs, probe {probe_cpu:.0f} µs")
    print(f"probe / baseline: {probe / base:.2f} (sessions/s), {probe_cpu / base_cpu:.2f} (CPU)")


if __name__ == "__main__":
    main()
