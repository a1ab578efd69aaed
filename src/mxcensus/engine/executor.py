"""Where a scan's probes run: the seam between a stored plan and the processes that walk it.

An :class:`Executor` probes every target of a plan not yet done in its scan, while the
driver (the process that called :func:`mxcensus.engine.session.scan`) alone writes the
store. :class:`LocalExecutor`, the default, is this machine's worker processes; a cluster
executor implements the same three methods. This module imports nothing heavy.
"""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING, Protocol, Self

from mxcensus.engine.spawn import prestart, stop_all, worker_count

if TYPE_CHECKING:
    from collections.abc import Sequence

    from mxcensus.engine.plan import ScanPlan, Stream
    from mxcensus.engine.request import ScanRequest
    from mxcensus.engine.run import ProgressCallback, ScanResult, Sink
    from mxcensus.model import ScanId
    from mxcensus.store.db import Store


class Executor(Protocol):
    """Subclass it for the context manager: ``with`` an executor closes it."""

    name: str

    def shape(self, request: ScanRequest) -> tuple[int, int | None, int]:
        """A new plan's shards, shard (None: every shard) and workers per shard."""
        ...

    def concurrency_cap(self, wanted: int) -> int:
        """How many connections it can hold open at most, asked for ``wanted``."""
        ...

    def run(
        self, store: Store, scan: ScanId, plan: ScanPlan, progress: ProgressCallback | None
    ) -> ScanResult:
        """Probe what ``scan`` has not done yet of ``plan``; return when all is done."""
        ...

    def close(self) -> None:
        """Release what it holds (idle processes, connections); idempotent."""
        ...

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class LocalExecutor(Executor):
    """The worker processes of this machine (:func:`mxcensus.engine.run.run_scan`)."""

    name = "local"

    def __init__(self, workers: int = 0) -> None:
        """``workers``: interpreters to boot now, while the caller parses the targets and
        opens the store; the scan takes them if its plan has as many workers."""
        self._booting = prestart(workers) if workers > 0 else []

    def shape(self, request: ScanRequest) -> tuple[int, int | None, int]:
        """The shard ``--shard`` names (default 0) of ``--shards`` (default 1), walked by
        ``--workers`` processes (default: one per core)."""
        return local_shape(request)

    def concurrency_cap(self, wanted: int) -> int:
        """Open connections the open-file limit allows (raised towards ``wanted``), less
        what the process needs besides (pipes, the store, libraries)."""
        from mxcensus.engine.worker import raise_nofile

        return raise_nofile(wanted + 256) - 128

    def run(
        self, store: Store, scan: ScanId, plan: ScanPlan, progress: ProgressCallback | None
    ) -> ScanResult:
        from mxcensus.engine.run import run_scan

        return run_scan(store, scan, plan, progress=progress, started=self._booting)

    def run_streams(
        self, sink: Sink, scan: ScanId, streams: Sequence[Stream], progress: ProgressCallback | None
    ) -> ScanResult:
        """Walk ``streams`` into ``sink`` (a pod's Parquet parts, :mod:`.parts`)."""
        from mxcensus.engine.run import run_streams

        return run_streams(sink, scan, streams, progress=progress, started=self._booting)

    def close(self) -> None:
        stop_all(self._booting)  # booted ahead and not taken: the scan stopped before it began


def local_shape(request: ScanRequest) -> tuple[int, int | None, int]:
    """:meth:`LocalExecutor.shape`, for callers without an executor."""
    return request.shards or 1, request.shard or 0, worker_count(request.workers)
