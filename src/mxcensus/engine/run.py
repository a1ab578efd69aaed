"""The parent process: starts the workers, alone keeps the results, reports progress.

Each worker is a fresh interpreter (``python -c spawn.BOOT``), not a fork: a fork would
inherit the parent's DuckDB, pyarrow and heap, and a /12 walk would hold them once per
worker. A worker walks one stream of the plan (:meth:`ScanPlan.streams`) and sends
:class:`~mxcensus.engine.worker.Batch` messages over its own pipe; each batch is kept with
its stream checkpoint in one step by a :class:`Sink`: the store (:class:`StoreSink`, one
transaction per batch) or Parquet parts (:mod:`mxcensus.engine.parts`). Progress reaches
the caller through a callback; the library never prints.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import multiprocessing.connection as mpc
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Protocol

from mxcensus.engine.plan import ScanPlan, Stream
from mxcensus.engine.spawn import Booting, SpawnError, spawn, stop_all
from mxcensus.engine.worker import Batch, StreamState, raise_nofile
from mxcensus.errors import MxcensusError
from mxcensus.model import ScanId
from mxcensus.serialize import TranscriptRow
from mxcensus.store.db import Store
from mxcensus.targets.permute import stream_length

log = logging.getLogger(__name__)

WRITE_MEMORY_LIMIT = "32MB"  # above the 16 MB WAL a checkpoint folds in; 64 MB held ~25 MB more


class EngineError(MxcensusError):
    """A worker process died or reported a failure; the scan can be resumed."""


@dataclass(frozen=True, slots=True)
class ShardState:
    """One stream of a cluster scan as its driver sees it (a shard, on Ray)."""

    key: str  # its progress key (ScanPlan.stream_key)
    total: int  # targets of the stream
    done: int  # targets with a result, earlier runs included
    attempts: int  # attempts in this run; more than one: retried
    status: str  # waiting | running | done | failed
    node: str = ""  # where the current attempt runs
    seconds: float = 0.0  # time since the first attempt of this run started


@dataclass(frozen=True, slots=True)
class Progress:
    done: int  # targets with a result (including those of earlier runs of a resumed scan)
    total: int  # targets of this scan
    outcomes: dict[str, int]
    elapsed: float  # seconds in this run
    probed: int  # results produced by this run
    finished: bool = False
    shards: tuple[ShardState, ...] = ()  # a cluster scan's shards (empty for local workers)

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
    shards: tuple[ShardState, ...] = ()  # a cluster scan's shards, as they ended

    @property
    def rate(self) -> float:
        return self.probed / self.duration if self.duration > 0 else 0.0


def stream_total(stream: Stream) -> int:
    """Targets of one stream."""
    p = stream.plan
    return stream_length(p.space().size, p.shards * p.workers, p.index + p.shards * stream.worker)


def shard_total(plan: ScanPlan) -> int:
    """Targets of the streams the plan's scan owns: one shard's, or a cluster's all."""
    size = plan.space().size
    if plan.shard is None:
        return size
    return sum(
        stream_length(size, plan.shards * plan.workers, plan.shard + plan.shards * w)
        for w in range(plan.workers)
    )


class Sink(Protocol):
    """Where a scan's results are kept, each batch with its stream's checkpoint at once."""

    def saved(self) -> dict[str, tuple[int, tuple[int, ...]]]:
        """Each stream's last kept checkpoint (``next``, ``pending``), by stream key."""
        ...

    def kept(self) -> dict[str, int]:
        """Results kept before this run, by outcome."""
        ...

    def write(
        self, rows: Sequence[TranscriptRow], progress: Sequence[tuple[str, int, Sequence[int]]]
    ) -> None:
        """Keep ``rows`` and the checkpoints ``(stream key, next, pending)`` that count them,
        both or neither."""
        ...


class StoreSink:
    """The store: each batch and its checkpoint in one transaction (so after ``kill -9`` a
    resume probes exactly the targets without a stored result). While it is open the scan
    is claimed by this process (an interrupted scan runs again) and DuckDB works under a
    32 MB memory limit (flat memory while walking millions of targets: DuckDB spills
    instead of caching the whole transcripts table; its own limit again afterwards, and
    the last checkpoint under it too)."""

    def __init__(self, store: Store, scan: ScanId) -> None:
        self.store = store
        self.scan = scan
        self._limit = contextlib.ExitStack()

    def __enter__(self) -> StoreSink:
        self.store.claim_scan(self.scan)
        self._limit.enter_context(self.store.memory_limited(WRITE_MEMORY_LIMIT))
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._limit.__exit__(t, e, tb)

    def saved(self) -> dict[str, tuple[int, tuple[int, ...]]]:
        return self.store.load_progress_state(self.scan)

    def kept(self) -> dict[str, int]:
        return self.store.outcome_counts(self.scan)

    def write(
        self, rows: Sequence[TranscriptRow], progress: Sequence[tuple[str, int, Sequence[int]]]
    ) -> None:
        self.store.write_transcript_rows(self.scan, rows, progress=progress)


class Tally:
    """What a run has kept so far, reported to ``progress`` every ``interval`` seconds."""

    def __init__(
        self,
        total: int,
        kept: dict[str, int],
        progress: ProgressCallback | None,
        interval: float = 0.2,
    ) -> None:
        self.total = total
        self.outcomes: collections.Counter[str] = collections.Counter(kept)
        self.done = sum(self.outcomes.values())
        self.probed = 0
        self.progress = progress
        self.interval = interval
        self.t0 = time.monotonic()
        self._last = 0.0

    def add(self, rows: Sequence[TranscriptRow]) -> None:
        self.probed += len(rows)
        self.done += len(rows)
        self.outcomes.update(row[5] for row in rows)

    def report(self, *, finished: bool = False, shards: tuple[ShardState, ...] = ()) -> None:
        now = time.monotonic()
        if self.progress is not None and (finished or now - self._last >= self.interval):
            self._last = now
            self.progress(
                Progress(
                    self.done, self.total, dict(self.outcomes), now - self.t0, self.probed,
                    finished, shards,
                )
            )  # fmt: skip

    def result(self, scan: ScanId, shards: tuple[ShardState, ...] = ()) -> ScanResult:
        return ScanResult(
            scan, self.total, self.done, self.probed, dict(self.outcomes),
            time.monotonic() - self.t0, shards,
        )  # fmt: skip


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
    (the list is emptied) when there are as many as the plan has streams, else stopped.
    """
    with StoreSink(store, scan) as sink:
        return run_streams(
            sink, scan, plan.streams(), progress=progress, interval=interval, started=started
        )


def run_streams(
    sink: Sink,
    scan: ScanId,
    streams: Sequence[Stream],
    *,
    progress: ProgressCallback | None = None,
    interval: float = 0.2,
    started: list[Booting] | None = None,
) -> ScanResult:
    """Walk ``streams``, one worker process each, keeping every batch in ``sink``."""
    booted = list(started or ())
    if started:
        started.clear()
    if len(booted) != len(streams):
        stop_all(booted)
    raise_nofile(sum(s.pace.concurrency for s in streams) + 256)
    saved = sink.saved()
    tally = Tally(sum(stream_total(s) for s in streams), sink.kept(), progress, interval)
    procs: list[subprocess.Popen[bytes]] = []
    conns: dict[mpc.Connection, Stream] = {}
    try:
        for i, stream in enumerate(streams):
            nxt, pending = saved.get(stream.key, (0, ()))
            proc, conn = _start_worker(
                stream, i, StreamState(nxt, pending), booted.pop(0) if booted else None
            )
            procs.append(proc)
            conns[conn] = stream
        while conns:
            for ready in mpc.wait(list(conns), timeout=interval):
                assert isinstance(ready, mpc.Connection)
                conn = ready
                stream = conns[conn]
                i = streams.index(stream)
                try:
                    batch: Batch = conn.recv()
                except EOFError:
                    raise EngineError(_died(i, procs[i])) from None
                if batch.error:
                    raise EngineError(f"worker {i} failed: {batch.error}")
                sink.write(batch.rows, [(stream.key, batch.next, batch.pending)])
                tally.add(batch.rows)
                if batch.done:
                    del conns[conn]
                    conn.close()
            tally.report(finished=not conns)
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
    return tally.result(scan)


def _start_worker(
    stream: Stream, index: int, state: StreamState, booting: Booting | None = None
) -> tuple[subprocess.Popen[bytes], mpc.Connection]:
    """The worker of ``stream`` (started now unless ``booting``) given its work: its process
    and the parent's end of its pipe."""
    try:
        if booting is None:
            booting = spawn()
    except SpawnError as exc:
        raise EngineError(f"cannot start scan worker {index}: {exc}") from exc
    try:
        booting.conn.send((stream.plan, stream.worker, state, stream.pace))
    except OSError as exc:
        booting.stop()
        raise EngineError(f"cannot start scan worker {index}: {exc}") from exc
    return booting.proc, booting.conn


def _died(worker: int, proc: subprocess.Popen[bytes]) -> str:
    try:
        code = proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        code = None
    return f"worker {worker} died (exit code {code}); resume the scan"
