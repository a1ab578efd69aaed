"""The service's writes: background jobs in one worker thread, one at a time.

DuckDB admits one writing process, and ``serve`` is it while it runs: an uploaded import, a
reassessment and the embedded watch :class:`~mxcensus.watch.schedule.Scheduler` write
through the service's own database instance, each on a cursor of its own, so the readers
keep answering (they see a scan once its transaction commits). Jobs run in submission order
in one thread — they share the machine's cores and DuckDB's memory; the scheduler's watch
runs are listed here too, as they start and end. Progress is kept per job for the scans
page and ``/api/v1/jobs``; nothing here prints.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import logging
import os
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mxcensus.errors import MxcensusError
from mxcensus.store.db import Store

log = logging.getLogger("mxcensus.web")
KEEP = 50
"""Finished jobs kept for the scans page."""


@dataclass
class Job:
    id: int
    kind: str  # import | reassess | watch
    title: str
    state: str = "queued"  # queued | running | done | failed
    progress: str = ""
    fraction: float | None = None
    submitted: datetime = field(default_factory=lambda: datetime.now(UTC))
    started: datetime | None = None
    finished: datetime | None = None
    result: str = ""
    scan: str | None = None
    by: str = ""  # the token's name ("local" without tokens)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


Work = Callable[[Store, Job], None]


class Jobs:
    """A queue of jobs run by one thread, each on a :class:`Store` over its own cursor."""

    def __init__(
        self, store_for_job: Callable[[], Store], on_change: Callable[[], None] = lambda: None
    ) -> None:
        self._store_for_job = store_for_job
        self._on_change = on_change
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._jobs: list[Job] = []
        self._queue: queue.Queue[tuple[Job, Work] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._loop, name="mxcensus-jobs", daemon=True)
        self._thread.start()

    def submit(self, kind: str, title: str, work: Work, *, by: str = "") -> Job:
        job = self.record(kind, title, by=by)
        self._queue.put((job, work))
        return job

    def record(self, kind: str, title: str, *, by: str = "", state: str = "queued") -> Job:
        """A job entry (the scheduler's watch runs are recorded, not queued here)."""
        with self._lock:
            job = Job(next(self._ids), kind, title, state=state, by=by)
            self._jobs.append(job)
            finished = [j for j in self._jobs if j.state in ("done", "failed")]
            for old in finished[:-KEEP]:
                self._jobs.remove(old)
        return job

    def list(self) -> list[Job]:
        with self._lock:
            return sorted(self._jobs, key=lambda j: -j.id)

    def get(self, job_id: int) -> Job | None:
        with self._lock:
            return next((j for j in self._jobs if j.id == job_id), None)

    def busy(self) -> bool:
        with self._lock:
            return any(j.state in ("queued", "running") for j in self._jobs)

    def stop(self, timeout: float | None = None) -> None:
        self._queue.put(None)
        self._thread.join(timeout)

    def _loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            job, work = item
            job.state, job.started = "running", datetime.now(UTC)
            self._on_change()
            store = self._store_for_job()
            try:
                work(store, job)
                job.state = "done"
            except MxcensusError as exc:
                job.state, job.result = "failed", str(exc)
                log.warning("job %s (%s) failed: %s", job.id, job.title, exc)
            except Exception as exc:  # a bug must not end the worker thread: say what
                job.state, job.result = "failed", f"{type(exc).__name__}: {exc}"
                log.exception("job %s (%s) failed", job.id, job.title)
            finally:
                self._on_change()
                job.finished = datetime.now(UTC)
                with contextlib.suppress(Exception):
                    store.close()


def import_work(fmt: str, path: Path, name: str | None, geo_db: tuple[Path, ...]) -> Work:
    """An uploaded file's import (the file is removed afterwards)."""

    def work(store: Store, job: Job) -> None:
        from mxcensus.enrich import GeoEnricher
        from mxcensus.importers import import_files
        from mxcensus.importers.run import ImportProgress

        def progress(p: ImportProgress) -> None:
            if p.phase == "import":
                job.progress = f"{p.records:,} records read"
                job.fraction = p.bytes_done / p.bytes_total if p.bytes_total else None
            else:
                job.progress = f"{p.services:,} services analysed"

        enricher = GeoEnricher(geo_db)
        try:
            result = import_files(
                store, fmt, [path], name=name, progress=progress, enricher=enricher
            )
        finally:
            enricher.close()
            with contextlib.suppress(OSError):
                os.unlink(path)
        job.scan = result.scan
        job.fraction = 1.0
        job.result = (
            f"scan {result.scan}: {result.records:,} records, {result.services:,} services"
            + (f", {result.malformed:,} malformed" if result.malformed else "")
        )

    return work


def reassess_work(scan: str, geo_db: tuple[Path, ...]) -> Work:
    def work(store: Store, job: Job) -> None:
        from mxcensus.pipeline import analyze_scan_with_geo

        def progress(done: int) -> None:
            job.progress = f"{done:,} services analysed"

        services = analyze_scan_with_geo(store, store.resolve_scan(scan), geo_db, progress)
        job.scan = scan
        job.fraction = 1.0
        job.result = f"scan {scan}: {services:,} services reassessed"

    return work
