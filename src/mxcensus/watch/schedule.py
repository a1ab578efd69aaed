"""Running watches on their schedules: the :class:`Scheduler` that ``watch daemon`` runs
and that a web service embeds (``start``/``stop``, ``next_runs``, ``run_now``).

Why croniter and no scheduling framework: the truth about when a watch last ran is in the
store (``watch_runs``), which every process shares — the daemon, a cron job running
``watch run``, the web service. The next run is computed from it each time
(:meth:`mxcensus.watch.spec.Schedule.next_after`: the last run's start plus the period, or
croniter's next match of the cron expression), so a restarted daemon neither skips nor
repeats a run, a run killed halfway counts as not done and is due at once, and nothing
keeps a second copy of the schedule (APScheduler's job stores would). croniter is what
the ecosystem uses to evaluate cron expressions (Airflow, Celery beat's alternatives …).

Runs are made one at a time, in the scheduler's one thread: they share the store (one
writing process) and the machine's cores; a watch's lock (``run.watch_lock``) also keeps
another process from running the same watch at once. Between runs the scheduler sends
what the outbox holds (retries of failed deliveries) every ``poll`` seconds.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from mxcensus.bounds import Range
from mxcensus.errors import MxcensusError
from mxcensus.store.db import Store
from mxcensus.store.watches import WatchStore
from mxcensus.watch.run import (
    RunOptions,
    RunReport,
    WatchBusy,
    deliver,
    load_watch,
    run_watch,
    watch_lock,
)
from mxcensus.watch.spec import Schedule, Watch

log = logging.getLogger(__name__)
POLL = Range(1.0, 3600.0, float)


@dataclass(frozen=True, slots=True)
class NextRun:
    watch: str
    schedule: str | None
    last: datetime | None  # the last run's start (done or failed)
    due: datetime | None  # None: no schedule (runs only when asked)
    running: bool


Outcome = RunReport | MxcensusError
Listener = Callable[[str, Outcome], None]


class Scheduler:
    """Watches of one store on their schedules; thread-safe controls."""

    def __init__(
        self,
        options: RunOptions,
        *,
        watches: Sequence[str] = (),
        poll: float = 30.0,
        on_run: Listener | None = None,
    ) -> None:
        POLL.check(poll, "--poll")
        self.options = options
        self.only = tuple(watches)
        self.poll = poll
        self.on_run = on_run
        self._asked: list[str] = []
        self._running: str | None = None
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- controls --------------------------------------------------------------------------

    def start(self) -> None:
        """Run the loop in a background thread (the web service's way)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self.serve, name="mxcensus-watch", daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = None) -> bool:
        """Ask the loop to stop after the run in progress; True when it has stopped."""
        self._stop.set()
        self._wake.set()
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def run_now(self, name: str) -> None:
        """Queue a run of ``name`` (checked to exist) before any scheduled one."""
        with Store.open(self.options.db) as store:
            load_watch(store, name)
        with self._lock:
            if name not in self._asked:
                self._asked.append(name)
        self._wake.set()

    def next_runs(self, now: datetime | None = None) -> list[NextRun]:
        """Every watch's last and next run (``due`` is ``now`` for one asked to run)."""
        now = now or self.options.clock()
        out = []
        with Store.open(self.options.db) as store:
            ws = WatchStore(store)
            for name, text in ws.watch_specs():
                if self.only and name not in self.only:
                    continue
                spec = Watch.from_json(text)
                last = ws.last_started(name)
                due = Schedule.parse(spec.schedule).next_after(last, now) if spec.schedule else None
                with self._lock:
                    asked = name in self._asked
                out.append(NextRun(name, spec.schedule, last, now if asked else due,
                                   self._running == name))  # fmt: skip
        return out

    # -- the loop --------------------------------------------------------------------------

    def serve(self) -> None:
        """Loop until :meth:`stop`: run what is due, deliver the outbox, sleep until the
        next due time (at most ``poll`` seconds)."""
        while not self._stop.is_set():
            self._wake.clear()
            try:
                self.tick()
                wait = self._seconds_to_next()
            except MxcensusError as exc:  # the store is busy or broken: say so, try later
                log.warning("watch daemon: %s", exc)
                wait = self.poll
            self._wake.wait(timeout=wait)

    def tick(self) -> list[tuple[str, Outcome]]:
        """One step: every due (or asked-for) watch runs once, then the outbox is sent."""
        done = []
        for name in self._due():
            if self._stop.is_set():
                break
            done.append((name, self._run(name)))
        self.flush()
        return done

    def flush(self) -> None:
        """Send what each watch's outbox holds (retries), skipping watches that run."""
        with Store.open(self.options.db) as store:
            names = [n for n, _ in WatchStore(store).watch_specs()]
        for name in names:
            if self.only and name not in self.only:
                continue
            with (
                contextlib.suppress(WatchBusy),
                watch_lock(self.options.db, name),
                Store.open(self.options.db) as store,
            ):
                spec = load_watch(store, name)
                deliver(store, spec, self.options, RunReport(name), backoff=True)

    def _due(self) -> list[str]:
        with self._lock:
            asked, self._asked = self._asked, []
        now = self.options.clock()
        due = [n.watch for n in self.next_runs(now) if n.due is not None and n.due <= now]
        return list(dict.fromkeys([*asked, *due]))

    def _run(self, name: str) -> Outcome:
        self._running = name
        try:
            outcome: Outcome = run_watch(name, replace(self.options))
        except MxcensusError as exc:
            outcome = exc
            log.warning("watch %s: %s", name, exc)
        finally:
            self._running = None
        if self.on_run is not None:
            self.on_run(name, outcome)
        return outcome

    def _seconds_to_next(self) -> float:
        now = self.options.clock()
        dues = [n.due for n in self.next_runs(now) if n.due is not None]
        if not dues:
            return self.poll
        return max(0.0, min(self.poll, min((d - now).total_seconds() for d in dues)))


def default_options(db: Path) -> RunOptions:
    return RunOptions(db=db)
