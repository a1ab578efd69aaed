"""A stream follows its pace as a cluster lease changes it: nothing opens once it lapses,
a smaller per-/24 cap holds at once, and the walk goes on when the lease is back."""

from __future__ import annotations

import asyncio
import math
import queue
import time

from mxcensus.engine.plan import Pace, ScanPlan
from mxcensus.engine.worker import Batch, StreamRunner, StreamState
from mxcensus.targets import load_targets
from tests.engine import tinyprobe
from tests.engine.servers import counting_servers, free_port


def _plan(cidrs: list[str], port: int) -> ScanPlan:
    return ScanPlan(
        targets=load_targets(cidrs, allow_reserved=True),
        ports=((port, "smtp"),),
        seed=3,
        probe_table=tinyprobe.TABLE,
    )


def _drain(out: queue.Queue[Batch]) -> list[Batch]:
    got = []
    while not out.empty():
        got.append(out.get_nowait())
    return got


def test_a_lapsed_lease_opens_nothing_until_renewed() -> None:
    port = free_port()
    listening = [(f"127.0.21.{i}", port) for i in range(1, 31)]
    with counting_servers(listening) as srv:
        pace = Pace(rate=1000.0, concurrency=8, per_net=8, until=0.0)  # lapsed from the start
        out: queue.Queue[Batch] = queue.Queue(100)
        runner = StreamRunner(_plan(["127.0.21.1-30"], port), 0, StreamState(), out, pace)

        async def main() -> None:
            task = asyncio.create_task(runner.run())
            await asyncio.sleep(0.5)
            assert sum(srv.snapshot().values()) == 0  # held: not one connection
            pace.until = math.inf  # renewed
            await asyncio.wait_for(task, 60)

        asyncio.run(main())
        counts = srv.snapshot()
    batches = _drain(out)
    assert batches[-1].done
    assert sorted(r[0] for b in batches for r in b.rows) == sorted(ip for ip, _ in listening)
    assert counts == dict.fromkeys(listening, 1)


def test_a_lease_lapsing_midway_stops_new_connections_and_keeps_results() -> None:
    port = free_port()
    listening = [(f"127.0.22.{i}", port) for i in range(1, 41)]
    with counting_servers(listening, delay=0.05) as srv:
        pace = Pace(rate=40.0, concurrency=4, per_net=4)
        out: queue.Queue[Batch] = queue.Queue(100)
        runner = StreamRunner(_plan(["127.0.22.1-40"], port), 0, StreamState(), out, pace)

        async def main() -> tuple[int, int]:
            task = asyncio.create_task(runner.run())
            for _ in range(200):  # bounded: 10 s
                if sum(srv.snapshot().values()) >= 10:
                    break
                await asyncio.sleep(0.05)
            pace.until = time.monotonic()  # the lease runs out now
            await asyncio.sleep(0.5)  # in-flight probes finish
            stopped = sum(srv.snapshot().values())
            await asyncio.sleep(0.7)
            still = sum(srv.snapshot().values())
            pace.until = math.inf
            await asyncio.wait_for(task, 60)
            return stopped, still

        stopped, still = asyncio.run(main())
        counts = srv.snapshot()
    assert 10 <= stopped < 40 and still == stopped  # nothing opened while it was lapsed
    batches = _drain(out)
    assert sorted(r[0] for b in batches for r in b.rows) == sorted(ip for ip, _ in listening)
    assert counts == dict.fromkeys(listening, 1)


def test_a_smaller_per_net_share_holds_for_new_connections() -> None:
    port = free_port()
    listening = [(f"127.0.23.{i}", port) for i in range(1, 41)]
    with counting_servers(listening, delay=0.3) as srv:
        pace = Pace(rate=1000.0, concurrency=20, per_net=8)
        out: queue.Queue[Batch] = queue.Queue(100)
        runner = StreamRunner(_plan(["127.0.23.1-40"], port), 0, StreamState(), out, pace)

        async def main() -> None:
            task = asyncio.create_task(runner.run())
            await asyncio.sleep(0.1)
            pace.per_net = 2  # another shard joined: the /24's share shrinks
            srv.peak.clear()
            await asyncio.sleep(0.6)  # the first 8 finish; from now on 2 at most
            srv.peak.clear()
            await asyncio.wait_for(task, 60)

        asyncio.run(main())
    assert srv.peak["127.0.23"] <= 2
    assert _drain(out)[-1].done
