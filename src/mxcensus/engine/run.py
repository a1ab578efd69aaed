"""The parent process: starts the workers, alone writes the store, reports progress.

Workers send :class:`~mxcensus.engine.worker.Batch` messages over one bounded queue; each
batch is written with its stream checkpoint in one transaction
(:meth:`Store.write_transcript_rows`). Progress reaches the caller through a callback; the
library never prints.
"""

from __future__ import annotations

import collections
import gc
import logging
import multiprocessing as mp
import queue
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from mxcensus.engine.plan import ScanPlan, load_probes
from mxcensus.engine.worker import Batch, StreamState, raise_nofile, worker_main
from mxcensus.errors import MxcensusError
from mxcensus.model import ScanId
from mxcensus.store.db import Store
from mxcensus.targets.permute import stream_length

log = logging.getLogger(__name__)

WRITE_MEMORY_LIMIT = "64MB"


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
) -> ScanResult:
    """Probe every target of ``plan`` not yet done in ``scan``; returns when all are done."""
    raise_nofile(plan.concurrency + 256)
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
    # fork: the workers need nothing of the parent's DuckDB, start in milliseconds, and the
    # library must work from any __main__ (spawn would re-import it)
    ctx = mp.get_context("fork")
    out: mp.Queue[Batch] = ctx.Queue(maxsize=64)
    procs = [
        ctx.Process(
            target=worker_main,
            args=(plan, w, states[w], out),
            name=f"mxcensus-worker-{w}",
            daemon=True,
        )
        for w in range(plan.workers)
    ]
    # Flat memory while walking millions of targets: DuckDB spills instead of caching the
    # whole transcripts table (restored when the scan ends; analysis may use more).
    store.con.execute(f"SET memory_limit = '{WRITE_MEMORY_LIMIT}'")
    t0 = time.monotonic()
    probed = 0
    last_report = 0.0
    load_probes(plan.probe_table)  # imported once here, shared by the forked workers
    gc.collect()
    gc.freeze()  # the workers' GC then never walks (nor copies) the parent's heap
    try:
        for p in procs:
            p.start()
    finally:
        gc.unfreeze()
    running = set(range(plan.workers))
    try:
        while running:
            try:
                batch = out.get(timeout=interval)
            except queue.Empty:
                _check_alive(procs, running)
                batch = None
            if batch is not None:
                if batch.error:
                    raise EngineError(f"worker {batch.worker} failed: {batch.error}")
                store.write_transcript_rows(
                    scan,
                    batch.rows,
                    progress=[(plan.stream_key(batch.worker), batch.next, batch.pending)],
                )
                n = len(batch.rows)
                probed += n
                done += n
                outcomes.update(row[5] for row in batch.rows)
                if batch.done:
                    running.discard(batch.worker)
            now = time.monotonic()
            if progress is not None and (now - last_report >= interval or not running):
                last_report = now
                progress(Progress(done, total, dict(outcomes), now - t0, probed, not running))
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
        for p in procs:
            p.join(timeout=5)
        out.close()
        out.join_thread()
        store.con.execute("RESET memory_limit")
    return ScanResult(scan, total, done, probed, dict(outcomes), time.monotonic() - t0)


def _check_alive(procs: Sequence[mp.process.BaseProcess], running: set[int]) -> None:
    for w in running:
        p = procs[w]
        if not p.is_alive() and p.exitcode not in (0, None):
            raise EngineError(f"worker {w} died (exit code {p.exitcode}); resume the scan")
