"""One worker process: walks its stream of the target space on uvloop.

The worker starts at most ``rate`` new probes per second and keeps at most ``concurrency``
open, and at most ``per_net`` per /24 (IPv6: /56) — its stream's :class:`~mxcensus.engine.
plan.Pace`, which a cluster lease may change while it runs, or stop (no new connection after
``until``); a target whose network is full waits in a small deferred queue while others
proceed. Results go to the parent in batches together
with the stream's checkpoint: ``next`` (the first position not yet taken from the walk) and
``pending`` (positions below it without a result yet). The parent commits both in one
transaction, so after a crash every position below ``next`` and not pending has exactly one
stored result.

The worker is a fresh interpreter started by the parent
(:data:`mxcensus.engine.spawn.BOOT`), so this module must stay importable without the
store: no DuckDB, pyarrow, rich (``tests/engine/test_worker_imports.py``).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import ctypes
import logging
import os
import queue
import resource
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from typing import Any

from mxcensus.engine.plan import Pace, ScanPlan, load_probes, share
from mxcensus.model import Outcome, Transcript, Transport
from mxcensus.probes import TABLE
from mxcensus.probes.interface import Endpoint, Probe
from mxcensus.serialize import TranscriptRow, transcript_row
from mxcensus.targets import Endpoint as TargetEndpoint
from mxcensus.targets import Permutation, walk
from mxcensus.targets.permute import stream_length

log = logging.getLogger(__name__)

BATCH_SIZE = 500
FLUSH_SECONDS = 0.1
OUT_QUEUE = 8  # batches a worker may have queued for the parent (its memory stays flat)
LAG_TICK = 0.02  # the loop-lag probe's period, seconds
LAG_LIMIT = 0.2  # pause new connections while the event loop runs this late, seconds …
LAG_FLOOR = 32  # … unless fewer than this many are open (a busy machine lags anyway)
_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True, slots=True)
class Batch:
    """Worker → parent: results and the checkpoint that counts them."""

    worker: int
    next: int
    pending: tuple[int, ...]
    rows: tuple[TranscriptRow, ...]  # serialised here, in parallel; the parent only inserts
    done: bool = False
    error: str = ""


@dataclass
class StreamState:
    next: int = 0
    pending: tuple[int, ...] = ()


def raise_nofile(wanted: int) -> int:
    """Raise the soft open-files limit towards ``wanted`` (up to the hard limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if target > soft:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def worker_share(total: int, workers: int, worker: int) -> int:
    """This worker's share of a global limit (at least 1)."""
    return share(total, workers, worker)


@dataclass
class _Limiter:
    """Paces starts to ``rate`` per second without sleeping per connection."""

    rate: float
    started: int = 0
    t0: float = field(default_factory=time.monotonic)

    def set_rate(self, rate: float) -> None:
        """From now on ``rate``, counted from the later of now and the next start already
        due (a faster rate never makes up for the past)."""
        self.t0 = max(time.monotonic(), self.t0 + self.started / self.rate)
        self.started = 0
        self.rate = rate

    async def take(self) -> None:
        self.started += 1
        due = self.t0 + self.started / self.rate
        delay = due - time.monotonic()
        if delay > 0.001:
            await asyncio.sleep(delay)


class StreamRunner:
    def __init__(
        self,
        plan: ScanPlan,
        worker: int,
        state: StreamState,
        out: Any,
        pace: Pace | None = None,
    ) -> None:
        """Walk stream ``worker`` of ``plan``'s shard from ``state``, sending batches to
        ``out``; at ``pace`` (default: this worker's share of the plan's limits)."""
        self.plan = plan
        self.worker = worker
        self.state = state
        self.out = out  # a Sender (or anything with put_nowait raising queue.Full)
        self.space = plan.space()
        self.perm = Permutation(self.space.size, plan.seed)
        self.probes: dict[str, Probe] = load_probes(plan.probe_table)
        self.pace = pace or Pace(
            rate=plan.rate / plan.workers,
            concurrency=share(plan.concurrency, plan.workers, worker),
            per_net=share(plan.per_net, plan.workers, worker),
        )
        self.concurrency = self.pace.concurrency
        self.per_net = self.pace.per_net
        self.limiter = _Limiter(max(self.pace.rate, 0.001))
        self.pending: set[int] = set(state.pending)
        self.next = state.next
        self.results: list[TranscriptRow] = []
        self.active_per_net: collections.Counter[int] = collections.Counter()
        self.deferred: dict[int, collections.deque[tuple[int, TargetEndpoint]]] = {}
        self.n_deferred = 0
        self.ready: collections.deque[tuple[int, TargetEndpoint]] = collections.deque()
        self.running = 0
        self.slot = asyncio.Event()
        self.last_flush = time.monotonic()
        self.lag = 0.0

    @property
    def length(self) -> int:
        p = self.plan
        return stream_length(
            self.space.size, p.shards * p.workers, p.index + p.shards * self.worker
        )

    def _items(self) -> Iterator[tuple[int, int]]:
        p = self.plan
        step, offset = p.shards * p.workers, p.index + p.shards * self.worker
        for j in sorted(self.state.pending):
            yield j, self.perm(offset + step * j)
        for j, index in walk(
            self.perm,
            shards=p.shards,
            shard=p.index,
            workers=p.workers,
            worker=self.worker,
            start=self.state.next,
        ):
            self.pending.add(j)
            self.next = j + 1
            yield j, index

    async def _watch_lag(self) -> None:
        """Admission control: a loop that runs late means the CPU is saturated (TLS
        handshakes, parsing); starting more connections then only turns healthy servers into
        timeouts, because every deadline also counts the time spent waiting for the CPU."""
        loop = asyncio.get_running_loop()
        while True:
            t = loop.time()
            await asyncio.sleep(LAG_TICK)
            self.lag = loop.time() - t - LAG_TICK

    async def run(self) -> None:
        tasks: set[asyncio.Task[None]] = set()
        watcher = asyncio.create_task(self._watch_lag())
        try:
            await self._dispatch(tasks)
        finally:
            watcher.cancel()
        await self._flush(done=True)

    async def _dispatch(self, tasks: set[asyncio.Task[None]]) -> None:
        items = self._items()
        exhausted = False
        while True:
            if exhausted and not (self.ready or self.running or self.n_deferred):
                break
            if not self._follow_pace() or (self.lag > LAG_LIMIT and self.running >= LAG_FLOOR):
                await asyncio.sleep(LAG_TICK)
                await self._maybe_flush()
                continue
            if self.ready:
                j, ep = self.ready.popleft()
            elif exhausted:
                if not self.running and not self.n_deferred:
                    break
                await self._wait_slot()
                continue
            elif self.running >= self.concurrency or self.n_deferred >= self.concurrency:
                await self._wait_slot()
                continue
            else:
                nxt = next(items, None)
                if nxt is None:
                    exhausted = True
                    continue
                j, index = nxt
                ep = self.space[index]
                if self.active_per_net[ep.net] >= self.per_net:
                    self.deferred.setdefault(ep.net, collections.deque()).append((j, ep))
                    self.n_deferred += 1
                    continue
                self.active_per_net[ep.net] += 1
            await self.limiter.take()
            if not self._follow_pace():  # the lease lapsed while waiting for the start
                self.ready.appendleft((j, ep))  # its /24 slot is counted: it goes first
                continue
            if not self.limiter.started % 32:
                await asyncio.sleep(0)  # let I/O (and the lag probe) run between bursts
            self.running += 1
            task = asyncio.create_task(self._probe(j, ep))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            await self._maybe_flush()

    def _follow_pace(self) -> bool:
        """Take up a changed pace; False while it allows no new connection (a lease that
        lapsed: in-flight probes finish, their results are still sent)."""
        pace = self.pace
        if max(pace.rate, 0.001) != self.limiter.rate:
            self.limiter.set_rate(max(pace.rate, 0.001))
        self.concurrency = pace.concurrency
        self.per_net = pace.per_net
        return (
            pace.rate > 0
            and pace.concurrency > 0
            and pace.per_net > 0
            and time.monotonic() < pace.until
        )

    async def _wait_slot(self) -> None:
        self.slot.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.slot.wait(), FLUSH_SECONDS)
        await self._maybe_flush()

    async def _probe(self, j: int, ep: TargetEndpoint) -> None:
        net = ep.net
        try:
            transcript = await self._run_probe(ep.ip, ep.port, ep.probe, ep.hostname)
        finally:
            self.running -= 1
            waiting = self.deferred.get(net)
            if waiting and self.active_per_net[net] <= self.per_net:
                # hand the /24's slot straight to a deferred target of the same network
                # (not when a smaller pace left the network above its cap)
                self.ready.append(waiting.popleft())
                self.n_deferred -= 1
                if not waiting:
                    del self.deferred[net]
            else:
                self.active_per_net[net] -= 1
                if not self.active_per_net[net]:
                    del self.active_per_net[net]
            self.slot.set()
        self.results.append(transcript_row(transcript))
        self.pending.discard(j)

    async def _run_probe(self, ip: str, port: int, name: str, hostname: str) -> Transcript:
        probe = self.probes[name]
        cfg = self.plan.probe_config
        started = time.monotonic()
        endpoint = Endpoint(ip=ip, port=port, hostname=hostname)
        try:
            async with asyncio.timeout(cfg.total_timeout + 1.0):
                return await probe.run(endpoint, cfg)
        except TimeoutError:
            outcome, error = Outcome.TIMEOUT, f"total timeout {cfg.total_timeout:g}s exceeded"
        except Exception as exc:
            log.debug("probe %s failed on %s:%d", name, ip, port, exc_info=True)
            outcome, error = Outcome.ERROR, f"probe {name} failed: {exc!r}"[:500]
        return Transcript(
            ip=ip,
            port=port,
            protocol=name,
            transport=Transport.TLS if port in TABLE.tls_ports else Transport.PLAIN,
            observed_at=datetime.now(UTC),
            outcome=outcome,
            error=error,
            duration_ms=int((time.monotonic() - started) * 1000),
            hostname=hostname,
        )

    async def _maybe_flush(self) -> None:
        if len(self.results) >= BATCH_SIZE or (
            self.results and time.monotonic() - self.last_flush >= FLUSH_SECONDS
        ):
            await self._flush()

    async def _flush(self, *, done: bool = False) -> None:
        batch = Batch(
            worker=self.worker,
            next=self.next,
            pending=tuple(sorted(self.pending)),
            rows=tuple(self.results),
            done=done,
        )
        self.results = []
        self.last_flush = time.monotonic()
        while True:
            try:
                self.out.put_nowait(batch)
                return
            except queue.Full:
                if os.getppid() == 1:  # orphaned: nobody will read this
                    os._exit(1)
                await asyncio.sleep(0.02)  # the parent is writing: back off, never block


def _die_with_parent() -> None:
    """Ask Linux to SIGKILL this worker when the parent dies (kill -9 of the scan)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


class Sender:
    """The worker's end of its pipe to the parent.

    ``put_nowait`` hands a batch to a bounded local queue and raises ``queue.Full`` when
    ``maxsize`` batches wait (the parent is busy writing: the event loop backs off, it never
    blocks); a thread pickles and sends them in order, blocking on the pipe instead of the
    loop.
    """

    def __init__(self, conn: Connection, maxsize: int = OUT_QUEUE) -> None:
        self.conn = conn
        self.queue: queue.Queue[Batch | None] = queue.Queue(maxsize)
        self.thread = threading.Thread(target=self._send, name="mxcensus-sender", daemon=True)
        self.thread.start()

    def put_nowait(self, batch: Batch) -> None:
        self.queue.put_nowait(batch)

    def put(self, batch: Batch) -> None:
        self.queue.put(batch)

    def close(self) -> None:
        """Send what is queued, then stop."""
        self.queue.put(None)
        self.thread.join()

    def _send(self) -> None:
        while (batch := self.queue.get()) is not None:
            try:
                self.conn.send(batch)
            except OSError:  # the parent is gone or closed the pipe: nobody will read this
                os._exit(1)


def worker_main(conn: Connection, parent: int) -> None:
    """Entry point of a worker process, started by :data:`mxcensus.engine.spawn.BOOT`."""
    _die_with_parent()
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        plan, worker, state, pace = conn.recv()
    except EOFError:  # started ahead (spawn.prestart) and not needed after all
        os._exit(0)
    out = Sender(conn)
    raise_nofile(pace.concurrency + 256)
    try:
        import uvloop

        async def main() -> None:
            await StreamRunner(plan, worker, state, out, pace).run()

        uvloop.run(main())
    except BaseException as exc:
        out.put(Batch(worker=worker, next=-1, pending=(), rows=(), error=repr(exc)))
        out.close()
        raise
    out.close()
