"""The parent process: starts the workers, alone writes the store, reports progress.

Each worker is a fresh interpreter (``python -c spawn.BOOT``), not a fork: a fork would
inherit the parent's DuckDB, pyarrow and heap, and a /12 walk would hold them once per
worker. A worker sends :class:`~mxcensus.engine.worker.Batch` messages over its own pipe;
each batch is written with its stream checkpoint in one transaction
(:meth:`Store.write_transcript_rows`). Progress reaches the caller through a callback; the
library never prints.
"""

from __future__ import annotations

import collections
import logging
import multiprocessing.connection as mpc
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from mxcensus.engine.plan import ScanPlan
from mxcensus.engine.spawn import Booting, SpawnError, spawn, stop_all
from mxcensus.engine.worker import Batch, StreamState, raise_nofile
from mxcensus.errors import MxcensusError
from mxcensus.model import ScanId
from mxcensus.store.db import Store
from mxcensus.targets.permute import stream_length

log = logging.getLogger(__name__)

WRITE_MEMORY_LIMIT = "32MB"  # above the 16 MB WAL a checkpoint folds in; 64 MB held ~25 MB more


class EngineError(MxcensusError):
    """A worker process died or reported a failure; the scan can be resumed."""


@dataclass(frozen=True, slots=True)
class Progress:
    done: int  # targets with a result (including those of earlier runs of a resumed scan)
    total: int  # targets of this shard
    outcomes: dict[str, int]
    elapsed: float  # seconds in this run
    probed: int  # results produced by this run
    finished: bool = False

    @property
    def rate(self) -> float:
        return self.probed / self.elapsed if self.elapsed > 0 else 0.0


ProgressCallback = Callable[[Progress], None]


@dataclass
class ScanResult:
    scan: ScanId
    total: int
    done: int
    probed: int
    outcomes: dict[str, int] = field(default_factory=dict)
    duration: float = 0.0

    @property
    def rate(self) -> float:
        return self.probed / self.duration if self.duration > 0 else 0.0


def shard_total(plan: ScanPlan) -> int:
    size = plan.space().size
    return sum(
        stream_length(size, plan.shards * plan.workers, plan.shard + plan.shards * w)
        for w in range(plan.workers)
    )


def run_scan(
    store: Store,
    scan: ScanId,
    plan: ScanPlan,
    *,
    progress: ProgressCallback | None = None,
    interval: float = 0.2,
    started: list[Booting] | None = None,
) -> ScanResult:
    """Probe every target of ``plan`` not yet done in ``scan``; returns when all are done.

    ``started``: workers already booting (:func:`mxcensus.engine.spawn.prestart`); taken
    (the list is emptied) when there are as many as the plan has, else stopped.
    """
    booted = list(started or ())
    if started:
        started.clear()
    if len(booted) != plan.workers:
        stop_all(booted)
    raise_nofile(plan.concurrency + 256)
    store.claim_scan(scan)  # running here now (an interrupted scan: resumed)
    saved = store.load_progress_state(scan)
    states = []
    for w in range(plan.workers):
        nxt, pending = saved.get(plan.stream_key(w), (0, ()))
        states.append(StreamState(next=nxt, pending=pending))
    total = shard_total(plan)
    walk = _Walk(store, scan, plan, collections.Counter(store.outcome_counts(scan)))
    # Flat memory while walking millions of targets: DuckDB spills instead of caching the
    # whole transcripts table (its own limit again when the scan ends; analysis may use
    # more), and the last checkpoint under it too.
    with store.memory_limited(WRITE_MEMORY_LIMIT):
        procs: list[subprocess.Popen[bytes]] = []
        conns: dict[mpc.Connection, int] = {}
        try:
            for w in range(plan.workers):
                proc, conn = _start_worker(plan, w, states[w], booted.pop(0) if booted else None)
                procs.append(proc)
                conns[conn] = w
            walk.run(procs, conns, total, progress, interval)
        finally:
            stop_all(booted)  # booted ahead, never given work (a worker failed to start)
            _stop(procs, conns)
    return ScanResult(
        scan, total, walk.done, walk.probed, dict(walk.outcomes), time.monotonic() - walk.t0
    )


class _Walk:
    """The parent's side of a walk: each worker's batches written with their checkpoint,
    one transaction each, and progress reported."""

    def __init__(
        self, store: Store, scan: ScanId, plan: ScanPlan, outcomes: collections.Counter[str]
    ) -> None:
        self.store = store
        self.scan = scan
        self.plan = plan
        self.outcomes = outcomes
        self.done = sum(outcomes.values())  # with the results of earlier runs
        self.probed = 0
        self.t0 = time.monotonic()

    def run(
        self,
        procs: list[subprocess.Popen[bytes]],
        conns: dict[mpc.Connection, int],
        total: int,
        progress: ProgressCallback | None,
        interval: float,
    ) -> None:
        """Until every worker is done (each one's connection is removed from ``conns``)."""
        last_report = 0.0
        while conns:
            for ready in mpc.wait(list(conns), timeout=interval):
                assert isinstance(ready, mpc.Connection)
                w = conns[ready]
                try:
                    batch: Batch = ready.recv()
                except EOFError:
                    raise EngineError(_died(w, procs[w])) from None
                if batch.error:
                    raise EngineError(f"worker {w} failed: {batch.error}")
                self.write(w, batch)
                if batch.done:
                    del conns[ready]
                    ready.close()
            now = time.monotonic()
            if progress is not None and (now - last_report >= interval or not conns):
                last_report = now
                progress(
                    Progress(self.done, total, dict(self.outcomes), now - self.t0, self.probed,
                             not conns)
                )  # fmt: skip

    def write(self, worker: int, batch: Batch) -> None:
        self.store.write_transcript_rows(
            self.scan,
            batch.rows,
            progress=[(self.plan.stream_key(worker), batch.next, batch.pending)],
        )
        n = len(batch.rows)
        self.probed += n
        self.done += n
        self.outcomes.update(row[5] for row in batch.rows)


def _stop(procs: list[subprocess.Popen[bytes]], conns: dict[mpc.Connection, int]) -> None:
    """Close the pipes and end the workers (terminated, killed after 5 s)."""
    for conn in conns:
        conn.close()
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _start_worker(
    plan: ScanPlan, worker: int, state: StreamState, booting: Booting | None = None
) -> tuple[subprocess.Popen[bytes], mpc.Connection]:
    """Worker ``worker`` (started now unless ``booting``) given its work: its process and
    the parent's end of its pipe."""
    try:
        if booting is None:
            booting = spawn()
    except SpawnError as exc:
        raise EngineError(f"cannot start scan worker {worker}: {exc}") from exc
    try:
        booting.conn.send((plan, worker, state))
    except OSError as exc:
        booting.stop()
        raise EngineError(f"cannot start scan worker {worker}: {exc}") from exc
    return booting.proc, booting.conn


def _died(worker: int, proc: subprocess.Popen[bytes]) -> str:
    try:
        code = proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        code = None
    return f"worker {worker} died (exit code {code}); resume the scan"
