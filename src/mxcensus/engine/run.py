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
import contextlib
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
    outcomes: collections.Counter[str] = collections.Counter(
        dict(
            store.con.execute(
                "SELECT outcome, count(*) FROM transcripts WHERE scan = ? GROUP BY outcome",
                [scan],
            ).fetchall()
        )
    )
    done = sum(outcomes.values())
    # Flat memory while walking millions of targets: DuckDB spills instead of caching the
    # whole transcripts table (restored when the scan ends; analysis may use more).
    store.con.execute(f"SET memory_limit = '{WRITE_MEMORY_LIMIT}'")
    t0 = time.monotonic()
    probed = 0
    last_report = 0.0
    procs: list[subprocess.Popen[bytes]] = []
    conns: dict[mpc.Connection, int] = {}
    try:
        for w in range(plan.workers):
            proc, conn = _start_worker(plan, w, states[w], booted.pop(0) if booted else None)
            procs.append(proc)
            conns[conn] = w
        while conns:
            for ready in mpc.wait(list(conns), timeout=interval):
                assert isinstance(ready, mpc.Connection)
                conn = ready
                w = conns[conn]
                try:
                    batch: Batch = conn.recv()
                except EOFError:
                    raise EngineError(_died(w, procs[w])) from None
                if batch.error:
                    raise EngineError(f"worker {w} failed: {batch.error}")
                store.write_transcript_rows(
                    scan,
                    batch.rows,
                    progress=[(plan.stream_key(w), batch.next, batch.pending)],
                )
                n = len(batch.rows)
                probed += n
                done += n
                outcomes.update(row[5] for row in batch.rows)
                if batch.done:
                    del conns[conn]
                    conn.close()
            now = time.monotonic()
            if progress is not None and (now - last_report >= interval or not conns):
                last_report = now
                progress(Progress(done, total, dict(outcomes), now - t0, probed, not conns))
    finally:
        stop_all(booted)  # booted ahead, never given work (a worker failed to start)
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
        # The last checkpoint under the limit too, not when the store closes without it; a
        # failure here must not hide the one that ended the scan (close checkpoints again).
        with contextlib.suppress(Exception):
            store.con.execute("CHECKPOINT")
        store.con.execute("RESET memory_limit")
    return ScanResult(scan, total, done, probed, dict(outcomes), time.monotonic() - t0)


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
